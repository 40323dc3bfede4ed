package dev.ambit.it;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * (6) Pod churn: 50 meshed pods created and deleted in rounds of 10 (every other round
 * deleted while still being created and enrolled, the races included) leave nothing
 * behind: the agents' descriptors and threads, their in-pod listeners, BPF map entries,
 * pins and cgroup attachments, the Service balancer's entries, network namespaces and
 * cgroups, workloads and certificates all come back to what they were before.
 */
// After every class of the default cluster (and WaypointResilienceTest's): one up and down for this configuration.
@Order(23)
class ChurnTest {

    /** The same configuration as CertificateRotationTest: the churn also runs under 30 s certificates (renewed every 15 s). */
    @RegisterExtension
    static final LocalMesh mesh = LocalMesh.nodes(2).certTtl("30s").noIngress();

    private static final String NS = "it-churn";
    private static final String CLIENT_NS = "it-churn-client";
    private static final int ROUNDS = 5;
    private static final int PODS_PER_ROUND = 10;
    private static final List<String> NODES = List.of("node1", "node2");

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void fiftyPodsCreatedAndDeletedLeakNothing() {
        String round = Yaml.namespace(NS, true) + Yaml.serviceAccount(NS, "churn")
                + Yaml.serverDeployment(NS, "churn", PODS_PER_ROUND, "churn") + Yaml.service(NS, "churn", "churn");
        try {
            // A client that stays, calling into the churn: its HBONE connections to pods that go
            // away must go too.
            mesh.apply(Yaml.namespace(CLIENT_NS, true) + Yaml.clientPod(CLIENT_NS, "client", "default", "node1", Map.of()));
            mesh.awaitRunning(CLIENT_NS, 1, Duration.ofSeconds(30));
            mesh.awaitEnrolled(CLIENT_NS, "client");
            // One round first, not counted: lazily created agent resources (event loops, pools,
            // the first HBONE connections) belong in the baseline, not in the leak.
            churn(round, true);
            Snapshot baseline = mesh.eventually("a settled baseline", Duration.ofSeconds(30), () -> settled(null));

            for (int i = 1; i <= ROUNDS; i++) {
                churn(round, i % 2 == 1);
            }

            Snapshot after = mesh.eventually("everything back to the baseline", Duration.ofSeconds(45),
                    () -> settled(baseline));
            // settled() already compared; say what was compared, for the report.
            System.out.println("churn baseline: " + baseline + "\nafter " + ROUNDS * PODS_PER_ROUND + " pods: " + after);
        } finally {
            mesh.deleteNamespace(NS);
            mesh.deleteNamespace(CLIENT_NS);
        }
    }

    /**
     * One round: the namespace with a 10-replica Deployment comes, then goes. Waiting: every pod
     * enrolled and called through the mesh before the delete. Not waiting: deleted a moment after
     * the apply, while the controller and agents are still at work.
     */
    private static void churn(String round, boolean wait) {
        Map<String, Double> before = enrolled();
        mesh.apply(round);
        if (wait) {
            mesh.awaitRunning(NS, PODS_PER_ROUND, Duration.ofSeconds(60));
            mesh.eventually("10 more pods enrolled", Duration.ofSeconds(60), () ->
                    enrolled().values().stream().mapToDouble(Double::doubleValue).sum()
                            == before.values().stream().mapToDouble(Double::doubleValue).sum() + PODS_PER_ROUND);
            mesh.eventually("the client reaching the churn over the mesh", Duration.ofSeconds(30), () -> {
                Ambitctl.Result r = mesh.sh(CLIENT_NS, "client", Duration.ofSeconds(30),
                        "for i in 1 2 3 4 5 6; do curl -sS -m 3 http://churn." + NS + ":8080/ || exit 1; done");
                return r.ok() && r.out().split("hello from churn-").length == 7;
            });
        } else {
            LocalMesh.sleep(700);
        }
        mesh.deleteNamespace(NS);
        mesh.eventually("the round's pods gone", Duration.ofSeconds(60), () -> mesh.pods(NS).isEmpty());
    }

    private static Map<String, Double> enrolled() {
        Map<String, Double> out = new LinkedHashMap<>();
        for (String node : NODES) {
            out.put(node, mesh.metrics(node).value("ambit_agent_enrolled_pods"));
        }
        return out;
    }

    /**
     * What a leak would show, taken when the agents have nothing in flight (no pod draining or
     * being enrolled); compared with {@code baseline} when given: null (not yet) unless equal,
     * descriptors and threads within a small margin (the JVM's own come and go).
     */
    private static Snapshot settled(Snapshot baseline) {
        Snapshot s = Snapshot.take();
        if (s.inFlight() > 0) {
            return null;
        }
        if (baseline == null) {
            return s;
        }
        List<String> diffs = s.differencesFrom(baseline);
        if (!diffs.isEmpty()) {
            throw new AssertionError("leaked: " + String.join("; ", diffs));
        }
        return s;
    }

