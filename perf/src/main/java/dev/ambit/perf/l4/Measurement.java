package dev.ambit.perf.l4;

import java.util.List;

/**
 * One measured run of one load against one scenario.
 *
 * @param cpuMillis user + system CPU time of the scenario's proxies (all of them) during the run
 * @param rssPeakKib each proxy's peak resident memory during the run (a proxy's forked workers
 *     included), in the order of {@link Scenario#proxies()}
 * @param wallMillis how long the load ran, start to exit of the client
 * @param wrk the wrk report (HTTP loads), or null
 * @param iperf the iperf3 report (the iperf load), or null
 */
record Measurement(String scenario, String load, int run, long cpuMillis, long[] rssPeakKib, long wallMillis, Wrk wrk,
                   Iperf iperf) {

    static final List<String> HTTP_LOADS = List.of("c16", "c1");
    static final String IPERF = "iperf";

    /** CPU milliseconds of the proxies per 1000 requests (HTTP loads). */
    double cpuMsPer1k() {
        return wrk == null || wrk.requests() == 0 ? 0 : cpuMillis / (wrk.requests() / 1000.0);
    }

    /** CPU of the proxies in cores (CPU time over wall time). */
    double cpuCores() {
        return wallMillis == 0 ? 0 : (double) cpuMillis / wallMillis;
    }

    /** The larger proxy's peak RSS (one node's proxy), MiB; 0 without proxies. */
    double rssMib() {
        long max = 0;
        for (long k : rssPeakKib) {
            max = Math.max(max, k);
        }
        return max / 1024.0;
    }
}
