package dev.ambit.ctl.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.agent.redirect.EbpfRedirector;
import dev.ambit.agent.redirect.PodRedirection;
import dev.ambit.agent.redirect.RedirectConfig;
import dev.ambit.agent.redirect.RedirectException;
import dev.ambit.ffi.Bpf;
import dev.ambit.ffi.Linux;
import dev.ambit.ffi.NativeFd;
import dev.ambit.ffi.libbpf.libbpf_h;
import dev.ambit.testing.Host;
import dev.ambit.testing.NetnsServer;
import dev.ambit.testing.NoLeftovers;
import dev.ambit.testing.TestNetwork;
import dev.ambit.testing.TestNetwork.Node;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The Service load balancer on the real kernel. Pods are namespaces with cgroups under
 * the test network's cgroup, which plays the local cluster's parent cgroup; backends are
 * {@link NetnsServer}s on plain hosts that answer with their name. The VIP is outside
 * the test subnet and nothing routes to it: a connect the balancer leaves alone fails
 * with "Network is unreachable".
 */
@ExtendWith(NoLeftovers.class)
class ServiceBalancerTest {

    private static final String VIP_IP = "10.96.0.10";
    private static final InetSocketAddress VIP = new InetSocketAddress(VIP_IP, 80);

    private TestNetwork net;
    private ServiceBalancer balancer;
    private EbpfRedirector redirector;
    private final List<AutoCloseable> servers = new ArrayList<>();
    private final Set<Integer> programIds = new HashSet<>();
    private InetSocketAddress b1;
    private InetSocketAddress b2;

    @BeforeEach
    void setUp() throws Exception {
        net = TestNetwork.create();
        Node h1 = net.host("b1");
        Node h2 = net.host("b2");
        keep(NetnsServer.start(h1.netns(), new InetSocketAddress("0.0.0.0", 8080), c -> "B1"));
        keep(NetnsServer.start(h2.netns(), new InetSocketAddress("0.0.0.0", 8080), c -> "B2"));
        b1 = new InetSocketAddress(h1.address(), 8080);
        b2 = new InetSocketAddress(h2.address(), 8080);
    }

    @AfterEach
    void tearDown() throws Exception {
        List<Throwable> problems = new ArrayList<>();
        for (AutoCloseable c : servers) {
            run(c::close, problems);
        }
        if (balancer != null) {
            run(balancer::close, problems);
        }
        if (redirector != null) {
            run(redirector::close, problems);
        }
        if (net != null) { // else setUp failed before there was anything to remove
            run(() -> ServiceBalancer.uninstall(root()), problems);
            run(net::close, problems);
        }
        // Unpinned links release their programs from a kernel work item: wait for it, so
        // that NoLeftovers counts programs once they are really gone.
        run(this::awaitProgramsUnloaded, problems);
        if (!problems.isEmpty()) {
            AssertionError e = new AssertionError("cleanup failed");
            problems.forEach(e::addSuppressed);
            throw e;
        }
    }

    private interface Step {
        void run() throws Exception;
    }

    private static void run(Step step, List<Throwable> problems) {
        try {
            step.run();
        } catch (Exception | AssertionError e) {
            problems.add(e);
        }
    }

    /** The balancer's folder: inside the test network's bpffs folder, apart from the redirector's pins. */
    private Path root() {
        return net.bpffsRoot().resolve("svclb");
    }

    /** The cgroup every pod of the test network is in: the local cluster's parent cgroup. */
    private Path podsCgroup() {
        return TestNetwork.cgroupRoot().resolve(net.id());
    }

    private ServiceBalancer openBalancer() {
        ServiceBalancer b = ServiceBalancer.open(root());
        b.programs().forEach(p -> programIds.add(p.id()));
        return b;
    }

    private <T extends AutoCloseable> T keep(T server) {
        servers.add(server);
        return server;
    }

    /** One socat connect from inside the pod; stdout is what the server sent. */
    private Host.Result connect(Node pod, String host, int port, int timeoutSeconds) {
        return net.inPod(pod, timeoutSeconds + 5, "socat", "-u",
                "TCP4:" + host + ":" + port + ",connect-timeout=" + timeoutSeconds, "STDOUT");
    }

