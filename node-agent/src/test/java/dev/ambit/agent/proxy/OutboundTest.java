package dev.ambit.agent.proxy;

import static dev.ambit.testing.MeshFixture.ports;
import static dev.ambit.testing.MeshFixture.put;
import static dev.ambit.testing.MeshFixture.service;
import static dev.ambit.testing.MeshFixture.workload;
import static dev.ambit.testing.Eventually.eventually;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.TunnelProtocol;
import dev.ambit.api.workload.WorkloadStatus;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.health.EndpointHealth;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.net.HbonePool;
import dev.ambit.proxy.net.TestServers;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.proxy.identity.TestCa;
import dev.ambit.testing.MeshFixture;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import dev.ambit.testing.MetricSamples;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The outbound proxy end to end on loopback: a real istiod-lite CA, real TLS, real HBONE
 * peers (mesh-common's server) in front of echo servers, and plain sockets as the pod's app.
 * The pod is {@code frontend} at 127.0.0.1; backends live at 127.0.0.2 and up.
 */
class OutboundTest {

    static final String BACKEND = "shop/backend.shop.svc.cluster.local";
    static final String EMPTY = "shop/empty.shop.svc.cluster.local";
    static final SpiffeId FRONTEND_ID = TestCa.FRONTEND;

    @TempDir
    Path dir;
    TestCa ca;
    CertificateManager certificates;
    TlsContexts tls;
    EventLoopGroup proxyLoops;
    EventLoopGroup serverLoops;
    HbonePool pool;
    Outbound outbound;
    final MetricsRegistry metrics = MetricsRegistry.create();
    final ProxyState state = ProxyState.create();
    final EndpointHealth health = EndpointHealth.builder().metrics(metrics).build();
    final Map<Integer, InetSocketAddress> destinations = new ConcurrentHashMap<>();
    final List<AutoCloseable> servers = new ArrayList<>();
    int hbonePort;
    TestServers.Echo echo;

    @BeforeEach
    void setUp() throws Exception {
        ca = new TestCa(dir, Duration.ofHours(1));
        ca.placeOnNode(TestCa.FRONTEND, TestCa.BACKEND, TestCa.ELSEWHERE);
        certificates = CertificateManager.builder(ca.client().trustBundle(ca.bundle()).build())
                .metrics(MetricsRegistry.create()).build();
        tls = TlsContexts.builder(ca.bundle()).build();
        // One proxy loop: every captured connection shares one per-loop pool, which the reuse test counts.
        proxyLoops = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        serverLoops = new MultiThreadIoEventLoopGroup(2, EpollIoHandler.newFactory());
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.2"))) {
            hbonePort = probe.getLocalPort(); // the same port on every 127.0.0.x peer, as 15008 would be
        }
        echo = serve(new TestServers.Echo(serverLoops, new InetSocketAddress("127.0.0.5", 0))); // no workload there

        Map<String, Address> addresses = new TreeMap<>();
        put(addresses, workload("frontend", WorkloadStatus.HEALTHY, new String[] {"127.0.0.1"}, Map.of()));
        put(addresses, workload("backend-1", WorkloadStatus.HEALTHY, new String[] {"127.0.0.2"},
                Map.of(BACKEND, ports(8080, 9080))));
        put(addresses, workload("backend-2", WorkloadStatus.HEALTHY, new String[] {"127.0.0.3"},
                Map.of(BACKEND, ports(8080, 9080))));
        put(addresses, service("backend", "10.96.0.10", 8080, 9080));
        put(addresses, workload("empty-1", WorkloadStatus.UNHEALTHY, new String[] {"127.0.0.9"},
                Map.of(EMPTY, ports(80, 8080))));
        put(addresses, service("empty", "10.96.0.12", 80, 8080));
        state.applyAddresses(addresses, List.of());

        pool = HbonePool.builder(tls).metrics(metrics).build();
        outbound = Outbound.builder(PodNetwork.host(MeshFixtureUid.FRONTEND), MeshFixtureUid.FRONTEND)
                .state(state)
                .certificates(certificates)
                .pool(pool)
                .originalDestinations(ch -> Optional.ofNullable(
                        destinations.remove(((InetSocketAddress) ch.remoteAddress()).getPort())))
                .eventLoopGroup(proxyLoops)
                .metrics(metrics)
                .bindAddress(new InetSocketAddress("127.0.0.1", 0))
                .hbonePort(hbonePort)
                .endpointHealth(health)
                .build();
        outbound.start().sync();
    }

    @AfterEach
    void tearDown() throws Exception {
        if (outbound != null) {
            outbound.close();
        }
        if (pool != null) {
            pool.close();
        }
        for (AutoCloseable s : servers) {
            s.close();
        }
        if (proxyLoops != null) {
            proxyLoops.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
        if (serverLoops != null) {
            serverLoops.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
        if (certificates != null) {
            certificates.close();
        }
        if (ca != null) {
            ca.close();
        }
    }

    @Test
    void meshedServiceIsTunnelledRoundRobinWithTheSourceIdentity() throws Exception {
        TestServers.HbonePeer b1 = peer("127.0.0.2", TestCa.BACKEND, 100);
        TestServers.HbonePeer b2 = peer("127.0.0.3", TestCa.BACKEND, 100);

        for (int i = 0; i < 4; i++) {
            assertThat(exchange(new InetSocketAddress("10.96.0.10", 8080), "hello " + i)).isEqualTo("hello " + i);
        }

        assertThat(b1.seen).hasSize(2);
        assertThat(b2.seen).hasSize(2);
        for (TestServers.HbonePeer p : List.of(b1, b2)) {
            String ip = ((InetSocketAddress) p.channel.localAddress()).getAddress().getHostAddress();
            assertThat(p.seen).allSatisfy(s -> {
                assertThat(s.request().authority()).isEqualTo(ip + ":9080");
                assertThat(s.request().forwardedFor()).isEqualTo("127.0.0.1");
                assertThat(s.client()).isEqualTo(FRONTEND_ID);
                assertThat(s.request().baggage()).contains("k8s.namespace.name=shop");
                assertThat(s.request().traceparent()).matches("00-[0-9a-f]{32}-[0-9a-f]{16}-00");
            });
        }
        eventually(() -> metrics.scrape().contains("istio_tcp_connections_closed_total"));
        String scrape = metrics.scrape();
        assertThat(scrape).contains("connection_security_policy=\"mutual_tls\"")
                .contains("destination_service=\"backend.shop.svc.cluster.local\"")
                .contains("source_principal=\"" + FRONTEND_ID.uri() + "\"");
    }

    @Test
    void tunnelsShareOnePooledConnectionUpToTheServersStreamLimit() throws Exception {
        TestServers.HbonePeer many = peer("127.0.0.2", TestCa.BACKEND, 100);
        List<Socket> open = new ArrayList<>();
        try {
            for (int i = 0; i < 5; i++) {
                open.add(held(new InetSocketAddress("127.0.0.2", 9080)));
            }
            assertThat(many.seen).hasSize(5);
            assertThat(many.accepts).hasValue(1);
            assertThat(pool.connectionCount()).isEqualTo(1);

            // A peer allowing 2 concurrent streams: the third tunnel needs a second connection.
            TestServers.HbonePeer limited = peer("127.0.0.3", TestCa.BACKEND, 2);
            for (int i = 0; i < 3; i++) {
                open.add(held(new InetSocketAddress("127.0.0.3", 9080)));
            }
            assertThat(limited.seen).hasSize(3);
            assertThat(limited.accepts).hasValue(2);
            assertThat(pool.connectionCount()).isEqualTo(3);
        } finally {
            for (Socket s : open) {
                s.close();
            }
        }
    }

    @Test
    void aServerWithTheWrongIdentityIsRefused() throws Exception {
        // State says 127.0.0.2 runs as shop/backend; the server there presents shop/payments.
        TestServers.HbonePeer impostor = peer("127.0.0.2", TestCa.ELSEWHERE, 100);

        assertThat(exchange(new InetSocketAddress("127.0.0.2", 9080), "secret")).isEmpty();

        assertThat(impostor.accepts).hasValue(1);
        assertThat(impostor.seen).isEmpty();
        assertThat(echo.accepts).hasValue(0);
        eventually(() -> metrics.value(HbonePool.FAILURES, "handshake") == 1.0);
        eventually(() -> MetricSamples.sum(metrics, Outbound.FAILED, "flag", "UF") == 1.0);
        assertThat(metrics.scrape()).contains("response_flags=\"UF\"");
        assertThat(pool.connectionCount()).isZero();
    }

    @Test
    void aRefusingEndpointIsFailedOverOnceThenEjectedAndEarlyBytesArriveOnce() throws Exception {
        // backend-2 (127.0.0.3) has no HBONE listener: its connects are refused.
        TestServers.HbonePeer live = peer("127.0.0.2", TestCa.BACKEND, 100);
        byte[] big = new byte[64 * 1024]; // fits the socket buffers: all of it is sent before the proxy reads
        new java.util.Random(3).nextBytes(big);
        String early = new String(big, StandardCharsets.ISO_8859_1);

        for (int i = 0; i < 10; i++) {
            // Written and half-closed before the proxy even picked: these are early bytes.
            String text = i < 2 ? early + i : "hello " + i;
            String back = exchange(new InetSocketAddress("10.96.0.10", 8080), text, StandardCharsets.ISO_8859_1);
            assertThat(back.length()).as("bytes echoed on connection %d", i).isEqualTo(text.length());
            assertThat(back.equals(text)).as("connection %d echoed its bytes once, in order", i).isTrue();
        }

        assertThat(live.seen).as("one CONNECT per connection, all on the live endpoint").hasSize(10);
        assertThat(metrics.value(Outbound.FAILOVERS, "connect")).as("failovers").isEqualTo(1.0);
        assertThat(metrics.value(EndpointHealth.EJECTIONS, "connect")).isEqualTo(1.0);
        assertThat(metrics.value(EndpointHealth.EJECTED)).isEqualTo(1.0);
        assertThat(health.statuses()).singleElement().satisfies(s -> {
            assertThat(s.key().address()).isEqualTo(new InetSocketAddress("127.0.0.3", 9080));
            assertThat(s.ejected()).isTrue();
        });
        assertThat(MetricSamples.sum(metrics, Outbound.FAILED, "flag", "UF")).isZero();
        eventually(() -> metrics.scrape().contains("istio_tcp_connections_closed_total"));
        assertThat(metrics.scrape()).doesNotContain("response_flags=\"UF\"")
                .doesNotContain("destination_workload=\"backend-2\"");
    }

    @Test
    void whenEveryEndpointIsEjectedTheyAreTriedAnyway() throws Exception {
        // Nobody listens: the first connection tries both endpoints and fails; both are ejected.
        assertThat(exchange(new InetSocketAddress("10.96.0.10", 8080), "nobody")).isEmpty();
        eventually(() -> MetricSamples.sum(metrics, Outbound.FAILED, "flag", "UF") == 1.0);
        assertThat(metrics.value(EndpointHealth.EJECTED)).isEqualTo(2.0);
        assertThat(metrics.scrape()).contains("response_flags=\"UF\"").doesNotContain("response_flags=\"UH\"");

        // Both come back while still ejected: panic mode tries them rather than failing with none.
        TestServers.HbonePeer b1 = peer("127.0.0.2", TestCa.BACKEND, 100);
        TestServers.HbonePeer b2 = peer("127.0.0.3", TestCa.BACKEND, 100);
        for (int i = 0; i < 4; i++) {
            assertThat(exchange(new InetSocketAddress("10.96.0.10", 8080), "back " + i)).isEqualTo("back " + i);
        }
        assertThat(b1.seen.size() + b2.seen.size()).isEqualTo(4);
        assertThat(metrics.value(EndpointHealth.EJECTED)).as("still ejected: they return on time").isEqualTo(2.0);
    }

    @Test
    void anEndpointThatNeverAnswersTimesOutAndIsFailedOver() throws Exception {
        TestServers.HbonePeer live = peer("127.0.0.2", TestCa.BACKEND, 100);
        // 127.0.0.3 accepts TCP and then says nothing: no TLS handshake, no CONNECT answer.
        try (ServerSocket silent = new ServerSocket(hbonePort, 50, InetAddress.getByName("127.0.0.3"))) {
            List<Socket> accepted = new java.util.concurrent.CopyOnWriteArrayList<>();
            Thread acceptor = Thread.ofVirtual().start(() -> {
                try {
                    while (true) {
                        accepted.add(silent.accept());
                    }
                } catch (IOException closed) {
                    // the test ended
                }
            });
            Outbound quick = Outbound.builder(PodNetwork.host(MeshFixtureUid.FRONTEND), MeshFixtureUid.FRONTEND)
                    .state(state).certificates(certificates).pool(pool)
                    .originalDestinations(ch -> Optional.ofNullable(
                            destinations.remove(((InetSocketAddress) ch.remoteAddress()).getPort())))
                    .eventLoopGroup(proxyLoops).metrics(metrics).endpointHealth(health)
                    .bindAddress(new InetSocketAddress("127.0.0.1", 0)).hbonePort(hbonePort)
                    .connectTimeout(Duration.ofMillis(500))
                    .build();
            quick.start().sync();
            Outbound main = outbound;
            outbound = quick;
            try {
                for (int i = 0; i < 4; i++) {
                    long t0 = System.nanoTime();
                    assertThat(exchange(new InetSocketAddress("10.96.0.10", 8080), "slow " + i)).isEqualTo("slow " + i);
                    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));
                }
            } finally {
                outbound = main;
                quick.close();
                for (Socket s : accepted) {
                    s.close();
                }
                silent.close();
                acceptor.join(5_000);
            }
        }
        assertThat(live.seen).hasSize(4);
        assertThat(metrics.value(Outbound.FAILOVERS, "timeout")).isEqualTo(1.0);
        assertThat(metrics.value(EndpointHealth.EJECTIONS, "timeout")).isEqualTo(1.0);
    }

    @Test
    void aPolicyDenialIsAnAnswerNotFailedOver() throws Exception {
        TestServers.HbonePeer allowing = peer("127.0.0.2", TestCa.BACKEND, 100);
        TestServers.HbonePeer denying = peer("127.0.0.3", TestCa.BACKEND, 100);
        denying.refuseWith = 403;

        int answered = 0;
        for (int i = 0; i < 4; i++) {
            if (exchange(new InetSocketAddress("10.96.0.10", 8080), "hi " + i).equals("hi " + i)) {
                answered++;
            }
        }

        assertThat(answered).as("round robin: half allowed, half denied").isEqualTo(2);
        assertThat(allowing.seen).hasSize(2);
        assertThat(denying.seen).as("each denied connection asked once, not retried elsewhere").hasSize(2);
        eventually(() -> MetricSamples.sum(metrics, Outbound.FAILED, "flag", "UF") == 2.0);
        assertThat(metrics.value(Outbound.FAILOVERS, "connect")).isZero();
        assertThat(health.ejectedCount()).as("a denial says nothing about the endpoint's health").isZero();
    }

    @Test
    void aRefusingPassthroughEndpointIsFailedOver() throws Exception {
        // Two endpoints outside the mesh (no HBONE): one refuses, the other is an echo.
        TestServers.Echo legacyEcho = serve(new TestServers.Echo(serverLoops, new InetSocketAddress("127.0.0.7", 0)));
        int port = legacyEcho.address().getPort();
        Map<String, Address> legacy = new TreeMap<>();
        String svc = "shop/legacy.shop.svc.cluster.local";
        for (String[] w : List.of(new String[] {"legacy-1", "127.0.0.6"}, new String[] {"legacy-2", "127.0.0.7"})) {
            Address a = workload(w[0], WorkloadStatus.HEALTHY, new String[] {w[1]}, Map.of(svc, ports(80, port)));
            put(legacy, a.toBuilder().setWorkload(a.getWorkload().toBuilder().setTunnelProtocol(TunnelProtocol.NONE))
                    .build());
        }
        put(legacy, service("legacy", "10.96.0.14", 80, port));
        state.applyAddresses(legacy, List.of());

        for (int i = 0; i < 4; i++) {
            assertThat(exchange(new InetSocketAddress("10.96.0.14", 80), "plain " + i)).isEqualTo("plain " + i);
        }
        assertThat(legacyEcho.accepts).hasValue(4);
        assertThat(metrics.value(Outbound.FAILOVERS, "connect")).isEqualTo(1.0);
        assertThat(health.isEjected(new EndpointHealth.Key(MeshFixture.uid("legacy-1"),
                new InetSocketAddress("127.0.0.6", port)))).isTrue();
    }

    @Test
    void unmeshedDestinationsArePassedThrough() throws Exception {
        // Not in the mesh state at all: plain TCP straight to the original destination.
        assertThat(exchange(echo.address(), "plain")).isEqualTo("plain");
        assertThat(echo.accepts).hasValue(1);

        // A workload without HBONE: also plain.
        TestServers.Echo legacyEcho = serve(new TestServers.Echo(serverLoops, new InetSocketAddress("127.0.0.7", 0)));
        Map<String, Address> legacy = new TreeMap<>();
        Address w = workload("legacy", WorkloadStatus.HEALTHY, new String[] {"127.0.0.7"}, Map.of());
        put(legacy, w.toBuilder().setWorkload(w.getWorkload().toBuilder().setTunnelProtocol(TunnelProtocol.NONE))
                .build());
        state.applyAddresses(legacy, List.of());
        assertThat(exchange(legacyEcho.address(), "legacy bytes")).isEqualTo("legacy bytes");
        assertThat(legacyEcho.accepts).hasValue(1);

        assertThat(pool.connectionCount()).isZero();
        assertThat(metrics.value(Outbound.ACCEPTED, "passthrough")).isEqualTo(2.0);
        eventually(() -> metrics.scrape().contains("istio_tcp_received_bytes_total"));
        assertThat(metrics.scrape()).contains("destination_workload=\"legacy\"");
    }

    @Test
    void aServiceWithoutHealthyEndpointsIsClosedWithUH() throws Exception {
        assertThat(exchange(new InetSocketAddress("10.96.0.12", 80), "anyone?")).isEmpty();

        eventually(() -> MetricSamples.sum(metrics, Outbound.FAILED, "flag", "UH") == 1.0);
        assertThat(metrics.scrape()).contains("response_flags=\"UH\"")
                .contains("destination_service=\"empty.shop.svc.cluster.local\"");
        assertThat(echo.accepts).hasValue(0);
    }

    @Test
    void largeTransfersFlowBothWaysThroughTunnelAndPassthrough() throws Exception {
        peer("127.0.0.2", TestCa.BACKEND, 100);
        byte[] payload = new byte[4 * 1024 * 1024];
        new java.util.Random(7).nextBytes(payload);

        for (InetSocketAddress destination : List.of(new InetSocketAddress("127.0.0.2", 9080), echo.address())) {
            try (Socket s = capture(destination)) {
                // The writer runs apart: the echo answers while we still send, as a real peer would.
                Thread writer = Thread.ofVirtual().start(() -> {
                    try {
                        s.getOutputStream().write(payload);
                        s.shutdownOutput();
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                });
                byte[] back = readAll(s.getInputStream());
                writer.join();
                assertThat(back).as("echo via " + destination).isEqualTo(payload);
            }
        }
        eventually(() -> metrics.scrape().contains("istio_tcp_sent_bytes_total{"));
        assertThat(metrics.scrape()).contains("connection_security_policy=\"unknown\"");
    }

    /**
     * A client that sends its whole request and half-closes before reading, with a small
     * receive buffer: the answer must be written to a socket whose FIN was already read,
     * through many waits for room (EPOLLOUT), by both relays (see EpollHalfClose).
     */
    @Test
    void aClientThatHalfClosesBeforeReadingGetsTheWholeAnswerThroughTunnelAndPassthrough() throws Exception {
        peer("127.0.0.2", TestCa.BACKEND, 100);
        byte[] payload = new byte[512 * 1024];
        new java.util.Random(11).nextBytes(payload);

        for (InetSocketAddress destination : List.of(new InetSocketAddress("127.0.0.2", 9080), echo.address())) {
            try (Socket s = new Socket()) {
                s.setSoTimeout(10_000);
                s.setSendBufferSize(1024 * 1024);
                s.setReceiveBufferSize(4096);
                s.bind(new InetSocketAddress("127.0.0.1", 0));
                destinations.put(s.getLocalPort(), destination);
                s.connect(outbound.localAddress());
                s.getOutputStream().write(payload);
                s.shutdownOutput();
                Thread.sleep(200); // the relay stalls writing to us, our FIN already read
                assertThat(readAll(s.getInputStream())).as("echo via " + destination).isEqualTo(payload);
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    private TestServers.HbonePeer peer(String ip, SpiffeId identity, int maxStreams) throws Exception {
        return serve(new TestServers.HbonePeer(serverLoops, new InetSocketAddress(ip, hbonePort), tls,
                certificates.fetch(identity).get(10, TimeUnit.SECONDS), echo.address(), maxStreams));
    }

    private <T extends AutoCloseable> T serve(T server) {
        servers.add(server);
        return server;
    }

    /** A captured connection to {@code destination}: bound first, so the test lookup knows its port. */
    private Socket capture(InetSocketAddress destination) throws IOException {
        Socket s = new Socket();
        s.setSoTimeout(10_000);
        s.bind(new InetSocketAddress("127.0.0.1", 0));
        destinations.put(s.getLocalPort(), destination);
        s.connect(outbound.localAddress());
        return s;
    }

    /** Sends {@code text}, half-closes and returns all that comes back (empty on a reset). */
    private String exchange(InetSocketAddress destination, String text) throws IOException {
        return exchange(destination, text, StandardCharsets.UTF_8);
    }

    private String exchange(InetSocketAddress destination, String text, java.nio.charset.Charset charset)
            throws IOException {
        try (Socket s = capture(destination)) {
            try {
                s.getOutputStream().write(text.getBytes(charset));
                s.shutdownOutput();
                return new String(readAll(s.getInputStream()), charset);
            } catch (SocketException e) {
                return ""; // reset by the proxy
            }
        }
    }

    /** A tunnel proven to work (one echo round trip) and kept open. */
    private Socket held(InetSocketAddress destination) throws IOException {
        Socket s = capture(destination);
        s.getOutputStream().write("ping".getBytes(StandardCharsets.UTF_8));
        byte[] got = s.getInputStream().readNBytes(4);
        assertThat(new String(got, StandardCharsets.UTF_8)).isEqualTo("ping");
        return s;
    }

    private static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        for (int n; (n = in.read(buf)) >= 0; ) {
            out.write(buf, 0, n);
        }
        return out.toByteArray();
    }


    /** The fixture's uid scheme. */
    static final class MeshFixtureUid {
        static final String FRONTEND = MeshFixture.uid("frontend");
    }
}
