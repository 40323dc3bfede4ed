package dev.ambit.waypoint.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.UInt64Value;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.hbone.HboneRequest;
import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.testing.LeakCheck;
import dev.ambit.waypoint.upstream.ClusterManager;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Issue 15 "Must show 1", consistent hashing end to end: the route's {@code hash_policy} →
 * the router's hash → a RING_HASH or MAGLEV cluster's endpoint, measured at four real
 * HTTP/1.1 backends on loopback over 1,000 requests: sticky for one key, spread across 100
 * keys; a cookie generated (Set-Cookie) then sticky; the client's source IP sticky.
 */
class HashPolicyEndToEndTest {

    static final String CLUSTER = Harness.CLUSTER;
    static final int N = 1000;

    EventLoopGroup loops;
    ClusterManager manager;
    final Harness harness = new Harness();
    final List<Channel> servers = new ArrayList<>();
    final MetricsRegistry metrics = MetricsRegistry.create();

    @BeforeEach
    void setUp() {
        LeakCheck.reset();
        loops = Transport.EPOLL.newEventLoopGroup(2, "hash-test");
        manager = ClusterManager.builder(() -> harness.config, SocketFactory.host("waypoint", Transport.EPOLL), loops)
                .idleTimeout(Duration.ofSeconds(30)).build();
    }

    @AfterEach
    void tearDown() throws Exception {
        harness.close();
        manager.close();
        servers.forEach(c -> c.close().syncUninterruptibly());
        loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        LeakCheck.assertNoLeaks();
    }

