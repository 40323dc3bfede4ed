package dev.ambit.agent.inpod;

import static dev.ambit.testing.Eventually.eventually;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.testing.Host;
import dev.ambit.testing.NoLeftovers;
import dev.ambit.testing.TestNetwork;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.MockResponse;
import java.io.IOException;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * {@link KubernetesSandboxes} against fabric8's mock API server (CRUD mode) and real
 * cgroups, processes and network namespaces made here, all named {@code ambit-t…} so
 * {@link TestNetwork#sweep()} removes what a killed run leaves.
 */
@ExtendWith(NoLeftovers.class)
class KubernetesSandboxesTest {

    private static final String NODE = "node-a";
    private static final Duration RETRY = Duration.ofMillis(50);
    /** The label the mock filters on in place of spec.nodeName (see {@link NodeFilteringDispatcher}). */
    private static final String NODE_LABEL = "test.ambit.dev/node";

    private String id;
    private Path root;
    private final List<String> namespaces = new ArrayList<>();
    private final List<Process> processes = new ArrayList<>();
    private NodeFilteringDispatcher dispatcher;
    private KubernetesMockServer server;
    private KubernetesClient client;
    private KubernetesSandboxes sandboxes;
    private final AtomicInteger changes = new AtomicInteger();

    @BeforeEach
    void setUp() throws IOException {
        id = TestNetwork.PREFIX + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x10000, 0xfffff));
        root = Files.createDirectories(TestNetwork.cgroupRoot().resolve(id));
        dispatcher = new NodeFilteringDispatcher();
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), dispatcher, false);
        server.init();
        client = server.createClient();
    }

    @AfterEach
    void tearDown() throws Exception {
        List<String> problems = new ArrayList<>();
        if (sandboxes != null) {
            dispatcher.quiesce(); // see NodeFilteringDispatcher.quiesce
            run(problems, "close sandboxes", sandboxes::close);
        }
        run(problems, "close client", client::close);
        run(problems, "stop mock server", server::destroy);
        // Processes before their cgroups: a cgroup with processes cannot be removed.
        for (Process p : processes) {
            p.destroyForcibly();
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
                problems.add("process " + p.pid() + " still alive");
            }
        }
        removeCgroups(problems);
        for (String ns : namespaces) {
            Host.Result r = Host.exec(30, "ip", "netns", "delete", ns);
            if (!r.ok()) {
                problems.add("netns " + ns + ": " + r.stderr().strip());
            }
        }
        assertThat(problems).as("cleanup").isEmpty(); // then NoLeftovers checks nothing is left
    }

    private interface Step {
        void run() throws Exception;
    }

    private static void run(List<String> problems, String what, Step step) {
        try {
            step.run();
        } catch (Exception | AssertionError e) {
            problems.add(what + ": " + e);
        }
    }

    /** Leaf first; a killed process leaves its cgroup shortly after it is reaped. */
    private void removeCgroups(List<String> problems) throws IOException, InterruptedException {
        if (!Files.isDirectory(root)) {
            return;
        }
        List<Path> dirs;
        try (Stream<Path> s = Files.walk(root)) {
            dirs = s.filter(Files::isDirectory).sorted(Comparator.comparingInt(Path::getNameCount).reversed())
                    .toList();
        }
        for (Path d : dirs) {
            boolean removed = false;
            for (int i = 0; i < 50 && !removed; i++) {
                try {
                    Files.deleteIfExists(d);
                    removed = true;
                } catch (IOException e) {
                    Thread.sleep(20);
                }
            }
            if (!removed) {
                problems.add("cgroup " + d + " still busy");
            }
        }
    }

    // ---- Fixtures ----

    /** A network namespace of the test: its bind mount under /run/netns. */
    private Path netns(String name) {
        String ns = id + "-" + name;
        Host.run("ip", "netns", "add", ns);
        namespaces.add(ns);
        return Path.of("/run/netns", ns);
    }

    private static long inode(Path path) throws IOException {
        return ((Number) Files.getAttribute(path, "unix:ino")).longValue();
    }

    /** A cgroup folder under the test's root. */
    private Path cgroup(String relative) throws IOException {
        return Files.createDirectories(root.resolve(relative));
    }

    /**
     * A {@code sleep} that joins {@code cgroup}, then enters {@code netns}; returns once it
     * is in both.
     */
    private Process sleeper(Path cgroup, Path netns) throws Exception {
        Process p = new ProcessBuilder("sh", "-c",
                "echo $$ > \"$0/cgroup.procs\" && exec nsenter --net=\"$1\" -- sleep 60",
                cgroup.toString(), netns.toString())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.DISCARD)
                .start();
        processes.add(p);
        long expected = inode(netns);
        Path link = Path.of("/proc", Long.toString(p.pid()), "ns/net");
        eventually(() -> {
            assertThat(p.isAlive()).as("sleeper alive").isTrue();
            assertThat(CgroupPods.netnsInode(link)).isEqualTo(expected);
        });
        assertThat(Files.readString(cgroup.resolve("cgroup.procs"))).contains(Long.toString(p.pid()));
        return p;
    }

    private Pod pod(String namespace, String name, String node, String phase, boolean hostNetwork) {
        return new PodBuilder()
                .withNewMetadata().withNamespace(namespace).withName(name).addToLabels(NODE_LABEL, node).endMetadata()
                .withNewSpec().withNodeName(node).withHostNetwork(hostNetwork)
                .addNewContainer().withName("app").withImage("example.com/app:1").endContainer().endSpec()
                .withNewStatus().withPhase(phase).withPodIP("Running".equals(phase) ? "10.244.1.7" : null).endStatus()
                .build();
    }

    /** Creates the pod object; returns the UID the API server gave it. */
    private String create(Pod pod) {
        Pod created = client.pods().inNamespace(pod.getMetadata().getNamespace()).resource(pod).create();
        assertThat(created.getStatus().getPhase()).as("status stored").isEqualTo(pod.getStatus().getPhase());
        return created.getMetadata().getUid();
    }

    private void delete(String namespace, String name) {
        client.pods().inNamespace(namespace).withName(name).delete();
    }

    /**
     * Starts the source and waits until its informer watches: the mock does not replay
     * what happened between a list and the watch after it, as an API server does.
     */
    private KubernetesSandboxes start() throws InterruptedException {
        sandboxes = KubernetesSandboxes.builder(client, NODE).cgroupRoot(root).retryInterval(RETRY).build();
        sandboxes.start(changes::incrementAndGet);
        eventually(() -> dispatcher.watches.get() > 0);
        dispatcher.quiesce();
        return sandboxes;
    }

    // ---- Tests ----

    @Test
    void findsTheSandboxOfARunningPod() throws Exception {
        Path ns = netns("fe");
        String uid = create(pod("shop", "frontend", NODE, "Running", false));
        Path podCgroup = cgroup("kubepods/besteffort/pod" + uid);
        sleeper(cgroup("kubepods/besteffort/pod" + uid + "/c1"), ns);

        start();

        eventually(() -> assertThat(sandboxes.find("shop", "frontend")).isPresent());
        PodSandbox s = sandboxes.find("shop", "frontend").orElseThrow();
        assertThat(s.namespace()).isEqualTo("shop");
        assertThat(s.name()).isEqualTo("frontend");
        assertThat(s.uid()).isEqualTo(uid);
        assertThat(s.cgroup()).isEqualTo(podCgroup);
        assertThat(inode(s.netns())).isEqualTo(inode(ns));
        assertThat(sandboxes.all()).containsExactly(s);
        assertThat(sandboxes.problem("shop", "frontend")).isEmpty();
        assertThat(changes.get()).isPositive();
        assertThat(Thread.getAllStackTraces().keySet()).anyMatch(t -> t.getName().equals("ambit-sandboxes"));
        // The API server was asked for this node's pods only.
        assertThat(dispatcher.fieldSelectors).isNotEmpty().allMatch(f -> f.equals("spec.nodeName=" + NODE));
    }

    @Test
    void podOnAnotherNodeIsIgnored() throws Exception {
        Path nsA = netns("a");
        Path nsB = netns("b");
        String uidA = create(pod("shop", "here", NODE, "Running", false));
        String uidB = create(pod("shop", "there", "node-b", "Running", false));
        // Both have processes under the root: only the informer's selection tells them apart.
        sleeper(cgroup("kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
                + uidA.replace('-', '_') + ".slice/c1"), nsA);
        sleeper(cgroup("kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
                + uidB.replace('-', '_') + ".slice/c1"), nsB);

        start();

        eventually(() -> assertThat(sandboxes.find("shop", "here")).isPresent());
        Thread.sleep(RETRY.multipliedBy(4));
        assertThat(sandboxes.find("shop", "there")).isEmpty();
        assertThat(sandboxes.problem("shop", "there")).isEmpty();
        assertThat(sandboxes.all()).extracting(PodSandbox::uid).containsExactly(uidA);
    }

    @Test
    void deletingThePodReportsItGone() throws Exception {
        Path ns = netns("fe");
        String uid = create(pod("shop", "frontend", NODE, "Running", false));
        sleeper(cgroup("kubepods/pod" + uid + "/c1"), ns);
        start();
        eventually(() -> assertThat(sandboxes.find("shop", "frontend")).isPresent());
        int before = changes.get();

        delete("shop", "frontend");

        eventually(() -> assertThat(changes.get()).isGreaterThan(before));
        assertThat(sandboxes.find("shop", "frontend")).isEmpty();
        assertThat(sandboxes.all()).isEmpty();
    }

    @Test
    void cgroupAppearingLaterIsResolvedOnRetry() throws Exception {
        Path ns = netns("fe");
        String uid = create(pod("shop", "frontend", NODE, "Running", false));
        start();

        eventually(() -> assertThat(sandboxes.problem("shop", "frontend")).get().asString()
                .startsWith("pod shop/frontend (uid " + uid + "): no cgroup under " + root + " matching pod" + uid)
                .contains("--cgroup-root"));
        assertThat(sandboxes.find("shop", "frontend")).isEmpty();
        assertThat(changes.get()).isZero();

        // The pod's folder first, its process a moment later.
        Path podCgroup = cgroup("kubepods/burstable/pod" + uid);
        Path container = cgroup("kubepods/burstable/pod" + uid + "/c1");
        eventually(() -> assertThat(sandboxes.problem("shop", "frontend")).get().asString()
                .contains("cgroup " + podCgroup + " holds no process"));
        sleeper(container, ns);

        eventually(() -> assertThat(sandboxes.find("shop", "frontend")).isPresent());
        PodSandbox s = sandboxes.find("shop", "frontend").orElseThrow();
        assertThat(s.cgroup()).isEqualTo(podCgroup);
        assertThat(inode(s.netns())).isEqualTo(inode(ns));
        assertThat(sandboxes.problem("shop", "frontend")).isEmpty();
        assertThat(changes.get()).isPositive();
    }

    @Test
    void newNetworkNamespaceIsAChange() throws Exception {
        Path first = netns("n1");
        Path second = netns("n2");
        String uid = create(pod("shop", "frontend", NODE, "Running", false));
        Path container = cgroup("kubepods/besteffort/pod" + uid + "/c1");
        Process old = sleeper(container, first);
        start();
        eventually(() -> assertThat(sandboxes.find("shop", "frontend")).isPresent());
        int before = changes.get();

        // The sandbox is recreated: the old process exits, a new one runs in a new namespace.
        old.destroyForcibly();
        old.waitFor(5, TimeUnit.SECONDS);
        sleeper(container, second);

        long secondInode = inode(second);
        eventually(() -> {
            assertThat(changes.get()).isGreaterThan(before);
            PodSandbox s = sandboxes.find("shop", "frontend").orElseThrow();
            assertThat(CgroupPods.netnsInode(s.netns())).isEqualTo(secondInode);
        });
        assertThat(sandboxes.find("shop", "frontend").orElseThrow().uid()).isEqualTo(uid);
    }

    @Test
    void podsWithoutASandboxOfTheirOwnAreSkipped() throws Exception {
        Path ns = netns("a");
        String hostNet = create(pod("kube-system", "proxy", NODE, "Running", true));
        String pending = create(pod("shop", "starting", NODE, "Pending", false));
        String done = create(pod("shop", "job", NODE, "Succeeded", false));
        // All with processes, so only their objects keep them out.
        for (String uid : List.of(hostNet, pending, done)) {
            sleeper(cgroup("kubepods/besteffort/pod" + uid + "/c1"), ns);
        }
        start();
        Thread.sleep(RETRY.multipliedBy(6));
        assertThat(sandboxes.all()).isEmpty();
        assertThat(changes.get()).isZero();

        // The pending pod starts running: now it counts.
        Pod running = client.pods().inNamespace("shop").withName("starting").get();
        running.getStatus().setPhase("Running");
        running.getStatus().setPodIP("10.244.1.8");
        client.pods().inNamespace("shop").resource(running).updateStatus();

        eventually(() -> assertThat(sandboxes.all()).extracting(PodSandbox::key).containsExactly("shop/starting"));
        assertThat(changes.get()).isPositive();
    }

    @Test
    void recreatedUnderTheSameNameIsAChange() throws Exception {
        Path ns = netns("a");
        String first = create(pod("shop", "frontend", NODE, "Running", false));
        sleeper(cgroup("kubepods/pod" + first + "/c1"), ns);
        start();
        eventually(() -> assertThat(sandboxes.find("shop", "frontend")).get()
                .extracting(PodSandbox::uid).isEqualTo(first));

        delete("shop", "frontend");
        eventually(() -> assertThat(sandboxes.find("shop", "frontend")).isEmpty());
        String second = create(pod("shop", "frontend", NODE, "Running", false));
        assertThat(second).isNotEqualTo(first);
        sleeper(cgroup("kubepods/pod" + second + "/c1"), ns);

        eventually(() -> assertThat(sandboxes.find("shop", "frontend")).get()
                .extracting(PodSandbox::uid).isEqualTo(second));
    }

    @Test
    void builderChecksItsInput() {
        assertThatThrownBy(() -> KubernetesSandboxes.builder(null, NODE)).isInstanceOf(NullPointerException.class)
                .hasMessage("client");
        assertThatThrownBy(() -> KubernetesSandboxes.builder(client, null)).isInstanceOf(NullPointerException.class)
                .hasMessage("nodeName");
        assertThatThrownBy(() -> KubernetesSandboxes.builder(client, "Node_A,x"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("nodeName: \"Node_A,x\"")
                .hasMessageContaining("downward API");
        var b = KubernetesSandboxes.builder(client, NODE);
        assertThatThrownBy(() -> b.cgroupRoot(null)).hasMessage("cgroupRoot");
        assertThatThrownBy(() -> b.retryInterval(Duration.ZERO)).hasMessageContaining("retryInterval: PT0S");
        assertThatThrownBy(() -> b.cgroupRoot(root.resolve("absent")).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("absent is not a folder")
                .hasMessageContaining("/sys/fs/cgroup");

        KubernetesSandboxes s = KubernetesSandboxes.builder(client, NODE).cgroupRoot(root).build();
        assertThatThrownBy(() -> s.start(null)).hasMessage("onChange");
        assertThat(s.all()).isEmpty();
        s.close();
        assertThatThrownBy(() -> s.start(() -> { })).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("closed");
    }

    /**
     * The CRUD mock does not know {@code spec.nodeName} as a field (it would match no pod),
     * so it is turned into a label selector on {@value #NODE_LABEL}, which the test's pods
     * carry with their node name: the mock then filters lists and watches as the API server
     * filters on the field. The field selectors asked for are kept for assertions.
     */
    private static final class NodeFilteringDispatcher extends KubernetesCrudDispatcher {
        private static final Duration WATCH_SETTLE = Duration.ofMillis(300);

        final Queue<String> fieldSelectors = new ConcurrentLinkedQueue<>();
        final AtomicInteger watches = new AtomicInteger();
        private final AtomicLong lastWatchNanos = new AtomicLong(System.nanoTime());

        @Override
        public MockResponse handleGet(String path) {
            if (path.contains("watch=true")) {
                lastWatchNanos.set(System.nanoTime());
                watches.incrementAndGet();
            }
            return super.handleGet(rewrite(path));
        }

        private String rewrite(String path) {
            int q = path.indexOf('?');
            if (q < 0) {
                return path;
            }
            List<String> params = new ArrayList<>();
            for (String param : path.substring(q + 1).split("&")) {
                String decoded = URLDecoder.decode(param, StandardCharsets.UTF_8);
                if (decoded.startsWith("fieldSelector=spec.nodeName=")) {
                    String selector = decoded.substring("fieldSelector=".length());
                    fieldSelectors.add(selector);
                    String node = selector.substring("spec.nodeName=".length());
                    params.add("labelSelector=" + URLEncoder.encode(NODE_LABEL + "=" + node, StandardCharsets.UTF_8));
                } else {
                    params.add(param);
                }
            }
            return path.substring(0, q + 1) + String.join("&", params);
        }

        /**
         * Waits until no watch has opened for a moment: closing a watch while the mock still
         * replays objects into it can deadlock the mock's shutdown (see istiod-lite's
         * MockCluster.quiesce).
         */
        void quiesce() throws InterruptedException {
            long start = System.nanoTime();
            long deadline = start + Duration.ofSeconds(5).toNanos();
            while (System.nanoTime() < deadline) {
                long left = Math.max(start, lastWatchNanos.get()) + WATCH_SETTLE.toNanos() - System.nanoTime();
                if (left <= 0) {
                    return;
                }
                Thread.sleep(Duration.ofNanos(left));
            }
        }
    }
}
