package dev.ambit.ctl.local;

import java.nio.charset.StandardCharsets;
import java.io.UncheckedIOException;
import java.io.InputStream;
import java.util.concurrent.CompletableFuture;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ambit.ctl.Ambitctl;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The whole local mesh, as a user drives it (root only): {@code local up} with two nodes,
 * real istiod-lite and node agents; a namespace labelled ambient with a two-replica
 * backend Deployment and a client pod; calls by Service name through the mesh reach both
 * replicas; removing the namespace's label at runtime unenrolls the pods; {@code local
 * down} leaves nothing behind. Needs the daemon jars (istiod-lite, node-agent packaged)
 * and socat.
 */
class LocalClusterTest {

    private static final String DEMO = """
            apiVersion: v1
            kind: Namespace
            metadata:
              name: demo
              labels:
                istio.io/dataplane-mode: ambient
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: backend, namespace: demo}
            spec:
              replicas: 2
              selector: {matchLabels: {app: backend}}
              template:
                metadata: {labels: {app: backend}}
                spec:
                  containers:
                  - name: server
                    image: ignored
                    command: [socat, "TCP-LISTEN:8080,fork,reuseaddr", "SYSTEM:'echo hello-from-$POD_NAME'"]
                    ports: [{containerPort: 8080}]
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: backend, namespace: demo}
            spec:
              selector: {app: backend}
              ports: [{port: 8080}]
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: client, namespace: demo}
            spec:
              containers:
              - {name: client, command: [sleep, "3600"]}
            """;

    private Path stateDir;
    private Path manifests;
    private final List<Long> daemonPids = new ArrayList<>();

    private record Run(int code, String out, String err) {}

    @BeforeEach
    void setUp() throws IOException {
        boolean root = "root".equals(System.getProperty("user.name"));
        if (System.getenv("CI") != null && !root) {
            throw new IllegalStateException("LocalClusterTest must run as root in CI (network namespaces, cgroups, eBPF)");
        }
        assumeTrue(root, "needs root: network namespaces, cgroups and eBPF");
        if (!Topology.existingNamespaces().isEmpty() && System.getenv("CI") != null) {
            // A CI machine has no user cluster: these are leftovers of a killed run, and down sweeps them by name.
            Path sweep = Files.createTempDirectory("ambit-l-sweep");
            ambitctl("local", "down", "--state-dir", sweep.toString());
        }
        // A user's own local cluster (same namespace names) is not ours to remove.
        assumeTrue(Topology.existingNamespaces().isEmpty(),
                "a local cluster is up on this machine (ambit-l-* namespaces exist): not touching it");
        stateDir = Files.createTempDirectory("ambit-l-state");
        manifests = Files.createTempDirectory("ambit-l-manifests");
        Files.writeString(manifests.resolve("demo.yaml"), DEMO);
    }

    @AfterEach
    void tearDown() throws IOException {
        if (stateDir != null) {
            Run down = ambitctl("local", "down", "--state-dir", stateDir.toString());
            assertThat(down.code()).as("local down: %s", down.err()).isZero();
        }
        if (manifests != null) {
            Topology.deleteTree(manifests);
        }
    }

