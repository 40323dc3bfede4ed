package dev.ambit.perf.l4;

import dev.ambit.testing.Host;
import dev.ambit.testing.TestNetwork;
import dev.ambit.testing.TestNetwork.Node;
import java.nio.file.Path;
import java.time.Duration;
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
}
