package dev.ambit.perf.l4;

import static dev.ambit.common.json.JsonWriter.quote;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.ToDoubleFunction;
import java.util.stream.Collectors;

/**
 * The ingress part of a bench run (issue 16): {@code ambit-ingress} beside the ingresses from
 * Debian's packages ({@code *-ingress}), HTTPS keep-alive at c16 and c1 and new connections
 * ({@code tls-new}: one full TLS handshake per request), the gateway's own CPU per 1000
 * requests and its RSS (the first proxy of each scenario), and the targets
 * (≥ nginx on requests/s and handshakes/s) as ratios from the same run.
 */
final class IngressReport {

    static final String AMBIT = "ambit-ingress";
    static final String NGINX = "nginx-ingress";
    static final String SUFFIX = "-ingress";
    static final List<String> LOADS = List.of("c16", "c1", Measurement.TLS_NEW, Measurement.TLS_FULL);

    private final List<Measurement> all;

    IngressReport(List<Measurement> measurements) {
        this.all = measurements.stream().filter(m -> isIngress(m.scenario()) && (m.wrk() != null || m.h2load() != null))
                .toList();
    }

    static boolean isIngress(String scenario) {
        return scenario.endsWith(SUFFIX) || scenario.endsWith(SUFFIX + "-base"); // ambit-ingress-base: --baseline
    }

    boolean present() {
        return !all.isEmpty();
    }

    private List<Measurement> runs(String scenario, String load) {
        return all.stream().filter(m -> m.scenario().equals(scenario) && m.load().equals(load)).toList();
    }

    private List<String> scenarios() {
        List<String> names = new ArrayList<>();
        all.forEach(m -> {
            if (!names.contains(m.scenario())) {
                names.add(m.scenario());
            }
        });
        return names;
    }

    /** Requests (handshakes, for tls-new and tls-full) per second: wrk's or h2load's. */
    static double rps(Measurement m) {
        return m.wrk() != null ? m.wrk().rps() : m.h2load().rps();
    }

    /** p50 (wrk) or, for h2load's tls-full, the mean request time. */
    static double p50(Measurement m) {
        return m.wrk() != null ? m.wrk().p50Ms() : m.h2load().meanMs();
    }

    static double p90(Measurement m) {
        return m.wrk() != null ? m.wrk().p90Ms() : Double.NaN;
    }

    /** p99 (wrk) or, for h2load's tls-full, the longest request time. */
    static double p99(Measurement m) {
        return m.wrk() != null ? m.wrk().p99Ms() : m.h2load().maxMs();
    }

    /** The gateway's (the scenario's first proxy's) CPU per 1000 requests in one run. */
    static double gatewayCpuMsPer1k(Measurement m) {
        return m.cpuMsPer1k(0);
    }

    /** The gateway's peak RSS in one run, MiB. */
    static double gatewayRssMib(Measurement m) {
        return m.rssMib(0);
    }

    private static double mean(List<Measurement> ms, ToDoubleFunction<Measurement> f) {
        return ms.stream().mapToDouble(f).average().orElse(Double.NaN);
    }

    private static double spread(List<Measurement> ms, ToDoubleFunction<Measurement> f) {
        double mean = mean(ms, f);
        double hi = ms.stream().mapToDouble(f).max().orElse(0);
        double lo = ms.stream().mapToDouble(f).min().orElse(0);
        return mean == 0 || Double.isNaN(mean) ? 0 : (hi - lo) / mean * 100;
    }