    /**
     * {@code n} connects to the VIP from one process inside the pod (a process per connect
     * would take seconds); one line per connect: what the server sent or {@code FAIL <error>}.
     */
    private List<String> connectMany(Node pod, int n) {
        Host.Result r = net.inPod(pod, 60, "perl", "-MSocket", "-e",
                "$| = 1; for (1.." + n + ") {"
                        + " socket(my $s, PF_INET, SOCK_STREAM, 0) or die \"socket: $!\";"
                        + " if (connect($s, pack_sockaddr_in(" + VIP.getPort() + ", inet_aton('" + VIP_IP + "')))) {"
                        + "  my $l = <$s>; print defined $l ? $l : \"EMPTY\\n\";"
                        + " } else { print \"FAIL $!\\n\"; }"
                        + " close $s; }");
        assertThat(r.ok()).as(r.stderr()).isTrue();
        return r.stdout().lines().toList();
    }

    private void awaitProgramsUnloaded() throws InterruptedException {
        awaitTrue(() -> Bpf.loadedPrograms("ambit_svc").stream()
                .noneMatch(p -> programIds.contains(p.id())), "the balancer's programs are unloaded");
    }

    private static void awaitTrue(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            Thread.sleep(20);
        }
    }

    private static String hostPort(InetSocketAddress a) {
        return a.getAddress().getHostAddress() + ":" + a.getPort();
    }

    private int[] attached(Path cgroup, int attachType) {
        try (NativeFd fd = Linux.open(cgroup, true)) {
            return Bpf.attachedPrograms(fd, attachType);
        }
    }

    @Test
    void connectsToAServiceAreSpreadOverItsBackends() throws Exception {
        Node pod = net.pod("c");
        balancer = openBalancer();
        balancer.attach(podsCgroup());
        balancer.update(Map.of(VIP, List.of(b1, b2)));

        assertThat(balancer.services()).containsExactly(Map.entry(VIP, List.of(b1, b2)));
        List<String> answers = connectMany(pod, 20);
        assertThat(answers).hasSize(20).allMatch(a -> a.equals("B1") || a.equals("B2"), "answered by a backend")
                .contains("B1", "B2");
        // socat, one connect per process, and a dual-stack client through the mapped VIP.
        Host.Result one = connect(pod, VIP_IP, 80, 3);
        assertThat(one.stdout().strip()).as(one.stderr()).isIn("B1", "B2");
        Host.Result mapped = net.inPod(pod, 10, "socat", "-u", "TCP6:[::ffff:" + VIP_IP + "]:80,connect-timeout=3",
                "STDOUT");
        assertThat(mapped.stdout().strip()).as(mapped.stderr()).isIn("B1", "B2");
        // Other destinations are left alone.
        Host.Result direct = connect(pod, b1.getAddress().getHostAddress(), 8080, 3);
        assertThat(direct.stdout().strip()).as(direct.stderr()).isEqualTo("B1");
    }

    @Test
    void anUpdateThatRemovesABackendSendsEveryConnectToTheOther() {
        Node pod = net.pod("c");
        balancer = openBalancer();
        balancer.attach(podsCgroup());
        balancer.update(Map.of(VIP, List.of(b1, b2)));
        assertThat(connectMany(pod, 10)).allMatch(a -> a.equals("B1") || a.equals("B2"));

        balancer.update(Map.of(VIP, List.of(b2)));

        assertThat(balancer.services()).containsExactly(Map.entry(VIP, List.of(b2)));
        assertThat(connectMany(pod, 10)).containsOnly("B2");
    }

    @Test
    void aRemovedServiceIsNoLongerRewritten() {
        Node pod = net.pod("c");
        InetSocketAddress other = new InetSocketAddress("10.96.0.11", 443);
        balancer = openBalancer();
        balancer.attach(podsCgroup());
        balancer.update(Map.of(VIP, List.of(b1), other, List.of(b2)));
        assertThat(connect(pod, VIP_IP, 80, 3).stdout().strip()).isEqualTo("B1");

        balancer.update(Map.of(other, List.of(b2)));

        assertThat(balancer.services()).containsOnlyKeys(other);
        Host.Result r = connect(pod, VIP_IP, 80, 1);
        assertThat(r.ok()).isFalse();
        assertThat(r.stderr()).as("went to the VIP itself, which nothing routes").contains("Network is unreachable");
        assertThat(connect(pod, "10.96.0.11", 443, 3).stdout().strip()).isEqualTo("B2");
    }

    @Test
    void aServiceWithoutBackendsRefusesConnectsAtOnce() {
        Node pod = net.pod("c");
        balancer = openBalancer();
        balancer.attach(podsCgroup());
        balancer.update(Map.of(VIP, List.of()));

        long start = System.nanoTime();
        Host.Result r = connect(pod, VIP_IP, 80, 3);
        long millis = (System.nanoTime() - start) / 1_000_000;

        assertThat(r.ok()).isFalse();
        assertThat(r.stderr()).contains("Operation not permitted");
        assertThat(millis).as("refused, not timed out").isLessThan(2000);
        assertThat(balancer.services()).containsExactly(Map.entry(VIP, List.of()));
    }

    @Test
    void connectsRacingUpdatesAlwaysReachABackend() throws Exception {
        Node pod = net.pod("c");
        balancer = openBalancer();
        balancer.attach(podsCgroup());
        // Sets of very different sizes: writing one takes hundreds of map updates, so a
        // Service pointed at a set before it is complete, or at one already removed,
        // would fail some of the connects (a slot lookup misses and the program refuses).
        List<InetSocketAddress> mixed = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            mixed.add(i % 2 == 0 ? b2 : b1);
        }
        List<Map<InetSocketAddress, List<InetSocketAddress>>> versions = List.of(
                Map.of(VIP, java.util.Collections.nCopies(300, b1)), Map.of(VIP, List.of(b2)), Map.of(VIP, mixed));
        balancer.update(versions.get(0));
        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger updates = new AtomicInteger();
        AtomicReference<Throwable> failed = new AtomicReference<>();
        Thread updater = Thread.ofPlatform().start(() -> {
            try {
                for (int i = 1; !stop.get(); i++) {
                    balancer.update(versions.get(i % versions.size()));
                    updates.incrementAndGet();
                }
            } catch (Throwable t) {
                failed.set(t);
            }
        });
        List<String> answers;
        try {
            answers = connectMany(pod, 500);
        } finally {
            stop.set(true);
            updater.join();
        }

        assertThat(failed.get()).isNull();
        assertThat(updates.get()).as("updates raced the connects").isGreaterThan(10);
        assertThat(answers).hasSize(500).allMatch(a -> a.equals("B1") || a.equals("B2"), "answered by a backend");
    }

    @Test
    void reopeningKeepsTheTableAndTheAttachmentWithoutReloading() {
        Node pod = net.pod("c");
        balancer = openBalancer();
        assertThat(balancer.reopened()).isFalse();
        balancer.attach(podsCgroup());
        balancer.update(Map.of(VIP, List.of(b1)));
        List<Bpf.ProgramInfo> loaded = balancer.programs();
        assertThat(loaded).extracting(Bpf.ProgramInfo::name).containsExactly("ambit_svc_conn4", "ambit_svc_conn6");

        balancer.close();
        balancer = null;
        // Nobody holds a descriptor now: the pins alone keep it working.
        assertThat(connect(pod, VIP_IP, 80, 3).stdout().strip()).isEqualTo("B1");

        balancer = openBalancer();
        assertThat(balancer.reopened()).isTrue();
        assertThat(balancer.programs()).containsExactlyElementsOf(loaded);
        assertThat(balancer.services()).containsExactly(Map.entry(VIP, List.of(b1)));
        balancer.attach(podsCgroup()); // idempotent
        assertThat(attached(podsCgroup(), libbpf_h.BPF_CGROUP_INET4_CONNECT)).containsExactly(loaded.get(0).id());
        assertThat(attached(podsCgroup(), libbpf_h.BPF_CGROUP_INET6_CONNECT)).containsExactly(loaded.get(1).id());
        assertThat(connect(pod, VIP_IP, 80, 3).stdout().strip()).isEqualTo("B1");

        balancer.update(Map.of(VIP, List.of(b2)));
        assertThat(connect(pod, VIP_IP, 80, 3).stdout().strip()).isEqualTo("B2");
    }

    @Test
    void aNewBuildMovesTheAttachmentsOntoItsProgramsAndKeepsTheTable() throws Exception {
        Node pod = net.pod("c");
        balancer = openBalancer();
        balancer.attach(podsCgroup());
        balancer.update(Map.of(VIP, List.of(b1)));
        List<Bpf.ProgramInfo> before = balancer.programs();
        balancer.close();
        // Make the pinned programs look like an older build's.
        Path progs = root().resolve("progs");
        Files.move(progs.resolve(balancer.version()), progs.resolve("0000000000000000"));
        balancer = null;

        balancer = openBalancer();

        assertThat(balancer.reopened()).isFalse();
        List<Bpf.ProgramInfo> after = balancer.programs();
        assertThat(after).doesNotContainAnyElementsOf(before);
        try (var dirs = Files.list(progs)) {
            assertThat(dirs.map(p -> p.getFileName().toString())).containsExactly(balancer.version());
        }
        assertThat(attached(podsCgroup(), libbpf_h.BPF_CGROUP_INET4_CONNECT)).containsExactly(after.get(0).id());
        assertThat(attached(podsCgroup(), libbpf_h.BPF_CGROUP_INET6_CONNECT)).containsExactly(after.get(1).id());
        Set<Integer> oldIds = new HashSet<>(before.stream().map(Bpf.ProgramInfo::id).toList());
        awaitTrue(() -> Bpf.loadedPrograms("ambit_svc").stream()
                .noneMatch(p -> oldIds.contains(p.id())), "the old build's programs are unloaded");
        assertThat(balancer.services()).as("maps reused").containsExactly(Map.entry(VIP, List.of(b1)));
        assertThat(connect(pod, VIP_IP, 80, 3).stdout().strip()).isEqualTo("B1");
    }

    @Test
    void detachStopsBalancingAndUninstallRemovesEverything() {
        Node pod = net.pod("c");
        balancer = openBalancer();
        balancer.attach(podsCgroup());
        balancer.update(Map.of(VIP, List.of(b1)));
        assertThat(connect(pod, VIP_IP, 80, 3).stdout().strip()).isEqualTo("B1");

        balancer.detach(podsCgroup());
        balancer.detach(podsCgroup()); // idempotent
        assertThat(attached(podsCgroup(), libbpf_h.BPF_CGROUP_INET4_CONNECT)).isEmpty();
        assertThat(connect(pod, VIP_IP, 80, 1).stderr()).contains("Network is unreachable");

        balancer.attach(podsCgroup());
        assertThat(connect(pod, VIP_IP, 80, 3).stdout().strip()).isEqualTo("B1");
        balancer.close();
        balancer = null;

        ServiceBalancer.uninstall(root());

        assertThat(root()).doesNotExist();
        assertThat(attached(podsCgroup(), libbpf_h.BPF_CGROUP_INET4_CONNECT)).isEmpty();
        assertThat(attached(podsCgroup(), libbpf_h.BPF_CGROUP_INET6_CONNECT)).isEmpty();
        assertThat(connect(pod, VIP_IP, 80, 1).stderr()).contains("Network is unreachable");
        ServiceBalancer.uninstall(root()); // nothing left to do
    }

    @Test
    void detachOfAVanishedCgroupDropsTheLinksTheKernelDetached() throws Exception {
        Path gone = podsCgroup().resolve("gone");
        Path kept = podsCgroup().resolve("kept");
        Files.createDirectories(gone);
        Files.createDirectories(kept);
        balancer = openBalancer();
        balancer.attach(gone);
        balancer.attach(kept);
        Path links = root().resolve("cgroups");
        try (var dirs = Files.list(links)) {
            assertThat(dirs).hasSize(2);
        }
        Files.delete(gone);

        // The kernel releases a removed cgroup's links from a work item: until then they
        // still look attached, and detach leaves them.
        awaitTrue(() -> {
            balancer.detach(gone);
            try (var dirs = Files.list(links)) {
                return dirs.count() == 1;
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, "the vanished cgroup's links are dropped");
        assertThat(root().resolve("cgroups").resolve(Files.getAttribute(kept, "unix:ino").toString())).exists();
        assertThat(attached(kept, libbpf_h.BPF_CGROUP_INET4_CONNECT)).hasSize(1);
    }

    /**
     * The interaction with capture. The balancer sits on the parent cgroup, capture on
     * the enrolled pod's own; the kernel runs the pod's (descendant's) programs first, so
     * capture sees, and the agent learns, the VIP, not a backend. Attachment order does
     * not matter: both orders are tried.
     */
    @Test
    void anEnrolledPodsServiceConnectIsCapturedWithTheVipWhileOtherPodsReachABackend() throws Exception {
        Node meshed = net.pod("m");
        Node plain = net.pod("p");
        balancer = openBalancer();
        balancer.update(Map.of(VIP, List.of(b1, b2)));
        redirector = EbpfRedirector.open(RedirectConfig.builder().bpffsRoot(net.bpffsRoot()).build());
        NetnsServer out = keep(NetnsServer.start(meshed.netns(), new InetSocketAddress("127.0.0.1", 15001),
                c -> "OUT " + redirector.originalDestination(c).map(ServiceBalancerTest::hostPort).orElse("none")));
        NetnsServer in = keep(NetnsServer.start(meshed.netns(), new InetSocketAddress("0.0.0.0", 15006), c -> "IN"));

        // The balancer first, then capture; then capture first, then the balancer.
        balancer.attach(podsCgroup());
        redirector.enroll(new PodRedirection("uid-m", meshed.cgroup(), meshed.netns(), List.of(meshed.address()),
                in.fd()));
        assertCapturedAndBalanced(meshed, plain);

        balancer.detach(podsCgroup());
        balancer.attach(podsCgroup());
        assertCapturedAndBalanced(meshed, plain);
        assertThat(out.accepted()).isEqualTo(4);
    }

    private void assertCapturedAndBalanced(Node meshed, Node plain) {
        Host.Result captured = connect(meshed, VIP_IP, 80, 3);
        assertThat(captured.stdout().strip()).as(captured.stderr()).isEqualTo("OUT " + VIP_IP + ":80");
        Host.Result mapped = net.inPod(meshed, 10, "socat", "-u", "TCP6:[::ffff:" + VIP_IP + "]:80,connect-timeout=3",
                "STDOUT");
        assertThat(mapped.stdout().strip()).as(mapped.stderr()).isEqualTo("OUT " + VIP_IP + ":80");
        assertThat(connectMany(plain, 10)).allMatch(a -> a.equals("B1") || a.equals("B2"), "answered by a backend");
    }

    @Test
    void updateRejectsWhatItCannotBalanceAndChangesNothing() {
        balancer = openBalancer();
        balancer.update(Map.of(VIP, List.of(b1)));
        InetSocketAddress v6 = new InetSocketAddress("fd00::1", 80);

        assertThatThrownBy(() -> balancer.update(Map.of(v6, List.of(b1))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("IPv4");
        assertThatThrownBy(() -> balancer.update(Map.of(VIP, List.of(new InetSocketAddress(b1.getAddress(), 0)))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("1-65535");
        assertThatThrownBy(() -> balancer.update(Map.of(VIP, List.of(InetSocketAddress.createUnresolved("x", 80)))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("resolved");

        assertThat(balancer.services()).containsExactly(Map.entry(VIP, List.of(b1)));
    }

    @Test
    void errorsNameThePathAndTheFix() throws Exception {
        assertThatThrownBy(() -> ServiceBalancer.open(Path.of("/tmp").resolve(net.id())))
                .isInstanceOf(RedirectException.class).hasMessageContaining("not on bpffs")
                .hasMessageContaining("mount -t bpf");
        // The capture's folder is not the balancer's.
        redirector = EbpfRedirector.open(RedirectConfig.builder().bpffsRoot(net.bpffsRoot()).build());
        assertThatThrownBy(() -> ServiceBalancer.open(net.bpffsRoot()))
                .isInstanceOf(RedirectException.class).hasMessageContaining("folder of its own");
        balancer = openBalancer();
        Path missing = podsCgroup().resolve("nope");
        assertThatThrownBy(() -> balancer.attach(missing))
                .isInstanceOf(RedirectException.class).hasMessageContaining(missing + " does not exist");
        assertThatThrownBy(() -> balancer.attach(Path.of("/tmp")))
                .isInstanceOf(RedirectException.class).hasMessageContaining("not a cgroup");
        assertThat(Arrays.stream(attached(podsCgroup(), libbpf_h.BPF_CGROUP_INET4_CONNECT))).isEmpty();
    }
}
