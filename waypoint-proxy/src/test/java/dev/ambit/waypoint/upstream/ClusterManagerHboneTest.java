package dev.ambit.waypoint.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.api.workload.TunnelProtocol;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.identity.CaClient;
import dev.ambit.proxy.identity.TestCa;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.identity.WorkloadCertificate;
import dev.ambit.proxy.net.HbonePool;
import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.proxy.net.TestServers;
import dev.ambit.proxy.net.Transport;
import dev.ambit.testing.LeakCheck;
import dev.ambit.waypoint.ResponseFlag;
import dev.ambit.waypoint.config.WaypointConfig;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http2.Http2StreamChannel;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ClusterManager} over real HBONE: proxy-core's {@link HbonePool} with mTLS from the
 * in-process CA, to an HBONE peer (a destination agent's 15008) relaying to a backend.
 */
class ClusterManagerHboneTest {

    static final String C = "outbound|9080||reviews.shop.svc.cluster.local";
    static final InetAddress POD = address("127.0.0.2");

    @TempDir
    Path dir;
    TestCa ca;
    EventLoopGroup loops;
    HbonePool pool;
    TestServers.HbonePeer peer;
    Backends.Server backend;
    ClusterManager manager;
    WorkloadCertificate waypointCertificate;
    final MetricsRegistry metrics = MetricsRegistry.create();
    final AtomicReference<WaypointConfig> config = new AtomicReference<>(new TestConfig(1));
    final Workload backendWorkload = Workload.newBuilder().setUid("Kubernetes//Pod/shop/reviews-1")
            .setNamespace("shop").setServiceAccount("backend").setTrustDomain("cluster.local")
            .setTunnelProtocol(TunnelProtocol.HBONE).build();
    final InetSocketAddress endpoint = new InetSocketAddress(POD, 9080);

    static InetAddress address(String ip) {
        try {
            return InetAddress.getByName(ip);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    void start(boolean h2Backend) throws Exception {
        LeakCheck.reset();
        ca = new TestCa(dir, Duration.ofHours(1));
        CaClient caClient = ca.client().trustBundle(ca.bundle()).build();
        TlsContexts tls = TlsContexts.builder(ca.bundle()).build();
        loops = Transport.EPOLL.newEventLoopGroup(2, "upstream-hbone-test");
        backend = new Backends.Server(loops, "127.0.0.1", h2Backend, (ctx, request) -> {
            FullHttpResponse r = Backends.text("backend " + request.uri());
            r.trailingHeaders().set("grpc-status", "0");
            ctx.writeAndFlush(r);
        });
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, POD)) {
            port = probe.getLocalPort();
        }
        peer = new TestServers.HbonePeer(loops, new InetSocketAddress(POD, port), tls,
                caClient.issue(TestCa.BACKEND).get(10, TimeUnit.SECONDS), backend.address(), 100);
        waypointCertificate = caClient.issue(TestCa.FRONTEND).get(10, TimeUnit.SECONDS);
        pool = HbonePool.builder(tls).build();
        manager = ClusterManager.builder(config::get, SocketFactory.host("waypoint", Transport.EPOLL), loops)
                .hbone(pool, () -> waypointCertificate)
                .workloads(ip -> ip.equals(POD) ? backendWorkload : null)
                .hbonePort(port)
                .metrics(metrics)
                .build();
    }

    @AfterEach
    void tearDown() throws Exception {
        if (manager != null) {
            manager.close();
        }
        if (pool != null) {
            pool.close();
        }
        if (peer != null) {
            peer.close();
        }
        if (backend != null) {
            backend.close();
        }
        if (loops != null) {
            loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
        if (ca != null) {
            ca.close();
        }
        LeakCheck.assertNoLeaks();
    }

    CompletionStage<UpstreamResponse> send(String path) {
        return manager.send(new UpstreamRequest(C, ClusterManagerTest.get(path), Set.of(), Duration.ofSeconds(5)));
    }

    @Test
    void http1OverHboneReusesOneTunnelWithTheWaypointsIdentity() throws Exception {
        start(false);
        config.set(new TestConfig(1).cluster(TestConfig.http1(C), TestConfig.endpoint(endpoint, HealthStatus.HEALTHY,
                true)));
        for (int i = 0; i < 4; i++) {
            assertThat(ClusterManagerTest.body(send("/h" + i))).isEqualTo("backend /h" + i);
        }
        assertThat(peer.accepts.get()).as("one HBONE connection").isEqualTo(1);
        assertThat(peer.seen).as("one CONNECT, reused for every request").hasSize(1);
        TestServers.Seen seen = peer.seen.peek();
        assertThat(seen.client()).as("the waypoint's own identity").isEqualTo(TestCa.FRONTEND);
        assertThat(seen.request().destination()).as(":authority podIP:port").isEqualTo(endpoint);
        assertThat(backend.accepts.get()).isEqualTo(1);
        assertThat(metrics.value(UpstreamMetrics.CONNECTIONS, C, "http1", "hbone")).isEqualTo(1);
    }

    @Test
    void aTunnelsConnectCarriesTheTraceContextOfTheRequestItIsOpenedFor() throws Exception {
        // issue 19: the destination's agent logs the tunnel (identities, bytes) under this trace id.
        String first = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        for (boolean h2 : new boolean[] {false, true}) {
            if (h2) {
                tearDown(); // a fresh peer and pool: the HTTP/2 tunnel is a new CONNECT
            }
            start(h2);
            config.set(new TestConfig(1).cluster(h2 ? TestConfig.http2(C) : TestConfig.http1(C),
                    TestConfig.endpoint(endpoint, HealthStatus.HEALTHY, true)));
            var traced = ClusterManagerTest.get("/traced");
            traced.headers().set("traceparent", first);
            assertThat(ClusterManagerTest.body(manager.send(new UpstreamRequest(C, traced, Set.of(),
                    Duration.ofSeconds(5))))).isEqualTo("backend /traced");
            // A later request of another trace rides the same tunnel: no second CONNECT.
            var other = ClusterManagerTest.get("/other");
            other.headers().set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
            assertThat(ClusterManagerTest.body(manager.send(new UpstreamRequest(C, other, Set.of(),
                    Duration.ofSeconds(5))))).isEqualTo("backend /other");
            assertThat(peer.seen).as("h2 %s", h2).hasSize(1);
            assertThat(peer.seen.peek().request().traceparent()).as("h2 %s", h2).isEqualTo(first);
        }
    }

    @Test
    void aRequestWithoutAValidTraceContextOpensATunnelWithout() throws Exception {
        start(false);
        config.set(new TestConfig(1).cluster(TestConfig.http1(C), TestConfig.endpoint(endpoint, HealthStatus.HEALTHY,
                true)));
        var bad = ClusterManagerTest.get("/bad");
        bad.headers().set("traceparent", "00-not-a-trace-01");
        assertThat(ClusterManagerTest.body(manager.send(new UpstreamRequest(C, bad, Set.of(), Duration.ofSeconds(5)))))
                .isEqualTo("backend /bad");
        assertThat(peer.seen.peek().request().traceparent()).isNull();
    }

    @Test
    void http2OverHboneMultiplexesAndKeepsTrailers() throws Exception {
        start(true);
        config.set(new TestConfig(1).cluster(TestConfig.http2(C), TestConfig.endpoint(endpoint, HealthStatus.HEALTHY,
                true)));
        List<CompletionStage<UpstreamResponse>> all = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            all.add(send("/g" + i));
        }
        for (int i = 0; i < 6; i++) {
            UpstreamResponse r = all.get(i).toCompletableFuture().get(5, TimeUnit.SECONDS);
            try {
                assertThat(r.response().content().toString(StandardCharsets.UTF_8)).isEqualTo("backend /g" + i);
                assertThat(r.response().trailingHeaders().get("grpc-status")).isEqualTo("0");
            } finally {
                r.response().release();
            }
        }
        assertThat(peer.seen).hasSize(1);
        assertThat(backend.accepts.get()).isEqualTo(1);
    }

    @Test
    void aWaypointEndpointIsDialledAsGivenWithTheServiceVipAsConnectAuthority() throws Exception {
        start(false);
        // Istio's ingress-use-waypoint endpoint: the waypoint's HBONE socket, the Service's VIP:port as
        // original_dst.local. The manager's own HBONE port (1) must not be used for it.
        manager.close();
        manager = ClusterManager.builder(config::get, SocketFactory.host("waypoint", Transport.EPOLL), loops)
                .hbone(pool, () -> waypointCertificate)
                .workloads(ip -> ip.equals(POD) ? backendWorkload : null)
                .hbonePort(1)
                .metrics(metrics)
                .build();
        InetSocketAddress waypoint = (InetSocketAddress) peer.channel.localAddress();
        var lb = TestConfig.endpoint(waypoint, HealthStatus.HEALTHY, true);
        lb = lb.toBuilder().setMetadata(lb.getMetadata().toBuilder().putFilterMetadata(UpstreamEndpoint.ORIGINAL_DST,
                com.google.protobuf.Struct.newBuilder()
                        .putFields("local", com.google.protobuf.Value.newBuilder().setStringValue("10.96.1.11:8080")
                                .build())
                        .putFields("waypoint", com.google.protobuf.Value.newBuilder().setStringValue(
                                waypoint.getAddress().getHostAddress() + ":" + waypoint.getPort()).build())
                        .build())).build();
        assertThat(UpstreamEndpoint.of(lb).tunnelAuthority()).isEqualTo(new InetSocketAddress("10.96.1.11", 8080));
        config.set(new TestConfig(1).cluster(TestConfig.http1(C), lb));
        assertThat(ClusterManagerTest.body(send("/via-waypoint"))).isEqualTo("backend /via-waypoint");
        TestServers.Seen seen = peer.seen.peek();
        assertThat(seen.request().destination()).as(":authority is the Service's VIP:port")
                .isEqualTo(new InetSocketAddress("10.96.1.11", 8080));
        assertThat(seen.client()).isEqualTo(TestCa.FRONTEND);
        // Ejection keeps the tunnel target (and weight).
        UpstreamEndpoint e = UpstreamEndpoint.of(lb);
        assertThat(e.withHealth(HealthStatus.UNHEALTHY).tunnelAuthority()).isEqualTo(e.tunnelAuthority());
    }

    @Test
    void refusedConnectIsUfWithTheReason() throws Exception {
        start(false);
        peer.refuseWith = 403;
        config.set(new TestConfig(1).cluster(TestConfig.http1(C), TestConfig.endpoint(endpoint, HealthStatus.HEALTHY,
                true)));
        UpstreamException e = ClusterManagerTest.failure(send("/"));
        assertThat(e.flag()).isEqualTo(ResponseFlag.UF);
        assertThat(e.endpoint()).isEqualTo(endpoint);
        assertThat(e.getMessage()).contains("403", "refused by the test");
        assertThat(backend.accepts.get()).isZero();
    }

    @Test
    void unknownDestinationWorkloadIsUf() throws Exception {
        start(false);
        InetSocketAddress stranger = new InetSocketAddress("127.0.0.9", 9080);
        config.set(new TestConfig(1).cluster(TestConfig.http1(C), TestConfig.endpoint(stranger, HealthStatus.HEALTHY,
                true)));
        UpstreamException e = ClusterManagerTest.failure(send("/"));
        assertThat(e.flag()).isEqualTo(ResponseFlag.UF);
        assertThat(e.getMessage()).contains("no workload known", "127.0.0.9:9080");
    }

    @Test
    void originalDstTunnelToAMeshedWorkloadGoesOverHbone() throws Exception {
        start(false);
        config.set(new TestConfig(1).cluster(TestConfig.originalDst("inbound-passthrough")));
        UpstreamTunnel tunnel = manager.open("inbound-passthrough", endpoint, Set.of())
                .toCompletableFuture().get(5, TimeUnit.SECONDS);
        assertThat(tunnel.channel()).isInstanceOf(Http2StreamChannel.class);
        assertThat(tunnel.channel().config().isAutoRead()).isFalse();
        LinkedBlockingQueue<String> got = new LinkedBlockingQueue<>();
        tunnel.channel().pipeline().addLast(new SimpleChannelInboundHandler<ByteBuf>() {
            @Override
            protected void channelRead0(ChannelHandlerContext ctx, ByteBuf msg) {
                got.add(msg.toString(StandardCharsets.UTF_8));
                ctx.read();
            }
        });
        tunnel.channel().writeAndFlush(Unpooled.copiedBuffer("GET /raw HTTP/1.1\r\nHost: x\r\n\r\n",
                StandardCharsets.UTF_8)).sync();
        tunnel.channel().read();
        String first = got.poll(5, TimeUnit.SECONDS);
        assertThat(first).startsWith("HTTP/1.1 200");
        assertThat(peer.seen.peek().request().destination()).isEqualTo(endpoint);
        tunnel.channel().close().sync();
    }
}
