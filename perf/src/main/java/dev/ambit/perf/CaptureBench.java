package dev.ambit.perf;

import dev.ambit.agent.redirect.EbpfRedirector;
import dev.ambit.agent.redirect.RedirectConfig;
import dev.ambit.testing.Host;
import dev.ambit.testing.TestNetwork;
import dev.ambit.testing.TestNetwork.Node;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Connections per second and connect latency from a pod with no capture, with Ambit's
 * eBPF capture, and with the same capture done by iptables REDIRECT, all in one run.
 * Must run as root: it builds a throw-away {@link TestNetwork} (namespaces, cgroups,
 * a bpffs folder) and removes it, whatever happens.
 *
 * <p>Scenarios, each measured {@value #RUNS} times after one uncounted warm-up round,
 * interleaved so drift hits all alike:
 * <ul>
 *   <li>{@code none}: the client in pod {@code c} connects to host {@code s}:8080, which
 *       answers one byte and closes;</li>
 *   <li>{@code ebpf}: pod {@code c} enrolled with {@link EbpfRedirector}; its connects land
 *       on an outbound listener in the pod, which must find s:8080 as the original
 *       destination, answers one byte and closes;</li>
 *   <li>{@code iptables}: a NAT REDIRECT rule in pod {@code ci} sends the same connects to
 *       the same kind of listener, which reads SO_ORIGINAL_DST.</li>
 * </ul>
 * The client is {@link ConnectLoad}, a separate process in the pod's cgroup (capture is
 * per cgroup). Captured connections end at the in-pod listener, as they do at the node
 * agent before it opens its upstream connection; so the ratios against {@code none} show
 * capture plus a loopback hop against one trip across the bridge.
 *
 * <p>Usage: {@code CaptureBench [RESULTS_JSON]}, default {@value #DEFAULT_RESULTS}
 * (relative to the working directory). Prints the table, writes the JSON, exits 1 if the
 * bench could not run (the figures are reported, not asserted), 2 if not root.
 */
public final class CaptureBench {

    /** Measured runs per scenario. */
    public static final int RUNS = 2;
    /** Upper bound of a run's measured time. */
    public static final double SECONDS = 4;
    /** Upper bound of a run's connections (and the size of the client's latency array). */
    public static final int MAX_CONNECTIONS = 15_000;
    public static final String DEFAULT_RESULTS = "perf/results/capture-latest.json";
    /**
     * Bounds of the uncounted round before the measured ones. The first runs otherwise
     * also time this JVM's listeners and lookups warming up, which lands on whichever
     * scenario goes first.
     */
    public static final double WARMUP_ROUND_SECONDS = 1;
    public static final int WARMUP_ROUND_CONNECTIONS = 5_000;

    private static final int SERVER_PORT = 8080;
    // Client JVM start, its warm-up and the longest run, with room to spare; a hung client is killed.
    private static final int CLIENT_TIMEOUT_SECONDS = (int) Math.ceil(SECONDS + ConnectLoad.WARMUP_SECONDS) + 30;

    private final EventLoopGroup group;

    private CaptureBench(EventLoopGroup group) {
        this.group = group;
    }

    public static void main(String[] args) {
        // An option (--help, or a flag meant for the L4 bench) is not a results path.
        if (args.length > 1 || (args.length == 1 && args[0].startsWith("-"))) {
            System.err.println("usage: CaptureBench [RESULTS_JSON] (default " + DEFAULT_RESULTS + ")");
            System.exit(args.length == 1 && (args[0].equals("--help") || args[0].equals("-h")) ? 0 : 2);
        }
        if (!"root".equals(System.getProperty("user.name"))) {
            System.err.println("CaptureBench must run as root: it creates network namespaces, cgroups and eBPF"
                    + " programs. Run: sudo perf/run-capture-bench.sh");
            System.exit(2);
        }
        Path results = Path.of(args.length == 1 ? args[0] : DEFAULT_RESULTS);
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        try {
            Report report = new CaptureBench(group).run();
            System.out.println();
            System.out.println(report.table());
            write(results, report.json());
            System.out.println("\nFigures written to " + results);
        } catch (Exception e) {
            System.err.println("CaptureBench failed: " + e.getMessage());
            e.printStackTrace();
            System.exit(1);
        } finally {
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    private Report run() throws Exception {
        Report.Environment env = environment();
        try (TestNetwork net = TestNetwork.create()) {
            Node client = net.pod("c");
            Node natClient = net.pod("ci");
            Node server = net.host("s");
            for (Node pod : List.of(client, natClient)) {
                widenEphemeralPorts(pod);
            }
            InetSocketAddress target = new InetSocketAddress(server.address(), SERVER_PORT);
            try (OneByteListener app = OneByteListener.plain(group, server.netns(),
                    new InetSocketAddress("0.0.0.0", SERVER_PORT));
                 EbpfRedirector redirector = EbpfRedirector.open(
                         RedirectConfig.builder().bpffsRoot(net.bpffsRoot()).build())) {
                List<Capture> captures = List.of(new NoCapture(client),
                        new EbpfCapture(group, redirector, client, target),
                        new IptablesCapture(group, natClient, target, redirector.config().outboundPort()));
                for (Capture c : captures) {
                    RunResult r = measure(net, c, app, target, 0, WARMUP_ROUND_SECONDS, WARMUP_ROUND_CONNECTIONS);
                    System.out.printf("warm-up  %-8s %8.0f conn/s  (not counted)%n", r.scenario(), r.load().cps());
                }
                List<RunResult> results = new ArrayList<>();
                for (int run = 1; run <= RUNS; run++) {
                    for (Capture c : captures) {
                        RunResult r = measure(net, c, app, target, run, SECONDS, MAX_CONNECTIONS);
                        System.out.printf("run %d/%d %-8s %8.0f conn/s  p50 %7.1f µs  errors %d%n", run, RUNS,
                                r.scenario(), r.load().cps(), r.load().p50Micros(), r.errors());
                        results.add(r);
                    }
                }
                return new Report(env, results);
            }
        }
    }

    /** One run of one scenario (run 0: warm-up): capture on, the load client in the pod, capture off. */
    private RunResult measure(TestNetwork net, Capture capture, OneByteListener app, InetSocketAddress target,
                              int run, double seconds, int maxConnections) throws Exception {
        long reachedServerBefore = app.accepted();
        List<String> command = clientCommand(target, seconds, maxConnections);
        Host.Result out;
        Mismatches mismatches = Mismatches.NONE;
        try {
            capture.start();
            out = net.inPod(capture.pod(), CLIENT_TIMEOUT_SECONDS, command.toArray(String[]::new));
        } finally {
            mismatches = capture.stop();
        }
        String where = "load client in pod " + capture.pod().name() + " (scenario " + capture.name() + ", run " + run
                + ")";
        if (!out.ok()) {
            throw new IllegalStateException(where + " exited " + out.exitCode()
                    + (out.exitCode() == -1 ? " (killed after " + CLIENT_TIMEOUT_SECONDS + " s)" : "")
                    + "; stderr: " + out.stderr().strip() + "; try it by hand: " + String.join(" ", command));
        }
        LoadResult load = LoadResult.find(out.stdout()).orElseThrow(() -> new IllegalStateException(where
                + " printed no result line; stdout: " + out.stdout().strip() + "; stderr: " + out.stderr().strip()));
        // With capture on, nothing may reach the real server: what did went around the capture.
        long bypassed = capture.intercepts() ? app.accepted() - reachedServerBefore : 0;
        Optional<String> note = Stream.of(
                        mismatches.first(),
                        bypassed > 0 ? Optional.of(bypassed + " connections reached " + target + " uncaptured")
                                : Optional.<String>empty(),
                        // The client's stderr names its first failure; without failures it is JVM chatter.
                        load.errors() == 0 ? Optional.<String>empty() : Optional.of(out.stderr().strip()))
                .flatMap(Optional::stream).findFirst();
        return new RunResult(capture.name(), run, load, mismatches.count(), bypassed, note);
    }

    /**
     * Gives the pod's connects the whole port range (the sysctls are per namespace and go
     * with it). With the default 28k ports, the iptables pod's second run reuses source
     * ports whose NAT conntrack entries still sit in TIME_WAIT, and pays for replacing
     * them: a cost of port reuse, not of capture, and it would land on run 2 only. The
     * agent's ports stay reserved, as Istio reserves them.
     */
    private static void widenEphemeralPorts(Node pod) {
        String ns = "--net=" + pod.netns();
        Host.run("nsenter", ns, "--", "sysctl", "-q", "-w", "net.ipv4.ip_local_reserved_ports=15000-15100");
        Host.run("nsenter", ns, "--", "sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=1024 65535");
    }

    /** This JVM, this classpath, as absolute paths: the client runs from the same build. */
    private static List<String> clientCommand(InetSocketAddress target, double seconds, int maxConnections) {
        String classpath = Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
                .map(p -> Path.of(p).toAbsolutePath().toString())
                .collect(Collectors.joining(File.pathSeparator));
        return List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", classpath, ConnectLoad.class.getName(),
                target.getAddress().getHostAddress(), Integer.toString(target.getPort()),
                Double.toString(seconds), Integer.toString(maxConnections));
    }

    private static Report.Environment environment() {
        Host.Result iptables = Host.exec(10, "iptables", "-V");
        return new Report.Environment(Instant.now().truncatedTo(ChronoUnit.SECONDS).toString(),
                System.getProperty("os.version"), Runtime.getRuntime().availableProcessors(),
                System.getProperty("java.version"),
                iptables.ok() ? iptables.stdout().strip() : "iptables -V failed: " + iptables.stderr().strip(),
                SECONDS, MAX_CONNECTIONS, ConnectLoad.WARMUP_SECONDS);
    }

    private static void write(Path results, String json) throws IOException {
        Path dir = results.toAbsolutePath().getParent();
        try {
            Files.createDirectories(dir);
            Files.writeString(results, json);
        } catch (IOException e) {
            throw new IOException("cannot write the results to " + results.toAbsolutePath()
                    + ": run from the repository root, or pass a writable path as the argument", e);
        }
    }
}
