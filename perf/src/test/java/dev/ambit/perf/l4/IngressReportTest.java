package dev.ambit.perf.l4;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The ingress table, its targets against nginx-ingress, the results array, and their place beside the L4 ones. */
class IngressReportTest {

    private static Wrk wrk(double rps, double p50) {
        return new Wrk((long) (rps * 10), 10, rps, p50, p50 * 2, p50 * 4, 0, 0);
    }

    /** Two proxies for ambit-ingress (gateway, agent), one for the Debian ingresses. */
    private static Measurement wrkRun(String scenario, String load, double rps, long gatewayCpuMs) {
        long[] cpu = scenario.equals(IngressReport.AMBIT) ? new long[] {gatewayCpuMs, 1000} : new long[] {gatewayCpuMs};
        long[] rss = scenario.equals(IngressReport.AMBIT) ? new long[] {60 * 1024, 40 * 1024} : new long[] {18 * 1024};
        long total = java.util.Arrays.stream(cpu).sum();
        return new Measurement(scenario, load, 1, total, rss, 10_000, wrk(rps, 0.5), null, cpu, null, new long[0], -1);
    }

    private static List<Measurement> runs() {
        List<Measurement> ms = new ArrayList<>();
        ms.add(new Measurement("direct", "c16", 1, 0, new long[0], 10_000, wrk(50_000, 0.1), null));
        ms.add(wrkRun(IngressReport.AMBIT, "c16", 12_000, 3000));
        ms.add(wrkRun(IngressReport.NGINX, "c16", 10_000, 2500));
        ms.add(wrkRun("haproxy-ingress", "c16", 9_000, 2400));
        ms.add(wrkRun(IngressReport.AMBIT, Measurement.TLS_NEW, 800, 5000));
        ms.add(wrkRun(IngressReport.NGINX, Measurement.TLS_NEW, 1000, 5000));
        ms.add(new Measurement(IngressReport.NGINX, Measurement.TLS_FULL, 1, 900, new long[] {20 * 1024}, 3_000, null,
                null, new long[] {900}, new H2load(400, 300, 0, 120, 700), new long[0], -1));
        return ms;
    }

    @Test
    void tableShowsTheGatewaysOwnCostAndTheTargetsAgainstNginx() {
        IngressReport r = new IngressReport(runs());
        assertThat(r.present()).isTrue();
        String table = r.table();
        // ambit-ingress at c16: 12,000 req/s over 10 s, gateway 3000 ms → 25 ms per 1k, path 4000 ms → 33.3.
        assertThat(table).containsPattern("ambit-ingress +\\| c16 +\\| +12000 .*\\| +25\\.0 \\| +33\\.3 \\| +60\\.0 \\|");
        assertThat(table).containsPattern("nginx-ingress +\\| tls-full +\\| +400 ");
        assertThat(table).doesNotContain("direct");
        assertThat(r.targets()).contains("c16 req/s vs nginx-ingress", "1.20x", "handshakes/s (tls-new) vs nginx-ingress",
                "0.80x", "NOT met");
        assertThat(IngressReport.isIngress("haproxy-ingress")).isTrue();
        assertThat(IngressReport.isIngress("haproxy-l7")).isFalse();
    }

    @Test
    void aRunWithErrorsInvalidatesTheTargets() {
        List<Measurement> ms = runs();
        ms.add(new Measurement(IngressReport.AMBIT, "c1", 1, 100, new long[] {1, 1}, 10_000,
                new Wrk(100, 10, 10, 1, 1, 1, 3, 0), null, new long[] {50, 50}, null, new long[0], -1));
        assertThat(new IngressReport(ms).targets()).contains("INVALID", "ambit-ingress c1 run 1: 3 errors");
    }

    @Test
    void resultsFileKeepsIngressRunsOutOfTheL4ArraysAndListsThemApart() throws Exception {
        L4Report report = new L4Report(new L4Report.Environment("t", "k", 2, "25", "0", false, 10, 1, 20, 1,
                List.of(), List.of(), false, Map.of()), runs());
        JsonNode root = new ObjectMapper().readTree(report.json());
        assertThat(root.path("runs")).hasSize(1);
        assertThat(root.path("runs").path(0).path("scenario").asText()).isEqualTo("direct");
        assertThat(root.path("grpc")).isEmpty();
        JsonNode ingress = root.path("ingress");
        assertThat(ingress).hasSize(6);
        assertThat(ingress.path(0).path("gateway_cpu_ms_per_1k").asDouble()).isCloseTo(25.0, within(0.01));
        assertThat(ingress.path(5).path("load").asText()).isEqualTo("tls-full");
        assertThat(ingress.path(5).path("rps").asDouble()).isCloseTo(400, within(0.01));
        assertThat(report.table()).contains("Ingress: HTTPS to app.example.com");
        new ObjectMapper().readTree(report.detailsJson());
    }
}
