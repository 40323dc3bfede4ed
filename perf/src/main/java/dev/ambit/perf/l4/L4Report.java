package dev.ambit.perf.l4;

import static dev.ambit.common.json.JsonWriter.quote;

import dev.ambit.common.json.JsonWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * The figures of an {@link L4Bench} run: the side-by-side table (means over the runs, the
 * spread between them), the targets computed from the same run, and the JSON files
 * ({@code latest.json} in the schema, one entry per run; the details beside it).
 */
final class L4Report {

    static final String DIRECT = "direct";
    static final String AMBIT = "ambit-l4";

    /** Where and how the figures were taken. */
    record Environment(String timestamp, String kernel, int cpus, String java, String loadavg, boolean pinned,
                       double seconds, int runs, double warmupSeconds, int workers, List<String> agentJvm,
                       List<String> agentArgs, boolean profiled, Map<String, String> versions) {}

    private final Environment env;
    private final List<Measurement> all;

    L4Report(Environment env, List<Measurement> measurements) {
        this.env = env;
        this.all = List.copyOf(measurements);
    }

    /** Runs of one scenario and load, in run order. */
    private List<Measurement> runs(String scenario, String load) {
        return all.stream().filter(m -> m.scenario().equals(scenario) && m.load().equals(load)).toList();
    }

    /** Whether {@code scenario} belongs to the L4 table (the L7 and ingress ones have tables of their own). */
    static boolean isL4(String scenario) {
        return !L7Report.isL7(scenario) && !IngressReport.isIngress(scenario);
    }

    /** The L4 scenarios (the L7 ones are {@link L7Report}'s, the ingress ones {@link IngressReport}'s). */
    private List<String> scenarios() {
        List<String> names = new ArrayList<>();
        all.forEach(m -> {
            if (!names.contains(m.scenario()) && isL4(m.scenario())) {
                names.add(m.scenario());
            }
        });
        return names;
    }

    private static double mean(List<Measurement> ms, ToDoubleFunction<Measurement> f) {
        return ms.stream().mapToDouble(f).average().orElse(Double.NaN);
    }

    private static double max(List<Measurement> ms, ToDoubleFunction<Measurement> f) {
        return ms.stream().mapToDouble(f).max().orElse(Double.NaN);
    }

    /** (max - min) / mean, percent. */
    private static double spread(List<Measurement> ms, ToDoubleFunction<Measurement> f) {
        double mean = mean(ms, f);
        double hi = ms.stream().mapToDouble(f).max().orElse(0);
        double lo = ms.stream().mapToDouble(f).min().orElse(0);
        return mean == 0 || Double.isNaN(mean) ? 0 : (hi - lo) / mean * 100;
    }

