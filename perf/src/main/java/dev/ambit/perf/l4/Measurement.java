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
 * @param cpuEachMillis each proxy's CPU time during the run, in the order of {@link Scenario#proxies()}
 * @param h2load the h2load report (the grpc load), or null
 * @param threadCpuMillis the CPU time of each event-loop thread of the scenario's
 *     {@link Scenario#l7Proxy() L7 proxy} during the run, largest first (empty without one):
 *     whether one pooled HBONE connection keeps one core busy or all of them
 * @param downstreamConnections TCP connections established to the L7 proxy's listener at the
 *     end of the run (-1: not counted)
 */
record Measurement(String scenario, String load, int run, long cpuMillis, long[] rssPeakKib, long wallMillis, Wrk wrk,
                   Iperf iperf, long[] cpuEachMillis, H2load h2load, long[] threadCpuMillis,
                   int downstreamConnections) {

    static final List<String> HTTP_LOADS = List.of("c16", "c1");
    static final String IPERF = "iperf";
    static final String GRPC = "grpc";
    /**
     * wrk -c16 with {@code Connection: close}: every request on a new connection, so a new TLS
     * handshake; wrk offers the session it got before, so the handshake is resumed wherever the
     * server allows it (as browsers' are).
     */
    static final String TLS_NEW = "tls-new";
    /**
     * h2load with as many clients as requests: every request on a new connection with a fresh
     * client offering no session, so a full handshake each (ECDHE and the certificate's signature).
     */
    static final String TLS_FULL = "tls-full";

    /** An L4 measurement: no per-proxy split, no h2load, no threads. */
    Measurement(String scenario, String load, int run, long cpuMillis, long[] rssPeakKib, long wallMillis, Wrk wrk,
                Iperf iperf) {
        this(scenario, load, run, cpuMillis, rssPeakKib, wallMillis, wrk, iperf, new long[0], null, new long[0], -1);
    }

    /** Requests completed in the run (wrk or h2load); 0 for iperf. */
    long requests() {
        return wrk != null ? wrk.requests() : h2load != null ? h2load.succeeded() : 0;
    }

    /** CPU milliseconds of the proxies per 1000 requests (HTTP loads). */
    double cpuMsPer1k() {
        return requests() == 0 ? 0 : cpuMillis / (requests() / 1000.0);
    }

    /** CPU milliseconds of proxy {@code index} (in {@link Scenario#proxies()} order) per 1000 requests. */
    double cpuMsPer1k(int index) {
        return requests() == 0 || index >= cpuEachMillis.length ? Double.NaN
                : cpuEachMillis[index] / (requests() / 1000.0);
    }

    /** The largest CPU per 1000 requests of any one proxy process. */
    double maxProcessCpuMsPer1k() {
        double max = Double.NaN;
        for (int i = 0; i < cpuEachMillis.length; i++) {
            double v = cpuMsPer1k(i);
            max = Double.isNaN(max) ? v : Math.max(max, v);
        }
        return max;
    }

    /** CPU of the proxies in cores (CPU time over wall time). */
    double cpuCores() {
        return wallMillis == 0 ? 0 : (double) cpuMillis / wallMillis;
    }

    /** The cores each event-loop thread of the L7 proxy kept busy over the run, largest first. */
    double[] threadCores() {
        double[] cores = new double[threadCpuMillis.length];
        for (int i = 0; i < cores.length; i++) {
            cores[i] = wallMillis == 0 ? 0 : (double) threadCpuMillis[i] / wallMillis;
        }
        return cores;
    }

    /** The larger proxy's peak RSS (one node's proxy), MiB; 0 without proxies. */
    double rssMib() {
        long max = 0;
        for (long k : rssPeakKib) {
            max = Math.max(max, k);
        }
        return max / 1024.0;
    }

    /** Proxy {@code index}'s peak RSS, MiB; NaN when there is no such proxy. */
    double rssMib(int index) {
        return index < rssPeakKib.length ? rssPeakKib[index] / 1024.0 : Double.NaN;
    }

    /** Errors of the load client: wrk's socket errors and non-2xx, or h2load's failed requests. */
    long errors() {
        return wrk != null ? wrk.errors() : h2load != null ? h2load.failed() : 0;
    }
}
