package dev.ambit.waypoint.http;

import static dev.ambit.waypoint.http.Harness.CLUSTER;
import static dev.ambit.waypoint.http.Harness.get;
import static dev.ambit.waypoint.http.Harness.routes;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.UInt32Value;
import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.proxy.net.Transport;
import dev.ambit.testing.LeakCheck;
import dev.ambit.waypoint.ResponseFlag;
import dev.ambit.waypoint.upstream.ClusterManager;
import io.envoyproxy.envoy.config.cluster.v3.CircuitBreakers;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The router over the real cluster manager: a circuit breaker's refusal is Envoy's 503
 * {@code overflow} reply with flag {@code UO}; {@code max_retries} stops retries, returning
 * the last response flagged {@code UO}.
 */
class ResilienceRouterTest {

    Harness h;
    EventLoopGroup loops;
    Channel backend;
    ClusterManager manager;
    final AtomicInteger received = new AtomicInteger();
    volatile int status = 200;
    volatile long delayMillis;

    @BeforeEach
    void setUp() throws Exception {
        LeakCheck.install();
        h = new Harness();
        loops = Transport.EPOLL.newEventLoopGroup(2, "resilience-router");
        backend = new ServerBootstrap().group(loops).channel(EpollServerSocketChannel.class)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(1 << 16),
                                new SimpleChannelInboundHandler<FullHttpRequest>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest r) {
                                        received.incrementAndGet();
                                        FullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                                                HttpResponseStatus.valueOf(status),
                                                Unpooled.copiedBuffer("backend " + status, StandardCharsets.UTF_8));
                                        HttpUtil.setContentLength(resp, resp.content().readableBytes());
                                        ctx.executor().schedule(() -> ctx.writeAndFlush(resp), delayMillis,
                                                TimeUnit.MILLISECONDS);
                                    }
                                });
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        manager = ClusterManager.builder(() -> h.config, SocketFactory.host("waypoint", Transport.EPOLL), loops)
                .metrics(h.metrics).build();
    }

    @AfterEach
    void tearDown() throws Exception {
        h.close();
        manager.close();
        backend.close().sync();
        loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        LeakCheck.assertNoLeaks();
    }

    void cluster(int maxRequests, int maxRetries) {
        InetSocketAddress a = (InetSocketAddress) backend.localAddress();
        h.config.clusters.put(CLUSTER, Cluster.newBuilder().setName(CLUSTER).setType(Cluster.DiscoveryType.EDS)
                .setCircuitBreakers(CircuitBreakers.newBuilder().addThresholds(CircuitBreakers.Thresholds.newBuilder()
                        .setMaxRequests(UInt32Value.of(maxRequests)).setMaxRetries(UInt32Value.of(maxRetries))))
                .build());
        h.config.endpoints.put(CLUSTER, List.of(LbEndpoint.newBuilder().setEndpoint(Endpoint.newBuilder()
                .setAddress(Address.newBuilder().setSocketAddress(SocketAddress.newBuilder()
                        .setAddress("127.0.0.1").setPortValue(a.getPort())))).build()));
    }

    void route(RouteAction.Builder action) {
        h.config.route(routes(Route.newBuilder().setName("r").setMatch(RouteMatch.newBuilder().setPrefix("/"))
                .setRoute(action.setCluster(CLUSTER)).build()));
    }

    RequestProcessor processor() {
        return new RequestProcessor(new HttpFilterChain(List.of(new Authorization(RequestAuthorizer.ALLOW_ALL),
                new Faults(HTTPFault.getDefaultInstance()), new Cors(), new Router(manager))),
                HttpTelemetry.of(h.metrics, h.state), () -> false, () -> null);
    }

    Harness.Result run(RequestProcessor p, HttpExchange ex, CompletionStage<FullHttpResponse> stage) {
        FullHttpResponse r = h.await(stage);
        Harness.Result result = new Harness.Result(r, ex);
        p.completed(ex, RequestProcessor.Sent.of(r));
        return result;
    }

    @Test
    void overMaxRequestsTheRouterAnswersEnvoysOverflowReplyWithUo() {
        cluster(1, 3);
        route(RouteAction.newBuilder());
        delayMillis = 300;
        RequestProcessor p = processor();
        HttpExchange first = p.exchange(get("/slow"), h.downstream(), h.loop.eventLoop(), "HTTP/1.1");
        CompletionStage<FullHttpResponse> inFlight = p.process(first);
        HttpExchange second = p.exchange(get("/over"), h.downstream(), h.loop.eventLoop(), "HTTP/1.1");
        Harness.Result refused = run(p, second, p.process(second));
        try {
            assertThat(refused.status()).isEqualTo(503);
            assertThat(refused.body()).isEqualTo("upstream connect error or disconnect/reset before headers. "
                    + "reset reason: overflow");
            assertThat(refused.response().headers().get("x-envoy-overloaded")).isEqualTo("true");
            assertThat(refused.exchange().flags()).containsExactly(ResponseFlag.UO);
        } finally {
            refused.response().release();
        }
        Harness.Result ok = run(p, first, inFlight);
        try {
            assertThat(ok.status()).isEqualTo(200);
        } finally {
            ok.response().release();
        }
        assertThat(received.get()).isEqualTo(1);
    }

    @Test
    void overMaxRetriesTheRetryIsNotMadeAndTheLastResponseGoesBackFlaggedUo() {
        status = 503;
        cluster(1024, 0);
        route(RouteAction.newBuilder().setRetryPolicy(RetryPolicy.newBuilder().setRetryOn("5xx")
                .setNumRetries(UInt32Value.of(3))));
        RequestProcessor p = processor();
        HttpExchange ex = p.exchange(get("/"), h.downstream(), h.loop.eventLoop(), "HTTP/1.1");
        Harness.Result r = run(p, ex, p.process(ex));
        try {
            assertThat(r.status()).isEqualTo(503);
            assertThat(r.body()).as("the backend's own answer").isEqualTo("backend 503");
            assertThat(r.exchange().flags()).containsExactly(ResponseFlag.UO);
            assertThat(r.exchange().attempts()).isEqualTo(1);
        } finally {
            r.response().release();
        }
        assertThat(received.get()).isEqualTo(1);
        assertThat(h.metrics.value("ambit_waypoint_upstream_overflow_total", CLUSTER, "max_retries")).isEqualTo(1);

        // With room for retries they are made, and exhausting them is URX (a new manager reads the new config).
        cluster(1024, 10);
        manager.close();
        manager = ClusterManager.builder(() -> h.config, SocketFactory.host("waypoint", Transport.EPOLL), loops)
                .metrics(h.metrics).build();
        p = processor();
        HttpExchange again = p.exchange(get("/"), h.downstream(), h.loop.eventLoop(), "HTTP/1.1");
        Harness.Result retried = run(p, again, p.process(again));
        try {
            assertThat(retried.exchange().attempts()).isEqualTo(4);
            assertThat(retried.exchange().flags()).containsExactly(ResponseFlag.URX);
        } finally {
            retried.response().release();
        }
        assertThat(received.get()).isEqualTo(5);
    }
}
