package dev.ambit.waypoint.upstream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.ambit.common.json.JsonWriter;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.proxy.net.TestServers;
import dev.ambit.proxy.net.Transport;
import dev.ambit.testing.Eventually;
import dev.ambit.testing.LeakCheck;
import dev.ambit.waypoint.ResponseFlag;
import dev.ambit.waypoint.config.WaypointConfig;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.HttpConversionUtil;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@link ClusterManager} against real HTTP/1.1 and h2c backends on loopback, in plaintext. */
class ClusterManagerTest {

    static final String C = "outbound|9080||reviews.shop.svc.cluster.local";

    EventLoopGroup loops;
    final SocketFactory network = SocketFactory.host("waypoint", Transport.EPOLL);
    final MetricsRegistry metrics = MetricsRegistry.create();
    final AtomicReference<WaypointConfig> config = new AtomicReference<>(new TestConfig(1));
    final List<AutoCloseable> closeables = new ArrayList<>();
    ClusterManager manager;

    @BeforeEach
    void setUp() {
        LeakCheck.reset();
        loops = Transport.EPOLL.newEventLoopGroup(2, "upstream-test");
        manager = ClusterManager.builder(config::get, network, loops).metrics(metrics)
                .idleTimeout(Duration.ofSeconds(30)).build();
    }

    @AfterEach
    void tearDown() throws Exception {
        manager.close();
        for (AutoCloseable c : closeables) {
            c.close();
        }
        loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        LeakCheck.assertNoLeaks();
    }

    Backends.Server server(boolean h2, Backends.Behaviour behaviour) {
        Backends.Server s = new Backends.Server(loops, "127.0.0.1", h2, behaviour);
        closeables.add(s);
        return s;
    }

    void configure(TestConfig c) {
        config.set(c);
    }

