package dev.ambit.agent.redirect;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.ffi.Bpf;
import dev.ambit.ffi.NativeFd;
import dev.ambit.ffi.NetNs;
import dev.ambit.ffi.Sockets;
import dev.ambit.testing.Host;
import dev.ambit.testing.NetnsServer;
import dev.ambit.testing.NoLeftovers;
import dev.ambit.testing.TestNetwork;
import dev.ambit.testing.TestNetwork.Node;

import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Redirection on the real kernel, in namespaces and cgroups each test makes and
 * removes. The node agent's listeners are played by {@link NetnsServer}s that answer
 * with what they learned about the connection.
 */
@ExtendWith(NoLeftovers.class)
class EbpfRedirectorTest {

    private TestNetwork net;
    private EbpfRedirector redirector;
    private final List<AutoCloseable> servers = new ArrayList<>();

    /** The three in-pod listeners of the agent. */
    record AgentListeners(NetnsServer outbound, NetnsServer inbound, NetnsServer hbone) {}

    @BeforeEach
    void setUp() {
        net = TestNetwork.create();
    }

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable s : servers) {
            s.close();
        }
        if (redirector != null) {
            redirector.close();
        }
        net.close(); // NoLeftovers then checks that nothing is left (must show 6)
    }

    private EbpfRedirector openRedirector() {
        return EbpfRedirector.open(RedirectConfig.builder().bpffsRoot(net.bpffsRoot()).build());
    }

    private <T extends AutoCloseable> T keep(T server) {
        servers.add(server);
        return server;
    }

    private AgentListeners startAgentListeners(Node pod) throws Exception {
        NetnsServer out = keep(NetnsServer.start(pod.netns(), new InetSocketAddress("127.0.0.1", 15001),
                c -> "OUT " + redirector.originalDestination(c).map(EbpfRedirectorTest::hostPort).orElse("none")));
        NetnsServer in = keep(NetnsServer.start(pod.netns(), new InetSocketAddress("0.0.0.0", 15006),
                c -> "IN " + hostPort((InetSocketAddress) c.localAddress())));
        NetnsServer hbone = keep(NetnsServer.start(pod.netns(), new InetSocketAddress("0.0.0.0", 15008),
                c -> "HBONE " + hostPort((InetSocketAddress) c.localAddress())));
        return new AgentListeners(out, in, hbone);
    }

    private void enroll(Node pod, AgentListeners l) {
        redirector.enroll(new PodRedirection("uid-" + pod.name(), pod.cgroup(), pod.netns(),
                List.of(pod.address()), l.inbound().fd()));
    }

    private NetnsServer remoteServer(Node host, int port) throws Exception {
        return keep(NetnsServer.start(host.netns(), new InetSocketAddress("0.0.0.0", port),
                c -> "REMOTE " + hostPort((InetSocketAddress) c.localAddress())));
    }

    static String hostPort(InetSocketAddress a) {
        return a.getAddress().getHostAddress() + ":" + a.getPort();
    }

    /** Connects from a thread inside {@code netns} (not in any pod cgroup), returns the line read. */
    static String connectFromNamespace(java.nio.file.Path netns, String host, int port) throws Exception {
        return NetNs.callIn(netns, () -> {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(host, port), 2000);
                s.setSoTimeout(3000);
                InputStream in = s.getInputStream();
                return new String(in.readAllBytes(), StandardCharsets.UTF_8).strip();
            }
        });
    }

    // Must show 1
    @Test
    void outboundConnectLandsOnOutboundListenerWithTrueDestination() throws Exception {
        Node pod = net.pod("a");
        Node remote = net.host("r");
        NetnsServer remoteApp = remoteServer(remote, 8080);
        redirector = openRedirector();
        enroll(pod, startAgentListeners(pod));

        Host.Result r = net.connectFromPod(pod, remote.address().getHostAddress(), 8080, 0);

        assertThat(r.stdout().strip()).as(r.stderr()).isEqualTo("OUT " + remote.address().getHostAddress() + ":8080");
        // A dual-stack (AF_INET6) client reaching IPv4 through a mapped address is captured too.
        Host.Result mapped = net.inPod(pod, 10, "socat", "-u",
                "TCP6:[::ffff:" + remote.address().getHostAddress() + "]:8080,connect-timeout=3", "STDOUT");
        assertThat(mapped.stdout().strip()).as(mapped.stderr())
                .isEqualTo("OUT " + remote.address().getHostAddress() + ":8080");
        assertThat(remoteApp.accepted()).isZero();
        // No stale entry: the lookup consumed it.
        long cookie = NetNs.cookie(pod.netns());
        awaitTrue(() -> redirector.trackedConnections(cookie) == 0, "connection entry consumed by the lookup");
    }

    @Test
    void loopbackMarkedAndExcludedDestinationsAreNotCaptured() throws Exception {
        Node pod = net.pod("a");
        Node remote = net.host("r");
        remoteServer(remote, 8080);
        remoteServer(remote, 9090);
        keep(NetnsServer.start(pod.netns(), new InetSocketAddress("127.0.0.1", 7000), c -> "LOCAL"));
        redirector = EbpfRedirector.open(RedirectConfig.builder().bpffsRoot(net.bpffsRoot())
                .addOutboundExclusion(Exclusion.parse(remote.address().getHostAddress() + ":9090")).build());
        enroll(pod, startAgentListeners(pod));
        String r = remote.address().getHostAddress();

        assertThat(net.connectFromPod(pod, "127.0.0.1", 7000, 0).stdout().strip()).isEqualTo("LOCAL");
        assertThat(net.connectFromPod(pod, r, 9090, 0).stdout().strip()).isEqualTo("REMOTE " + r + ":9090");
        assertThat(net.connectFromPod(pod, r, 8080, 0).stdout().strip()).isEqualTo("OUT " + r + ":8080");
        // The agent's own sockets carry its mark and go where they were sent. (socat sets
        // options after connect, so a Perl client marks the socket first.)
        Host.Result marked = net.inPod(pod, 10, "perl", "-MSocket", "-e",
                "socket(my $s, PF_INET, SOCK_STREAM, 0) or die \"socket: $!\";"
                        + "setsockopt($s, SOL_SOCKET, 36, pack('i', " + RedirectConfig.DEFAULT_AGENT_MARK + "))"
                        + " or die \"SO_MARK: $!\";"
                        + "connect($s, pack_sockaddr_in(8080, inet_aton('" + r + "'))) or die \"connect: $!\";"
                        + "print while <$s>;");
        assertThat(marked.stdout().strip()).as(marked.stderr()).isEqualTo("REMOTE " + r + ":8080");
    }

    @Test
    void aClientThatClosesBeforeTheAgentLooksItUpKeepsItsDestination() throws Exception {
        Node pod = net.pod("a");
        Node remote = net.host("r");
        String r = remote.address().getHostAddress();
        redirector = openRedirector();
        List<String> seen = java.util.Collections.synchronizedList(new ArrayList<>());
        // The agent looks both connections up only once the second arrives; by then the
        // first client has sent its FIN and its socket has closed.
        NetnsServer.Batch both = new NetnsServer.Batch(2);
        NetnsServer out = keep(NetnsServer.startBatched(pod.netns(), new InetSocketAddress("127.0.0.1", 15001), both,
                c -> {
                    String d = redirector.originalDestination(c).map(EbpfRedirectorTest::hostPort).orElse("none");
                    seen.add(d);
                    return "OUT " + d;
                }));
        NetnsServer in = keep(NetnsServer.start(pod.netns(), new InetSocketAddress("0.0.0.0", 15006), c -> "IN"));
        enroll(pod, new AgentListeners(out, in, null));

        Host.Result early = net.inPod(pod, 10, "socat", "-u", "OPEN:/dev/null", "TCP4:" + r + ":9090,connect-timeout=3");
        assertThat(early.ok()).as(early.stderr()).isTrue();
        assertThat(net.connectFromPod(pod, r, 8080, 0).stdout().strip()).isEqualTo("OUT " + r + ":8080");
        assertThat(seen).containsExactlyInAnyOrder(r + ":9090", r + ":8080");
    }

    // Must show 2
    @Test
    void inboundToAnyPortLandsOnInboundListenerAndHbonePortIsDirect() throws Exception {
        Node pod = net.pod("a");
        Node client = net.host("c");
        NetnsServer app = keep(NetnsServer.start(pod.netns(), new InetSocketAddress("0.0.0.0", 8080), c -> "APP"));
        redirector = openRedirector();
        enroll(pod, startAgentListeners(pod));
        String a = pod.address().getHostAddress();

        assertThat(connectFromNamespace(client.netns(), a, 8080)).isEqualTo("IN " + a + ":8080");
        assertThat(connectFromNamespace(client.netns(), a, 31337)).isEqualTo("IN " + a + ":31337");
        assertThat(connectFromNamespace(client.netns(), a, 15008)).isEqualTo("HBONE " + a + ":15008");
        assertThat(app.accepted()).isZero();
        // The agent, inside the pod, reaches the app over lo without being steered back: no loop.
        assertThat(connectFromNamespace(pod.netns(), a, 8080)).isEqualTo("APP");
        assertThat(app.accepted()).isEqualTo(1);
    }

    // Must show 3
    @Test
    void twoPodsWithTheSameClientPortEachGetTheirOwnDestination() throws Exception {
        Node podA = net.pod("a");
        Node podB = net.pod("b");
        Node remote = net.host("r");
        redirector = openRedirector();
        NetnsServer.Batch both = new NetnsServer.Batch(2);
        for (Node pod : List.of(podA, podB)) {
            NetnsServer out = keep(NetnsServer.startBatched(pod.netns(), new InetSocketAddress("127.0.0.1", 15001),
                    both, c -> "OUT " + redirector.originalDestination(c).map(EbpfRedirectorTest::hostPort)
                            .orElse("none") + " from " + hostPort((InetSocketAddress) c.remoteAddress())));
            NetnsServer in = keep(NetnsServer.start(pod.netns(), new InetSocketAddress("0.0.0.0", 15006), c -> "IN"));
            enroll(pod, new AgentListeners(out, in, null));
        }
        String r = remote.address().getHostAddress();

        // Both clients bind 0.0.0.0:40000 and stay connected until both are accepted.
        // Own threads: the common pool may have a single worker on a 2-core machine.
        try (ExecutorService clients = Executors.newFixedThreadPool(2)) {
            Future<Host.Result> fromA = clients.submit(() -> net.connectFromPod(podA, r, 8080, 40000));
            Future<Host.Result> fromB = clients.submit(() -> net.connectFromPod(podB, r, 9090, 40000));

            assertThat(fromA.get().stdout().strip()).as(fromA.get().stderr())
                    .isEqualTo("OUT " + r + ":8080 from 127.0.0.1:40000");
            assertThat(fromB.get().stdout().strip()).as(fromB.get().stderr())
                    .isEqualTo("OUT " + r + ":9090 from 127.0.0.1:40000");
        }
    }

    // Must show 4
    @Test
    void unenrollGoesDirectAndARestartedAgentReusesThePins() throws Exception {
        Node pod = net.pod("a");
        Node remote = net.host("r");
        remoteServer(remote, 8080);
        String r = remote.address().getHostAddress();
        redirector = openRedirector();
        assertThat(redirector.reopened()).isFalse();
        AgentListeners first = startAgentListeners(pod);
        enroll(pod, first);
        assertThat(net.connectFromPod(pod, r, 8080, 0).stdout().strip()).isEqualTo("OUT " + r + ":8080");

        assertThat(redirector.unenroll("uid-" + pod.name())).isTrue();
        assertThat(redirector.unenroll("uid-" + pod.name())).as("idempotent").isFalse();
        assertThat(redirector.enrolledPods()).isEmpty();
        assertThat(net.connectFromPod(pod, r, 8080, 0).stdout().strip()).isEqualTo("REMOTE " + r + ":8080");
        assertThat(connectFromNamespace(remote.netns(), pod.address().getHostAddress(), 15006))
                .as("inbound no longer steered: the listener answers on its own port")
                .isEqualTo("IN " + pod.address().getHostAddress() + ":15006");

        enroll(pod, first);
        enroll(pod, first); // idempotent
        List<Bpf.ProgramInfo> loaded = redirector.programs();
        int kernelPrograms = Bpf.loadedPrograms("ambit_").size();

        // The agent goes away: descriptors and listeners close, pins stay.
        redirector.close();
        first.outbound().close();
        first.inbound().close();
        first.hbone().close();
        servers.removeAll(List.of(first.outbound(), first.inbound(), first.hbone()));
        redirector = null;

        redirector = openRedirector();
        assertThat(redirector.reopened()).isTrue();
        assertThat(redirector.programs()).containsExactlyElementsOf(loaded);
        assertThat(Bpf.loadedPrograms("ambit_")).hasSize(kernelPrograms);
        assertThat(redirector.enrolledPods()).containsExactly("uid-" + pod.name());

        enroll(pod, startAgentListeners(pod)); // re-enroll with the new listeners
        assertThat(net.connectFromPod(pod, r, 8080, 0).stdout().strip()).isEqualTo("OUT " + r + ":8080");
        assertThat(connectFromNamespace(remote.netns(), pod.address().getHostAddress(), 8080))
                .isEqualTo("IN " + pod.address().getHostAddress() + ":8080");
    }

    @Test
    void aPodDeletedWhileNoAgentRanIsUnenrolledAndALivePodIsNot() throws Exception {
        Node live = net.pod("a");
        Node gone = net.pod("g");
        redirector = openRedirector();
        enroll(live, startAgentListeners(live));
        AgentListeners goneListeners = startAgentListeners(gone);
        enroll(gone, goneListeners);
        // The agent stops; meanwhile the pod is deleted (its CNI DEL found no agent).
        redirector.close();
        redirector = null;
        for (NetnsServer s : List.of(goneListeners.outbound(), goneListeners.inbound(), goneListeners.hbone())) {
            s.close();
            servers.remove(s);
        }
        Host.Result deleted = Host.exec(30, "ip", "netns", "delete", gone.netns().getFileName().toString());
        assertThat(deleted.ok()).as(deleted.stderr()).isTrue();

        redirector = openRedirector();
        // The kernel tears a namespace down asynchronously; until then its link still looks alive.
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(20);
        while (redirector.enrolledPods().contains("uid-g") && !redirector.unenrollIfGone("uid-g")) {
            assertThat(System.nanoTime()).as("uid-g's namespace link never became defunct").isLessThan(deadline);
            Thread.sleep(50);
        }
        assertThat(redirector.enrolledPods()).containsExactly("uid-a");
        assertThat(redirector.unenrollIfGone("uid-a")).as("alive: its links are re-pointed, not dropped").isFalse();
        assertThat(redirector.enrolledPods()).containsExactly("uid-a");
        String r = net.host("r").address().getHostAddress();
        assertThat(net.connectFromPod(live, r, 8080, 0).stdout().strip()).as("still captured")
                .isEqualTo("OUT " + r + ":8080");
    }

    @Test
    void aNewBuildMovesEnrolledPodsOntoItsProgramsAndUnloadsTheOld() throws Exception {
        Node pod = net.pod("a");
        Node remote = net.host("r");
        String r = remote.address().getHostAddress();
        redirector = openRedirector();
        enroll(pod, startAgentListeners(pod));
        List<Bpf.ProgramInfo> before = redirector.programs();
        int kernelPrograms = Bpf.loadedPrograms("ambit_").size();
        redirector.close();
        // Make the pinned programs look like an older build's.
        java.nio.file.Path progs = net.bpffsRoot().resolve("progs");
        java.nio.file.Files.move(progs.resolve(redirector.version()), progs.resolve("0000000000000000"));

        redirector = openRedirector();

        assertThat(redirector.reopened()).isFalse();
        assertThat(redirector.programs()).doesNotContainAnyElementsOf(before);
        try (var dirs = java.nio.file.Files.list(progs)) {
            assertThat(dirs.map(p -> p.getFileName().toString())).containsExactly(redirector.version());
        }
        assertThat(Bpf.loadedPrograms("ambit_")).as("old programs unloaded").hasSize(kernelPrograms);
        assertThat(redirector.enrolledPods()).containsExactly("uid-" + pod.name());
        assertThat(net.connectFromPod(pod, r, 8080, 0).stdout().strip()).isEqualTo("OUT " + r + ":8080");
    }

    // Must show 5
    @Test
    void withTheAgentsListenersGoneEnrolledTrafficFailsInsteadOfBypassing() throws Exception {
        Node pod = net.pod("a");
        Node remote = net.host("r");
        NetnsServer remoteApp = remoteServer(remote, 8080);
        NetnsServer app = keep(NetnsServer.start(pod.netns(), new InetSocketAddress("0.0.0.0", 8080), c -> "APP"));
        redirector = openRedirector();
        AgentListeners l = startAgentListeners(pod);
        enroll(pod, l);
        l.outbound().close();
        l.inbound().close();
        String r = remote.address().getHostAddress();

        Host.Result out = net.connectFromPod(pod, r, 8080, 0);
        assertThat(out.ok()).isFalse();
        assertThat(out.stderr()).contains("Connection refused");
        assertThat(remoteApp.accepted()).isZero();

        // sk_lookup drops the lookup: the kernel answers with a reset, the app never sees it.
        assertThatThrownBy(() -> connectFromNamespace(remote.netns(), pod.address().getHostAddress(), 8080))
                .isInstanceOf(java.net.ConnectException.class).hasMessageContaining("refused");
        assertThat(app.accepted()).isZero();
    }

    // Must show 6: a test that fails half-way still leaves nothing behind.
    @Test
    void aFailingScenarioLeavesNothingBehind() throws Exception {
        RuntimeException boom = new RuntimeException("the scenario failed here");
        String[] id = new String[1];
        try (TestNetwork other = TestNetwork.create()) {
            id[0] = other.id();
            Node pod = other.pod("x");
            try (EbpfRedirector r = EbpfRedirector.open(RedirectConfig.builder().bpffsRoot(other.bpffsRoot()).build());
                 NetnsServer in = NetnsServer.start(pod.netns(), new InetSocketAddress("0.0.0.0", 15006), c -> "IN")) {
                r.enroll(new PodRedirection("uid-x", pod.cgroup(), pod.netns(), List.of(pod.address()), in.fd()));
                throw boom;
            }
        } catch (RuntimeException e) {
            assertThat(e).isSameAs(boom);
        }
        assertThat(TestNetwork.leftoverNamespaces()).noneMatch(n -> n.startsWith(id[0]));
        assertThat(TestNetwork.leftoverFiles()).noneMatch(p -> p.getFileName().toString().startsWith(id[0]));
    }

    @Test
    void configurationIsRewrittenOnReopenAndPodsCanBeListed() throws Exception {
        redirector = openRedirector();
        assertThat(redirector.enrolledPods()).isEmpty();
        assertThat(redirector.programs()).extracting(Bpf.ProgramInfo::name)
                .containsExactlyInAnyOrder("ambit_connect4", "ambit_connect6", "ambit_sockops", "ambit_sk_lookup");
        assertThat(redirector.version()).hasSize(16);
        try (NativeFd s = Sockets.tcpSocket()) {
            // Not a connection: the error names the call and the descriptor.
            assertThatThrownBy(() -> redirector.originalDestination(s.intValue()))
                    .hasMessageContaining("getpeername fd " + s.intValue());
        }
    }

    static void awaitTrue(java.util.function.BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            Thread.sleep(20);
        }
    }
}
