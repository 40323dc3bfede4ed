package dev.ambit.agent.handover;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import dev.ambit.agent.inpod.Capture;
import dev.ambit.agent.inpod.InPodManager;
import dev.ambit.agent.inpod.PodProxy;
import dev.ambit.agent.inpod.NoSandboxes;
import dev.ambit.agent.inpod.PodSandbox;
import dev.ambit.agent.inpod.SandboxSource;
import dev.ambit.agent.proxy.PodNetwork;
import dev.ambit.agent.redirect.PodRedirection;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.TunnelProtocol;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.ffi.NetNs;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.identity.TestCa;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.net.HbonePool;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.testing.NoLeftovers;
import dev.ambit.testing.RootOnly;
import dev.ambit.testing.TestNetwork;
import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * A hand-over between two agents' real pod listeners in one throw-away pod namespace (Istio's
 * ports), over the real hand-over socket. Agent A serves the pod; agent B adopts it through
 * {@link HandoverClient} and {@link Takeover}, binding its listeners beside A's
 * ({@code SO_REUSEPORT}) and moving capture before A closes its own. All along, a client in
 * the pod makes a new connection per round trip through the outbound listener (15001) to an
 * echo server outside the mesh, and connects to the HBONE port; one connection, opened
 * through A before the hand-over, carries a round trip every 20 ms. Proven: no new connection
 * fails, the open one is served by A until it ends, new connections go to B once A released
 * the pod, and A (told it is done) drains without closing anything by force, then is gone.
 * Each agent's original-destination lookup counts the connections its listener accepted.
 * Capture is a recording fake (the eBPF map swap is {@code EbpfRedirector}'s in-place update).
 */
@ExtendWith(NoLeftovers.class)
class HandoverTest {

    private static final String UID = "4f1c-handover";
    private static final String WORKLOAD = "Kubernetes//Pod/shop/backend";
    private static final int ECHO_PORT = 9000;
    /** Far beyond the test: A's drain must end because the connection ended, not by force. */
    private static final Duration DRAIN = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    private TestNetwork net;
    private TestNetwork.Node pod;
    private TestNetwork.Node echo;
    private TestCa ca;
    private final List<String> events = new CopyOnWriteArrayList<>();
    private final List<AutoCloseable> closing = new ArrayList<>();

    /** One agent's parts; {@code accepted} counts its outbound listener's connections. */
    private record Agent(InPodManager pods, MetricsRegistry metrics, AtomicInteger accepted) {}

    @BeforeEach
    void setUp() throws Exception {
        RootOnly.require();
        net = TestNetwork.create();
        pod = net.pod("web");
        echo = net.host("echo");
        ca = new TestCa(dir.resolve("ca"), Duration.ofHours(1));
    }

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : closing.reversed()) {
            c.close();
        }
        ca.close();
        net.close();
    }

    @Test
    void newAgentTakesThePodOverTheOldOneDrainsItsOpenConnection() throws Exception {
        startEcho();
        Agent a = agent("a");
        PodSandbox sandbox = new PodSandbox("shop", "backend", UID, pod.cgroup(), pod.netns());
        a.pods().add(sandbox, List.of(pod.address())).get(10, TimeUnit.SECONDS);
        awaitServing(a, "agent a");
        assertThat(MigrateRequests.enabled(pod.netns())).as("set by the enrollment").isTrue();

        CompletableFuture<Integer> aExited = new CompletableFuture<>();
        HandoverServer server = keep(HandoverServer.start(dir.resolve("run/handover.sock"), new HandoverServer.Giver() {
            @Override
            public CompletableFuture<List<InPodManager.Held>> pods() {
                return a.pods().held();
            }

            @Override
            public CompletableFuture<Boolean> release(String uid) {
                events.add("a release " + uid);
                return a.pods().release(uid);
            }

            @Override
            public void releasePorts() {
                events.add("a ports");
            }

            @Override
            public void done() {
                // As NodeAgent: drain what is left, then leave.
                events.add("a done");
                a.pods().drainAll(DRAIN).whenComplete((forced, e) -> {
                    if (e != null) {
                        aExited.completeExceptionally(e);
                    } else {
                        aExited.complete(forced);
                    }
                });
            }
        }));

        // The long-lived connection, accepted by A.
        SocketChannel kept = connectOutbound();
        roundTrip(kept, "kept-0");
        assertThat(a.accepted()).as("the open connection went through agent a").hasValue(1);

        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger made = new AtomicInteger();
        AtomicInteger begun = new AtomicInteger();
        AtomicInteger keptTrips = new AtomicInteger(1);
        List<String> failures = new CopyOnWriteArrayList<>();
        Thread newConnections = Thread.ofPlatform().name("new-connections").start(() -> {
            for (int i = 0; !stop.get(); i++) {
                begun.incrementAndGet();
                try (SocketChannel c = connectOutbound()) {
                    roundTrip(c, "new-" + i);
                    made.incrementAndGet();
                } catch (Exception e) {
                    failures.add("new connection " + i + " through 15001: " + e);
                }
                // The HBONE listener too: a connection attempt is refused or reset if no
                // listener holds the port (only the TCP handshake: no client certificate here).
                try (SocketChannel c = NetNs.callIn(pod.netns(), SocketChannel::open)) {
                    c.connect(new InetSocketAddress(pod.address(), PodProxy.Ports.ISTIO.hbone()));
                } catch (Exception e) {
                    failures.add("connection " + i + " to 15008: " + e);
                }
            }
        });
        Thread keptTraffic = Thread.ofPlatform().name("kept-connection").start(() -> {
            while (!stop.get()) {
                try {
                    roundTrip(kept, "kept-" + keptTrips.get());
                    keptTrips.incrementAndGet();
                    Thread.sleep(20);
                } catch (Exception e) {
                    failures.add("open connection, round trip " + keptTrips.get() + ": " + e);
                    return;
                }
            }
        });

        try {
            Agent b = agent("b");
            HandoverClient previous = HandoverClient.connect(server.path()).orElseThrow();
            assertThat(previous.peerPid()).isEqualTo(ProcessHandle.current().pid());
            List<InPodManager.Held> offered = previous.pods();
            assertThat(offered).singleElement().satisfies(h -> {
                assertThat(h.sandbox()).isEqualTo(sandbox);
                assertThat(h.addresses()).containsExactly(pod.address());
                assertThat(h.announced()).isTrue();
            });
            b.pods().expectAdoption(offered.stream().map(h -> h.sandbox().uid()).toList());
            int before = made.get();
            Takeover takeover = Takeover.start(previous, b.pods(), () -> true, Duration.ofSeconds(5), b.metrics(),
                    () -> events.add("b listens"));
            List<Takeover.PodTakeover> report = takeover.completion().get(20, TimeUnit.SECONDS);
            // Attempts overlapping the hand-over (each succeeds: failures are checked below).
            int during = begun.get() - before;
            int aAfterRelease = a.accepted().get();
            int bAfterRelease = b.accepted().get();
            // Some more of both kinds of traffic after A closed its listeners.
            int keptThen = keptTrips.get();
            int madeThen = made.get();
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while ((made.get() < madeThen + 20 || keptTrips.get() < keptThen + 5) && failures.isEmpty()
                    && System.nanoTime() < end) {
                Thread.sleep(10);
            }
            stop.set(true);
            newConnections.join();
            keptTraffic.join();

            System.out.printf("hand-over: %s; new connections: %d during it, %d in all (agent a accepted %d, agent b"
                            + " %d); open connection: %d round trips; failures: %s%n", report, during, made.get(),
                    a.accepted().get(), b.accepted().get(), keptTrips.get(), failures);
            assertThat(failures).as("failed connections and round trips").isEmpty();
            assertThat(report).singleElement().satisfies(t -> {
                assertThat(t.taken()).isTrue();
                assertThat(t.took()).isLessThan(Duration.ofSeconds(5));
            });
            assertThat(during).as("new connections attempted during the hand-over").isPositive();
            assertThat(a.accepted()).as("agent a accepts nothing once it released the pod").hasValue(aAfterRelease);
            assertThat(b.accepted().get()).as("new connections after the release go to agent b")
                    .isGreaterThanOrEqualTo(bAfterRelease + 20);
            assertThat(keptTrips.get()).as("round trips on the open connection after the release")
                    .isGreaterThanOrEqualTo(keptThen + 5);
            // B's listeners and capture came before A's release; nobody unenrolled the pod.
            assertThat(events).containsSubsequence("a enroll " + UID, "b enroll " + UID, "a release " + UID,
                    "a done").containsSubsequence("a release " + UID, "b listens")
                    .noneMatch(e -> e.contains("unenroll"));
            // A's drain (after it answered DONE) and B's taking the hand-over socket (once it read
            // that answer) are not ordered: both come after the release.
            assertThat(a.pods().enrolled()).isEmpty();
            assertThat(b.pods().enrolled()).singleElement().satisfies(e -> assertThat(e.uid()).isEqualTo(UID));
            assertThat(b.pods().serving(UID)).isTrue();
            assertThat(b.metrics().scrape()).contains(Takeover.SECONDS + "_count 1")
                    .contains(Takeover.PODS + "{result=\"taken\"} 1");

            // The old agent waits for its open connection: still served, then ended by its client.
            assertThat(aExited).as("agent a drains while its connection is open").isNotDone();
            roundTrip(kept, "kept-last");
            kept.close();
            assertThat(aExited.get(10, TimeUnit.SECONDS)).as("connections agent a closed by force").isZero();
            assertThat(a.pods().drainingPods()).isZero();
        } finally {
            stop.set(true);
            newConnections.join();
            keptTraffic.join();
            kept.close();
        }
    }

    /** A connection from the pod to its outbound listener (as capture would redirect it). */
    private SocketChannel connectOutbound() throws Exception {
        SocketChannel c = NetNs.callIn(pod.netns(), SocketChannel::open);
        try {
            c.socket().setSoTimeout(5_000);
            c.connect(new InetSocketAddress("127.0.0.1", PodProxy.Ports.ISTIO.outbound()));
            return c;
        } catch (IOException | RuntimeException e) {
            c.close();
            throw e;
        }
    }

    /** Sends a line and expects it back (5 s at most: the pod's gate may hold a connection briefly). */
    private static void roundTrip(SocketChannel c, String line) throws IOException {
        byte[] sent = (line + "\n").getBytes(StandardCharsets.US_ASCII);
        c.write(ByteBuffer.wrap(sent));
        ByteBuffer got = ByteBuffer.allocate(sent.length);
        var in = c.socket().getInputStream();
        while (got.hasRemaining()) {
            int b;
            try {
                b = in.read();
            } catch (SocketTimeoutException e) {
                throw new IOException("no echo of \"" + line + "\" in 5 s", e);
            }
            if (b < 0) {
                throw new IOException("closed after " + got.position() + " bytes of the echo of \"" + line + "\"");
            }
            got.put((byte) b);
        }
        String echoed = new String(got.array(), StandardCharsets.US_ASCII);
        if (!echoed.equals(line + "\n")) {
            throw new IOException("echo \"" + echoed.strip() + "\" (expected: \"" + line + "\")");
        }
    }

    /** An echo server on the echo host, outside the mesh: the pod's outbound connections pass through. */
    private void startEcho() throws Exception {
        ServerSocketChannel s = NetNs.callIn(echo.netns(), () -> {
            ServerSocketChannel ss = ServerSocketChannel.open();
            ss.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            ss.bind(new InetSocketAddress(echo.address(), ECHO_PORT), 512);
            return ss;
        });
        closing.add(s);
        Thread.ofPlatform().daemon(true).name("echo").start(() -> {
            while (s.isOpen()) {
                SocketChannel c;
                try {
                    c = s.accept();
                } catch (IOException e) {
                    return;
                }
                Thread.ofVirtual().start(() -> {
                    try (c) {
                        ByteBuffer b = ByteBuffer.allocate(4096);
                        while (c.read(b) >= 0) {
                            b.flip();
                            while (b.hasRemaining()) {
                                c.write(b);
                            }
                            b.clear();
                        }
                    } catch (IOException ignored) {
                        // The client is gone.
                    }
                });
            }
        });
    }

    private void awaitServing(Agent agent, String what) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!agent.pods().serving(UID)) {
            assertThat(System.nanoTime()).as(what + " serving the pod in 10 s").isLessThan(end);
            Thread.sleep(20);
        }
    }

    private Agent agent(String name) throws IOException {
        MetricsRegistry metrics = MetricsRegistry.create();
        ProxyState state = ProxyState.create();
        Workload w = Workload.newBuilder().setUid(WORKLOAD).setName("backend").setNamespace("shop").setNode("node-1")
                .setServiceAccount("backend").setTunnelProtocol(TunnelProtocol.HBONE)
                .addAddresses(ByteString.copyFrom(pod.address().getAddress())).build();
        state.applyAddresses(Map.of(WORKLOAD, Address.newBuilder().setWorkload(w).build()), List.of());
        EventLoopGroup group = Transport.EPOLL.newEventLoopGroup(1, "handover-" + name);
        closing.add(() -> group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly());
        CertificateManager certificates = keep(CertificateManager.builder(ca.client().trustBundle(ca.bundle()).build())
                .metrics(metrics).build());
        TlsContexts tls = TlsContexts.builder(ca.bundle()).build();
        HbonePool pool = keep(HbonePool.builder(tls).metrics(metrics).build());
        Capture capture = new Capture() {
            @Override
            public void enroll(PodRedirection p) {
                events.add(name + " enroll " + p.uid());
            }

            @Override
            public boolean unenroll(String uid) {
                events.add(name + " unenroll " + uid);
                return true;
            }

            @Override
            public List<String> enrolledPods() {
                return List.of();
            }
        };
        SandboxSource none = new NoSandboxes();
        // Every connection redirected to 15001 was meant for the echo server.
        AtomicInteger accepted = new AtomicInteger();
        InetSocketAddress echoServer = new InetSocketAddress(echo.address(), ECHO_PORT);
        InPodManager pods = keep(InPodManager.builder("node-1", new PodProxy.Shared(state, certificates, tls, pool,
                        ch -> {
                            accepted.incrementAndGet();
                            return Optional.of(echoServer);
                        }, group, metrics, PodProxy.Ports.ISTIO), none, capture)
                .networks((uid, s) -> PodNetwork.namespace(uid, s.netns()))
                .drainDeadline(DRAIN)
                .build()
                .start());
        return new Agent(pods, metrics, accepted);
    }

    private <T extends AutoCloseable> T keep(T c) {
        closing.add(c);
        return c;
    }
}
