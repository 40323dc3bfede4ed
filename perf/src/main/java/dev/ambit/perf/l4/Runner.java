package dev.ambit.perf.l4;

import dev.ambit.testing.Host;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Runs the loads from inside the client pod and measures the proxies meanwhile. */
final class Runner {

    private final BenchEnv env;
    private final L4Bench.Options options;

    Runner(BenchEnv env, L4Bench.Options options) {
        this.env = env;
        this.options = options;
    }

    /** Uncounted: JIT compilation, pools, caches, TCP autotuning. */
    void warmUp(Scenario s) {
        if (options.warmup() <= 0) {
            return;
        }
        Host.Result r = load(s, wrk(s, 16, options.warmup()), options.warmup());
        Wrk w = Wrk.parse(r.stdout()).orElseThrow(() -> failure(s, "warm-up", r));
        System.out.printf(Locale.ROOT, "warm-up  %-18s %9.0f req/s (not counted)%n", s.name(), w.rps());
        if (options.loads().contains(Measurement.GRPC) && s.grpcUrl() != null) {
            Host.Result g = load(s, h2load(s, Math.max(2, options.warmup() / 4)), Math.max(2, options.warmup() / 4));
            H2load.parse(g.stdout()).orElseThrow(() -> failure(s, "warm-up h2load", g));
        }
        if (options.loads().contains(Measurement.IPERF) && s.carriesIperf()) {
            Host.Result i = load(s, iperf(s, 2), 2);
            Iperf.parse(i.stdout()).orElseThrow(() -> failure(s, "warm-up iperf3", i));
        }
        // A second, short pass over new connections. The JIT compiled the data path while the
        // first pass's connections stayed open; the first close and the next opens then take
        // branches that code never saw, and the JVMs throw away and recompile a few hundred
        // methods (-XX:+PrintCompilation: "made not entrant: uncommon trap" at the start of the
        // first measured run). Taking that here keeps the compiler out of the measured runs,
        // as on a proxy that has been up for a while.
        double settle = Math.min(5, Math.max(1, options.warmup() / 4));
        Host.Result again = load(s, wrk(s, 16, settle), settle);
        Wrk.parse(again.stdout()).orElseThrow(() -> failure(s, "warm-up (new connections)", again));
        if (options.loads().contains("c1")) {
            Host.Result one = load(s, wrk(s, 1, settle), settle);
            Wrk.parse(one.stdout()).orElseThrow(() -> failure(s, "warm-up c1", one));
        }
        // The handshake loads run code the keep-alive warm-up never reaches (a gateway's TLS
        // server handshake, new downstream connections, new tunnels): an async-profiler run
        // had the gateway's C2 compiler at 45 % of its samples during tls-new and tls-full.
        if (s.terminatesTls() && options.loads().contains(Measurement.TLS_NEW)) {
            Host.Result n = load(s, newConnections(s, settle), settle);
            Wrk.parse(n.stdout()).orElseThrow(() -> failure(s, "warm-up tls-new", n));
        }
        if (s.terminatesTls() && options.loads().contains(Measurement.TLS_FULL)) {
            Host.Result f = load(s, fullHandshakes(s, settle), settle);
            H2load.parse(f.stdout()).orElseThrow(() -> failure(s, "warm-up tls-full", f));
        }
    }

    /** Whether {@code load} applies to {@code s}: iperf3 to byte paths, grpc where there is a gRPC path. */
    static boolean applies(Scenario s, String load) {
        return switch (load) {
            case Measurement.IPERF -> s.carriesIperf();
            case Measurement.GRPC -> s.grpcUrl() != null;
            case Measurement.TLS_NEW, Measurement.TLS_FULL -> s.terminatesTls();
            default -> true;
        };
    }