    String table() {
        StringBuilder sb = new StringBuilder();
        sb.append(fmt("L4 bench: %s, kernel %s, %d CPUs, Java %s, load average before %s%s%n", env.timestamp(),
                env.kernel(), env.cpus(), env.java(), env.loadavg(),
                env.pinned() ? ", services pinned to CPU 0 and load to CPU 1" : ", not pinned"));
        sb.append(fmt("%d runs per scenario and load, %.0f s each after a %.0f s warm-up; %d worker(s) per proxy;"
                + " values are means over the runs, spread = (max - min) / mean of the runs' rps (Gbit/s for"
                + " iperf3);%nproxy CPU = utime + stime of both proxies; RSS = peak of the larger proxy (one node's)."
                + "%n%n", env.runs(), env.seconds(), env.warmupSeconds(), env.workers()));
        String header = fmt("%-18s | %-4s | %9s | %6s | %7s | %7s | %7s | %11s | %7s | %6s", "scenario", "load",
                "req/s", "spread", "p50 ms", "p90 ms", "p99 ms", "CPU ms / 1k", "RSS MiB", "errors");
        sb.append(header).append('\n').append("-".repeat(header.length())).append('\n');
        for (String load : Measurement.HTTP_LOADS) {
            for (String s : scenarios()) {
                List<Measurement> ms = runs(s, load);
                if (ms.isEmpty()) {
                    continue;
                }
                sb.append(fmt("%-18s | %-4s | %9.0f | %5.1f%% | %7.3f | %7.3f | %7.3f | %11.1f | %7.1f | %6d%n", s,
                        load, mean(ms, m -> m.wrk().rps()), spread(ms, m -> m.wrk().rps()),
                        mean(ms, m -> m.wrk().p50Ms()), mean(ms, m -> m.wrk().p90Ms()), mean(ms, m -> m.wrk().p99Ms()),
                        mean(ms, Measurement::cpuMsPer1k), max(ms, Measurement::rssMib),
                        ms.stream().mapToLong(m -> m.wrk().errors()).sum()));
            }
        }
        if (all.stream().anyMatch(m -> m.iperf() != null)) {
            sb.append('\n');
            String h2 = fmt("%-18s | %-5s | %8s | %6s | %9s | %7s", "scenario", "load", "Gbit/s", "spread",
                    "CPU cores", "RSS MiB");
            sb.append(h2).append('\n').append("-".repeat(h2.length())).append('\n');
            for (String s : scenarios()) {
                List<Measurement> ms = runs(s, Measurement.IPERF);
                if (!ms.isEmpty()) {
                    sb.append(fmt("%-18s | %-5s | %8.2f | %5.1f%% | %9.2f | %7.1f%n", s, "iperf",
                            mean(ms, m -> m.iperf().gbps()), spread(ms, m -> m.iperf().gbps()),
                            mean(ms, Measurement::cpuCores), max(ms, Measurement::rssMib)));
                }
            }
        }
        sb.append('\n').append(targets());
        L7Report l7 = new L7Report(all);
        if (l7.present()) {
            sb.append('\n').append(l7.table());
        }
        IngressReport ingress = new IngressReport(all);
        if (ingress.present()) {
            sb.append('\n').append(ingress.table());
        }
        return sb.toString();
    }

    /** The targets for ambit-l4 against the best mTLS pair, from this run (figures, not assertions). */
    String targets() {
        StringBuilder sb = new StringBuilder("Targets (ambit-l4 against the mTLS pairs, this run):\n");
        List<String> pairs = scenarios().stream().filter(s -> s.endsWith("-mtls")).toList();
        if (!scenarios().contains(AMBIT) || pairs.isEmpty()) {
            return sb.append("  (needs ambit-l4 and at least one pair)\n").toString();
        }
        // A run with socket errors or non-2xx answers counted its failures as requests (wrk does)
        // and left timed-out requests out of its latencies: its figures compare nothing.
        String failed = all.stream().filter(m -> m.wrk() != null && m.wrk().errors() > 0
                        && isL4(m.scenario()))
                .map(m -> m.scenario() + " " + m.load() + " run " + m.run() + ": " + m.wrk().errors() + " errors")
                .collect(java.util.stream.Collectors.joining("; "));
        if (!failed.isEmpty()) {
            return sb.append("  INVALID, runs with errors (fix them before comparing): ").append(failed).append('\n')
                    .toString();
        }
        if (env.profiled()) {
            sb.append("  (agents profiled during the measured runs: their CPU and rates carry the profiler's cost)\n");
        }
        List<Measurement> a16 = runs(AMBIT, "c16");
        String best = pairs.stream().filter(p -> !runs(p, "c16").isEmpty())
                .max(Comparator.comparingDouble(p -> mean(runs(p, "c16"), m -> m.wrk().rps()))).orElse(null);
        if (best != null && !a16.isEmpty()) {
            List<Measurement> b16 = runs(best, "c16");
            double rps = mean(a16, m -> m.wrk().rps()) / mean(b16, m -> m.wrk().rps());
            double cpu = mean(a16, Measurement::cpuMsPer1k) / mean(b16, Measurement::cpuMsPer1k);
            sb.append(fmt("  best pair at c16: %s%n", best));
            sb.append(line("c16 req/s vs best pair", fmt("%.2fx", rps), ">= 1.10x", rps >= 1.1));
            sb.append(line("c16 proxy CPU per 1k requests vs best pair", fmt("%.2fx", cpu), "<= 0.90x", cpu <= 0.9));
            double rss = max(a16, Measurement::rssMib);
            sb.append(line("agent RSS under c16", fmt("%.1f MiB", rss), "<= 64 MiB", rss <= 64));
        }
        List<Measurement> d1 = runs(DIRECT, "c1");
        List<Measurement> a1 = runs(AMBIT, "c1");
        if (!d1.isEmpty() && !a1.isEmpty()) {
            double direct = mean(d1, m -> m.wrk().p50Ms());
            double ambit = mean(a1, m -> m.wrk().p50Ms()) - direct;
            double bestPair = Double.MAX_VALUE;
            StringBuilder each = new StringBuilder();
            for (String p : pairs) {
                List<Measurement> p1 = runs(p, "c1");
                if (!p1.isEmpty()) {
                    double o = mean(p1, m -> m.wrk().p50Ms()) - direct;
                    bestPair = Math.min(bestPair, o);
                    each.append(fmt(" %s %+.3f", p, o));
                }
            }
            sb.append(line("c1 p50 overhead over direct (ms)", fmt("%+.3f", ambit),
                    fmt("<= %+.3f (pairs:%s)", bestPair, each), ambit <= bestPair));
        }
        List<Measurement> ai = runs(AMBIT, Measurement.IPERF);
        if (!ai.isEmpty()) {
            double bestPair = pairs.stream().map(p -> runs(p, Measurement.IPERF)).filter(l -> !l.isEmpty())
                    .mapToDouble(l -> mean(l, m -> m.iperf().gbps())).max().orElse(Double.NaN);
            double ambit = mean(ai, m -> m.iperf().gbps());
            sb.append(line("one iperf3 stream (Gbit/s)", fmt("%.2f", ambit), fmt(">= %.2f (best pair)", bestPair),
                    ambit >= bestPair));
        }
        return sb.toString();
    }

