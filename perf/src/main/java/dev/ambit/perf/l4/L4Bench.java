package dev.ambit.perf.l4;

import dev.ambit.agent.AgentJvm;
import dev.ambit.testing.Host;
import dev.ambit.testing.TestNetwork;
import dev.ambit.testing.TestNetwork.Node;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Stream;

/**
 * The L4 path side by side with its peers and the physical limit, in one run: {@code direct}
 * (no proxy), {@code ambit-l4} (eBPF capture, agent, HBONE, agent), {@code haproxy-mtls},
 * {@code nginx-stream-mtls} and {@code stunnel-mtls} (pairs of TCP proxies speaking mutual
 * TLS 1.3 with ECDSA P-256 certificates), all in the same throw-away topology: a client pod
 * on node 1 and a server pod on node 2 (network namespaces and cgroups of a
 * {@link TestNetwork}) with nginx serving a 100-byte body (keep-alive) and an iperf3 server.
 *
 * <p>Loads, each run {@code --runs} times (default 2, interleaved over the scenarios so
 * drift hits all alike) after one uncounted warm-up per scenario: {@code wrk -t1 -c16
 * --latency} ({@code c16}), {@code wrk -t1 -c1 --latency} ({@code c1}, unloaded latency),
 * one iperf3 stream ({@code iperf}). Proxy CPU is utime + stime of the proxy processes over
 * the run; RSS is sampled every 100 ms.
 *
 * <p>Must run as root. Everything it creates carries {@link TestNetwork}'s prefix and is
 * removed at the end, also on failure. See {@code perf/run-l4-bench.sh} and
 * {@link #usage()}.
 */
public final class L4Bench {

    static final List<String> SCENARIOS = List.of("direct", "ambit-l4", "haproxy-mtls", "nginx-stream-mtls",
            "stunnel-mtls", "ambit-waypoint", "haproxy-l7", "nginx-l7", "ambit-ingress", "nginx-ingress",
            "haproxy-ingress");
    /**
     * Tracing's cost (issue 19), asked for by name only ({@code --scenarios}): {@code ambit-waypoint}
     * with a Telemetry sampling 0, 1 or 100 % of requests to a zipkin provider ({@link AmbitWaypoint}).
     */
    static final List<String> TRACING = List.of("ambit-waypoint-trace0", "ambit-waypoint-trace1",
            "ambit-waypoint-trace100");
    static final List<String> LOADS = List.of("c16", "c1", "iperf", "grpc", Measurement.TLS_NEW,
            Measurement.TLS_FULL);
    /** The node agent's JVM flags: the ones it is sized for ({@link AgentJvm#OPTIONS}), as {@code ambitctl local} uses. */
    static final List<String> AGENT_JVM = AgentJvm.OPTIONS;

    record Options(double seconds, int runs, double warmup, boolean pin, List<String> scenarios, List<String> loads,
                   Path out, int workers, List<String> agentJvm, boolean keep, Path repo, Path jfr, Path profile,
                   Path baseline, List<String> agentArgs, int waypointWorkers, List<String> waypointJvm) {}

    static String usage() {
        return """
                usage: L4Bench [options]
                  --duration S      seconds per measured run (default 10)
                  --runs N          measured runs per scenario and load (default 2)
                  --warmup S        uncounted wrk -c16 seconds per scenario before the runs (default 20)
                  --pin             services (proxies, backend, agents, istiod-lite) on CPU 0, load on CPU 1
                  --scenarios LIST  comma-separated subset of %s
                                    (or by name only: %s, tracing's cost)
                  --loads LIST      comma-separated subset of %s
                  --workers N       worker threads/processes per proxy (default 1; agent --worker-threads)
                  --waypoint-workers N  the waypoint's --worker-threads (default 0: its own default, one per core)
                  --waypoint-jvm FLAGS  the waypoint's JVM flags, space-separated (default: %s)
                  --agent-jvm FLAGS the node agent's JVM flags, space-separated (default: %s)
                  --agent-args ARGS extra node agent arguments, space-separated (e.g. "--transport io_uring")
                  --out FILE        results (default perf/results/latest.json; details beside it)
                  --keep            keep the work folder (configs, logs) instead of deleting it
                  --repo DIR        the repository root with the built jars (default .)
                  --baseline DIR    also run ambit-l4-base (ambit-waypoint-base, ambit-ingress-base with those): Ambit
                                    built in DIR (another checkout, after mvn -o -q package -DskipTests
                                    there), same flags, same run: before/after
                  --jfr DIR         record the agents (and the waypoint) with JFR (settings=profile) over the measured runs,
                                    into DIR/<scenario>-agent-<node>.jfr
                  --profile DIR     CPU-profile the agents (and the waypoint) with async-profiler over the measured runs
                                    (Java and native frames): DIR/<scenario>-agent-<node>.collapsed and .html
                """.formatted(String.join(",", SCENARIOS), String.join(",", TRACING), String.join(",", LOADS),
                String.join(" ", AmbitWaypoint.WAYPOINT_JVM), String.join(" ", AGENT_JVM));
    }

