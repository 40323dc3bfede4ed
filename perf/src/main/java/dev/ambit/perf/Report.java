package dev.ambit.perf;

import static dev.ambit.common.json.JsonWriter.quote;
import static java.util.Objects.requireNonNull;

import dev.ambit.common.json.JsonWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The figures of a {@link CaptureBench} run, side by side: per scenario each run's
 * connections per second, the spread between runs, latency percentiles (mean over the
 * runs), errors, and ratios against the {@code none} baseline. Renders as a text table
 * and as JSON with every run's figures.
 */
public final class Report {

    /** Where and how the figures were taken. */
    public record Environment(String timestamp, String kernel, int cpus, String java, String iptables,
                              double seconds, int maxConnections, double warmupSeconds) {}

    /** One scenario's runs and what they add up to. */
    private record Summary(String scenario, List<RunResult> runs) {
        double cpsMean() {
            return runs.stream().mapToDouble(r -> r.load().cps()).average().orElse(0);
        }

        /** Largest minus smallest run, as a share of the mean: how far to trust a difference. */
        double cpsSpreadPercent() {
            double max = runs.stream().mapToDouble(r -> r.load().cps()).max().orElse(0);
            double min = runs.stream().mapToDouble(r -> r.load().cps()).min().orElse(0);
            return cpsMean() == 0 ? 0 : (max - min) / cpsMean() * 100;
        }

        double p50() {
            return runs.stream().mapToDouble(r -> r.load().p50Micros()).average().orElse(0);
        }

        double p90() {
            return runs.stream().mapToDouble(r -> r.load().p90Micros()).average().orElse(0);
        }

        double p99() {
            return runs.stream().mapToDouble(r -> r.load().p99Micros()).average().orElse(0);
        }

        long errors() {
            return runs.stream().mapToLong(RunResult::errors).sum();
        }
    }

    private static final String BASELINE = "none";

    private final Environment environment;
    private final List<Summary> summaries = new ArrayList<>();
    private final List<RunResult> runs;

    /** {@code runs} in the order measured; scenarios keep the order they first appear in. */
    public Report(Environment environment, List<RunResult> runs) {
        this.environment = requireNonNull(environment, "environment");
        this.runs = List.copyOf(runs);
        Map<String, List<RunResult>> byScenario = new LinkedHashMap<>();
        for (RunResult r : this.runs) {
            byScenario.computeIfAbsent(r.scenario(), k -> new ArrayList<>()).add(r);
        }
        byScenario.forEach((name, list) -> summaries.add(new Summary(name, List.copyOf(list))));
    }

    /** The side-by-side table, with the environment above and any problems below. */
    public String table() {
        StringBuilder sb = new StringBuilder();
        Environment e = environment;
        sb.append(fmt("Connect bench: %s, kernel %s, %d CPUs, Java %s, %s%n", e.timestamp(), e.kernel(), e.cpus(),
                e.java(), e.iptables()));
        sb.append(fmt("Each run: one client, one connection at a time, %.1f s warm-up, then %.0f s or %d"
                + " connections, whichever comes first;%nspread = (max - min) / mean of the runs' conn/s;"
                + " p50/p90/p99 are the mean of the runs.%n%n", e.warmupSeconds(), e.seconds(), e.maxConnections()));
        int runCount = summaries.stream().mapToInt(s -> s.runs().size()).max().orElse(0);
        StringBuilder header = new StringBuilder(fmt("%-9s", "scenario"));
        for (int i = 1; i <= runCount; i++) {
            header.append(fmt(" | %11s", "conn/s run" + i));
        }
        header.append(fmt(" | %6s | %7s | %7s | %7s | %6s | %14s | %11s", "spread", "p50 µs", "p90 µs", "p99 µs",
                "errors", "conn/s vs none", "p50 vs none"));
        sb.append(header).append('\n').append("-".repeat(header.length())).append('\n');
        Summary base = summaries.stream().filter(s -> s.scenario().equals(BASELINE)).findFirst().orElse(null);
        for (Summary s : summaries) {
            sb.append(fmt("%-9s", s.scenario()));
            for (int i = 0; i < runCount; i++) {
                sb.append(i < s.runs().size() ? fmt(" | %11.0f", s.runs().get(i).load().cps()) : fmt(" | %11s", "-"));
            }
            sb.append(fmt(" | %5.1f%% | %7.1f | %7.1f | %7.1f | %6d | %14s | %11s", s.cpsSpreadPercent(), s.p50(),
                    s.p90(), s.p99(), s.errors(), ratio(s.cpsMean(), base == null ? 0 : base.cpsMean()),
                    ratio(s.p50(), base == null ? 0 : base.p50())));
            sb.append('\n');
        }
        for (RunResult r : runs) {
            r.note().ifPresent(n -> sb.append(fmt("%nrun %d %s: %d errors; first: %s", r.run(), r.scenario(),
                    r.errors(), n)));
        }
        return sb.toString();
    }