    private static String line(String what, String value, String target, boolean met) {
        return fmt("  %-44s %-10s target %-40s %s%n", what, value, target, met ? "met" : "NOT met");
    }

    /**
     * {@code {"runs":[...],"iperf":[...],"l7":[...],"grpc":[...]}}: the L4 issue's schema for
     * the L4 scenarios, then the L7 ones ({@link L7Report#jsonArrays()}), one entry per measured run.
     */
    String json() {
        StringBuilder sb = new StringBuilder("{\"runs\":[\n");
        List<Measurement> http = all.stream().filter(m -> m.wrk() != null && isL4(m.scenario())).toList();
        for (int i = 0; i < http.size(); i++) {
            Measurement m = http.get(i);
            sb.append(fmt("  {\"scenario\":%s,\"load\":%s,\"rps\":%s,\"p50_ms\":%s,\"p90_ms\":%s,\"p99_ms\":%s,"
                            + "\"proxy_cpu_ms_per_1k\":%s,\"proxy_rss_mib\":%s}%s%n", quote(m.scenario()),
                    quote(m.load()), num(m.wrk().rps(), 1), num(m.wrk().p50Ms(), 3), num(m.wrk().p90Ms(), 3),
                    num(m.wrk().p99Ms(), 3), num(m.cpuMsPer1k(), 2), num(m.rssMib(), 1),
                    i + 1 < http.size() ? "," : ""));
        }
        sb.append("],\n\"iperf\":[\n");
        List<Measurement> ip = all.stream().filter(m -> m.iperf() != null).toList();
        for (int i = 0; i < ip.size(); i++) {
            Measurement m = ip.get(i);
            sb.append(fmt("  {\"scenario\":%s,\"gbps\":%s,\"proxy_cpu_cores\":%s,\"proxy_rss_mib\":%s}%s%n",
                    quote(m.scenario()), num(m.iperf().gbps(), 3), num(m.cpuCores(), 3), num(m.rssMib(), 1),
                    i + 1 < ip.size() ? "," : ""));
        }
        return sb.append("],\n").append(new L7Report(all).jsonArrays()).append(",\n")
                .append(new IngressReport(all).jsonArray()).append("}\n").toString();
    }