    static FullHttpRequest get(String path) {
        FullHttpRequest r = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, path);
        r.headers().set(HttpHeaderNames.HOST, "reviews:9080");
        return r;
    }

    CompletionStage<UpstreamResponse> send(String cluster, FullHttpRequest request, Set<InetSocketAddress> excluded,
                                           Duration timeout) {
        return manager.send(new UpstreamRequest(cluster, request, excluded, timeout));
    }

    static String body(CompletionStage<UpstreamResponse> stage) throws Exception {
        UpstreamResponse r = stage.toCompletableFuture().get(5, TimeUnit.SECONDS);
        try {
            assertThat(r.response().status()).isEqualTo(HttpResponseStatus.OK);
            return r.response().content().toString(StandardCharsets.UTF_8);
        } finally {
            r.response().release();
        }
    }

    static UpstreamException failure(CompletionStage<UpstreamResponse> stage) throws Exception {
        try {
            UpstreamResponse r = stage.toCompletableFuture().get(5, TimeUnit.SECONDS);
            r.response().release();
            return fail("expected a failure, got " + r.response().status());
        } catch (ExecutionException e) {
            assertThat(e.getCause()).isInstanceOf(UpstreamException.class);
            return (UpstreamException) e.getCause();
        }
    }

    @Test
    void http1ReusesOneKeepAliveConnectionForSequentialRequests() throws Exception {
        Backends.Server a = server(false, Backends.ok("a"));
        configure(new TestConfig(1).cluster(TestConfig.http1(C), TestConfig.endpoint(a.address())));
        for (int i = 0; i < 5; i++) {
            assertThat(body(send(C, get("/r" + i), Set.of(), Duration.ZERO))).isEqualTo("a /r" + i);
        }
        assertThat(a.accepts.get()).as("reusing upstream connections").isEqualTo(1);
        assertThat(metrics.value(UpstreamMetrics.REUSED, C)).isEqualTo(4);
        assertThat(metrics.value(UpstreamMetrics.REQUESTS, C, "-")).isEqualTo(5);
        assertThat(metrics.value(UpstreamMetrics.CONNECTIONS, C, "http1", "none")).isEqualTo(1);
        assertThat(manager.openConnections(a.address())).isEqualTo(1);
    }

    @Test
    void http1IdleConnectionsAreBoundedInNumberAndTime() throws Exception {
        Backends.Server a = server(false, (ctx, request) ->
                ctx.executor().schedule(() -> ctx.writeAndFlush(Backends.text("a")), 100, TimeUnit.MILLISECONDS));
        configure(new TestConfig(1).cluster(TestConfig.http1(C), TestConfig.endpoint(a.address())));
        manager.close();
        manager = ClusterManager.builder(config::get, network, loops).metrics(metrics)
                .maxIdleConnectionsPerEndpoint(1).idleTimeout(Duration.ofSeconds(1)).build();
        List<CompletionStage<UpstreamResponse>> all = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            all.add(send(C, get("/"), Set.of(), Duration.ZERO));
        }
        for (CompletionStage<UpstreamResponse> s : all) {
            assertThat(body(s)).isEqualTo("a");
        }
        assertThat(a.accepts.get()).as("one connection per concurrent request").isEqualTo(3);
        Eventually.eventually(() -> a.open.get() == 1); // one idle connection kept
        Eventually.eventually(() -> a.open.get() == 0); // and closed after the idle timeout
        assertThat(manager.openConnections(a.address())).isZero();
    }

    @Test
    void http1ConnectionCloseIsNotReused() throws Exception {
        Backends.Server a = server(false, (ctx, request) -> {
            FullHttpResponse r = Backends.text("bye");
            r.headers().set(HttpHeaderNames.CONNECTION, "close");
            ctx.writeAndFlush(r);
        });
        configure(new TestConfig(1).cluster(TestConfig.http1(C), TestConfig.endpoint(a.address())));
        for (int i = 0; i < 3; i++) {
            UpstreamResponse r = send(C, get("/"), Set.of(), Duration.ZERO).toCompletableFuture().get(5, TimeUnit.SECONDS);
            assertThat(r.response().headers().contains(HttpHeaderNames.CONNECTION)).as("hop-by-hop stripped").isFalse();
            r.response().release();
        }
        assertThat(a.accepts.get()).isEqualTo(3);
    }

    @Test
    void http2MultiplexesConcurrentRequestsOnOneConnectionAndKeepsTrailers() throws Exception {
        Backends.Server h2 = server(true, (ctx, request) -> {
            FullHttpResponse r = Backends.text("h2 " + request.uri());
            r.trailingHeaders().set("grpc-status", "0");
            ctx.executor().schedule(() -> ctx.writeAndFlush(r), 100, TimeUnit.MILLISECONDS);
        });
        configure(new TestConfig(1).cluster(TestConfig.http2(C), TestConfig.endpoint(h2.address())));
        List<CompletionStage<UpstreamResponse>> all = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            all.add(send(C, get("/s" + i), Set.of(), Duration.ofSeconds(5)));
        }
        for (int i = 0; i < 10; i++) {
            UpstreamResponse r = all.get(i).toCompletableFuture().get(5, TimeUnit.SECONDS);
            try {
                assertThat(r.response().content().toString(StandardCharsets.UTF_8)).isEqualTo("h2 /s" + i);
                assertThat(r.response().trailingHeaders().get("grpc-status")).isEqualTo("0");
                assertThat(r.endpoint()).isEqualTo(h2.address());
            } finally {
                r.response().release();
            }
        }
        assertThat(h2.accepts.get()).as("one multiplexed connection").isEqualTo(1);
        FullHttpRequest seen = h2.seen.peek();
        assertThat(seen.headers().get(HttpHeaderNames.HOST)).as(":authority").isEqualTo("reviews:9080");
    }

    @Test
    void http2OpensAnotherConnectionBeyondTheServersStreamLimit() throws Exception {
        Backends.Server h2 = new Backends.Server(loops, "127.0.0.1", true, 2, (ctx, request) ->
                ctx.executor().schedule(() -> ctx.writeAndFlush(Backends.text("ok")), 200, TimeUnit.MILLISECONDS));
        closeables.add(h2);
        configure(new TestConfig(1).cluster(TestConfig.http2(C), TestConfig.endpoint(h2.address())));
        List<CompletionStage<UpstreamResponse>> all = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            all.add(send(C, get("/" + i), Set.of(), Duration.ofSeconds(5)));
        }
        for (CompletionStage<UpstreamResponse> s : all) {
            assertThat(body(s)).isEqualTo("ok");
        }
        assertThat(h2.accepts.get()).as("2 streams per connection").isEqualTo(3);
    }

    @Test
    void useDownstreamProtocolSendsHttp2OnlyForHttp2Requests() throws Exception {
        Backends.Server h2 = server(true, Backends.ok("h2"));
        Backends.Server h1 = server(false, Backends.ok("h1"));
        String other = "outbound|80||ratings.shop.svc.cluster.local";
        configure(new TestConfig(1)
                .cluster(TestConfig.downstream(C), TestConfig.endpoint(h2.address()))
                .cluster(TestConfig.downstream(other), TestConfig.endpoint(h1.address())));
        FullHttpRequest fromH2 = get("/x");
        fromH2.headers().set(HttpConversionUtil.ExtensionHeaderNames.SCHEME.text(), "http");
        fromH2.headers().setInt(HttpConversionUtil.ExtensionHeaderNames.STREAM_ID.text(), 3);
        assertThat(body(send(C, fromH2, Set.of(), Duration.ZERO))).isEqualTo("h2 /x");
        assertThat(body(send(other, get("/y"), Set.of(), Duration.ZERO))).isEqualTo("h1 /y");
        assertThat(h2.accepts.get()).isEqualTo(1);
        assertThat(h1.accepts.get()).isEqualTo(1);
        // An HTTP/2 request to an HTTP/1.1 cluster: the conversion headers are not sent as headers.
        String plain = "outbound|81||ratings.shop.svc.cluster.local";
        configure(new TestConfig(2).cluster(TestConfig.http1(plain), TestConfig.endpoint(h1.address())));
        FullHttpRequest converted = get("/z");
        converted.headers().set(HttpConversionUtil.ExtensionHeaderNames.SCHEME.text(), "http");
        converted.headers().setInt(HttpConversionUtil.ExtensionHeaderNames.STREAM_ID.text(), 5);
        assertThat(body(send(plain, converted, Set.of(), Duration.ZERO))).isEqualTo("h1 /z");
        FullHttpRequest last = null;
        for (FullHttpRequest r : h1.seen) {
            last = r;
        }
        assertThat(last.uri()).isEqualTo("/z");
        assertThat(last.headers().names()).noneMatch(n -> n.toLowerCase().startsWith("x-http2-"));
    }

    @Test
    void refusedPortIsUf() throws Exception {
        int port;
        try (ServerSocket probe = new ServerSocket(0)) {
            port = probe.getLocalPort();
        }
        InetSocketAddress dead = new InetSocketAddress("127.0.0.1", port);
        configure(new TestConfig(1).cluster(TestConfig.http1(C), TestConfig.endpoint(dead)));
        UpstreamException e = failure(send(C, get("/"), Set.of(), Duration.ZERO));
        assertThat(e.flag()).isEqualTo(ResponseFlag.UF);
        assertThat(e.endpoint()).isEqualTo(dead);
        assertThat(e.getMessage()).contains("127.0.0.1:" + port);
        assertThat(metrics.value(UpstreamMetrics.REQUESTS, C, "UF")).isEqualTo(1);
    }

    @Test
    void resetBeforeTheResponseIsUr() throws Exception {
        Backends.Server a = server(false, (ctx, request) -> {
            ctx.channel().config().setOption(ChannelOption.SO_LINGER, 0);
            ctx.close();
        });
        configure(new TestConfig(1).cluster(TestConfig.http1(C), TestConfig.endpoint(a.address())));
        UpstreamException e = failure(send(C, get("/"), Set.of(), Duration.ZERO));
        assertThat(e.flag()).isEqualTo(ResponseFlag.UR);
        assertThat(e.endpoint()).isEqualTo(a.address());
    }

    @Test
    void closeMidResponseIsUc() throws Exception {
        Backends.Server a = server(false, (ctx, request) -> {
            DefaultHttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
            head.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, 100);
            ctx.write(head);
            ctx.writeAndFlush(new DefaultHttpContent(Unpooled.copiedBuffer("only ten b", StandardCharsets.UTF_8)))
                    .addListener(f -> ctx.close());
        });
        configure(new TestConfig(1).cluster(TestConfig.http1(C), TestConfig.endpoint(a.address())));
        UpstreamException e = failure(send(C, get("/"), Set.of(), Duration.ZERO));
        assertThat(e.flag()).isEqualTo(ResponseFlag.UC);
        assertThat(e.getMessage()).contains(Failures.name(a.address()));
    }

    @Test
    void slowBackendIsUtWithinTheTimeoutAndItsConnectionIsClosed() throws Exception {
        Backends.Server slow = server(false, (ctx, request) ->
                ctx.executor().schedule(() -> ctx.writeAndFlush(Backends.text("late")), 3, TimeUnit.SECONDS));
        configure(new TestConfig(1).cluster(TestConfig.http1(C), TestConfig.endpoint(slow.address())));
        long start = System.nanoTime();
        UpstreamException e = failure(send(C, get("/"), Set.of(), Duration.ofMillis(300)));
        long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertThat(e.flag()).isEqualTo(ResponseFlag.UT);
        assertThat(e.getMessage()).contains("upstream request timeout");
        assertThat(tookMs).isBetween(250L, 1500L);
        Eventually.eventually(() -> slow.open.get() == 0);
        // The pool forgets the connection on its own loop once the close completes: wait for it too.
        Eventually.eventually(() -> manager.openConnections(slow.address()) == 0);
    }

    @Test
    void http2RefusedStreamIsRetriableUr() throws Exception {
        Backends.Server h2 = server(true, (ctx, request) -> ctx.writeAndFlush(new DefaultHttp2ResetFrame(
                Http2Error.REFUSED_STREAM)));
        configure(new TestConfig(1).cluster(TestConfig.http2(C), TestConfig.endpoint(h2.address())));
        UpstreamException e = failure(send(C, get("/"), Set.of(), Duration.ofSeconds(5)));
        assertThat(e.flag()).isEqualTo(ResponseFlag.UR);
        assertThat(e.refusedStream()).isTrue();
    }

    @Test
    void http2TimeoutResetsOnlyTheStream() throws Exception {
        Backends.Server h2 = server(true, (ctx, request) -> {
            if (request.uri().equals("/slow")) {
                return; // never answers
            }
            ctx.writeAndFlush(Backends.text("fast"));
        });
        configure(new TestConfig(1).cluster(TestConfig.http2(C), TestConfig.endpoint(h2.address())));
        UpstreamException e = failure(send(C, get("/slow"), Set.of(), Duration.ofMillis(200)));
        assertThat(e.flag()).isEqualTo(ResponseFlag.UT);
        assertThat(body(send(C, get("/fast"), Set.of(), Duration.ofSeconds(5)))).isEqualTo("fast");
        assertThat(h2.accepts.get()).isEqualTo(1);
    }

    @Test
    void excludedHostsAreAvoidedWhileAnotherExists() throws Exception {
        Backends.Server a = server(false, Backends.ok("a"));
        Backends.Server b = server(false, Backends.ok("b"));
        configure(new TestConfig(1).cluster(TestConfig.http1(C), TestConfig.endpoint(a.address()),
                TestConfig.endpoint(b.address())));
        for (int i = 0; i < 4; i++) {
            assertThat(body(send(C, get("/"), Set.of(a.address()), Duration.ZERO))).isEqualTo("b /");
        }
        // Only excluded hosts left: one of them anyway (Envoy gives up re-drawing after N attempts).
        assertThat(body(send(C, get("/"), Set.of(a.address(), b.address()), Duration.ZERO))).endsWith(" /");
    }

    @Test
    void noEndpointsIsUhAndUnknownClusterIsNc() throws Exception {
        configure(new TestConfig(1).cluster(TestConfig.http1(C)));
        UpstreamException uh = failure(send(C, get("/"), Set.of(), Duration.ZERO));
        assertThat(uh.flag()).isEqualTo(ResponseFlag.UH);
        assertThat(uh.getMessage()).contains("no healthy upstream");
        UpstreamException nc = failure(send("outbound|1||nope", get("/"), Set.of(), Duration.ZERO));
        assertThat(nc.flag()).isEqualTo(ResponseFlag.NC);
        assertThat(metrics.value(UpstreamMetrics.REQUESTS, C, "UH")).isEqualTo(1);
    }

    @Test
    void unhealthyEndpointsAreSkippedAndANewConfigDropsGonePools() throws Exception {
        Backends.Server a = server(false, Backends.ok("a"));
        Backends.Server b = server(false, Backends.ok("b"));
        configure(new TestConfig(1).cluster(TestConfig.http1(C),
                TestConfig.endpoint(a.address(), HealthStatus.UNHEALTHY, false), TestConfig.endpoint(b.address()),
                TestConfig.endpoint(b.address(), HealthStatus.HEALTHY, false)));
        for (int i = 0; i < 3; i++) {
            assertThat(body(send(C, get("/"), Set.of(), Duration.ZERO))).isEqualTo("b /");
        }
        assertThat(a.accepts.get()).isZero();
        configure(new TestConfig(2).cluster(TestConfig.http1(C), TestConfig.endpoint(a.address())));
        assertThat(body(send(C, get("/"), Set.of(), Duration.ZERO))).isEqualTo("a /");
        Eventually.eventually(() -> b.open.get() == 0);
    }

    @Test
    void tunnelToAnEndpointCarriesBytes() throws Exception {
        TestServers.Echo echo = new TestServers.Echo(loops, new InetSocketAddress("127.0.0.1", 0));
        closeables.add(echo);
        configure(new TestConfig(1).cluster(TestConfig.http1(C), TestConfig.endpoint(echo.address())));
        UpstreamTunnel tunnel = manager.open(C, null, Set.of()).toCompletableFuture().get(5, TimeUnit.SECONDS);
        assertThat(tunnel.endpoint()).isEqualTo(echo.address());
        assertThat(tunnel.channel().config().isAutoRead()).isFalse();
        assertThat(echoThrough(tunnel)).isEqualTo("hello");
        tunnel.channel().close().sync();
    }

    @Test
    void originalDstTunnelGoesToTheOriginalDestination() throws Exception {
        TestServers.Echo echo = new TestServers.Echo(loops, new InetSocketAddress("127.0.0.1", 0));
        closeables.add(echo);
        configure(new TestConfig(1).cluster(TestConfig.originalDst("inbound-passthrough")));
        UpstreamTunnel tunnel = manager.open("inbound-passthrough", echo.address(), Set.of())
                .toCompletableFuture().get(5, TimeUnit.SECONDS);
        assertThat(echoThrough(tunnel)).isEqualTo("hello");
        tunnel.channel().close().sync();
        UpstreamException e = failure(send("inbound-passthrough", get("/"), Set.of(), Duration.ZERO));
        assertThat(e.flag()).isEqualTo(ResponseFlag.UH);
    }

    static String echoThrough(UpstreamTunnel tunnel) throws Exception {
        LinkedBlockingQueue<String> got = new LinkedBlockingQueue<>();
        tunnel.channel().pipeline().addLast(new SimpleChannelInboundHandler<ByteBuf>() {
            @Override
            protected void channelRead0(ChannelHandlerContext ctx, ByteBuf msg) {
                got.add(msg.toString(StandardCharsets.UTF_8));
            }
        });
        tunnel.channel().writeAndFlush(Unpooled.copiedBuffer("hello", StandardCharsets.UTF_8)).sync();
        tunnel.channel().read();
        return got.poll(5, TimeUnit.SECONDS);
    }

    @Test
    void dumpShowsPoolsAndPicker() throws Exception {
        Backends.Server a = server(false, Backends.ok("a"));
        configure(new TestConfig(1).cluster(TestConfig.http1(C), TestConfig.endpoint(a.address())));
        body(send(C, get("/"), Set.of(), Duration.ZERO));
        JsonWriter json = new JsonWriter();
        manager.dump(json);
        assertThat(json.toString()).contains("\"protocol\":\"http1\"", "\"idle\":1", C,
                Failures.name(a.address()));
    }
}