    /** Every figure, per run and per scenario, as one JSON document. */
    public String json() {
        Environment e = environment;
        StringBuilder sb = new StringBuilder("{\n");
        sb.append(fmt("  \"benchmark\": \"capture-connect\",%n  \"timestamp\": %s,%n  \"kernel\": %s,%n"
                        + "  \"cpus\": %d,%n  \"java\": %s,%n  \"iptables\": %s,%n",
                quote(e.timestamp()), quote(e.kernel()), e.cpus(), quote(e.java()), quote(e.iptables())));
        sb.append(fmt("  \"bounds\": {\"seconds\": %s, \"max_connections\": %d, \"warmup_seconds\": %s},%n",
                num(e.seconds()), e.maxConnections(), num(e.warmupSeconds())));
        sb.append("  \"scenarios\": [\n");
        Summary base = summaries.stream().filter(s -> s.scenario().equals(BASELINE)).findFirst().orElse(null);
        for (int i = 0; i < summaries.size(); i++) {
            Summary s = summaries.get(i);
            sb.append(fmt("    {\"name\": %s, \"cps_mean\": %s, \"cps_spread_pct\": %s, \"p50_us\": %s,"
                            + " \"p90_us\": %s, \"p99_us\": %s, \"errors\": %d, \"cps_vs_none\": %s,"
                            + " \"p50_vs_none\": %s,%n     \"runs\": [%n",
                    quote(s.scenario()), num(s.cpsMean()), num(s.cpsSpreadPercent()), num(s.p50()), num(s.p90()),
                    num(s.p99()), s.errors(), jsonRatio(s.cpsMean(), base == null ? 0 : base.cpsMean()),
                    jsonRatio(s.p50(), base == null ? 0 : base.p50())));
            for (int j = 0; j < s.runs().size(); j++) {
                RunResult r = s.runs().get(j);
                LoadResult l = r.load();
                sb.append(fmt("       {\"run\": %d, \"connections\": %d, \"errors\": %d, \"client_errors\": %d,"
                                + " \"mismatches\": %d, \"bypassed\": %d, \"seconds\": %s, \"cps\": %s,"
                                + " \"p50_us\": %s, \"p90_us\": %s, \"p99_us\": %s, \"note\": %s}%s%n",
                        r.run(), l.connections(), r.errors(), l.errors(), r.mismatches(), r.bypassed(),
                        fmt("%.3f", l.seconds()), num(l.cps()), num(l.p50Micros()), num(l.p90Micros()), num(l.p99Micros()),
                        r.note().map(JsonWriter::quote).orElse("null"), j + 1 < s.runs().size() ? "," : ""));
            }
            sb.append("     ]}").append(i + 1 < summaries.size() ? "," : "").append('\n');
        }
        sb.append("  ]\n}\n");
        return sb.toString();
    }

    private static String ratio(double value, double baseline) {
        return baseline == 0 ? "-" : fmt("%.2fx", value / baseline);
    }

    private static String jsonRatio(double value, double baseline) {
        return baseline == 0 ? "null" : fmt("%.3f", value / baseline);
    }

    private static String num(double v) {
        return fmt("%.1f", v);
    }

    private static String fmt(String format, Object... args) {
        return String.format(Locale.ROOT, format, args);
    }
}
