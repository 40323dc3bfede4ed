package dev.ambit.perf.l4;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** wrk's and iperf3's reports, and the results file's schema. */
class ParsersTest {

    static final String WRK = """
            Running 10s test @ http://127.0.0.1:10001/
              1 threads and 16 connections
              Thread Stats   Avg      Stdev     Max   +/- Stdev
                Latency   650.12us  1.02ms  40.21ms   98.12%
                Req/Sec    25.01k     1.19k   27.50k    76.00%
              Latency Distribution
                 50%  586.00us
                 75%  700.00us
                 90%    1.02ms
                 99%    3.39s
              249120 requests in 10.00s, 61.77MB read
              Socket errors: connect 0, read 2, write 0, timeout 1
              Non-2xx or 3xx responses: 4
            Requests/sec:  24911.95
            Transfer/sec:      6.18MB
            """;

    @Test
    void wrkReportWithUnits() {
        Wrk w = Wrk.parse(WRK).orElseThrow();
        assertThat(w.requests()).isEqualTo(249120);
        assertThat(w.seconds()).isCloseTo(10.0, within(1e-9));
        assertThat(w.rps()).isCloseTo(24911.95, within(1e-9));
        assertThat(w.p50Ms()).isCloseTo(0.586, within(1e-9));
        assertThat(w.p90Ms()).isCloseTo(1.02, within(1e-9));
        assertThat(w.p99Ms()).isCloseTo(3390, within(1e-9));
        assertThat(w.socketErrors()).isEqualTo(3);
        assertThat(w.non2xx()).isEqualTo(4);
        assertThat(w.errors()).isEqualTo(7);
    }

    @Test
    void notAWrkReport() {
        assertThat(Wrk.parse("unable to connect to 127.0.0.1:10001 Connection refused")).isEmpty();
    }

    @Test
    void iperfReceiverRateAndError() {
        Iperf i = Iperf.parse("""
                {"start": {}, "end": {"sum_sent": {"bits_per_second": 3.3e9, "retransmits": 7},
                 "sum_received": {"seconds": 10.04, "bits_per_second": 3.2e9}}}
                """).orElseThrow();
        assertThat(i.gbps()).isCloseTo(3.2, within(1e-9));
        assertThat(i.retransmits()).isEqualTo(7);
        assertThat(Iperf.parse("{\"error\": \"unable to connect to server\"}")).isEmpty();
        assertThat(Iperf.error("{\"error\": \"unable to connect to server\"}")).isEqualTo("unable to connect to server");
    }

    @Test
    void resultsFileHasTheIssuesSchemaOneEntryPerRun() throws Exception {
        Wrk parsed = Wrk.parse(WRK).orElseThrow();
        Wrk w = new Wrk(parsed.requests(), parsed.seconds(), parsed.rps(), parsed.p50Ms(), parsed.p90Ms(),
                parsed.p99Ms(), 0, 0);
        List<Measurement> ms = new ArrayList<>();
        for (int run = 1; run <= 2; run++) {
            ms.add(new Measurement("direct", "c16", run, 0, new long[0], 10_000, w, null));
            ms.add(new Measurement("ambit-l4", "c16", run, 10_000, new long[] {40 * 1024, 50 * 1024}, 10_000, w, null));
            ms.add(new Measurement("nginx-stream-mtls", "c16", run, 12_000, new long[] {9000, 9100}, 10_000, w, null));
            ms.add(new Measurement("ambit-l4", "iperf", run, 9000, new long[] {40 * 1024, 50 * 1024}, 10_000, null,
                    new Iperf(2.5, 10, 0)));
        }
        L4Report report = new L4Report(new L4Report.Environment("t", "k", 2, "25", "0", false, 10, 2, 20, 1,
                List.of("-Xmx48m"), List.of(), false, Map.of()), ms);
        JsonNode root = new ObjectMapper().readTree(report.json());
        assertThat(root.fieldNames()).toIterable().containsExactly("runs", "iperf", "l7", "grpc", "ingress");
        assertThat(root.get("l7")).isEmpty();
        assertThat(root.get("ingress")).isEmpty();
        assertThat(root.get("runs")).hasSize(6);
        assertThat(root.get("runs").get(0).fieldNames()).toIterable().containsExactly("scenario", "load", "rps",
                "p50_ms", "p90_ms", "p99_ms", "proxy_cpu_ms_per_1k", "proxy_rss_mib");
        assertThat(root.get("iperf").get(0).fieldNames()).toIterable().containsExactly("scenario", "gbps",
                "proxy_cpu_cores", "proxy_rss_mib");
        JsonNode ambit = root.get("runs").get(1);
        // 10 s of CPU for 249,120 requests; RSS is the larger proxy's peak.
        assertThat(ambit.get("proxy_cpu_ms_per_1k").asDouble()).isCloseTo(40.14, within(0.01));
        assertThat(ambit.get("proxy_rss_mib").asDouble()).isCloseTo(50.0, within(0.01));
        assertThat(root.get("iperf").get(0).get("proxy_cpu_cores").asDouble()).isCloseTo(0.9, within(1e-9));
        new ObjectMapper().readTree(report.detailsJson());
        assertThat(report.table()).contains("best pair at c16: nginx-stream-mtls");
    }

    @Test
    void targetsAreNotComparedWhenARunHadErrors() {
        Wrk failing = Wrk.parse(WRK).orElseThrow(); // 3 socket errors, 4 non-2xx
        Wrk clean = new Wrk(failing.requests(), failing.seconds(), failing.rps(), failing.p50Ms(), failing.p90Ms(),
                failing.p99Ms(), 0, 0);
        List<Measurement> ms = List.of(
                new Measurement("ambit-l4", "c16", 1, 10_000, new long[] {40 * 1024}, 10_000, failing, null),
                new Measurement("nginx-stream-mtls", "c16", 1, 12_000, new long[] {9000}, 10_000, clean, null));
        L4Report report = new L4Report(new L4Report.Environment("t", "k", 2, "25", "0", false, 10, 1, 20, 1,
                List.of(), List.of(), false, Map.of()), ms);

        assertThat(report.targets()).contains("INVALID", "ambit-l4 c16 run 1: 7 errors")
                .doesNotContain("best pair at c16", "met");
    }
}