    /** Everything churn could leak, per node and machine-wide. */
    record Snapshot(Map<String, Integer> fds, Map<String, Integer> threads, Map<String, Integer> sockets,
                    Map<String, Double> enrolled, double inFlight, Map<String, Integer> bpfEntries,
                    Map<String, Integer> podPins, int cgroupAttachments, List<String> netns, int podCgroups,
                    Map<String, Integer> workloads, Map<String, List<String>> certificates) {

        static Snapshot take() {
            Map<String, Integer> fds = new TreeMap<>();
            Map<String, Integer> threads = new TreeMap<>();
            Map<String, Integer> sockets = new TreeMap<>();
            Map<String, Double> enrolled = new TreeMap<>();
            Map<String, Integer> workloads = new TreeMap<>();
            Map<String, List<String>> certs = new TreeMap<>();
            double inFlight = 0;
            Ambitctl.Result status = Ambitctl.local("status");
            for (String node : NODES) {
                long pid = agentPid(status, node);
                fds.put(node, count(Path.of("/proc", String.valueOf(pid), "fd")));
                threads.put(node, count(Path.of("/proc", String.valueOf(pid), "task")));
                Metrics m = mesh.metrics(node);
                enrolled.put(node, m.value("ambit_agent_enrolled_pods"));
                inFlight += m.value("ambit_agent_draining_pods");
                // The agent's listening sockets, wherever they are (node or pod namespaces).
                Ambitctl.Result ss = Ambitctl.host(Duration.ofSeconds(10), "sh", "-c",
                        "for f in /proc/" + pid + "/fd/*; do readlink $f; done | grep -c socket: || true");
                sockets.put(node, Integer.parseInt(ss.out().strip().isEmpty() ? "0" : ss.out().strip()));
                JsonNode dump = mesh.configDump(node);
                workloads.put(node, dump.path("workloads").size());
                List<String> ids = new ArrayList<>();
                dump.path("certificates").forEach(c -> ids.add(c.path("identity").asText()));
                certs.put(node, ids.stream().sorted().toList());
            }
            Map<String, Integer> entries = new TreeMap<>();
            Map<String, Integer> pins = new TreeMap<>();
            for (String dir : List.of("node1", "node2", "svclb")) {
                for (String map : Leftovers.list(Leftovers.BPFFS.resolve(dir).resolve("maps"))) {
                    entries.put(dir + "/" + map, mapEntries(Leftovers.BPFFS.resolve(dir).resolve("maps").resolve(map)));
                }
                if (!dir.equals("svclb")) {
                    pins.put(dir, Leftovers.list(Leftovers.BPFFS.resolve(dir).resolve("pods")).size());
                }
            }
            Path podsCgroup = Leftovers.CGROUPS.stream().map(c -> c.resolve("pods")).filter(Files::isDirectory)
                    .findFirst().orElseThrow(() -> new AssertionError("no ambit-local/pods cgroup"));
            Ambitctl.Result tree = Ambitctl.host(Duration.ofSeconds(10), "bpftool", "cgroup", "tree",
                    podsCgroup.toString());
            int attachments = (int) tree.out().lines().filter(l -> l.startsWith(" ")).count();
            int podCgroups = (int) Leftovers.list(podsCgroup).stream().filter(n -> n.matches("[0-9a-f-]{36}")).count();
            return new Snapshot(fds, threads, sockets, enrolled, inFlight, entries, pins, attachments,
                    Leftovers.namespaces(), podCgroups, workloads, certs);
        }

        List<String> differencesFrom(Snapshot b) {
            List<String> d = new ArrayList<>();
            for (String node : NODES) {
                // Margins for the JVM's own descriptors and threads (GC, JIT, a timer), not per-pod ones.
                if (fds.get(node) > b.fds.get(node) + 4) {
                    d.add(node + " agent descriptors " + b.fds.get(node) + " -> " + fds.get(node));
                }
                if (threads.get(node) > b.threads.get(node) + 4) {
                    d.add(node + " agent threads " + b.threads.get(node) + " -> " + threads.get(node));
                }
                if (sockets.get(node) > b.sockets.get(node) + 2) {
                    d.add(node + " agent sockets " + b.sockets.get(node) + " -> " + sockets.get(node));
                }
            }
            compare(d, "enrolled pods", b.enrolled, enrolled);
            compare(d, "BPF map entries", b.bpfEntries, bpfEntries);
            compare(d, "pinned pods", b.podPins, podPins);
            compare(d, "cgroup BPF attachments", b.cgroupAttachments, cgroupAttachments);
            compare(d, "network namespaces", b.netns, netns);
            compare(d, "pod cgroups", b.podCgroups, podCgroups);
            compare(d, "workloads", b.workloads, workloads);
            compare(d, "certificates", b.certificates, certificates);
            return d;
        }

        private static void compare(List<String> d, String what, Object before, Object now) {
            if (!before.equals(now)) {
                d.add(what + " " + before + " -> " + now);
            }
        }
    }

    /** The node agent's pid, from {@code local status} (its PID column). */
    static long agentPid(Ambitctl.Result r, String node) {
        for (String line : r.out().split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length >= 5 && f[0].equals("agent") && f[1].equals(node)) {
                return Long.parseLong(f[4]);
            }
        }
        throw new AssertionError("no agent " + node + " in: " + r);
    }

    private static int count(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return (int) s.count();
        } catch (IOException e) {
            throw new AssertionError("cannot list " + dir + " (agent gone?)", e);
        }
    }

    /** Entries of a pinned map: {@code bpftool -j map dump pinned PATH}. */
    private static int mapEntries(Path pin) {
        Ambitctl.Result r = Ambitctl.host(Duration.ofSeconds(10), "bpftool", "-j", "map", "dump", "pinned", pin.toString());
        try {
            JsonNode list = LocalMesh.JSON.readTree(r.out());
            return list.size();
        } catch (IOException e) {
            throw new AssertionError("bpftool map dump " + pin + ": " + r, e);
        }
    }
}
