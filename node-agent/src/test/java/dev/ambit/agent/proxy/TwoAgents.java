package dev.ambit.agent.proxy;

import static dev.ambit.testing.MeshFixture.ports;
import static dev.ambit.testing.MeshFixture.put;
import static dev.ambit.testing.MeshFixture.service;
import static dev.ambit.testing.MeshFixture.uid;
import static dev.ambit.testing.MeshFixture.workload;
import static java.nio.charset.StandardCharsets.US_ASCII;
import static java.util.Objects.requireNonNull;

import dev.ambit.api.security.Authorization;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.WorkloadStatus;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.identity.TestCa;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.net.HbonePool;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.testing.LeakCheck;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
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
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Two node agents on loopback, as in a two-node cluster, set up before and torn down after each
 * test: agent A serves the {@code frontend} pod with its outbound listener ({@link HbonePool} +
 * {@link Outbound}), agent B serves the {@code backend-1} pod with its HBONE and plaintext
 * inbound listeners ({@link Hbone15008Listener}, {@link Plaintext15006Listener}) in front of an
 * app bound at the backend's address. Each agent has its own {@link ProxyState} (filled by
 * {@link #push} with what istiod-lite would send both), {@link CertificateManager} and
 * {@link TlsContexts} from one in-process {@link TestCa}, its own event loops and metrics.
 *
 * <pre>{@code
 * @RegisterExtension
 * final TwoAgents agents = TwoAgents.builder().transport(Transport.IO_URING).build();
 * }</pre>
 *
 * <p>Teardown runs even when the setup or the test failed: it closes what was started, in
 * reverse order, then (unless {@linkplain Builder#leakCheck turned off}) asserts that Netty saw
 * no buffer leak. The extension's callbacks wrap the test class's own {@code @BeforeEach} and
 * {@code @AfterEach} methods, so those may use the agents and close their own resources first.
 */
final class TwoAgents implements BeforeEachCallback, AfterEachCallback {

    /** The default app's answer after the client's FIN: makes the two directions' byte counts differ. */
    static final String BYE = "<bye>";
    static final String BACKEND_SERVICE = "shop/backend.shop.svc.cluster.local";
    static final InetSocketAddress BACKEND_VIP = new InetSocketAddress(ip("10.96.0.20"), 8080);

    static Builder builder() {
        return new Builder();
    }

    private final Transport transport;
    private final int loopsA;
    private final int loopsB;
    private final Supplier<ChannelHandler> app;
    private final InetAddress frontendIp;
    private final InetAddress backendIp;
    private final List<SpiffeId> backendIdentities;
    private final List<SpiffeId> otherIdentities;
    private final Function<Channel, Optional<InetSocketAddress>> customDestinations;
    private final boolean startAgents;
    private final boolean leakCheck;

    final String frontendUid = uid("frontend");
    final String backendUid = uid("backend-1");
    private final Deque<AutoCloseable> started = new ArrayDeque<>();
    private final AtomicInteger appConnections = new AtomicInteger();
    private final AtomicInteger openAppConnections = new AtomicInteger();
    private final AtomicInteger hboneAccepts = new AtomicInteger();
    private final AtomicReference<SpiffeId> presentedByB = new AtomicReference<>();
    private final Map<Integer, InetSocketAddress> originalDestinations = new ConcurrentHashMap<>();
    private volatile UnaryOperator<Map<String, Address>> meshEdit = UnaryOperator.identity();

    private Path dir;
    private TestCa ca;
    private EventLoopGroup appLoops;
    private Channel appChannel;
    private int hbonePort;
    private EventLoopGroup loopsOfA;
    private ProxyState stateA;
    private MetricsRegistry metricsA;
    private CertificateManager certificatesA;
    private HbonePool poolA;
    private Outbound outboundA;
    private EventLoopGroup loopsOfB;
    private ProxyState stateB;
    private MetricsRegistry metricsB;
    private CertificateManager certificatesB;
    private InboundContext inboundB;
    private Hbone15008Listener hboneB;
    private Plaintext15006Listener plaintextB;

    private TwoAgents(Builder b) {
        transport = b.transport;
        loopsA = b.loopsA;
        loopsB = b.loopsB;
        app = b.app;
        frontendIp = b.frontendIp;
        backendIp = b.backendIp;
        backendIdentities = List.copyOf(b.backendIdentities);
        otherIdentities = List.copyOf(b.otherIdentities);
        customDestinations = b.originalDestinations;
        startAgents = b.startAgents;
        leakCheck = b.leakCheck;
    }

    // ---------------------------------------------------------------- lifecycle

    @Override
    public void beforeEach(ExtensionContext context) throws Exception {
        if (leakCheck) {
            LeakCheck.reset();
        }
        started.clear();
        appConnections.set(0);
        openAppConnections.set(0);
        hboneAccepts.set(0);
        originalDestinations.clear();
        meshEdit = UnaryOperator.identity();
        presentedByB.set(backendIdentities.getFirst());
        stateA = ProxyState.create();
        stateB = ProxyState.create();
        metricsA = MetricsRegistry.create();
        metricsB = MetricsRegistry.create();

        dir = Files.createTempDirectory("two-agents");
        started.push(this::deleteDir);
        ca = new TestCa(dir, Duration.ofHours(1));
        started.push(ca);
        List<SpiffeId> placed = new ArrayList<>(List.of(TestCa.FRONTEND));
        placed.addAll(backendIdentities);
        placed.addAll(otherIdentities);
        ca.placeOnNode(placed.stream().distinct().toArray(SpiffeId[]::new));

        appLoops = transport.newEventLoopGroup(1, "app");
        started.push(() -> shutDown(appLoops));
        appChannel = new ServerBootstrap().group(appLoops).channelFactory(transport::newServerChannel)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        appConnections.incrementAndGet();
                        openAppConnections.incrementAndGet();
                        ch.closeFuture().addListener(f -> openAppConnections.decrementAndGet());
                        ch.pipeline().addLast(app.get());
                    }
                })
                .bind(new InetSocketAddress(backendIp, 0)).sync().channel();
        started.push(() -> appChannel.close().sync());
        try (ServerSocket probe = new ServerSocket(0, 1, backendIp)) {
            hbonePort = probe.getLocalPort(); // B's "15008"; A's outbound dials the same port
        }
        loopsOfB = transport.newEventLoopGroup(loopsB, "agent-b");
        started.push(() -> shutDown(loopsOfB));
        loopsOfA = transport.newEventLoopGroup(loopsA, "agent-a");
        started.push(() -> shutDown(loopsOfA));
        push(Map.of(), List.of());
        if (startAgents) {
            startAgentB();
            startAgentA(hbonePort);
        }
    }

    @Override
    public void afterEach(ExtensionContext context) throws Exception {
        Throwable failure = null;
        while (!started.isEmpty()) {
            try {
                started.pop().close();
            } catch (Throwable t) {
                if (failure == null) {
                    failure = t;
                } else {
                    failure.addSuppressed(t);
                }
            }
        }
        if (failure != null) {
            if (failure instanceof Exception e) {
                throw e;
            }
            throw (Error) failure;
        }
        if (leakCheck) {
            LeakCheck.assertNoLeaks();
        }
    }

    /**
     * Starts agent B: its certificate manager (with every backend identity fetched), its HBONE
     * listener on {@link #hbonePort()} presenting {@link #presentAs the chosen identity}, and its
     * plaintext listener relaying to the app.
     */
    void startAgentB() throws Exception {
        certificatesB = CertificateManager.builder(ca.client().trustBundle(ca.bundle()).build())
                .metrics(MetricsRegistry.create()).build();
        started.push(certificatesB);
        for (SpiffeId id : backendIdentities) {
            certificatesB.fetch(id).get(10, TimeUnit.SECONDS);
        }
        TlsContexts tlsB = TlsContexts.builder(ca.bundle()).build();
        inboundB = InboundContext.builder(countingAccepts(PodNetwork.host(backendUid, transport)), stateB)
                .podAddresses(List.of(backendIp)).eventLoopGroup(loopsOfB).metrics(metricsB).build();
        hboneB = Hbone15008Listener.builder(inboundB, tlsB,
                        () -> certificatesB.current(presentedByB.get()).orElse(null))
                .bindAddress(new InetSocketAddress(backendIp, hbonePort)).build().start();
        started.push(hboneB);
        // No sk_lookup: the test connects to the listener and names the app as the original
        // destination, as the steered socket's local address would.
        plaintextB = Plaintext15006Listener.builder(inboundB)
                .bindAddress(new InetSocketAddress(backendIp, 0))
                .originalDestination(ch -> appAddress())
                .build().start();
        started.push(plaintextB);
    }

    /** Starts agent A: its certificate manager, HBONE pool and outbound listener dialling {@code hbonePort}. */
    void startAgentA(int hbonePort) throws Exception {
        certificatesA = CertificateManager.builder(ca.client().trustBundle(ca.bundle()).build())
                .metrics(MetricsRegistry.create()).build();
        started.push(certificatesA);
        poolA = HbonePool.builder(TlsContexts.builder(ca.bundle()).build()).metrics(metricsA).build();
        started.push(poolA);
        Function<Channel, Optional<InetSocketAddress>> destinations = customDestinations != null
                ? customDestinations
                : ch -> Optional.ofNullable(
                        originalDestinations.remove(((InetSocketAddress) ch.remoteAddress()).getPort()));
        outboundA = Outbound.builder(PodNetwork.host(frontendUid, transport), frontendUid)
                .state(stateA)
                .certificates(certificatesA)
                .pool(poolA)
                .originalDestinations(destinations::apply)
                .eventLoopGroup(loopsOfA)
                .metrics(metricsA)
                .bindAddress(new InetSocketAddress("127.0.0.1", 0))
                .hbonePort(hbonePort)
                .build();
        started.push(outboundA);
        outboundA.start().sync();
    }

    // ---------------------------------------------------------------- mesh state

    /**
     * What istiod-lite pushes to both agents: the two workloads (HBONE), the backend Service
     * (VIP 10.96.0.20:8080 → the app's port). The backend references every one of
     * {@code policies}, which are applied before the workloads (as the xDS client does); those
     * named in {@code removed} are deleted afterwards where present.
     */
    void push(Map<String, Authorization> policies, List<String> removed) {
        int appPort = appAddress().getPort();
        Map<String, Address> addresses = new TreeMap<>();
        put(addresses, workload("frontend", WorkloadStatus.HEALTHY,
                new String[] {frontendIp.getHostAddress()}, Map.of()));
        put(addresses, workload("backend-1", WorkloadStatus.HEALTHY, new String[] {backendIp.getHostAddress()},
                Map.of(BACKEND_SERVICE, ports(8080, appPort)), policies.keySet().toArray(String[]::new)));
        put(addresses, service("backend", "10.96.0.20", 8080, appPort));
        addresses = meshEdit.apply(addresses);
        for (ProxyState state : List.of(stateA, stateB)) {
            state.applyAuthorizations(policies, List.of());
            state.applyAddresses(addresses, List.of());
            state.applyAuthorizations(Map.of(), removed.stream().filter(k -> state.policy(k) != null).toList());
        }
    }

    /**
     * From the next {@link #push} on, what is pushed is {@code edit} applied to the usual
     * addresses (keyed by workload uid or service key): adds workloads and services, or
     * changes them (e.g. a waypoint on the backend Service). Pushes only upsert.
     */
    void mesh(UnaryOperator<Map<String, Address>> edit) {
        meshEdit = requireNonNull(edit, "edit");
    }

    // ---------------------------------------------------------------- accessors

    ProxyState stateA() {
        return stateA;
    }

    ProxyState stateB() {
        return stateB;
    }

    CertificateManager certificatesA() {
        return certificatesA;
    }

    /** The identity B's HBONE listener presents from now on; one of the builder's backend identities. */
    void presentAs(SpiffeId identity) {
        presentedByB.set(requireNonNull(identity, "identity"));
    }

    /** A's outbound listener takes the next connection from local port {@code clientPort} as bound for {@code destination}. */
    void originalDestination(int clientPort, InetSocketAddress destination) {
        originalDestinations.put(clientPort, destination);
    }

    Transport transport() {
        return transport;
    }

    TestCa ca() {
        return ca;
    }

    InetSocketAddress appAddress() {
        return (InetSocketAddress) appChannel.localAddress();
    }

    EventLoopGroup appLoops() {
        return appLoops;
    }

    /** Connections the app accepted since the test started. */
    AtomicInteger appConnections() {
        return appConnections;
    }

    /** The app's connections not yet closed. */
    int openAppConnections() {
        return openAppConnections.get();
    }

    /** The port of B's HBONE listener (and what A dials when the agents start together). */
    int hbonePort() {
        return hbonePort;
    }

    /** TCP connections B's HBONE listener accepted. */
    AtomicInteger hboneAccepts() {
        return hboneAccepts;
    }

    EventLoopGroup loopsA() {
        return loopsOfA;
    }

    MetricsRegistry metricsA() {
        return metricsA;
    }

    HbonePool poolA() {
        return poolA;
    }

    Outbound outboundA() {
        return outboundA;
    }

    MetricsRegistry metricsB() {
        return metricsB;
    }

    InboundContext inboundB() {
        return inboundB;
    }

    Hbone15008Listener hboneB() {
        return hboneB;
    }

    Plaintext15006Listener plaintextB() {
        return plaintextB;
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

    private static void shutDown(EventLoopGroup group) throws InterruptedException {
        if (!group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(10, TimeUnit.SECONDS)) {
            throw new AssertionError("event loops " + group + " did not stop within 10 s");
        }
    }

    private void deleteDir() throws IOException {
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    static InetAddress ip(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (IOException e) {
            throw new UncheckedIOException(literal, e);
        }
    }

    // ---------------------------------------------------------------- apps

    /** Echoes, and after the client's FIN sends {@link #BYE} and half-closes. */
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

    // ---------------------------------------------------------------- builder

    /** Builds a {@link TwoAgents}; every setting has a default fitting the two-node case. */
    static final class Builder {
        private Transport transport = Transport.EPOLL;
        private int loopsA = 2;
        private int loopsB = 2;
        private Supplier<ChannelHandler> app = EchoThenBye::new;
        private InetAddress frontendIp = ip("127.0.0.2");
        private InetAddress backendIp = ip("127.0.0.3");
        private List<SpiffeId> backendIdentities = List.of(TestCa.BACKEND);
        private List<SpiffeId> otherIdentities = List.of();
        private Function<Channel, Optional<InetSocketAddress>> originalDestinations;
        private boolean startAgents = true;
        private boolean leakCheck = true;

        private Builder() {
        }

        /** The transport of both agents' sockets and loops and of the app (default epoll). */
        Builder transport(Transport transport) {
            this.transport = requireNonNull(transport, "transport");
            return this;
        }

        /** Event loops of agent A and of agent B (default 2 each). */
        Builder loops(int loopsA, int loopsB) {
            if (loopsA < 1 || loopsB < 1) {
                throw new IllegalArgumentException("loops: " + loopsA + ", " + loopsB + " (expected: >= 1)");
            }
            this.loopsA = loopsA;
            this.loopsB = loopsB;
            return this;
        }

        /** A new handler per app connection (default {@link EchoThenBye}). */
        Builder app(Supplier<ChannelHandler> app) {
            this.app = requireNonNull(app, "app");
            return this;
        }

        /** The frontend pod's address (default 127.0.0.2) and the backend pod's, where the app listens (127.0.0.3). */
        Builder podAddresses(String frontendIp, String backendIp) {
            this.frontendIp = ip(requireNonNull(frontendIp, "frontendIp"));
            this.backendIp = ip(requireNonNull(backendIp, "backendIp"));
            return this;
        }

        /**
         * The identities B fetches and may {@linkplain #presentAs present}, the first by default
         * (default: {@link TestCa#BACKEND}); placed on the CA's node with the frontend's.
         */
        Builder backendIdentities(SpiffeId... identities) {
            if (identities.length == 0) {
                throw new IllegalArgumentException("backendIdentities: none (expected: at least one)");
            }
            this.backendIdentities = List.of(identities);
            return this;
        }

        /** More identities the CA issues for node-1 (e.g. a waypoint's), fetched by the test itself. */
        Builder otherIdentities(SpiffeId... identities) {
            this.otherIdentities = List.of(identities);
            return this;
        }

        /**
         * Where A's outbound sends each accepted connection (default: what the test declared
         * with {@link #originalDestination} for the client's port, else nothing).
         */
        Builder originalDestinations(Function<Channel, Optional<InetSocketAddress>> destinations) {
            this.originalDestinations = requireNonNull(destinations, "destinations");
            return this;
        }

        /**
         * {@code false}: only the CA, the app and the mesh state are set up; the test starts
         * either agent with {@link #startAgentB()} or {@link #startAgentA(int)} (default {@code true}).
         */
        Builder startAgents(boolean startAgents) {
            this.startAgents = startAgents;
            return this;
        }

        /** Whether teardown asserts that Netty reported no buffer leak (default {@code true}). */
        Builder leakCheck(boolean leakCheck) {
            this.leakCheck = leakCheck;
            return this;
        }

        TwoAgents build() {
            return new TwoAgents(this);
        }
    }
}