    /** Everything else: the environment, every run's raw figures, the targets as text. */
    String detailsJson() {
        StringBuilder sb = new StringBuilder("{\n");
        sb.append(fmt("  \"timestamp\": %s, \"kernel\": %s, \"cpus\": %d, \"java\": %s, \"loadavg_before\": %s,%n",
                quote(env.timestamp()), quote(env.kernel()), env.cpus(), quote(env.java()), quote(env.loadavg())));
        sb.append(fmt("  \"pinned\": %s, \"seconds\": %s, \"runs_per_scenario\": %d, \"warmup_seconds\": %s,"
                        + " \"workers\": %d,%n  \"agent_jvm\": %s, \"agent_args\": %s, \"profiled\": %s,%n",
                env.pinned(), num(env.seconds(), 1), env.runs(), num(env.warmupSeconds(), 1), env.workers(),
                "[" + String.join(", ", env.agentJvm().stream().map(JsonWriter::quote).toList()) + "]",
                "[" + String.join(", ", env.agentArgs().stream().map(JsonWriter::quote).toList()) + "]",
                env.profiled()));
        Map<String, String> v = new LinkedHashMap<>(env.versions());
        sb.append("  \"versions\": {");
        int k = 0;
        for (Map.Entry<String, String> e : v.entrySet()) {
            sb.append(k++ > 0 ? ", " : "").append(quote(e.getKey())).append(": ").append(quote(e.getValue()));
        }
        sb.append("},\n  \"measurements\": [\n");
        for (int i = 0; i < all.size(); i++) {
            Measurement m = all.get(i);
            StringBuilder rss = new StringBuilder("[");
            for (int j = 0; j < m.rssPeakKib().length; j++) {
                rss.append(j > 0 ? ", " : "").append(m.rssPeakKib()[j]);
            }
            rss.append(']');
            sb.append(fmt("    {\"scenario\": %s, \"load\": %s, \"run\": %d, \"wall_ms\": %d, \"proxy_cpu_ms\": %d,"
                    + " \"proxy_rss_peak_kib\": %s", quote(m.scenario()), quote(m.load()), m.run(), m.wallMillis(),
                    m.cpuMillis(), rss));
            if (m.wrk() != null) {
                Wrk w = m.wrk();
                sb.append(fmt(", \"requests\": %d, \"seconds\": %s, \"rps\": %s, \"p50_ms\": %s, \"p90_ms\": %s,"
                                + " \"p99_ms\": %s, \"socket_errors\": %d, \"non_2xx\": %d", w.requests(),
                        num(w.seconds(), 3), num(w.rps(), 1), num(w.p50Ms(), 3), num(w.p90Ms(), 3), num(w.p99Ms(), 3),
                        w.socketErrors(), w.non2xx()));
            }
            if (m.cpuEachMillis().length > 0) {
                sb.append(", \"proxy_cpu_ms_each\": ").append(Arrays.toString(m.cpuEachMillis()));
            }
            if (m.threadCpuMillis().length > 0) {
                sb.append(", \"l7_thread_cpu_ms\": ").append(Arrays.toString(m.threadCpuMillis()));
                sb.append(", \"downstream_connections\": ").append(m.downstreamConnections());
            }
            if (m.h2load() != null) {
                H2load h = m.h2load();
                sb.append(fmt(", \"rps\": %s, \"succeeded\": %d, \"failed\": %d, \"mean_ms\": %s, \"max_ms\": %s",
                        num(h.rps(), 1), h.succeeded(), h.failed(), num(h.meanMs(), 3), num(h.maxMs(), 3)));
            }
            if (m.iperf() != null) {
                sb.append(fmt(", \"gbps\": %s, \"seconds\": %s, \"retransmits\": %d", num(m.iperf().gbps(), 3),
                        num(m.iperf().seconds(), 2), m.iperf().retransmits()));
            }
            sb.append('}').append(i + 1 < all.size() ? "," : "").append('\n');
        }
        sb.append("  ],\n  \"targets\": ").append(quote(targets()));
        L7Report l7 = new L7Report(all);
        if (l7.present()) {
            sb.append(",\n  \"l7_targets\": ").append(quote(l7.targets()));
        }
        IngressReport ingress = new IngressReport(all);
        if (ingress.present()) {
            sb.append(",\n  \"ingress_targets\": ").append(quote(ingress.targets()));
        }
        sb.append("\n}\n");
        return sb.toString();
    }

    private static String num(double v, int decimals) {
        if (Double.isNaN(v) || Double.isInfinite(v)) {
            return "null";
        }
        return String.format(Locale.ROOT, "%." + decimals + "f", v);
    }

    private static String fmt(String format, Object... args) {
        return String.format(Locale.ROOT, format, args);
    }
}