    Measurement measure(Scenario s, String load, int run) {
        List<Long> pids = s.proxies().stream().map(Proc::pid).toList();
        List<String> command = switch (load) {
            case Measurement.IPERF -> iperf(s, options.seconds());
            case Measurement.GRPC -> h2load(s, options.seconds());
            case Measurement.TLS_NEW -> newConnections(s, options.seconds());
            case Measurement.TLS_FULL -> fullHandshakes(s, options.seconds());
            default -> wrk(s, load.equals("c16") ? 16 : 1, options.seconds());
        };
        long[] cpuEachBefore = cpuEach(pids);
        long cpuBefore = sum(cpuEachBefore);
        Proc l7 = s.l7Proxy();
        Map<Long, Long> threadsBefore = l7 == null ? Map.of() : ProcStats.threadCpuMillis(l7.pid(), WORKER_THREADS);
        long start = System.nanoTime();
        Host.Result r;
        long[] rss;
        try (ProcStats.RssSampler sampler = new ProcStats.RssSampler(pids, 100)) {
            r = load(s, command, options.seconds());
            sampler.close();
            rss = sampler.peaks();
        }
        long wall = (System.nanoTime() - start) / 1_000_000;
        long[] cpuEach = cpuEach(pids);
        long cpu = sum(cpuEach) - cpuBefore;
        for (int i = 0; i < cpuEach.length; i++) {
            cpuEach[i] -= cpuEachBefore[i];
        }
        long[] threads = l7 == null ? new long[0]
                : ProcStats.threadDeltas(threadsBefore, ProcStats.threadCpuMillis(l7.pid(), WORKER_THREADS));
        int connections = l7 == null ? -1 : establishedTo(s);
        for (Proc p : s.proxies()) {
            if (!p.isAlive()) {
                throw new IllegalStateException(s.name() + ": " + p.name() + " died during " + load + "\n" + p.tail(40));
            }
        }
        if (load.equals(Measurement.IPERF)) {
            Iperf i = Iperf.parse(r.stdout()).orElseThrow(() -> failure(s, load, r));
            return new Measurement(s.name(), load, run, cpu, rss, wall, null, i, cpuEach, null, threads, connections);
        }
        if (load.equals(Measurement.GRPC) || load.equals(Measurement.TLS_FULL)) {
            H2load h = H2load.parse(r.stdout()).orElseThrow(() -> failure(s, load, r));
            return new Measurement(s.name(), load, run, cpu, rss, wall, null, null, cpuEach, h, threads, connections);
        }
        Wrk w = Wrk.parse(r.stdout()).orElseThrow(() -> failure(s, load, r));
        return new Measurement(s.name(), load, run, cpu, rss, wall, w, null, cpuEach, null, threads, connections);
    }

    /** The L7 proxy's event loops: proxy-core's {@code Transport.newEventLoopGroup(n, "ambit-worker")}. */
    static final String WORKER_THREADS = "ambit-worker";

    /** TCP connections established to the L7 proxy's listening port, counted in its namespace. */
    private static int establishedTo(Scenario s) {
        Host.Result r = Host.exec(10, "nsenter", "--net=" + s.l7Node().netns(), "--", "ss", "-tnH", "state",
                "established", "sport", "= :" + s.l7Port());
        return r.ok() ? (int) r.stdout().lines().filter(l -> !l.isBlank()).count() : -1;
    }

    static String describe(Measurement m) {
        if (m.iperf() != null) {
            return String.format(Locale.ROOT, "run %d %-18s %-5s %8.2f Gbit/s  proxy CPU %.2f cores  RSS %.1f MiB",
                    m.run(), m.scenario(), m.load(), m.iperf().gbps(), m.cpuCores(), m.rssMib());
        }
        String threads = m.threadCpuMillis().length == 0 ? "" : "  L7 proxy threads (cores) "
                + java.util.Arrays.toString(java.util.Arrays.stream(m.threadCores())
                .mapToObj(c -> String.format(Locale.ROOT, "%.2f", c)).toArray()) + " over "
                + m.downstreamConnections() + " downstream connection(s)";
        if (m.h2load() != null) {
            return String.format(Locale.ROOT, "run %d %-18s %-5s %9.0f req/s  mean %.3f ms  proxy CPU %.1f ms/1k"
                            + "  RSS %.1f MiB  failed %d%s", m.run(), m.scenario(), m.load(), m.h2load().rps(),
                    m.h2load().meanMs(), m.cpuMsPer1k(), m.rssMib(), m.h2load().failed(), threads);
        }
        return String.format(Locale.ROOT, "run %d %-18s %-5s %9.0f req/s  p50 %.3f ms  p99 %.3f ms  proxy CPU %.1f"
                        + " ms/1k  RSS %.1f MiB  errors %d%s", m.run(), m.scenario(), m.load(), m.wrk().rps(),
                m.wrk().p50Ms(), m.wrk().p99Ms(), m.cpuMsPer1k(), m.rssMib(), m.wrk().errors(), threads);
    }

    private static long[] cpuEach(List<Long> pids) {
        long[] each = new long[pids.size()];
        for (int i = 0; i < each.length; i++) {
            each[i] = ProcStats.cpuMillis(pids.get(i));
        }
        return each;
    }

