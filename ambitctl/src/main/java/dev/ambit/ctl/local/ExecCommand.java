package dev.ambit.ctl.local;

import static dev.ambit.ctl.local.LocalCommand.err;
import static dev.ambit.ctl.local.LocalCommand.out;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code ambitctl local exec}: a command inside a pod or a node, its output and exit code passed through. */
@Command(name = "exec", mixinStandardHelpOptions = true,
        description = {"Runs a command inside a pod (its network and UTS namespaces, cgroup, /etc/hosts,",
                "and its first container's environment):",
                "  exec [-n NS] POD|deploy/NAME -- CMD...",
                "or inside a node's namespace:  exec --node NODE -- CMD..."})
final class ExecCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin ClusterOptions cluster;

    @Option(names = {"-n", "--namespace"}, description = "The pod's namespace (default: default).")
    String namespace;

    @Option(names = "--node", paramLabel = "NODE", description = "Run in this node's namespace instead of a pod.")
    String node;

    @Option(names = {"-i", "--stdin"}, description = "Pass stdin to the command (default: /dev/null).")
    boolean stdin;

    @Option(names = "--timeout", paramLabel = "DURATION", description = "Kill the command after this long, e.g. 30s.")
    String timeout;

    @Parameters(paramLabel = "[POD] -- CMD", description = "The pod (unless --node), then the command.")
    List<String> args = List.of();

    @Override
    public Integer call() throws Exception {
        StateDir state = cluster.state();
        ClusterInfo info = ClusterInfo.require(state);
        List<String> rest = new ArrayList<>(args);
        ProcessBuilder pb;
        if (node != null) {
            ClusterInfo.Node n = info.node(node).orElseThrow(() -> new LocalException("node " + node
                    + " not found (nodes: " + info.nodeNames() + ")"));
            List<String> cmd = command(rest);
            List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", n.netns()));
            full.addAll(cmd);
            pb = new ProcessBuilder(full).redirectErrorStream(false);
        } else {
            if (rest.isEmpty() || rest.getFirst().equals("--")) {
                throw new LocalException("exec: missing POD (expected: exec [-n NS] POD|deploy/NAME -- CMD...)");
            }
            String target = rest.removeFirst();
            ClusterStatus.Pod pod = ClusterStatus.require(state).pod(namespace != null ? namespace : "default", target);
            if (!pod.phase().equals("Running") || pod.netns().isEmpty()) {
                throw new LocalException("pod " + pod.key() + " is " + pod.phase()
                        + (pod.reason().isEmpty() ? "" : " (" + pod.reason() + ")") + ": exec needs a running pod");
            }
            Map<String, String> env = pod.containers().isEmpty() ? Map.of() : pod.containers().getFirst().env();
            pb = PodSupervisor.podProcess(Path.of(pod.cgroup()), pod.netns(), command(rest), env, "/");
            pb.redirectErrorStream(false);
        }
        pb.redirectInput(stdin ? ProcessBuilder.Redirect.INHERIT : ProcessBuilder.Redirect.from(new File("/dev/null")));
        Process p = pb.start();
        Thread o = pump(p.getInputStream(), out(spec));
        Thread e = pump(p.getErrorStream(), err(spec));
        boolean finished;
        if (timeout != null) {
            finished = p.waitFor(Durations.parse("--timeout", timeout).toMillis(), TimeUnit.MILLISECONDS);
            if (!finished) {
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
            }
        } else {
            p.waitFor();
            finished = true;
        }
        o.join(5000);
        e.join(5000);
        out(spec).flush();
        err(spec).flush();
        if (!finished) {
            err(spec).println("error: command killed after " + timeout);
            return 124;
        }
        return p.exitValue();
    }

    private static List<String> command(List<String> rest) {
        List<String> cmd = new ArrayList<>(rest);
        if (!cmd.isEmpty() && cmd.getFirst().equals("--")) {
            cmd.removeFirst();
        }
        if (cmd.isEmpty()) {
            throw new LocalException("exec: missing command (expected: ... -- CMD [ARGS...])");
        }
        return cmd;
    }

    private static Thread pump(InputStream in, PrintWriter to) {
        return Thread.ofPlatform().daemon().start(() -> {
            try (Reader r = new java.io.InputStreamReader(in, StandardCharsets.UTF_8)) {
                char[] buf = new char[8192];
                int n;
                while ((n = r.read(buf)) >= 0) {
                    synchronized (to) {
                        to.write(buf, 0, n);
                        to.flush();
                    }
                }
            } catch (IOException ignored) {
                // The process is gone.
            }
        });
    }
}
