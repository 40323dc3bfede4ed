package dev.ambit.agent.proxy;

import static dev.ambit.testing.MeshFixture.ports;
import static dev.ambit.testing.MeshFixture.put;
import static dev.ambit.testing.MeshFixture.service;
import static dev.ambit.testing.MeshFixture.uid;
import static dev.ambit.testing.MeshFixture.workload;
import static dev.ambit.testing.Eventually.eventually;
import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Empty;
import dev.ambit.api.security.Action;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Clause;
import dev.ambit.api.security.Match;
import dev.ambit.api.security.Rule;
import dev.ambit.api.security.Scope;
import dev.ambit.api.security.StringMatch;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.WorkloadStatus;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.identity.WorkloadCertificate;
import dev.ambit.proxy.net.HbonePool;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.testing.LeakCheck;
import dev.ambit.testing.MetricSamples;
import dev.ambit.proxy.identity.TestCa;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.ResourceLeakDetector;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two node agents on loopback, as in a two-node cluster: agent A serves the {@code frontend}
 * pod (127.0.0.2) with its outbound listener, agent B serves the {@code backend-1} pod
 * (127.0.0.3) with its HBONE and plaintext inbound listeners in front of an echo app bound
 * at 127.0.0.3. Each agent has its own {@link ProxyState} (filled with what istiod-lite
 * would push to both), its own {@link CertificateManager} and {@link TlsContexts} from the
 * shared in-process CA, its own event loops and metrics. The app client connects to A's
 * outbound listener as the captured app would, naming the backend Service VIP as its
 * original destination; nothing but A and B sits between it and the app. Epoll sockets;
 * {@link TwoAgentsIoUringTest} runs the same cases on io_uring.
 */
class TwoAgentsTest {

    static final String FRONTEND_UID = uid("frontend");
    static final String BACKEND_UID = uid("backend-1");
    static final InetAddress FRONTEND_IP = ip("127.0.0.2");
    static final InetAddress BACKEND_IP = ip("127.0.0.3");
    static final String BACKEND_SERVICE = "shop/backend.shop.svc.cluster.local";
    static final InetSocketAddress BACKEND_VIP = new InetSocketAddress(ip("10.96.0.20"), 8080);
    static final SpiffeId FRONTEND = TestCa.FRONTEND;
    static final SpiffeId BACKEND = TestCa.BACKEND;
    static final SpiffeId IMPOSTOR = SpiffeId.of(TestCa.TRUST_DOMAIN, "shop", "impostor");
    static final String DENY_FRONTEND = "shop/deny-frontend";
    static final String STRICT = "istio-system/istio_converted_static_strict";
    /** The app's answer after the client's FIN: makes the two directions' byte counts differ. */
    static final String BYE = "<bye>";
    static final int A_LOOPS = 2;

    @TempDir
    Path dir;
    TestCa ca;
    EventLoopGroup appLoops;
    Channel app;
    final AtomicInteger appConnections = new AtomicInteger();
    int hbonePort;

    // Agent A: the frontend's node.
    EventLoopGroup loopsA;
    final ProxyState stateA = ProxyState.create();
    final MetricsRegistry metricsA = MetricsRegistry.create();
    CertificateManager certificatesA;
    HbonePool poolA;
    Outbound outboundA;
    final Map<Integer, InetSocketAddress> originalDestinations = new ConcurrentHashMap<>();

    // Agent B: the backend's node.
    EventLoopGroup loopsB;
    final ProxyState stateB = ProxyState.create();
    final MetricsRegistry metricsB = MetricsRegistry.create();
    CertificateManager certificatesB;
    final AtomicReference<SpiffeId> presentedByB = new AtomicReference<>(BACKEND);
    final AtomicInteger hboneAccepts = new AtomicInteger();
    Hbone15008Listener hboneB;
    Plaintext15006Listener plaintextB;

    /** The transport of both agents' sockets and of the app. */
    Transport transport() {
        return Transport.EPOLL;
    }