    static Options parse(String[] args) {
        double seconds = 10;
        int runs = 2;
        double warmup = 20;
        boolean pin = false;
        boolean keep = false;
        List<String> scenarios = SCENARIOS;
        List<String> loads = LOADS;
        Path out = Path.of("perf/results/latest.json");
        int workers = 1;
        List<String> agentJvm = AGENT_JVM;
        Path repo = Path.of(".");
        Path jfr = null;
        Path profile = null;
        Path baseline = null;
        List<String> agentArgs = List.of();
        int waypointWorkers = 0;
        List<String> waypointJvm = AmbitWaypoint.WAYPOINT_JVM;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            Function<String, String> next = what -> {
                throw new IllegalArgumentException(a + " needs " + what);
            };
            String v = i + 1 < args.length ? args[i + 1] : null;
            switch (a) {
                case "--pin" -> pin = true;
                case "--keep" -> keep = true;
                case "--help", "-h" -> throw new IllegalArgumentException("");
                default -> {
                    if (v == null) {
                        next.apply("a value");
                    }
                    i++;
                    switch (a) {
                        case "--duration" -> seconds = Double.parseDouble(v);
                        case "--runs" -> runs = Integer.parseInt(v);
                        case "--warmup" -> warmup = Double.parseDouble(v);
                        case "--scenarios" -> scenarios = subset(v, Stream.concat(SCENARIOS.stream(), TRACING.stream())
                                .toList(), "scenario");
                        case "--loads" -> loads = subset(v, LOADS, "load");
                        case "--workers" -> workers = Integer.parseInt(v);
                        case "--agent-jvm" -> agentJvm = List.of(v.trim().split("\\s+"));
                        case "--out" -> out = Path.of(v);
                        case "--repo" -> repo = Path.of(v);
                        case "--jfr" -> jfr = Path.of(v).toAbsolutePath();
                        case "--profile" -> profile = Path.of(v).toAbsolutePath();
                        case "--baseline" -> baseline = Path.of(v).toAbsolutePath();
                        case "--agent-args" -> agentArgs = List.of(v.trim().split("\\s+"));
                        case "--waypoint-workers" -> waypointWorkers = Integer.parseInt(v);
                        case "--waypoint-jvm" -> waypointJvm = List.of(v.trim().split("\\s+"));
                        default -> throw new IllegalArgumentException("unknown option " + a);
                    }
                }
            }
        }
        if (seconds < 1 || runs < 1 || warmup < 0 || workers < 1 || waypointWorkers < 0) {
            throw new IllegalArgumentException("--duration >= 1, --runs >= 1, --warmup >= 0, --workers >= 1,"
                    + " --waypoint-workers >= 0");
        }
        return new Options(seconds, runs, warmup, pin, scenarios, loads, out, workers, agentJvm, keep, repo, jfr, profile, baseline,
                agentArgs, waypointWorkers, waypointJvm);
    }

    private static List<String> subset(String v, List<String> all, String what) {
        List<String> chosen = new ArrayList<>();
        for (String s : v.split(",")) {
            if (!all.contains(s.trim())) {
                throw new IllegalArgumentException("unknown " + what + " " + s + " (expected one of " + all + ")");
            }
            chosen.add(s.trim());
        }
        // The canonical order, whatever order they were given in.
        return all.stream().filter(chosen::contains).toList();
    }

    public static void main(String[] args) {
        Options o;
        try {
            o = parse(args);
        } catch (IllegalArgumentException e) {
            if (!e.getMessage().isEmpty()) {
                System.err.println(e.getMessage());
            }
            System.err.print(usage());
            System.exit(2);
            return;
        }
        if (!"root".equals(System.getProperty("user.name"))) {
            System.err.println("L4Bench must run as root (network namespaces, cgroups, eBPF): sudo perf/run-l4-bench.sh");
            System.exit(2);
        }
        List<String> missing = Stream.of("wrk", "iperf3", "haproxy", "nginx", "stunnel4", "h2load", "openssl", "taskset",
                "nsenter", "curl", "ss").filter(t -> !Host.exec(5, "sh", "-c", "command -v " + t).ok()).toList();
        if (!missing.isEmpty() || !Files.isRegularFile(Path.of("/usr/lib/nginx/modules/ngx_stream_module.so"))) {
            System.err.println("missing: " + missing + " (and/or nginx's stream module): make bench-deps installs"
                    + " haproxy nginx-light libnginx-mod-stream stunnel4 wrk iperf3 nghttp2-client");
            System.exit(2);
        }
        for (String jar : List.of("node-agent/target/node-agent.jar", "istiod-lite/target/istiod-lite.jar",
                "waypoint-proxy/target/waypoint-proxy.jar")) {
            boolean ingress = o.scenarios().contains("ambit-ingress") || o.scenarios().stream().anyMatch(TRACING::contains);
            boolean needed = jar.startsWith("waypoint") ? o.scenarios().contains("ambit-waypoint") || ingress
                    : o.scenarios().contains("ambit-l4") || o.scenarios().contains("ambit-waypoint") || ingress;
            if (needed && !Files.isRegularFile(o.repo().resolve(jar))) {
                System.err.println(o.repo().resolve(jar) + " missing: build first (mvn -o -q package -DskipTests)");
                System.exit(2);
            }
            if (o.baseline() != null && (!jar.startsWith("waypoint") || ingress
                    || o.scenarios().contains("ambit-waypoint"))
                    && !Files.isRegularFile(o.baseline().resolve(jar))) {
                System.err.println("--baseline: " + o.baseline().resolve(jar) + " missing: build that checkout first");
                System.exit(2);
            }
        }
        try {
            L4Report report = run(o);
            System.out.println();
            System.out.println(report.table());
            Files.createDirectories(o.out().toAbsolutePath().getParent());
            Files.writeString(o.out(), report.json());
            Path details = o.out().resolveSibling(o.out().getFileName().toString().replace(".json", "")
                    + "-details.json");
            Files.writeString(details, report.detailsJson());
            System.out.println("Figures written to " + o.out() + " (details: " + details + ")");
        } catch (Exception e) {
            System.err.println("L4Bench failed: " + e.getMessage());
            e.printStackTrace();
            System.exit(1);
        }
    }

    static L4Report run(Options o) throws Exception {
        String loadavg = Files.readString(Path.of("/proc/loadavg")).strip();
        Path dir = Files.createTempDirectory("ambit-l4-bench-");
        List<Measurement> results = new ArrayList<>();
        boolean ok = false;
        // Ctrl-C or SIGTERM skip the finally blocks: the shutdown hook closes the same things.
        Teardown open = new Teardown();
        Thread hook = new Thread(open, "l4-bench-teardown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            TestNetwork net = TestNetwork.create();
            open.add(net);
            BenchEnv env = new BenchEnv(net, dir, o.pin() ? "0" : null, o.pin() ? "1" : null, o.workers(),
                    o.agentJvm(), o.agentArgs());
            Node client = net.pod("c");
            Node server = net.pod("s");
            List<Scenario> scenarios = new ArrayList<>();
            try {
                Backend backend = Backend.start(env, server);
                open.add(backend);
                int port = 10001;
                List<String> names = new ArrayList<>(o.scenarios());
                if (o.baseline() != null && names.contains("ambit-l4")) {
                    names.add(names.indexOf("ambit-l4") + 1, "ambit-l4-base");
                }
                if (o.baseline() != null && names.contains("ambit-waypoint")) {
                    names.add(names.indexOf("ambit-waypoint") + 1, "ambit-waypoint-base");
                }
                if (o.baseline() != null && names.contains("ambit-ingress")) {
                    names.add(names.indexOf("ambit-ingress") + 1, "ambit-ingress-base");
                }
                for (String name : names) {
                    Scenario s = switch (name) {
                        case "direct" -> new Direct(client, server);
                        case "ambit-l4" -> ambit(name, env, open, o.repo(), "cp", "node1", "node2", "ca", "sa");
                        case "ambit-l4-base" -> ambit(name, env, open, o.baseline(), "cpb", "node3", "node4", "cb",
                                "sb");
                        case "haproxy-mtls" -> new PeerPair(name, PeerPair.Kind.HAPROXY, env, client, server, port++);
                        case "nginx-stream-mtls" -> new PeerPair(name, PeerPair.Kind.NGINX_STREAM, env, client,
                                server, port++);
                        case "stunnel-mtls" -> new PeerPair(name, PeerPair.Kind.STUNNEL, env, client, server, port++);
                        case "ambit-waypoint", "ambit-waypoint-trace0", "ambit-waypoint-trace1",
                             "ambit-waypoint-trace100" -> waypoint(name, env, open, o.repo(), o.waypointWorkers(),
                                o.waypointJvm());
                        case "ambit-waypoint-base" -> waypoint(name, env, open, o.baseline(), o.waypointWorkers(),
                                o.waypointJvm());
                        case "haproxy-l7" -> new L7Pair(name, L7Pair.Kind.HAPROXY, env, client, server, port++);
                        case "nginx-l7" -> new L7Pair(name, L7Pair.Kind.NGINX, env, client, server, port++);
                        case "ambit-ingress" -> ingress(name, env, open, client, o.repo(), o.waypointWorkers(),
                                o.waypointJvm(), "");
                        case "ambit-ingress-base" -> ingress(name, env, open, client, o.baseline(),
                                o.waypointWorkers(), o.waypointJvm(), "b");
                        case "nginx-ingress" -> new IngressProxy(name, IngressProxy.Kind.NGINX, env, client,
                                net.host("ingn"), server);
                        case "haproxy-ingress" -> new IngressProxy(name, IngressProxy.Kind.HAPROXY, env, client,
                                net.host("ingh"), server);
                        default -> throw new IllegalArgumentException(name);
                    };
                    open.add(s);
                    System.out.println("starting " + name);
                    s.start();
                    scenarios.add(s);
                }
                for (Scenario s : scenarios) {
                    check(env, s);
                }
                Runner runner = new Runner(env, o);
                for (Scenario s : scenarios) {
                    runner.warmUp(s);
                }
                Jfr jfr = o.jfr() == null ? null : Jfr.start(o.jfr(), scenarios);
                AsyncProfiler profiler = o.profile() == null ? null : AsyncProfiler.start(o.profile(), scenarios);
                for (int run = 1; run <= o.runs(); run++) {
                    for (Scenario s : scenarios) {
                        for (String load : o.loads()) {
                            if (!Runner.applies(s, load)) {
                                continue;
                            }
                            Measurement m = runner.measure(s, load, run);
                            results.add(m);
                            System.out.println(Runner.describe(m));
                        }
                    }
                }
                if (jfr != null) {
                    jfr.stop();
                }
                if (profiler != null) {
                    profiler.stop();
                }
                ok = true;
            } finally {
                open.run();
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException shuttingDown) {
                    // the hook is running or has run: nothing left to close
                }
            }
        } finally {
            if (o.keep() || !ok) {
                System.out.println("work folder (configs, logs): " + dir);
            } else {
                deleteTree(dir);
            }
        }
        return new L4Report(new L4Report.Environment(Instant.now().truncatedTo(ChronoUnit.SECONDS).toString(),
                System.getProperty("os.version"), Runtime.getRuntime().availableProcessors(),
                System.getProperty("java.version"), loadavg, o.pin(), o.seconds(), o.runs(), o.warmup(), o.workers(),
                o.agentJvm(), o.agentArgs(), o.jfr() != null || o.profile() != null, versions()), results);
    }

    /** One request through the scenario must return the backend's 100 bytes. */
    private static void check(BenchEnv env, Scenario s) throws InterruptedException {
        String got = "";
        for (int i = 0; i < 50; i++) {
            List<String> curl = new ArrayList<>(List.of("curl", "-s", "-m", "5"));
            curl.addAll(s.curlOptions());
            curl.add(s.httpUrl());
            Host.Result r = env.net().inPod(s.client(), 10, Runner.resolving(env, s, curl));
            got = r.stdout();
            if (got.equals(Backend.BODY)) {
                return;
            }
            Thread.sleep(200);
        }
        StringBuilder logs = new StringBuilder();
        s.proxies().forEach(p -> logs.append('\n').append(p.tail(30)));
        throw new IllegalStateException(s.name() + ": " + s.httpUrl() + " from pod " + s.client().name()
                + " answered " + got.length() + " bytes, not the backend's 100" + logs);
    }

    private static Map<String, String> versions() {
        Map<String, String> v = new LinkedHashMap<>();
        v.put("wrk", first(Host.exec(5, "wrk", "-v"), 0));
        v.put("iperf3", first(Host.exec(5, "iperf3", "-v"), 0));
        v.put("haproxy", first(Host.exec(5, "haproxy", "-v"), 0));
        v.put("nginx", first(Host.exec(5, "nginx", "-v"), 0));
        v.put("stunnel", containing(Host.exec(5, "stunnel4", "-version"), "stunnel "));
        v.put("h2load", first(Host.exec(5, "h2load", "--version"), 0));
        v.put("openssl", first(Host.exec(5, "openssl", "version"), 0));
        return v;
    }

    private static String first(Host.Result r, int line) {
        String all = (r.stdout() + "\n" + r.stderr()).strip();
        return Arrays.stream(all.split("\n")).map(String::strip).filter(l -> !l.isEmpty()).skip(line).findFirst()
                .orElse("?");
    }

    private static String containing(Host.Result r, String word) {
        return Arrays.stream((r.stdout() + "\n" + r.stderr()).split("\n")).map(String::strip)
                .filter(l -> l.contains(word)).findFirst().orElse("?");
    }

    /**
     * An Ambit build ({@code repo}) on hosts and pods of its own, named as given: istiod-lite on
     * {@code cp}, agents on two nodes, and a client and a server pod with their own backend.
     */
    private static AmbitL4 ambit(String name, BenchEnv env, Teardown open, Path repo, String cp, String node1,
                                 String node2, String client, String server) throws Exception {
        TestNetwork net = env.net();
        Node cpHost = net.host(cp);
        Node host1 = net.host(node1);
        Node host2 = net.host(node2);
        Node meshClient = net.pod(client);
        Node meshServer = net.pod(server);
        open.add(Backend.start(env, meshServer));
        return new AmbitL4(name, env, repo, cpHost, host1, host2, meshClient, meshServer);
    }

    /**
     * {@code ambit-waypoint} on hosts and pods of its own: istiod-lite on {@code cpw}, agents
     * on {@code nodew1} and {@code nodew2}, the waypoint on {@code wp} (a third node), a client
     * and a server pod with their own backend.
     */
    private static AmbitWaypoint waypoint(String name, BenchEnv env, Teardown open, Path repo, int workers,
                                          List<String> jvm) throws Exception {
        TestNetwork net = env.net();
        // tracing (issue 19): ambit-waypoint-traceP samples P % on hosts of its own (names: 6 characters at most).
        int i = TRACING.indexOf(name);
        boolean traced = i >= 0;
        String b = name.endsWith("-base") ? "b" : ""; // --baseline's build, beside the current one
        Node cpHost = net.host(traced ? "cpt" + i : "cpw" + b);
        Node host1 = net.host(traced ? "nta" + i : b.isEmpty() ? "nodew1" : "nwb1");
        Node host2 = net.host(traced ? "ntb" + i : b.isEmpty() ? "nodew2" : "nwb2");
        Node wp = net.host(traced ? "wpt" + i : "wp" + b);
        Node meshClient = net.pod(traced ? "ct" + i : "cw" + b);
        Node meshServer = net.pod(traced ? "st" + i : "sw" + b);
        open.add(Backend.start(env, meshServer));
        return new AmbitWaypoint(name, env, repo, cpHost, host1, host2, wp, meshClient, meshServer, workers, jvm,
                traced ? Integer.parseInt(name.substring("ambit-waypoint-trace".length())) : -1);
    }

    /**
     * {@code ambit-ingress} on hosts and pods of its own: istiod-lite on {@code cpi}, the gateway
     * on {@code gwi} (an uncaptured istio-system pod's node), the server's agent on {@code nodei}
     * and the server pod {@code si} with its own backend; the client is the shared client pod
     * (outside the mesh, as a user's machine is).
     */
    private static AmbitIngress ingress(String name, BenchEnv env, Teardown open, Node client, Path repo,
                                        int workers, List<String> jvm, String suffix) throws Exception {
        TestNetwork net = env.net();
        Node cpHost = net.host("cpi" + suffix);
        Node gateway = net.host("gwi" + suffix);
        Node node = net.host("nodei" + suffix);
        Node meshServer = net.pod("si" + suffix);
        open.add(Backend.start(env, meshServer));
        return new AmbitIngress(name, env, repo, cpHost, gateway, node, client, meshServer, workers, jvm);
    }

    /** Closes what a run opened, in reverse order and once: at the end of the run, or from the shutdown hook. */
    private static final class Teardown implements Runnable {
        private final List<AutoCloseable> open = new ArrayList<>();
        private boolean done;

        synchronized void add(AutoCloseable c) {
            open.add(c);
        }

        @Override
        public synchronized void run() {
            if (done) {
                return;
            }
            done = true;
            for (int i = open.size() - 1; i >= 0; i--) {
                try {
                    open.get(i).close();
                } catch (Exception e) {
                    System.err.println("closing: " + e);
                }
            }
        }
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted((a, b) -> b.getNameCount() - a.getNameCount()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // best effort
                }
            });
        } catch (IOException ignored) {
            // best effort
        }
    }
}
