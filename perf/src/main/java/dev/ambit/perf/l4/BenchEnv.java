package dev.ambit.perf.l4;

import dev.ambit.common.config.IstioPorts;
import dev.ambit.testing.Host;
import dev.ambit.testing.TestNetwork;
import dev.ambit.testing.TestNetwork.Node;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * What every scenario shares: the throw-away network, the work folder, and where services
 * run ({@link #serviceCpus}: {@code null} unless pinned).
 */
record BenchEnv(TestNetwork net, Path dir, String serviceCpus, String loadCpus, int workers, List<String> agentJvm,
                List<String> agentArgs) {

    /** Ports of the backend inside each server pod. */
    static final int HTTP_PORT = 80;
    static final int IPERF_PORT = 5201;
    /** The backend's h2c gRPC-ish port ({@link Backend}). */
    static final int GRPC_PORT = 50051;

    /** Whether something listens on TCP {@code port} in {@code node}'s namespace. */
    static boolean listening(Node node, int port) {
        Host.Result r = Host.exec(10, "nsenter", "--net=" + node.netns(), "--", "ss", "-ltnH", "sport", "= :" + port);
        return r.ok() && !r.stdout().isBlank();
    }

    /** Waits until every {@code ports} listens in {@code node}, or fails naming what did not, with the log. */
    static void awaitListening(Node node, Proc proc, Duration timeout, int... ports) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        for (int port : ports) {
            while (!listening(node, port)) {
                if (!proc.isAlive()) {
                    throw new IllegalStateException(proc.name() + " exited before listening on " + port + "\n"
                            + proc.tail(30));
                }
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException(proc.name() + " not listening on " + node.name() + ":" + port
                            + " after " + timeout.toSeconds() + " s\n" + proc.tail(30));
                }
                Thread.sleep(50);
            }
        }
    }

    static String ip(Node n) {
        return n.address().getHostAddress();
    }

    /** The JVM the bench itself runs on (JDK 25), for the processes it starts. */
    static Path java() {
        return Path.of(System.getProperty("java.home"), "bin", "java");
    }

    /**
     * istiod-lite as {@code ambitctl local} runs it, from {@code repo}'s build: the folder
     * {@code dir/config}, its CA in {@code dir/ca}, node tokens from {@code credentials}, all
     * addresses. A mutable list: a scenario may add flags.
     */
    static List<String> istiodCommand(Path repo, Path dir, Path credentials) {
        return new ArrayList<>(List.of(java().toString(), "-Xmx512m", "-XX:+UseSerialGC", "-jar",
                repo.resolve("istiod-lite/target/istiod-lite.jar").toString(),
                "--config-dir", dir.resolve("config").toString(), "--ca-dir", dir.resolve("ca").toString(),
                "--node-credentials", credentials.toString(), "--listen-address", "0.0.0.0"));
    }

    /**
     * A node agent of {@code repo}'s build on {@code node}, with {@code jvm} flags: its pods
     * folder, CNI socket and token in {@code nodeDir}, istiod-lite on {@code cp} trusted through
     * {@code dir/ca}, bpffs pins under {@code bpffsRoot/<node>}, then {@code extra} flags.
     */
    static List<String> agentCommand(List<String> jvm, Path repo, Path dir, Path nodeDir, Node node, Node cp,
                                     Path bpffsRoot, List<String> extra) {
        List<String> cmd = new ArrayList<>();
        cmd.add(java().toString());
        cmd.addAll(jvm);
        cmd.addAll(List.of("-jar", repo.resolve("node-agent/target/node-agent.jar").toString(),
                "--node", node.name(), "--pods-dir", nodeDir.resolve("pods").toString(),
                "--cni-socket", nodeDir.resolve("cni.sock").toString(),
                "--istiod", ip(cp) + ":" + IstioPorts.ISTIOD_SECURE,
                "--root-cert", dir.resolve("ca/ambit-root-cert.pem").toString(),
                "--token", nodeDir.resolve("token").toString(),
                "--bpffs-root", bpffsRoot.resolve(node.name()).toString(),
                "--cgroup-root", TestNetwork.cgroupRoot().toString()));
        cmd.addAll(extra);
        return cmd;
    }

    /** The flags after {@link #agentCommand}'s that every scenario's agents get: workers and {@code --agent-args}. */
    List<String> agentFlags() {
        List<String> flags = new ArrayList<>(List.of("--worker-threads", Integer.toString(workers)));
        flags.addAll(agentArgs);
        return flags;
    }

    /** The Prometheus text of the agent (or other proxy) serving 15020 in {@code node}'s namespace. */
    static String agentMetrics(Node node) {
        return Host.exec(10, "nsenter", "--net=" + node.netns(), "--", "curl", "-sf",
                "http://127.0.0.1:" + IstioPorts.MERGED_METRICS + "/metrics").stdout();
    }
}