    /** A backend answering 200 with its name as the body. */
    InetSocketAddress backend(String name) {
        Channel ch = new ServerBootstrap().group(loops).channel(EpollServerSocketChannel.class)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel c) {
                        c.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(1 << 16),
                                new SimpleChannelInboundHandler<FullHttpRequest>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest r) {
                                        FullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                                                HttpResponseStatus.OK, Unpooled.copiedBuffer(name, StandardCharsets.UTF_8));
                                        resp.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, name.length());
                                        ctx.writeAndFlush(resp);
                                    }
                                });
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).syncUninterruptibly().channel();
        servers.add(ch);
        return (InetSocketAddress) ch.localAddress();
    }

    static LbEndpoint endpoint(InetSocketAddress a) {
        return LbEndpoint.newBuilder().setHealthStatus(HealthStatus.HEALTHY).setEndpoint(Endpoint.newBuilder()
                .setAddress(Address.newBuilder().setSocketAddress(SocketAddress.newBuilder()
                        .setAddress(a.getAddress().getHostAddress()).setPortValue(a.getPort())))).build();
    }

    /** Four backends b0..b3 behind {@code policy}, one route with {@code hash}. */
    void configure(Cluster.LbPolicy policy, RouteAction.HashPolicy... hash) {
        Cluster.Builder c = Cluster.newBuilder().setName(CLUSTER).setType(Cluster.DiscoveryType.EDS)
                .setLbPolicy(policy);
        if (policy == Cluster.LbPolicy.MAGLEV) {
            c.setMaglevLbConfig(Cluster.MaglevLbConfig.newBuilder().setTableSize(UInt64Value.of(65537)));
        } else {
            c.setRingHashLbConfig(Cluster.RingHashLbConfig.newBuilder().setMinimumRingSize(UInt64Value.of(1024)));
        }
        harness.config.clusters.put(CLUSTER, c.build());
        List<LbEndpoint> eps = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            eps.add(endpoint(backend("b" + i)));
        }
        harness.config.endpoints.put(CLUSTER, eps);
        var route = Harness.prefix("r", "/", CLUSTER);
        for (RouteAction.HashPolicy h : hash) {
            route.getRouteBuilder().addHashPolicy(h);
        }
        harness.config.route(Harness.routes(route.build()));
    }

    RequestProcessor processor() {
        return new RequestProcessor(new HttpFilterChain(List.of(new Router(manager))),
                HttpTelemetry.of(metrics, ProxyState.create()), () -> false, () -> null);
    }

    Harness.Result run(FullHttpRequest request, InetSocketAddress source) {
        RequestProcessor p = processor();
        Downstream d = new Downstream(Harness.CLIENT, source, null, Harness.VIP, harness.chain, harness.config,
                HboneRequest.of(Harness.VIP));
        HttpExchange ex = p.exchange(request, d, harness.loop.eventLoop(), "HTTP/1.1");
        FullHttpResponse r = harness.await(p.process(ex));
        try {
            p.completed(ex, RequestProcessor.Sent.of(r));
            FullHttpResponse copy = r.replace(Unpooled.copiedBuffer(r.content()));
            return new Harness.Result(copy, ex);
        } finally {
            r.release();
        }
    }

    static final InetSocketAddress CLIENT = new InetSocketAddress("10.244.0.7", 40000);

    /** Sends {@code request} and returns the name of the backend that answered. */
    String backendOf(FullHttpRequest request, InetSocketAddress source) {
        Harness.Result r = run(request, source);
        try {
            assertThat(r.status()).isEqualTo(200);
            return r.body();
        } finally {
            r.response().release();
        }
    }

    static RouteAction.HashPolicy header(String name) {
        return RouteAction.HashPolicy.newBuilder().setHeader(RouteAction.HashPolicy.Header.newBuilder()
                .setHeaderName(name)).build();
    }

    @ParameterizedTest
    @EnumSource(value = Cluster.LbPolicy.class, names = {"RING_HASH", "MAGLEV"})
    void oneHeaderValueIsStickyAndHundredValuesSpread(Cluster.LbPolicy policy) {
        configure(policy, header("x-user"));
        Set<String> one = new HashSet<>();
        for (int i = 0; i < N; i++) {
            one.add(backendOf(Harness.get("/", "x-user", "alice"), CLIENT));
        }
        assertThat(one).as("1000 requests of one user").hasSize(1);

        Map<String, Integer> perUser = new TreeMap<>();
        Map<String, String> first = new TreeMap<>();
        for (int i = 0; i < N; i++) {
            String user = "user-" + (i % 100);
            String b = backendOf(Harness.get("/", "x-user", user), CLIENT);
            String before = first.putIfAbsent(user, b);
            assertThat(before == null || before.equals(b)).as("user %s sticks to %s", user, before).isTrue();
            perUser.merge(b, 1, Integer::sum);
        }
        // 100 users over 4 backends: every backend gets some; none gets more than half.
        assertThat(perUser).as("requests per backend: %s", perUser).containsOnlyKeys("b0", "b1", "b2", "b3");
        perUser.values().forEach(n -> assertThat(n).as("%s", perUser).isBetween(80, 500));

        // No hash (header absent): Envoy picks at random, so requests spread.
        Set<String> noKey = new HashSet<>();
        for (int i = 0; i < 200; i++) {
            noKey.add(backendOf(Harness.get("/"), CLIENT));
        }
        assertThat(noKey).hasSizeGreaterThan(1);
    }

    @ParameterizedTest
    @EnumSource(value = Cluster.LbPolicy.class, names = {"RING_HASH", "MAGLEV"})
    void aCookieIsGeneratedThenSticky(Cluster.LbPolicy policy) {
        configure(policy, RouteAction.HashPolicy.newBuilder().setCookie(RouteAction.HashPolicy.Cookie.newBuilder()
                .setName("session").setPath("/").setTtl(com.google.protobuf.Duration.newBuilder().setSeconds(3600)))
                .build());
        Harness.Result first = run(Harness.get("/"), CLIENT);
        String setCookie;
        String backend;
        try {
            assertThat(first.status()).isEqualTo(200);
            setCookie = first.header("set-cookie");
            backend = first.body();
        } finally {
            first.response().release();
        }
        assertThat(setCookie).matches("session=\"[0-9a-f]{16}\"; Max-Age=3600; Path=/; HttpOnly");
        String value = setCookie.substring("session=\"".length(), "session=\"".length() + 16);
        Map<String, Integer> counts = new TreeMap<>();
        for (int i = 0; i < N; i++) {
            // Other clients (other addresses) with the cookie: still the same backend.
            InetSocketAddress from = new InetSocketAddress("10.244.1." + (i % 200 + 1), 30000 + i);
            Harness.Result r = run(Harness.get("/", "cookie", "a=b; session=\"" + value + "\""), from);
            try {
                assertThat(r.header("set-cookie")).as("no new cookie when one is sent").isNull();
                counts.merge(r.body(), 1, Integer::sum);
            } finally {
                r.response().release();
            }
        }
        assertThat(counts).containsOnlyKeys(backend);
        // Without a ttl no cookie is generated (and without the cookie, no hash).
        configure(policy, RouteAction.HashPolicy.newBuilder().setCookie(RouteAction.HashPolicy.Cookie.newBuilder()
                .setName("session")).build());
        Harness.Result none = run(Harness.get("/"), CLIENT);
        try {
            assertThat(none.header("set-cookie")).isNull();
        } finally {
            none.response().release();
        }
        // A cluster that does not hash never asks for the hash: no cookie either (Envoy).
        configure(Cluster.LbPolicy.ROUND_ROBIN, RouteAction.HashPolicy.newBuilder().setCookie(RouteAction.HashPolicy
                .Cookie.newBuilder().setName("session").setTtl(com.google.protobuf.Duration.newBuilder().setSeconds(60)))
                .build());
        Harness.Result rr = run(Harness.get("/"), CLIENT);
        try {
            assertThat(rr.status()).isEqualTo(200);
            assertThat(rr.header("set-cookie")).isNull();
        } finally {
            rr.response().release();
        }
    }

    @ParameterizedTest
    @EnumSource(value = Cluster.LbPolicy.class, names = {"RING_HASH", "MAGLEV"})
    void theSourceIpIsStickyAndQueryParametersHash(Cluster.LbPolicy policy) {
        configure(policy, RouteAction.HashPolicy.newBuilder().setQueryParameter(RouteAction.HashPolicy.QueryParameter
                        .newBuilder().setName("user")).setTerminal(true).build(),
                RouteAction.HashPolicy.newBuilder().setConnectionProperties(RouteAction.HashPolicy.ConnectionProperties
                        .newBuilder().setSourceIp(true)).build());
        Map<String, Set<String>> byIp = new TreeMap<>();
        Map<String, Integer> counts = new TreeMap<>();
        for (int i = 0; i < N; i++) {
            String ip = "10.244.2." + (i % 50 + 1);
            // A new port each time (new connections): the IP alone decides.
            String b = backendOf(Harness.get("/"), new InetSocketAddress(ip, 20000 + i));
            byIp.computeIfAbsent(ip, k -> new HashSet<>()).add(b);
            counts.merge(b, 1, Integer::sum);
        }
        byIp.forEach((ip, set) -> assertThat(set).as("backends of %s", ip).hasSize(1));
        assertThat(counts).as("50 client IPs over 4 backends: %s", counts).hasSizeGreaterThanOrEqualTo(3);
        // The query parameter is terminal: one user from many IPs sticks to one backend.
        Set<String> user = new HashSet<>();
        for (int i = 0; i < 200; i++) {
            user.add(backendOf(Harness.get("/?user=alice&x=" + i), new InetSocketAddress("10.244.3." + (i + 1), 1)));
        }
        assertThat(user).hasSize(1);
    }
}
