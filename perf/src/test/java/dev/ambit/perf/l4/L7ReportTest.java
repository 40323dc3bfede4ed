package dev.ambit.perf.l4;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** h2load's report, per-thread CPU from /proc, and the L7 table, targets and results arrays. */
class L7ReportTest {

    static final String H2LOAD = """
            starting benchmark...
            spawning thread #0: 1 total client(s). 0 total requests
            Application protocol: h2c
            progress: 10% done

            finished in 5.00s, 4567.80 req/s, 312.45KB/s
            requests: 22839 total, 22855 started, 22839 done, 22830 succeeded, 9 failed, 0 errored, 0 timeout
            status codes: 22830 2xx, 0 3xx, 0 4xx, 9 5xx
            traffic: 1.52MB (1598730) total, 468.21KB (479445) headers (space savings 91.33%), 892.15KB (913560) data
                                 min         max         mean         sd        +/- sd
            time for request:      512us     21.30ms      3.48ms      1.02ms    71.23%
            time for connect:      123us       123us       123us         0us   100.00%
            time to 1st byte:     3.21ms      3.21ms      3.21ms         0us   100.00%
            req/s           :    4567.61     4567.61     4567.61        0.00   100.00%
            """;

    @Test
    void h2loadReport() {
        H2load h = H2load.parse(H2LOAD).orElseThrow();
        assertThat(h.rps()).isCloseTo(4567.80, within(1e-9));
        assertThat(h.succeeded()).isEqualTo(22830);
        assertThat(h.failed()).as("the 5xx answers and h2load's failures").isEqualTo(18);
        assertThat(h.meanMs()).isCloseTo(3.48, within(1e-9));
        assertThat(h.maxMs()).isCloseTo(21.30, within(1e-9));
        assertThat(H2load.parse("connect to 10.96.77.10:50051 failed: Connection refused")).isEmpty();
    }

    @Test
    void statTicksSkipsACommandWithSpacesAndParens() {
        String stat = "4242 (ambit-worker (2)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 30 0 1 0 0";
        assertThat(ProcStats.statTicks(stat)).isEqualTo(325);
    }

    @Test
    void threadDeltasAreSortedLargestFirstAndNewThreadsCountFromZero() {
        long[] d = ProcStats.threadDeltas(Map.of(1L, 100L, 2L, 50L), Map.of(1L, 130L, 2L, 450L, 3L, 20L));
        assertThat(d).containsExactly(400, 30, 20);
    }

    @Test
    void aNamedThreadOfThisJvmIsFound() throws Exception {
        java.util.concurrent.CountDownLatch stop = new java.util.concurrent.CountDownLatch(1);
        Thread t = Thread.ofPlatform().name("l7test-spin").start(() -> {
            try {
                stop.await();
            } catch (InterruptedException ignored) {
                // done
            }
        });
        try {
            Map<Long, Long> threads = ProcStats.threadCpuMillis(ProcessHandle.current().pid(), "l7test-");
            assertThat(threads).hasSize(1);
            assertThat(ProcStats.threadCpuMillis(ProcessHandle.current().pid(), "no-such-thread")).isEmpty();
            assertThat(ProcStats.threadCpuMillis(Long.MAX_VALUE, "l7test-")).isEmpty();
        } finally {
            stop.countDown();
            t.join();
        }
    }

