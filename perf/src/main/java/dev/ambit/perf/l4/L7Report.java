package dev.ambit.perf.l4;

import static dev.ambit.common.json.JsonWriter.quote;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.function.ToDoubleFunction;
import java.util.stream.Collectors;

/**
 * The L7 half of a bench run (issue 15): {@code ambit-waypoint} beside the HTTP proxy pairs
 * ({@code *-l7}) with {@code direct} and {@code ambit-l4} as references, the whole path's
 * CPU and the L7 proxy's alone (the waypoint; for a pair, one of its two processes on
 * average), the L7 proxy's RSS, its event-loop threads' CPU (does one pooled HBONE
 * connection keep one core busy or all?), the gRPC load, and the targets as ratios
 * computed from the same run.
 */
final class L7Report {

    static final String WAYPOINT = "ambit-waypoint";
    static final String L7_PAIR_SUFFIX = "-l7";

    private final List<Measurement> all;

    L7Report(List<Measurement> measurements) {
        this.all = List.copyOf(measurements);
    }

    /** Whether {@code scenario} belongs to the L7 table rather than the L4 one. */
    static boolean isL7(String scenario) {
        return isWaypoint(scenario) || scenario.endsWith(L7_PAIR_SUFFIX);
    }

    /** {@code ambit-waypoint}, or {@code ambit-waypoint-base}: the same built from {@code --baseline}. */
    static boolean isWaypoint(String scenario) {
        return scenario.equals(WAYPOINT) || scenario.equals(WAYPOINT + "-base");
    }

    boolean present() {
        return all.stream().anyMatch(m -> isL7(m.scenario()));
    }

    private List<Measurement> runs(String scenario, String load) {
        return all.stream().filter(m -> m.scenario().equals(scenario) && m.load().equals(load)).toList();
    }

    private List<String> scenarios() {
        List<String> names = new ArrayList<>();
        for (String reference : List.of(L4Report.DIRECT, L4Report.AMBIT)) {
            if (all.stream().anyMatch(m -> m.scenario().equals(reference))) {
                names.add(reference);
            }
        }
        all.stream().map(Measurement::scenario).filter(L7Report::isL7).distinct().forEach(names::add);
        return names;
    }

    private List<String> pairs() {
        return scenarios().stream().filter(s -> s.endsWith(L7_PAIR_SUFFIX)).toList();
    }

    /**
     * The L7 proxy's CPU per 1000 requests in one run: the waypoint's (the second of
     * {@code ambit-waypoint}'s proxies), or a pair's mean per process; NaN for L4 scenarios.
     */
    static double l7CpuMsPer1k(Measurement m) {
        if (isWaypoint(m.scenario())) {
            return m.cpuMsPer1k(1);
        }
        if (m.scenario().endsWith(L7_PAIR_SUFFIX) && m.cpuEachMillis().length > 0) {
            return m.cpuMsPer1k() / m.cpuEachMillis().length;
        }
        return Double.NaN;
    }

    /** The L7 proxy's peak RSS in one run (the waypoint's; a pair's larger process), MiB. */
    static double l7RssMib(Measurement m) {
        return isWaypoint(m.scenario()) ? m.rssMib(1) : m.rssMib();
    }

    private static double mean(List<Measurement> ms, ToDoubleFunction<Measurement> f) {
        return ms.stream().mapToDouble(f).average().orElse(Double.NaN);
    }

    private static double max(List<Measurement> ms, ToDoubleFunction<Measurement> f) {
        return ms.stream().mapToDouble(f).max().orElse(Double.NaN);
    }

    private static double spread(List<Measurement> ms, ToDoubleFunction<Measurement> f) {
        double mean = mean(ms, f);
        double hi = ms.stream().mapToDouble(f).max().orElse(0);
        double lo = ms.stream().mapToDouble(f).min().orElse(0);
        return mean == 0 || Double.isNaN(mean) ? 0 : (hi - lo) / mean * 100;
    }

