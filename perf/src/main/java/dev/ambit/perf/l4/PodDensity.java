package dev.ambit.perf.l4;

import dev.ambit.agent.AgentJvm;
import dev.ambit.agent.inpod.LocalSandboxes;
import dev.ambit.agent.inpod.PodSandbox;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.istiod.ca.NodeCredentials;
import dev.ambit.testing.Host;
import dev.ambit.testing.TestNetwork;
import dev.ambit.testing.TestNetwork.Node;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The node agent's resident memory against the number of pods it has enrolled (issue 18:
 * "a published figure of RSS per 1,000 pods enrolled"). For each step (default 0, 100, 200,
 * 400 pods besides one), a fresh istiod-lite and agent on a node of a {@link TestNetwork}
 * with that many ambient pods on the node: each a network namespace of its own (loopback
 * only: the agent's in-pod listeners bind 0.0.0.0 and 127.0.0.1) and a cgroup, announced as
 * {@code ambitctl local} announces pods ({@link LocalSandboxes}), ten pods per service
 * account (so a certificate per ten pods), all in the istiod-lite folder as Pods with
 * addresses of their own. Once the agent's {@code ambit_agent_enrolled_pods} reaches the
 * count, it idles 12 s (the JIT done, {@code TrimNativeHeapInterval} passed twice), then its
 * {@code VmRSS} is read five times a second for 5 s and the median kept. The slope of a
 * least-squares line through the steps is the figure: MiB per 1,000 pods. No traffic flows:
 * this is the cost of holding pods (three listeners each, their gate, workload and policy
 * state, eBPF map entries are kernel memory), not of serving them.
 *
 * <p>Root only; what it creates is removed at the end, also on failure. Usage:
 * {@code perf/run-density-bench.sh [--steps 0,100,200,400] [--agent-jvm "FLAGS"]}.
 */
public final class PodDensity {

    private PodDensity() {}

    public static void main(String[] args) throws Exception {
        List<Integer> steps = List.of(0, 100, 200, 400);
        List<String> jvm = AgentJvm.OPTIONS;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--steps" -> steps = Arrays.stream(args[++i].split(",")).map(String::trim)
                        .map(Integer::valueOf).toList();
                case "--agent-jvm" -> jvm = List.of(args[++i].trim().split("\\s+"));
                case "--help" -> {
                    System.out.println("usage: PodDensity [--steps N,N,...] [--agent-jvm FLAGS]");
                    return;
                }
                default -> throw new IllegalArgumentException("unknown option: " + args[i]
                        + " (expected: --steps, --agent-jvm, --help)");
            }
        }
        if (steps.isEmpty() || steps.stream().anyMatch(n -> n < 0 || n > 2000)) {
            throw new IllegalArgumentException("--steps: " + steps + " (expected: pod counts 0-2000)");
        }
        List<double[]> points = new ArrayList<>();
        for (int n : steps) {
            double mib = measure(n, jvm);
            points.add(new double[] {n, mib});
            System.out.printf(Locale.ROOT, "%5d pods besides one: agent RSS %.1f MiB%n", n, mib);
        }
        double slope = slope(points);
        System.out.printf(Locale.ROOT, "agent RSS per 1,000 pods enrolled: %.1f MiB (least squares over %s)%n",
                slope * 1000, steps);
    }

    /** Least-squares slope of {@code points} (x, y). */
    static double slope(List<double[]> points) {
        double mx = points.stream().mapToDouble(p -> p[0]).average().orElse(0);
        double my = points.stream().mapToDouble(p -> p[1]).average().orElse(0);
        double sxy = 0;
        double sxx = 0;
        for (double[] p : points) {
            sxy += (p[0] - mx) * (p[1] - my);
            sxx += (p[0] - mx) * (p[0] - mx);
        }
        return sxx == 0 ? Double.NaN : sxy / sxx;
    }

    /** The agent's median RSS, MiB, with {@code extra} pods enrolled besides one. */
    private static double measure(int extra, List<String> jvm) throws Exception {
        Path dir = Files.createTempDirectory("ambit-density-");
        List<String> namespaces = new ArrayList<>();
        List<Path> cgroups = new ArrayList<>();
        List<Proc> procs = new ArrayList<>();
        TestNetwork net = TestNetwork.create();
        try {
            Node cp = net.host("cpd");
            Node node = net.host("noded");
            Node first = net.pod("pd");
            Path pods = dir.resolve("pods");
            StringBuilder yaml = new StringBuilder(HEADER);
            LocalSandboxes.write(pods, new PodSandbox("dense", "pd", net.id() + "-pd", first.cgroup(), first.netns()));
            yaml.append(pod("pd", 0, BenchEnv.ip(first), node.name()));
            for (int i = 1; i <= extra; i++) {
                String ns = net.id() + "-d" + i;
                Host.run("ip", "netns", "add", ns);
                namespaces.add(ns);
                Host.run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up");
                Path cgroup = first.cgroup().resolveSibling("d" + i);
                Files.createDirectories(cgroup);
                cgroups.add(cgroup);
                String name = "d" + i;
                LocalSandboxes.write(pods, new PodSandbox("dense", name, ns, cgroup, Path.of("/run/netns", ns)));
                yaml.append(pod(name, i, "10.245." + (i / 250) + "." + (i % 250 + 2), node.name()));
            }
            Path config = Files.createDirectories(dir.resolve("config"));
            for (int sa = 0; sa <= extra / 10; sa++) {
                yaml.append("---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa").append(sa)
                        .append(", namespace: dense}\n");
            }
            Files.writeString(config.resolve("mesh.yaml"), yaml.toString());
            NodeCredentials.issue(dir.resolve("credentials"), node.name(), dir.resolve("token"));
            Path repo = Path.of(System.getProperty("ambit.repo", ".")).toAbsolutePath();
            Proc istiod = Proc.start("density-istiod", cp.netns(), null, null, dir.resolve("istiod.log"),
                    BenchEnv.istiodCommand(repo, dir, dir.resolve("credentials")));
            procs.add(istiod);
            BenchEnv.awaitListening(cp, istiod, Duration.ofSeconds(180), IstioPorts.ISTIOD_SECURE);
            List<String> cmd = BenchEnv.agentCommand(jvm, repo, dir, dir, node, cp, net.bpffsRoot(), List.of());
            Proc agent = Proc.start("density-agent", node.netns(), null, null, dir.resolve("agent.log"), cmd);
            procs.add(agent);
            awaitEnrolled(node, agent, extra + 1, Duration.ofSeconds(120 + extra / 5));
            Thread.sleep(12_000);
            long[] samples = new long[25];
            for (int i = 0; i < samples.length; i++) {
                samples[i] = ProcStats.rssKib(agent.pid());
                Thread.sleep(200);
            }
            Arrays.sort(samples);
            return samples[samples.length / 2] / 1024.0;
        } finally {
            for (int i = procs.size() - 1; i >= 0; i--) {
                procs.get(i).close();
            }
            for (String ns : namespaces) {
                Host.exec(10, "ip", "netns", "del", ns);
            }
            for (Path c : cgroups) {
                Files.deleteIfExists(c);
            }
            net.close(); // after the pods of its cgroup folder are gone
            Host.exec(10, "rm", "-rf", dir.toString());
        }
    }

    private static void awaitEnrolled(Node node, Proc agent, int pods, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        String last = "";
        while (System.nanoTime() < deadline) {
            if (!agent.isAlive()) {
                throw new IllegalStateException("the agent exited\n" + agent.tail(40));
            }
            last = BenchEnv.agentMetrics(node).lines().filter(l -> l.startsWith("ambit_agent_enrolled_pods")).findFirst().orElse("");
            if (!last.isEmpty() && (int) Double.parseDouble(last.substring(last.lastIndexOf(' ') + 1)) >= pods) {
                return;
            }
            Thread.sleep(500);
        }
        throw new IllegalStateException("the agent did not enroll " + pods + " pods in " + timeout + " (last: "
                + last + ")\n" + agent.tail(40));
    }

    private static final String HEADER = """
            apiVersion: v1
            kind: Namespace
            metadata: {name: dense, labels: {istio.io/dataplane-mode: ambient}}
            ---
            apiVersion: v1
            kind: Namespace
            metadata: {name: istio-system}
            """;

    private static String pod(String name, int i, String ip, String nodeName) {
        return """
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: %1$s, namespace: dense, labels: {app: a%4$d}}
                spec:
                  nodeName: %3$s
                  serviceAccountName: sa%4$d
                  containers: [{name: app, image: none}]
                status: {phase: Running, podIP: %2$s, podIPs: [{ip: %2$s}], conditions: [{type: Ready, status: "True"}]}
                """.formatted(name, ip, nodeName, i / 10);
    }
}