    @Test
    @Timeout(value = 6, unit = TimeUnit.MINUTES)
    void upApplyCallThroughTheMeshUnenrollAndDown() throws Exception {
        String sd = "--state-dir=" + stateDir;
        Run up = ambitctl("local", "up", "--nodes", "2", "--no-ingress", sd, "--cgroup-root", cgroupRoot().toString());
        assertThat(up.code()).as("local up: %s%s", up.out(), up.err()).isZero();
        ClusterInfo info = ClusterInfo.require(new StateDir(stateDir));
        daemonPids.add(info.istiod().pid());
        daemonPids.add(info.controller().pid());
        info.nodes().forEach(n -> daemonPids.add(n.agent().pid()));

        Run nodes = ambitctl("local", "get", "nodes", sd);
        assertThat(nodes.out()).contains("node1   Ready").contains("node2   Ready");

        Run apply = ambitctl("local", "apply", "-f", manifests.toString(), sd);
        assertThat(apply.out()).contains("namespace/demo created", "deployment.apps/backend created",
                "service/backend created", "pod/client created");

        // Three pods running, the backends on both nodes, as kubectl -o json would show them.
        JsonNode pods = eventually("3 pods running", Duration.ofSeconds(60), () -> {
            JsonNode list = json(ambitctl("local", "get", "pods", "-n", "demo", "-o", "json", sd));
            long running = 0;
            for (JsonNode p : list.path("items")) {
                if (p.path("status").path("phase").asText().equals("Running")) {
                    running++;
                }
            }
            return running == 3 ? list : null;
        });
        Set<String> backendNodes = new HashSet<>();
        for (JsonNode p : pods.path("items")) {
            assertThat(p.path("status").path("podIP").asText()).startsWith("10.244.");
            if (p.path("metadata").path("name").asText().startsWith("backend-")) {
                backendNodes.add(p.path("spec").path("nodeName").asText());
            }
        }
        assertThat(backendNodes).containsExactlyInAnyOrder("node1", "node2");
        // A VIP from the Service range (the demo ingress gateway's Service may have taken the first).
        assertThat(ambitctl("local", "get", "svc", "-n", "demo", sd).out()).containsPattern("backend   ClusterIP   10\\.96\\.0\\.\\d+ ");

        // By Service name, through the mesh: both replicas answer over a few calls.
        Set<String> answers = new HashSet<>();
        eventually("both replicas answering through the mesh", Duration.ofSeconds(60), () -> {
            Run call = ambitctl("local", "exec", "-n", "demo", "client", "--timeout", "15s", sd,
                    "--", "socat", "-t", "5", "-", "TCP:backend:8080");
            if (call.code() == 0 && call.out().startsWith("hello-from-backend-")) {
                answers.add(call.out().strip());
            }
            return answers.size() == 2 ? answers : null;
        });
        Run dump = ambitctlProcess("config", "workloads", "--node", "node1", "-o", "json", sd);
        assertThat(dump.code()).as("config workloads: %s %s", dump.err(), dump.out()).isZero();
        JsonNode workloads = json(dump);
        assertThat(workloads.size()).as("workloads in %s", dump.out()).isEqualTo(3);
        workloads.forEach(w -> assertThat(w.path("tunnelProtocol").asText()).isEqualTo("HBONE"));
        assertThat(ambitctlProcess("config", "certs", "--node", "node1", sd).out())
                .contains("spiffe://cluster.local/ns/demo/sa/default   Available");
        ClusterStatus.Pod client = ClusterStatus.require(new StateDir(stateDir)).pod("demo", "client");
        assertThat(listeners(client.netns())).contains(15001, 15006, 15008);

        // The label goes at runtime: pods leave the mesh without a restart.
        Run label = ambitctl("local", "label", "ns", "demo", "istio.io/dataplane-mode-", sd);
        assertThat(label.out()).contains("namespace/demo labeled");
        eventually("pods unenrolled", Duration.ofSeconds(30), () -> {
            JsonNode w = json(ambitctlProcess("config", "workloads", "--node", "node1", "-o", "json", sd));
            boolean none = w.size() == 3;
            for (JsonNode x : w) {
                none &= x.path("tunnelProtocol").asText().equals("NONE");
            }
            return none && listeners(client.netns()).isEmpty() ? true : null;
        });
        ClusterStatus.Pod stillClient = ClusterStatus.require(new StateDir(stateDir)).pod("demo", "client");
        assertThat(stillClient.uid()).as("not restarted").isEqualTo(client.uid());
        assertThat(stillClient.restarts()).isZero();

        // down leaves nothing: namespaces, cgroups, pins, processes, state.
        Run down = ambitctl("local", "down", sd);
        assertThat(down.code()).as("local down: %s", down.err()).isZero();
        assertThat(Topology.existingNamespaces()).isEmpty();
        assertThat(cgroupRoot().resolve(Topology.CGROUP_DIR)).doesNotExist();
        assertThat(Topology.BPFFS_ROOT).doesNotExist();
        assertThat(stateDir).doesNotExist();
        assertThat(Path.of("/etc/netns").toFile().list((d, n) -> n.startsWith(Topology.PREFIX))).isNullOrEmpty();
        for (long pid : daemonPids) {
            assertThat(ProcessHandle.of(pid).filter(ProcessHandle::isAlive)).as("pid %s", pid).isEmpty();
        }
        assertThat(ProcessHandle.of(client.containers().getFirst().pid()).filter(ProcessHandle::isAlive)).isEmpty();
        Run again = ambitctl("local", "down", sd);
        assertThat(again.out()).contains("nothing to remove");
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void downCleansUpAfterACrashedUpWithoutItsState() throws Exception {
        String sd = "--state-dir=" + stateDir;
        // istiod-lite cannot be ready in 1 ms: up stops half-way, leaving the network and a daemon.
        Run up = ambitctl("local", "up", "--nodes", "1", "--timeout", "1ms", sd, "--cgroup-root", cgroupRoot().toString());
        assertThat(up.code()).isEqualTo(1);
        assertThat(up.err()).contains("istiod-lite is not listening").contains("istiod.log")
                .contains("ambitctl local down removes the partial cluster");
        ClusterInfo info = ClusterInfo.require(new StateDir(stateDir));
        long istiod = info.istiod().pid();
        assertThat(Topology.existingNamespaces()).contains(Topology.NET_NS, Topology.CP_NS, Topology.nodeNs(1));
        assertThat(ambitctl("local", "up", sd).err()).contains("already exists");

        // The state is lost too: down still finds everything by name.
        Files.delete(new StateDir(stateDir).clusterJson());
        Run down = ambitctl("local", "down", sd);
        assertThat(down.code()).as("local down: %s", down.err()).isZero();
        assertThat(down.out()).contains("processes in ambit-l-* namespaces", "network namespaces ambit-l-*");
        assertThat(Topology.existingNamespaces()).isEmpty();
        assertThat(ProcessHandle.of(istiod).filter(ProcessHandle::isAlive)).isEmpty();
        assertThat(cgroupRoot().resolve(Topology.CGROUP_DIR)).doesNotExist();
        assertThat(Topology.BPFFS_ROOT).doesNotExist();
        assertThat(stateDir).doesNotExist();
    }

    private static Path cgroupRoot() {
        Path p = Path.of(System.getProperty("ambit.cgroupRoot", "/sys/fs/cgroup/unified"));
        return Files.isRegularFile(p.resolve("cgroup.controllers")) ? p : Cgroups.detectRoot();
    }

    private static Run ambitctl(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Ambitctl.execute(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new Run(code, out.toString(), err.toString());
    }

    /**
     * The CLI in a JVM of its own, as a user runs it. {@code config} run inside this test
     * JVM has answered with an empty workload map while the same command in its own JVM
     * shows the full dump (cause not found yet; see the closing note of the stop that
     * added this).
     */
    private static Run ambitctlProcess(String... args) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                "dev.ambit.ctl.Ambitctl"));
        cmd.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(cmd).start();
            var out = CompletableFuture.supplyAsync(() -> read(p.getInputStream()));
            var err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()));
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("ambitctl " + String.join(" ", args) + ": no exit in 60 s");
            }
            return new Run(p.exitValue(), out.join(), err.join());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static String read(InputStream in) {
        try {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static JsonNode json(Run r) {
        try {
            return Manifests.JSON.readTree(r.out());
        } catch (IOException e) {
            throw new AssertionError("not JSON (exit " + r.code() + ", stderr " + r.err() + "): " + r.out(), e);
        }
    }

    /** The TCP ports listening in network namespace {@code netns}. */
    private static List<Integer> listeners(String netns) {
        List<Integer> ports = new ArrayList<>();
        for (String line : Sh.run("ip", "netns", "exec", netns, "ss", "-ltnH").split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length >= 4) {
                ports.add(Integer.parseInt(f[3].substring(f[3].lastIndexOf(':') + 1)));
            }
        }
        return ports;
    }

    /** Polls {@code check} until it returns non-null; fails after {@code timeout} naming {@code what}. */
    private <T> T eventually(String what, Duration timeout, Supplier<T> check) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        RuntimeException last = null;
        while (System.nanoTime() < deadline) {
            try {
                T v = check.get();
                if (v != null) {
                    return v;
                }
            } catch (RuntimeException | AssertionError e) {
                last = e instanceof RuntimeException re ? re : new RuntimeException(e);
            }
            Thread.sleep(300);
        }
        StateDir state = new StateDir(stateDir);
        throw new AssertionError("not " + what + " after " + timeout.toSeconds() + " s; controller log:\n"
                + Daemons.tail(state.controllerLog(), 20) + "\nagent node1:\n" + Daemons.tail(state.agentLog("node1"), 20),
                last);
    }
}
