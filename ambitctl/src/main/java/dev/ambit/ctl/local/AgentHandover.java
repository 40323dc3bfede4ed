package dev.ambit.ctl.local;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code ambitctl local handover NODE}: replaces a node's agent the way a DaemonSet's rolling
 * update does with {@code maxSurge: 1}: a second agent process starts beside the running one
 * (same command line, or another build's jar: an upgrade or a downgrade), takes its pods over
 * through the node's hand-over socket, and the old one drains and exits. Prints each pod's
 * takeover time as the new agent logs it.
 */
final class AgentHandover {

    private AgentHandover() {
    }

    @picocli.CommandLine.Command(name = "handover", mixinStandardHelpOptions = true,
            description = {"Replaces a node's running agent by a new agent process that takes its pods over",
                    "(SO_REUSEPORT listeners in each pod, capture moved, old listeners closed): no connection is",
                    "refused, open ones drain on the old agent, which then exits. --agent-jar runs another build."})
    static final class Command implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin ClusterOptions cluster;

        @Parameters(paramLabel = "NODE", description = "The node (node1, or agent-node1).")
        String node;

        @Option(names = "--agent-jar", paramLabel = "JAR",
                description = "The new agent's jar (default: the cluster's build): an upgrade or a downgrade.")
        Path agentJar;

        @Option(names = "--timeout", defaultValue = "60s",
                description = "How long the hand-over and the old agent's drain may take (default: ${DEFAULT-VALUE}).")
        String timeout;

        @Override
        public Integer call() {
            run(cluster.state(), node, agentJar, Durations.parse("--timeout", timeout), LocalCommand.out(spec));
            return 0;
        }
    }

    /** Starts the new agent, follows its hand-over log lines, returns once the old agent has exited. */
    static void run(StateDir state, String nodeName, Path agentJar, Duration timeout, PrintWriter out) {
        LocalCluster.requireRoot();
        ClusterInfo info = ClusterInfo.require(state);
        LocalCluster.Target target = LocalCluster.Target.parse(nodeName, info.nodeNames());
        if (target.component() != LocalCluster.Component.AGENT) {
            throw new LocalException(nodeName + ": not a node (expected one of " + String.join(", ", info.nodeNames()) + ")");
        }
        ClusterInfo.Node n = info.node(target.node()).orElseThrow();
        ClusterInfo.Daemon old = n.agent();
        ProcessHandle oldProcess = old == null ? null : old.handle().orElse(null);
        if (oldProcess == null) {
            throw new LocalException("node agent " + n.name() + " is not running: nothing to hand over"
                    + " (ambitctl local start " + n.name() + " starts one)");
        }
        Path jar = agentJar != null ? agentJar.toAbsolutePath() : new Home(Path.of(info.home())).agentJar();
        Path log = state.agentLog(n.name());
        long offset = log.toFile().length();
        long start = System.nanoTime();
        ClusterInfo.Daemon agent = Daemons.start("node agent " + n.name() + " (hand-over from pid " + old.pid() + ")",
                n.netns(), LocalCluster.agentCommand(state, jar, n, info.cgroupRoot()), log);
        info.withNode(n.withAgent(agent)).write(state);
        out.println("node agent " + n.name() + ": pid " + agent.pid() + " takes over from pid " + old.pid());
        out.flush();
        long deadline = start + timeout.toNanos();
        while (oldProcess.isAlive() || !LocalCluster.agentReady(n)) {
            offset = follow(log, offset, out);
            if (!agent.alive()) {
                throw new LocalException("the new node agent (pid " + agent.pid() + ") exited; its log " + log
                        + " ends with:\n" + Daemons.tail(log, 15));
            }
            if (System.nanoTime() > deadline) {
                throw new LocalException("hand-over on " + n.name() + " not done after " + timeout.toSeconds() + " s (old"
                        + " agent " + (oldProcess.isAlive() ? "still running" : "gone") + "); " + log + " ends with:\n"
                        + Daemons.tail(log, 15));
            }
            Cgroups.sleep(50);
        }
        follow(log, offset, out);
        out.println("node agent " + n.name() + ": handed over to pid " + agent.pid() + "; pid " + old.pid()
                + " drained and exited after " + Duration.ofNanos(System.nanoTime() - start).toMillis() + " ms");
        out.flush();
    }

    /** Prints the hand-over lines logged after {@code offset}; returns the new offset (whole lines only). */
    private static long follow(Path log, long offset, PrintWriter out) {
        try (RandomAccessFile f = new RandomAccessFile(log.toFile(), "r")) {
            long length = f.length();
            if (length <= offset) {
                return offset;
            }
            byte[] b = new byte[(int) Math.min(length - offset, 1 << 20)];
            f.seek(offset);
            f.readFully(b);
            String text = new String(b, StandardCharsets.UTF_8);
            int end = text.lastIndexOf('\n');
            if (end < 0) {
                return offset;
            }
            for (String line : text.substring(0, end).split("\n")) {
                if (line.contains("taken over from agent pid") || line.contains("hand-over from agent pid")
                        || line.contains("cannot take it over")) {
                    out.println(line.strip());
                }
            }
            out.flush();
            return offset + text.substring(0, end + 1).getBytes(StandardCharsets.UTF_8).length;
        } catch (IOException e) {
            return offset;
        }
    }
}