    /** The event-loop threads' cores, averaged per rank over the runs (rank 0 = the busiest thread). */
    static double[] threadCores(List<Measurement> ms) {
        int n = ms.stream().mapToInt(m -> m.threadCpuMillis().length).max().orElse(0);
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            int rank = i;
            out[i] = ms.stream().mapToDouble(m -> rank < m.threadCores().length ? m.threadCores()[rank] : 0)
                    .average().orElse(0);
        }
        return out;
    }

    static String cores(double[] cores) {
        return cores.length == 0 ? "-" : Arrays.stream(cores).mapToObj(c -> fmt("%.2f", c))
                .collect(Collectors.joining("/"));
    }

    private String best(String load) {
        return pairs().stream().filter(p -> !runs(p, load).isEmpty())
                .max(Comparator.comparingDouble(p -> mean(runs(p, load), m -> m.wrk().rps()))).orElse(null);
    }

    String table() {
        StringBuilder sb = new StringBuilder();
        sb.append("L7: path CPU = all proxies of the scenario; L7 CPU = the waypoint alone (a pair: per process,"
                + " mean of its two); L7 RSS = the waypoint's\n(a pair: its larger process); threads = CPU cores"
                + " of each waypoint event loop (busiest first); conns = downstream HBONE connections to the"
                + " waypoint;\nx best = req/s over the best L7 pair's at the same load.\n\n");
        String header = fmt("%-16s | %-4s | %9s | %6s | %7s | %7s | %7s | %8s | %8s | %7s | %-11s | %5s | %6s | %6s",
                "scenario", "load", "req/s", "spread", "p50 ms", "p90 ms", "p99 ms", "path CPU", "L7 CPU", "L7 RSS",
                "threads", "conns", "x best", "errors");
        sb.append(header).append('\n').append("-".repeat(header.length())).append('\n');
        for (String load : Measurement.HTTP_LOADS) {
            String best = best(load);
            double bestRps = best == null ? Double.NaN : mean(runs(best, load), m -> m.wrk().rps());
            for (String s : scenarios()) {
                List<Measurement> ms = runs(s, load).stream().filter(m -> m.wrk() != null).toList();
                if (ms.isEmpty()) {
                    continue;
                }
                double rps = mean(ms, m -> m.wrk().rps());
                int conns = ms.stream().mapToInt(Measurement::downstreamConnections).max().orElse(-1);
                sb.append(fmt("%-16s | %-4s | %9.0f | %5.1f%% | %7.3f | %7.3f | %7.3f | %8.1f | %8s | %7s | %-11s"
                                + " | %5s | %6s | %6d%n", s, load, rps, spread(ms, m -> m.wrk().rps()),
                        mean(ms, m -> m.wrk().p50Ms()), mean(ms, m -> m.wrk().p90Ms()), mean(ms, m -> m.wrk().p99Ms()),
                        mean(ms, Measurement::cpuMsPer1k), opt(mean(ms, L7Report::l7CpuMsPer1k), "%.1f"),
                        opt(max(ms, L7Report::l7RssMib), "%.1f"), cores(threadCores(ms)),
                        conns < 0 ? "-" : Integer.toString(conns),
                        isL7(s) && !Double.isNaN(bestRps) ? fmt("%.2fx", rps / bestRps) : "-",
                        ms.stream().mapToLong(Measurement::errors).sum()));
            }
        }
        List<String> grpc = scenarios().stream().filter(s -> !runs(s, Measurement.GRPC).isEmpty()).toList();
        if (!grpc.isEmpty()) {
            sb.append('\n');
            String h2 = fmt("%-16s | %-5s | %9s | %6s | %8s | %8s | %8s | %8s | %-11s | %6s", "scenario", "load",
                    "req/s", "spread", "mean ms", "path CPU", "L7 CPU", "L7 RSS", "threads", "failed");
            sb.append("gRPC: h2load -c1 -m16 (one h2c connection, 16 concurrent unary calls) through the waypoint\n");
            sb.append(h2).append('\n').append("-".repeat(h2.length())).append('\n');
            for (String s : grpc) {
                List<Measurement> ms = runs(s, Measurement.GRPC);
                sb.append(fmt("%-16s | %-5s | %9.0f | %5.1f%% | %8.3f | %8.1f | %8s | %8s | %-11s | %6d%n", s,
                        "grpc", mean(ms, m -> m.h2load().rps()), spread(ms, m -> m.h2load().rps()),
                        mean(ms, m -> m.h2load().meanMs()), mean(ms, Measurement::cpuMsPer1k),
                        opt(mean(ms, L7Report::l7CpuMsPer1k), "%.1f"), opt(max(ms, L7Report::l7RssMib), "%.1f"),
                        cores(threadCores(ms)), ms.stream().mapToLong(Measurement::errors).sum()));
            }
        }
        return sb.append('\n').append(targets()).toString();
    }

    /** The L7 targets for the waypoint against the L7 pairs, from this run (figures, not assertions). */
    String targets() {
        StringBuilder sb = new StringBuilder("Targets (ambit-waypoint against the L7 pairs, this run):\n");
        List<Measurement> w16 = runs(WAYPOINT, "c16");
        if (w16.isEmpty()) {
            return sb.append("  (needs ambit-waypoint with the c16 load)\n").toString();
        }
        String failed = all.stream().filter(m -> isL7(m.scenario()) && m.errors() > 0)
                .map(m -> m.scenario() + " " + m.load() + " run " + m.run() + ": " + m.errors() + " errors")
                .collect(Collectors.joining("; "));
        if (!failed.isEmpty()) {
            return sb.append("  INVALID, runs with errors (fix them before comparing): ").append(failed).append('\n')
                    .toString();
        }
        String best = best("c16");
        if (best != null) {
            double ratio = mean(w16, m -> m.wrk().rps()) / mean(runs(best, "c16"), m -> m.wrk().rps());
            sb.append(fmt("  best L7 pair at c16: %s%n", best));
            sb.append(line("c16 req/s vs best L7 pair", fmt("%.2fx", ratio), ">= 1.00x", ratio >= 1.0));
        }
        List<Measurement> h16 = runs("haproxy-l7", "c16");
        if (!h16.isEmpty()) {
            double ratio = mean(w16, L7Report::l7CpuMsPer1k) / mean(h16, L7Report::l7CpuMsPer1k);
            sb.append(line("waypoint CPU/1k vs one HAProxy L7 process", fmt("%.2fx", ratio),
                    fmt("<= 1.00x (%.1f vs %.1f ms)", mean(w16, L7Report::l7CpuMsPer1k),
                            mean(h16, L7Report::l7CpuMsPer1k)), ratio <= 1.0));
        }
        double rss = all.stream().filter(m -> m.scenario().equals(WAYPOINT)).mapToDouble(L7Report::l7RssMib).max()
                .orElse(Double.NaN);
        sb.append(line("waypoint RSS (peak, all loads)", fmt("%.1f MiB", rss), "<= 128 MiB", rss <= 128));
        List<Measurement> w1 = runs(WAYPOINT, "c1");
        List<Measurement> a1 = runs(L4Report.AMBIT, "c1");
        if (!w1.isEmpty() && !a1.isEmpty()) {
            double added = mean(w1, m -> m.wrk().p50Ms()) - mean(a1, m -> m.wrk().p50Ms());
            sb.append(line("c1 p50 added over ambit-l4 (ms)", fmt("%+.3f", added), "<= +0.150", added <= 0.15));
        }
        double[] threads = threadCores(w16);
        if (threads.length > 1) {
            int conns = w16.stream().mapToInt(Measurement::downstreamConnections).max().orElse(-1);
            double lowOverHigh = threads[0] == 0 ? 0 : threads[threads.length - 1] / threads[0];
            sb.append(line(fmt("c16 over %d HBONE conn: waypoint loops busy", conns), cores(threads),
                    "every loop busy (least/most >= 0.50)", lowOverHigh >= 0.5));
        }
        return sb.toString();
    }

    private static String line(String what, String value, String target, boolean met) {
        return fmt("  %-44s %-14s target %-36s %s%n", what, value, target, met ? "met" : "NOT met");
    }

    /** The {@code "l7"} and {@code "grpc"} arrays of the results file, one entry per measured run. */
    String jsonArrays() {
        StringBuilder sb = new StringBuilder("\"l7\":[\n");
        List<Measurement> http = all.stream().filter(m -> isL7(m.scenario()) && m.wrk() != null).toList();
        for (int i = 0; i < http.size(); i++) {
            Measurement m = http.get(i);
            sb.append(fmt("  {\"scenario\":%s,\"load\":%s,\"rps\":%s,\"p50_ms\":%s,\"p90_ms\":%s,\"p99_ms\":%s,"
                            + "\"path_cpu_ms_per_1k\":%s,\"l7_proxy_cpu_ms_per_1k\":%s,\"l7_proxy_rss_mib\":%s,"
                            + "\"l7_thread_cores\":%s,\"downstream_connections\":%d}%s%n", quote(m.scenario()),
                    quote(m.load()), num(m.wrk().rps(), 1), num(m.wrk().p50Ms(), 3), num(m.wrk().p90Ms(), 3),
                    num(m.wrk().p99Ms(), 3), num(m.cpuMsPer1k(), 2), num(l7CpuMsPer1k(m), 2), num(l7RssMib(m), 1),
                    array(m.threadCores()), m.downstreamConnections(), i + 1 < http.size() ? "," : ""));
        }
        sb.append("],\n\"grpc\":[\n");
        List<Measurement> grpc = all.stream().filter(m -> m.h2load() != null && m.load().equals(Measurement.GRPC))
                .toList();
        for (int i = 0; i < grpc.size(); i++) {
            Measurement m = grpc.get(i);
            sb.append(fmt("  {\"scenario\":%s,\"rps\":%s,\"mean_ms\":%s,\"max_ms\":%s,\"failed\":%d,"
                            + "\"path_cpu_ms_per_1k\":%s,\"l7_proxy_cpu_ms_per_1k\":%s,\"l7_proxy_rss_mib\":%s,"
                            + "\"l7_thread_cores\":%s}%s%n", quote(m.scenario()), num(m.h2load().rps(), 1),
                    num(m.h2load().meanMs(), 3), num(m.h2load().maxMs(), 3), m.h2load().failed(),
                    num(m.cpuMsPer1k(), 2), num(l7CpuMsPer1k(m), 2), num(l7RssMib(m), 1), array(m.threadCores()),
                    i + 1 < grpc.size() ? "," : ""));
        }
        return sb.append("]").toString();
    }

    private static String array(double[] values) {
        return Arrays.stream(values).mapToObj(v -> num(v, 3)).collect(Collectors.joining(",", "[", "]"));
    }

    private static String opt(double v, String format) {
        return Double.isNaN(v) ? "-" : fmt(format, v);
    }

    static String num(double v, int decimals) {
        if (Double.isNaN(v) || Double.isInfinite(v)) {
            return "null";
        }
        return String.format(Locale.ROOT, "%." + decimals + "f", v);
    }

    private static String fmt(String format, Object... args) {
        return String.format(Locale.ROOT, format, args);
    }
}