    @BeforeEach
    void startTwoAgents() throws Exception {
        LeakCheck.reset();
        ca = new TestCa(dir, Duration.ofHours(1));
        ca.placeOnNode(FRONTEND, BACKEND, IMPOSTOR);

        appLoops = transport().newEventLoopGroup(1, "app");
        app = new ServerBootstrap().group(appLoops).channelFactory(transport()::newServerChannel)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        appConnections.incrementAndGet();
                        ch.pipeline().addLast(new EchoThenBye());
                    }
                })
                .bind(new InetSocketAddress(BACKEND_IP, 0)).sync().channel();
        try (ServerSocket probe = new ServerSocket(0, 1, BACKEND_IP)) {
            hbonePort = probe.getLocalPort(); // B's "15008"; A's outbound dials the same port
        }
        push(false, false);

        // ------------------------------------------------------------ agent B
        loopsB = transport().newEventLoopGroup(2, "agent-b");
        certificatesB = CertificateManager.builder(ca.client().trustBundle(ca.bundle()).build())
                .metrics(MetricsRegistry.create()).build();
        certificatesB.fetch(BACKEND).get(10, TimeUnit.SECONDS);
        certificatesB.fetch(IMPOSTOR).get(10, TimeUnit.SECONDS);
        TlsContexts tlsB = TlsContexts.builder(ca.bundle()).build();
        InboundContext inboundB = InboundContext.builder(countingAccepts(PodNetwork.host(BACKEND_UID, transport())), stateB)
                .podAddresses(List.of(BACKEND_IP)).eventLoopGroup(loopsB).metrics(metricsB).build();
        hboneB = Hbone15008Listener.builder(inboundB, tlsB,
                        () -> certificatesB.current(presentedByB.get()).orElse(null))
                .bindAddress(new InetSocketAddress(BACKEND_IP, hbonePort)).build().start();
        // No sk_lookup: the test connects to the listener and names the app as the original
        // destination, as the steered socket's local address would.
        plaintextB = Plaintext15006Listener.builder(inboundB)
                .bindAddress(new InetSocketAddress(BACKEND_IP, 0))
                .originalDestination(ch -> appAddress())
                .build().start();

        // ------------------------------------------------------------ agent A
        loopsA = transport().newEventLoopGroup(A_LOOPS, "agent-a");
        certificatesA = CertificateManager.builder(ca.client().trustBundle(ca.bundle()).build())
                .metrics(MetricsRegistry.create()).build();
        poolA = HbonePool.builder(TlsContexts.builder(ca.bundle()).build()).metrics(metricsA).build();
        outboundA = Outbound.builder(PodNetwork.host(FRONTEND_UID, transport()), FRONTEND_UID)
                .state(stateA)
                .certificates(certificatesA)
                .pool(poolA)
                .originalDestinations(ch -> Optional.ofNullable(
                        originalDestinations.remove(((InetSocketAddress) ch.remoteAddress()).getPort())))
                .eventLoopGroup(loopsA)
                .metrics(metricsA)
                .bindAddress(new InetSocketAddress("127.0.0.1", 0))
                .hbonePort(hbonePort)
                .build();
        outboundA.start().sync();
    }

    @AfterEach
    void stopTwoAgents() throws Exception {
        if (outboundA != null) {
            outboundA.close();
        }
        if (poolA != null) {
            poolA.close();
        }
        if (hboneB != null) {
            hboneB.close();
        }
        if (plaintextB != null) {
            plaintextB.close();
        }
        if (app != null) {
            app.close().sync();
        }
        for (EventLoopGroup g : new EventLoopGroup[] {loopsA, loopsB, appLoops}) {
            if (g != null) {
                assertThat(g.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(10, TimeUnit.SECONDS))
                        .as("event loops stopped").isTrue();
            }
        }
        if (certificatesA != null) {
            certificatesA.close();
        }
        if (certificatesB != null) {
            certificatesB.close();
        }
        if (ca != null) {
            ca.close();
        }
        LeakCheck.assertNoLeaks();
    }

    // ---------------------------------------------------------------- cases

    @Test
    void streamThroughHboneEndToEndWithIdentitiesVerifiedBothWays() throws Exception {
        String payload = "hello backend, this is frontend";

        assertThat(exchange(payload)).isEqualTo(payload + BYE);

        assertThat(appConnections).hasValue(1);
        int received = payload.length();
        int sent = payload.length() + BYE.length();
        // B (reporter destination): the client proved frontend, the source workload is named.
        String[] atB = {"reporter", "destination",
            "source_principal", FRONTEND.uri(), "source_workload", "frontend",
            "destination_principal", BACKEND.uri(), "destination_workload", "backend-1",
            "connection_security_policy", "mutual_tls"};
        eventually(() -> assertThat(MetricSamples.sum(metricsB, "istio_tcp_connections_closed_total", atB)).isEqualTo(1));
        assertThat(MetricSamples.sum(metricsB, "istio_tcp_connections_opened_total", atB)).isEqualTo(1);
        assertThat(MetricSamples.sum(metricsB, "istio_tcp_received_bytes_total", atB)).isEqualTo(received);
        assertThat(MetricSamples.sum(metricsB, "istio_tcp_sent_bytes_total", atB)).isEqualTo(sent);
        // A (reporter source): the server proved backend; same principal format as B's.
        String[] atA = {"reporter", "source",
            "source_principal", FRONTEND.uri(), "source_workload", "frontend",
            "destination_principal", BACKEND.uri(), "destination_workload", "backend-1",
            "destination_service", "backend.shop.svc.cluster.local",
            "connection_security_policy", "mutual_tls"};
        eventually(() -> assertThat(MetricSamples.sum(metricsA, "istio_tcp_connections_closed_total", atA)).isEqualTo(1));
        assertThat(MetricSamples.sum(metricsA, "istio_tcp_connections_opened_total", atA)).isEqualTo(1);
        assertThat(MetricSamples.sum(metricsA, "istio_tcp_received_bytes_total", atA)).isEqualTo(received);
        assertThat(MetricSamples.sum(metricsA, "istio_tcp_sent_bytes_total", atA)).isEqualTo(sent);
        assertThat(metricsA.scrape()).doesNotContain("response_flags=\"UF\"");
        assertThat(metricsB.scrape()).doesNotContain(InboundRefusals.METRIC + "{");
        assertThat(hboneAccepts).hasValue(1);
    }

    @Test
    void denyPolicyForFrontendResetsTheClientAndRemovingItRestoresTraffic() throws Exception {
        push(true, false);

        assertThat(exchange("let me in")).as("what the client got").isEmpty();

        assertThat(appConnections).hasValue(0);
        eventually(() -> assertThat(metricsB.value(InboundRefusals.METRIC, "policy_denied")).isEqualTo(1.0));
        eventually(() -> assertThat(metricsA.value(Outbound.FAILED, "UF")).isEqualTo(1.0));
        eventually(() -> assertThat(MetricSamples.sum(metricsA, "istio_tcp_connections_closed_total",
                "reporter", "source", "response_flags", "UF", "destination_principal", BACKEND.uri())).isEqualTo(1));
        assertThat(MetricSamples.sum(metricsB, "istio_tcp_connections_closed_total", "reporter", "destination",
                "source_principal", FRONTEND.uri(), "connection_security_policy", "mutual_tls")).isEqualTo(1);

        // The same pushes remove the policy: no restart, the next connection goes through.
        push(false, false);
        assertThat(exchange("now?")).isEqualTo("now?" + BYE);
        assertThat(appConnections).hasValue(1);
        assertThat(metricsB.value(InboundRefusals.METRIC, "policy_denied")).isEqualTo(1.0);
        assertThat(metricsA.value(Outbound.FAILED, "UF")).isEqualTo(1.0);
    }

    @Test
    void strictRefusesPlaintextToTheBackendWhileHboneFromFrontendWorks() throws Exception {
        push(false, true);

        try (Socket s = new Socket()) {
            s.setSoTimeout(10_000);
            s.bind(new InetSocketAddress(FRONTEND_IP, 0));
            // A reset: the connect, the write or the read fails (whichever sees it first), without a byte.
            int first;
            try {
                s.connect(plaintextB.localAddress(), 10_000);
                s.getOutputStream().write("plaintext".getBytes(US_ASCII));
                first = s.getInputStream().read();
            } catch (SocketException e) {
                first = -2;
            }
            assertThat(first).as("refused plaintext got bytes").isEqualTo(-2);
        }
        assertThat(appConnections).hasValue(0);
        eventually(() -> assertThat(metricsB.value(InboundRefusals.METRIC, "policy_denied")).isEqualTo(1.0));
        assertThat(MetricSamples.sum(metricsB, "istio_tcp_connections_closed_total",
                "connection_security_policy", "none")).isEqualTo(1);

        assertThat(exchange("mtls still works")).isEqualTo("mtls still works" + BYE);
        assertThat(appConnections).hasValue(1);
        eventually(() -> assertThat(MetricSamples.sum(metricsB, "istio_tcp_connections_closed_total",
                "source_principal", FRONTEND.uri(), "connection_security_policy", "mutual_tls")).isEqualTo(1));
        assertThat(metricsB.value(InboundRefusals.METRIC, "policy_denied")).isEqualTo(1.0);
    }

    @Test
    void aBackendPresentingAnotherIdentityIsRefusedByTheFrontendsAgent() throws Exception {
        presentedByB.set(IMPOSTOR);

        assertThat(exchange("secret")).as("what the client got").isEmpty();

        assertThat(hboneAccepts).hasValue(1); // A reached B's 15008 and gave up in the handshake
        eventually(() -> assertThat(metricsA.value(HbonePool.FAILURES, "handshake")).isEqualTo(1.0));
        eventually(() -> assertThat(metricsA.value(Outbound.FAILED, "UF")).isEqualTo(1.0));
        assertThat(appConnections).hasValue(0);
        assertThat(poolA.connectionCount()).isZero();
        assertThat(MetricSamples.sum(metricsB, "istio_tcp_connections_opened_total")).isZero();
    }

    @Test
    void twentyConcurrentConnectionsSharePooledHboneConnections() throws Exception {
        int n = 20;
        ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor();
        try {
            List<Future<byte[]>> results = new ArrayList<>();
            List<byte[]> payloads = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                byte[] payload = new byte[256 * 1024];
                new Random(i).nextBytes(payload);
                payloads.add(payload);
                results.add(clients.submit(() -> exchange(payload)));
            }
            for (int i = 0; i < n; i++) {
                byte[] expected = concat(payloads.get(i), BYE.getBytes(US_ASCII));
                assertThat(results.get(i).get(30, TimeUnit.SECONDS)).as("echo of connection " + i)
                        .isEqualTo(expected);
            }
        } finally {
            clients.shutdownNow();
            assertThat(clients.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(appConnections).hasValue(n);
        // One pool per event loop of A: at most one connection per loop to B.
        assertThat(hboneAccepts.get()).isBetween(1, A_LOOPS).isLessThan(n);
        assertThat(poolA.connectionCount()).isEqualTo(hboneAccepts.get());
        long bytesIn = 256L * 1024 * n;
        long bytesOut = bytesIn + (long) BYE.length() * n;
        eventually(() -> assertThat(MetricSamples.sum(metricsB, "istio_tcp_connections_closed_total",
                "source_principal", FRONTEND.uri())).isEqualTo(n));
        assertThat(MetricSamples.sum(metricsB, "istio_tcp_received_bytes_total")).isEqualTo(bytesIn);
        assertThat(MetricSamples.sum(metricsB, "istio_tcp_sent_bytes_total")).isEqualTo(bytesOut);
        eventually(() -> assertThat(MetricSamples.sum(metricsA, "istio_tcp_connections_closed_total",
                "destination_principal", BACKEND.uri())).isEqualTo(n));
        assertThat(MetricSamples.sum(metricsA, "istio_tcp_received_bytes_total")).isEqualTo(bytesIn);
        assertThat(MetricSamples.sum(metricsA, "istio_tcp_sent_bytes_total")).isEqualTo(bytesOut);
    }

    /**
     * SIGTERM on the backend's node while a tunnel from the frontend is open: B's HBONE
     * listener drains. The open tunnel keeps carrying bytes both ways and ends as usual, new
     * connections through A fail (B's listener is gone, and the connection A pooled got
     * B's GOAWAY), and the drain ends with the tunnel, nothing forced; A's pool is left
     * without a connection.
     */
    @Test
    void drainingTheBackendsHboneListenerLetsTheOpenTunnelFinish() throws Exception {
        try (Socket held = new Socket()) {
            held.setSoTimeout(10_000);
            held.bind(new InetSocketAddress(FRONTEND_IP, 0));
            originalDestinations.put(held.getLocalPort(), BACKEND_VIP);
            held.connect(outboundA.localAddress(), 10_000);
            roundTrip(held, "before");
            assertThat(hboneB.activeConnections()).isEqualTo(1);

            CompletableFuture<Integer> drained = hboneB.drain(Duration.ofSeconds(30));

            roundTrip(held, "during the drain");
            assertThat(exchange("a new connection")).as("what a new connection got").isEmpty();
            assertThat(drained).isNotDone();
            held.shutdownOutput();
            assertThat(new String(readAll(held.getInputStream()), US_ASCII)).isEqualTo(BYE);
            assertThat(drained.get(10, TimeUnit.SECONDS)).as("force-closed").isZero();
        }
        assertThat(hboneB.activeConnections()).isZero();
        eventually(() -> assertThat(poolA.connectionCount()).isZero());
        assertThat(hboneAccepts).hasValue(1);
    }

    // ---------------------------------------------------------------- mesh state

    /**
     * What istiod-lite pushes to both agents: the two workloads (HBONE), the backend Service
     * (VIP 10.96.0.20:8080 → the app's port) and the policies the backend references.
     */
    private void push(boolean denyFrontend, boolean strict) {
        int appPort = appAddress().getPort();
        List<String> references = new ArrayList<>();
        Map<String, Authorization> policies = new TreeMap<>();
        List<String> removed = new ArrayList<>();
        if (denyFrontend) {
            references.add(DENY_FRONTEND);
            policies.put(DENY_FRONTEND, denyFrontend());
        } else {
            removed.add(DENY_FRONTEND);
        }
        if (strict) {
            references.add(STRICT);
            policies.put(STRICT, strict());
        } else {
            removed.add(STRICT);
        }
        Map<String, Address> addresses = new TreeMap<>();
        put(addresses, workload("frontend", WorkloadStatus.HEALTHY, new String[] {"127.0.0.2"}, Map.of()));
        put(addresses, workload("backend-1", WorkloadStatus.HEALTHY, new String[] {"127.0.0.3"},
                Map.of(BACKEND_SERVICE, ports(8080, appPort)), references.toArray(String[]::new)));
        put(addresses, service("backend", "10.96.0.20", 8080, appPort));
        for (ProxyState state : List.of(stateA, stateB)) {
            // Policies before the workloads that reference them, as the xDS client applies them.
            state.applyAuthorizations(policies, List.of());
            state.applyAddresses(addresses, List.of());
            state.applyAuthorizations(Map.of(), removed.stream().filter(k -> state.policy(k) != null).toList());
        }
    }

    private static Authorization denyFrontend() {
        return Authorization.newBuilder().setNamespace("shop").setName("deny-frontend")
                .setScope(Scope.WORKLOAD_SELECTOR).setAction(Action.DENY)
                .addRules(Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(Match.newBuilder()
                        .addPrincipals(StringMatch.newBuilder().setExact(FRONTEND.principal())))))
                .build();
    }

    /** PeerAuthentication STRICT as istiod-lite sends it: DENY anything without an identity. */
    private static Authorization strict() {
        return Authorization.newBuilder().setNamespace("istio-system").setName("istio_converted_static_strict")
                .setScope(Scope.WORKLOAD_SELECTOR).setAction(Action.DENY)
                .addRules(Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(Match.newBuilder()
                        .addNotPrincipals(StringMatch.newBuilder().setPresence(Empty.getDefaultInstance())))))
                .build();
    }

    // ---------------------------------------------------------------- helpers

    /**
     * B's pod network, counting the TCP connections accepted by its HBONE listener: a handler
     * ahead of the bootstrap's acceptor sees every accepted child channel.
     */
    private PodNetwork countingAccepts(PodNetwork network) {
        return new PodNetwork() {
            @Override
            public String podUid() {
                return network.podUid();
            }

            @Override
            public Transport transport() {
                return network.transport();
            }

            @Override
            public ServerSocketChannel newServerChannel() {
                ServerSocketChannel server = network.newServerChannel();
                server.pipeline().addFirst(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        if (msg instanceof Channel child
                                && ((InetSocketAddress) child.localAddress()).getPort() == hbonePort) {
                            hboneAccepts.incrementAndGet();
                        }
                        ctx.fireChannelRead(msg);
                    }
                });
                return server;
            }

            @Override
            public SocketChannel newChannel() {
                return network.newChannel();
            }
        };
    }

    private InetSocketAddress appAddress() {
        return (InetSocketAddress) app.localAddress();
    }

    /**
     * The frontend app's connection to the backend VIP, captured to A's outbound listener:
     * sends {@code payload} (from another thread, as a real peer would while reading),
     * half-closes and returns all that came back; empty if the connection was reset or closed
     * without data.
     */
    private byte[] exchange(byte[] payload) throws Exception {
        try (Socket s = new Socket()) {
            s.setSoTimeout(10_000);
            s.bind(new InetSocketAddress(FRONTEND_IP, 0));
            originalDestinations.put(s.getLocalPort(), BACKEND_VIP);
            try {
                s.connect(outboundA.localAddress(), 10_000);
            } catch (SocketException e) {
                return new byte[0]; // accepted and reset before connect() returned: a fast refusal
            }
            Thread writer = Thread.ofVirtual().start(() -> {
                try {
                    s.getOutputStream().write(payload);
                    s.shutdownOutput();
                } catch (IOException e) {
                    // reset by the proxy: the reader sees it too
                }
            });
            byte[] back;
            try {
                back = readAll(s.getInputStream());
            } catch (SocketException e) {
                back = new byte[0]; // reset
            }
            assertThat(writer.join(Duration.ofSeconds(10))).as("writer finished").isTrue();
            return back;
        }
    }

    private static void roundTrip(Socket s, String text) throws IOException {
        s.getOutputStream().write(text.getBytes(US_ASCII));
        assertThat(new String(s.getInputStream().readNBytes(text.length()), US_ASCII)).isEqualTo(text);
    }

    private String exchange(String payload) throws Exception {
        return new String(exchange(payload.getBytes(US_ASCII)), US_ASCII);
    }

    private static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[16 * 1024];
        for (int n; (n = in.read(buf)) >= 0; ) {
            out.write(buf, 0, n);
        }
        return out.toByteArray();
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = new byte[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static InetAddress ip(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (IOException e) {
            throw new IllegalArgumentException(literal, e);
        }
    }

    /** The backend app: echoes, and after the client's FIN sends {@link #BYE} and half-closes. */
    static final class EchoThenBye extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ctx.writeAndFlush(msg); // writes stay in order: BYE goes after the echo
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                DuplexChannel ch = (DuplexChannel) ctx.channel();
                ch.writeAndFlush(Unpooled.copiedBuffer(BYE, US_ASCII)).addListener(f -> ch.shutdownOutput());
            }
            ReferenceCountUtil.release(evt);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
