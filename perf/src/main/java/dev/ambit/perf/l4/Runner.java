package dev.ambit.perf.l4;

import dev.ambit.testing.Host;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

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
        if (options.loads().contains(Measurement.IPERF)) {
            Host.Result i = load(s, iperf(s, 2), 2);
            Iperf.parse(i.stdout()).orElseThrow(() -> failure(s, "warm-up iperf3", i));
        }
    }

    Measurement measure(Scenario s, String load, int run) {
        List<Long> pids = s.proxies().stream().map(Proc::pid).toList();
        List<String> command = load.equals(Measurement.IPERF) ? iperf(s, options.seconds())
                : wrk(s, load.equals("c16") ? 16 : 1, options.seconds());
        long cpuBefore = cpu(pids);
        long start = System.nanoTime();
        Host.Result r;
        long[] rss;
        try (ProcStats.RssSampler sampler = new ProcStats.RssSampler(pids, 100)) {
            r = load(s, command, options.seconds());
            sampler.close();
            rss = sampler.peaks();
        }
        long wall = (System.nanoTime() - start) / 1_000_000;
        long cpu = cpu(pids) - cpuBefore;
        for (Proc p : s.proxies()) {
            if (!p.isAlive()) {
                throw new IllegalStateException(s.name() + ": " + p.name() + " died during " + load + "\n" + p.tail(40));
            }
        }
        if (load.equals(Measurement.IPERF)) {
            Iperf i = Iperf.parse(r.stdout()).orElseThrow(() -> failure(s, load, r));
            return new Measurement(s.name(), load, run, cpu, rss, wall, null, i);
        }
        Wrk w = Wrk.parse(r.stdout()).orElseThrow(() -> failure(s, load, r));
        return new Measurement(s.name(), load, run, cpu, rss, wall, w, null);
    }

    static String describe(Measurement m) {
        if (m.iperf() != null) {
            return String.format(Locale.ROOT, "run %d %-18s %-5s %8.2f Gbit/s  proxy CPU %.2f cores  RSS %.1f MiB",
                    m.run(), m.scenario(), m.load(), m.iperf().gbps(), m.cpuCores(), m.rssMib());
        }
        return String.format(Locale.ROOT, "run %d %-18s %-5s %9.0f req/s  p50 %.3f ms  p99 %.3f ms  proxy CPU %.1f"
                        + " ms/1k  RSS %.1f MiB  errors %d", m.run(), m.scenario(), m.load(), m.wrk().rps(),
                m.wrk().p50Ms(), m.wrk().p99Ms(), m.cpuMsPer1k(), m.rssMib(), m.wrk().errors());
    }

    private static long cpu(List<Long> pids) {
        long sum = 0;
        for (long p : pids) {
            sum += ProcStats.cpuMillis(p);
        }
        return sum;
    }

    private Host.Result load(Scenario s, List<String> command, double seconds) {
        List<String> cmd = new ArrayList<>();
        if (env.loadCpus() != null) {
            cmd.addAll(List.of("taskset", "-c", env.loadCpus()));
        }
        cmd.addAll(command);
        return env.net().inPod(s.client(), (int) Math.ceil(seconds) + 60, cmd.toArray(String[]::new));
    }

    private static List<String> wrk(Scenario s, int connections, double seconds) {
        return List.of("wrk", "-t1", "-c" + connections, "-d" + fmtSeconds(seconds), "--latency", s.httpUrl());
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