    String table() {
        StringBuilder sb = new StringBuilder();
        sb.append("Ingress: HTTPS to app.example.com from the client pod; c16, c1: wrk keep-alive; tls-new: wrk with"
                + " Connection: close,\na new connection and handshake per request, resumed where the server allows"
                + " it; tls-full: h2load, one fresh\nclient per request (a full handshake each; p50 = mean, p99 = max);"
                + " for both, req/s = handshakes/s. gw CPU and gw RSS =\nthe gateway process alone (ambit-ingress:"
                + " the waypoint-proxy in gateway mode; path CPU adds the server's agent).\n\n");
        String header = fmt("%-16s | %-8s | %9s | %6s | %7s | %7s | %7s | %9s | %8s | %7s | %6s", "scenario", "load",
                "req/s", "spread", "p50 ms", "p90 ms", "p99 ms", "gw CPU/1k", "path CPU", "gw RSS", "errors");
        sb.append(header).append('\n').append("-".repeat(header.length())).append('\n');
        for (String load : LOADS) {
            for (String s : scenarios()) {
                List<Measurement> ms = runs(s, load);
                if (ms.isEmpty()) {
                    continue;
                }
                sb.append(fmt("%-16s | %-8s | %9.0f | %5.1f%% | %7.3f | %7.3f | %7.3f | %9.1f | %8.1f | %7.1f | %6d%n",
                        s, load, mean(ms, IngressReport::rps), spread(ms, IngressReport::rps),
                        mean(ms, IngressReport::p50), mean(ms, IngressReport::p90), mean(ms, IngressReport::p99),
                        mean(ms, IngressReport::gatewayCpuMsPer1k), mean(ms, Measurement::cpuMsPer1k),
                        ms.stream().mapToDouble(IngressReport::gatewayRssMib).max().orElse(Double.NaN),
                        ms.stream().mapToLong(Measurement::errors).sum()));
            }
        }
        return sb.append('\n').append(targets()).toString();
    }

    /** The targets for ambit-ingress against nginx-ingress, from this run (figures, not assertions). */
    String targets() {
        StringBuilder sb = new StringBuilder("Targets (ambit-ingress against nginx-ingress, this run):\n");
        if (runs(AMBIT, "c16").isEmpty() || runs(NGINX, "c16").isEmpty()) {
            return sb.append("  (needs ambit-ingress and nginx-ingress with the c16 load)\n").toString();
        }
        String failed = all.stream().filter(m -> m.errors() > 0)
                .map(m -> m.scenario() + " " + m.load() + " run " + m.run() + ": " + m.errors() + " errors")
                .collect(Collectors.joining("; "));
        if (!failed.isEmpty()) {
            return sb.append("  INVALID, runs with errors (fix them before comparing): ").append(failed).append('\n')
                    .toString();
        }
        for (String load : List.of("c16", Measurement.TLS_NEW, Measurement.TLS_FULL)) {
            List<Measurement> a = runs(AMBIT, load);
            List<Measurement> n = runs(NGINX, load);
            if (a.isEmpty() || n.isEmpty()) {
                continue;
            }
            double ratio = mean(a, IngressReport::rps) / mean(n, IngressReport::rps);
            String what = load.equals("c16") ? "c16 req/s vs nginx-ingress" : "handshakes/s (" + load + ") vs nginx-ingress";
            sb.append(fmt("  %-44s %-10s target %-12s %s%n", what, fmt("%.2fx", ratio), ">= 1.00x",
                    ratio >= 1.0 ? "met" : "NOT met"));
        }
        return sb.toString();
    }

    /** The {@code "ingress"} array of the results file, one entry per measured run. */
    String jsonArray() {
        StringBuilder sb = new StringBuilder("\"ingress\":[\n");
        for (int i = 0; i < all.size(); i++) {
            Measurement m = all.get(i);
            sb.append(fmt("  {\"scenario\":%s,\"load\":%s,\"rps\":%s,\"p50_ms\":%s,\"p90_ms\":%s,\"p99_ms\":%s,"
                            + "\"gateway_cpu_ms_per_1k\":%s,\"path_cpu_ms_per_1k\":%s,\"gateway_rss_mib\":%s,"
                            + "\"errors\":%d}%s%n", quote(m.scenario()), quote(m.load()), L7Report.num(rps(m), 1),
                    L7Report.num(p50(m), 3), L7Report.num(p90(m), 3), L7Report.num(p99(m), 3),
                    L7Report.num(gatewayCpuMsPer1k(m), 2), L7Report.num(m.cpuMsPer1k(), 2),
                    L7Report.num(gatewayRssMib(m), 1), m.errors(), i + 1 < all.size() ? "," : ""));
        }
        return sb.append("]").toString();
    }

    private static String fmt(String format, Object... args) {
        return String.format(Locale.ROOT, format, args);
    }
}