    @Test
    void l7OptionsAreParsedAndTheUsageNamesThem() {
        L4Bench.Options o = L4Bench.parse(new String[] {"--scenarios", "nginx-l7,ambit-waypoint", "--loads", "grpc,c16",
                "--waypoint-workers", "2", "--waypoint-jvm", "-Xmx96m -XX:+UseSerialGC"});
        assertThat(o.scenarios()).as("canonical order").containsExactly("ambit-waypoint", "nginx-l7");
        assertThat(o.loads()).containsExactly("c16", "grpc");
        assertThat(o.waypointWorkers()).isEqualTo(2);
        assertThat(o.waypointJvm()).containsExactly("-Xmx96m", "-XX:+UseSerialGC");
        assertThat(L4Bench.parse(new String[0]).waypointJvm()).isEqualTo(AmbitWaypoint.WAYPOINT_JVM);
        assertThat(L4Bench.usage()).contains("ambit-waypoint,haproxy-l7,nginx-l7", "c16,c1,iperf,grpc",
                "--waypoint-jvm FLAGS", String.join(" ", AmbitWaypoint.WAYPOINT_JVM));
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> L4Bench.parse(new String[] {"--waypoint-workers", "-1"}))
                .isInstanceOf(IllegalArgumentException.class);
    }

    private static Wrk wrk(double rps, double p50) {
        return new Wrk((long) (rps * 10), 10, rps, p50, p50 * 2, p50 * 4, 0, 0);
    }

    /** proxies: agent, waypoint, agent (ms of CPU in a 10 s run). */
    private static Measurement waypoint(String load, int run, double rps, double p50, long[] threadMs) {
        return new Measurement(L7Report.WAYPOINT, load, run, 6000, new long[] {40 * 1024, 100 * 1024, 41 * 1024},
                10_000, wrk(rps, p50), null, new long[] {2000, 3000, 1000}, null, threadMs, 1);
    }

    private static Measurement pair(String name, String load, int run, double rps) {
        return new Measurement(name, load, run, 4000, new long[] {9000, 9100}, 10_000, wrk(rps, 0.5), null,
                new long[] {2200, 1800}, null, new long[0], -1);
    }

    private static List<Measurement> run(long[] threadMs) {
        List<Measurement> ms = new ArrayList<>();
        for (int run = 1; run <= 2; run++) {
            ms.add(new Measurement("ambit-l4", "c1", run, 1000, new long[] {40 * 1024}, 10_000, wrk(4000, 0.30),
                    null));
            ms.add(waypoint("c16", run, 20_000, 0.8, threadMs));
            ms.add(waypoint("c1", run, 3000, 0.40, threadMs));
            ms.add(pair("haproxy-l7", "c16", run, 16_000));
            ms.add(pair("nginx-l7", "c16", run, 18_000));
        }
        ms.add(new Measurement(L7Report.WAYPOINT, "grpc", 1, 5000, new long[] {40 * 1024, 90 * 1024, 41 * 1024},
                10_000, null, null, new long[] {1500, 2500, 1000}, new H2load(10_000, 100_000, 0, 1.6, 9), threadMs, 1));
        return ms;
    }

    @Test
    void tableHasTheWaypointBesideThePairsAndTheIssuesTargets() {
        L7Report report = new L7Report(run(new long[] {4000, 3500}));

        String table = report.table();
        // the waypoint alone: 3000 ms for 200,000 requests; a pair per process: 4000 / 2 for 160,000
        assertThat(table).contains("ambit-waypoint   | c16  |     20000", "1.11x", "   15.0 |", "   12.5 |",
                "0.40/0.35", "grpc");
        String targets = report.targets();
        assertThat(targets).contains("best L7 pair at c16: nginx-l7");
        assertThat(targets).containsPattern("c16 req/s vs best L7 pair\\s+1.11x .* met");
        assertThat(targets).containsPattern("waypoint CPU/1k vs one HAProxy L7 process\\s+1.20x .*NOT met");
        assertThat(targets).containsPattern("waypoint RSS \\(peak, all loads\\)\\s+100.0 MiB .* met");
        assertThat(targets).containsPattern("c1 p50 added over ambit-l4 \\(ms\\)\\s+\\+0.100 .* met");
        assertThat(targets).containsPattern("c16 over 1 HBONE conn: waypoint loops busy\\s+0.40/0.35 .* met");
    }

    @Test
    void aBaselineWaypointGetsItsOwnRowWithItsWaypointsFiguresButNoTargets() {
        List<Measurement> ms = run(new long[] {4000, 3500});
        ms.add(new Measurement(L7Report.WAYPOINT + "-base", "c16", 1, 6000, new long[] {40 * 1024, 150 * 1024,
                41 * 1024}, 10_000, wrk(10_000, 1.0), null, new long[] {2000, 6000, 1000}, null,
                new long[] {4000, 1000}, 1));
        L7Report report = new L7Report(ms);

        // its waypoint (the second proxy): 6000 ms for 100,000 requests, 150 MiB
        assertThat(report.table()).contains("ambit-waypoint-base | c16  |     10000", "   60.0 |", "  150.0 |");
        assertThat(L7Report.l7RssMib(ms.getLast())).isEqualTo(150.0);
        assertThat(report.targets()).containsPattern("waypoint RSS \\(peak, all loads\\)\\s+100.0 MiB");
    }

    @Test
    void oneBusyLoopIsReportedAsPinned() {
        assertThat(new L7Report(run(new long[] {9000, 100})).targets())
                .containsPattern("waypoint loops busy\\s+0.90/0.01 .*NOT met");
    }

    @Test
    void resultsFileHasTheL7AndGrpcArrays() throws Exception {
        List<Measurement> ms = run(new long[] {4000, 3500});
        L4Report report = new L4Report(new L4Report.Environment("t", "k", 2, "25", "0", false, 10, 2, 20, 1,
                List.of(), List.of(), false, Map.of()), ms);
        JsonNode root = new ObjectMapper().readTree(report.json());
        assertThat(root.get("runs")).as("the L4 array keeps the L4 scenarios only").hasSize(2);
        assertThat(root.get("l7")).hasSize(8);
        JsonNode w = root.get("l7").get(0);
        assertThat(w.fieldNames()).toIterable().containsExactly("scenario", "load", "rps", "p50_ms", "p90_ms",
                "p99_ms", "path_cpu_ms_per_1k", "l7_proxy_cpu_ms_per_1k", "l7_proxy_rss_mib", "l7_thread_cores",
                "downstream_connections");
        assertThat(w.get("path_cpu_ms_per_1k").asDouble()).isCloseTo(30.0, within(1e-9));
        assertThat(w.get("l7_proxy_cpu_ms_per_1k").asDouble()).isCloseTo(15.0, within(1e-9));
        assertThat(w.get("l7_proxy_rss_mib").asDouble()).isCloseTo(100.0, within(1e-9));
        assertThat(w.get("l7_thread_cores").get(0).asDouble()).isCloseTo(0.4, within(1e-9));
        JsonNode g = root.get("grpc").get(0);
        assertThat(g.get("rps").asDouble()).isCloseTo(10_000, within(1e-9));
        assertThat(g.get("l7_proxy_cpu_ms_per_1k").asDouble()).isCloseTo(25.0, within(1e-9));
        JsonNode details = new ObjectMapper().readTree(report.detailsJson());
        assertThat(details.get("l7_targets").asText()).contains("best L7 pair at c16");
        assertThat(report.table()).contains("L4 bench", "Targets (ambit-waypoint");
    }
}