    private static long sum(long[] values) {
        long sum = 0;
        for (long v : values) {
            sum += v;
        }
        return sum;
    }

    private Host.Result load(Scenario s, List<String> command, double seconds) {
        List<String> cmd = new ArrayList<>();
        if (env.loadCpus() != null) {
            cmd.addAll(List.of("taskset", "-c", env.loadCpus()));
        }
        cmd.addAll(command);
        return env.net().inPod(s.client(), (int) Math.ceil(seconds) + 60, resolving(env, s, cmd));
    }

    /**
     * {@code command} as the client of {@code s} runs it: as is, or, when the scenario has
     * {@link Scenario#hosts() names to resolve}, in a mount namespace of its own with the
     * scenario's hosts file bind-mounted over {@code /etc/hosts} (wrk and curl resolve the
     * ingress's host name as a user's machine would, SNI included; the machine's file is untouched).
     */
    static String[] resolving(BenchEnv env, Scenario s, List<String> command) {
        if (s.hosts().isEmpty()) {
            return command.toArray(String[]::new);
        }
        java.nio.file.Path file = env.dir().resolve("hosts-" + s.name());
        try {
            java.nio.file.Files.writeString(file, "127.0.0.1 localhost\n" + s.hosts());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        List<String> cmd = new ArrayList<>(List.of("unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                "mount --bind \"$0\" /etc/hosts && exec \"$@\"", file.toString()));
        cmd.addAll(command);
        return cmd.toArray(String[]::new);
    }

    private static List<String> wrk(Scenario s, int connections, double seconds) {
        return List.of("wrk", "-t1", "-c" + connections, "-d" + fmtSeconds(seconds), "--latency", s.httpUrl());
    }

    /**
     * 16 connections, each closed by the server after one request ({@code Connection: close}):
     * every request opens a new TCP connection and makes a full TLS handshake (wrk keeps no
     * session to resume), so requests/s is handshakes/s.
     */
    private static List<String> newConnections(Scenario s, double seconds) {
        return List.of("wrk", "-t1", "-c16", "-d" + fmtSeconds(seconds), "--latency", "-H", "Connection: close",
                s.httpUrl());
    }

    /**
     * {@code 100 × seconds} HTTPS/1.1 requests, each from a client of its own (one connection,
     * one full TLS handshake, nothing to resume), opened together by one h2load thread: the
     * ingress's handshake throughput under a burst of new users.
     */
    private static List<String> fullHandshakes(Scenario s, double seconds) {
        String n = Long.toString(Math.max(50, Math.round(seconds * 100)));
        return List.of("h2load", "--h1", "-t1", "-c", n, "-n", n, s.httpUrl());
    }

    /**
     * One h2c connection with 16 concurrent unary calls (POST, {@code application/grpc},
     * {@code te: trailers}, a 12-byte message), for {@code seconds}.
     */
    private List<String> h2load(Scenario s, double seconds) {
        return List.of("h2load", "-t1", "-c1", "-m16", "-D", Long.toString(Math.max(1, Math.round(seconds))),
                "-H", "content-type: application/grpc", "-H", "te: trailers", "-d", grpcRequest().toString(),
                s.grpcUrl());
    }

    /** The request message file (a gRPC frame), written once into the work folder. */
    private synchronized java.nio.file.Path grpcRequest() {
        java.nio.file.Path file = env.dir().resolve("grpc-request.bin");
        if (!java.nio.file.Files.exists(file)) {
            try {
                java.nio.file.Files.write(file, Backend.grpcFrame(10));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
        return file;
    }

    private static List<String> iperf(Scenario s, double seconds) {
        return List.of("iperf3", "-c", s.iperfHost(), "-p", Integer.toString(s.iperfPort()), "-P", "1", "-t",
                Long.toString(Math.round(seconds)), "-J");
    }

    private static String fmtSeconds(double s) {
        return Math.round(s) + "s";
    }

    private static IllegalStateException failure(Scenario s, String load, Host.Result r) {
        StringBuilder logs = new StringBuilder();
        s.proxies().forEach(p -> logs.append('\n').append(p.tail(20)));
        return new IllegalStateException(s.name() + " " + load + ": the load client exited " + r.exitCode()
                + " without a report; stdout: " + Iperf.error(r.stdout().strip()) + "; stderr: " + r.stderr().strip()
                + logs);
    }
}
