package dev.ambit.perf;

import dev.ambit.testing.TestNetwork.Node;

/**
 * One way a pod's outbound connections are handled, set up around one measured run:
 * {@link #start()} before the load client runs, {@link #stop()} after.
 */
sealed interface Capture permits NoCapture, EbpfCapture, IptablesCapture {

    /** The scenario's name in the report. */
    String name();

    /** The pod whose cgroup and namespace the load client runs in. */
    Node pod();

    /** True when connections to the server must be intercepted, so any that reach it are errors. */
    boolean intercepts();

    /** Sets the capture up; on failure, {@link #stop()} still undoes what was done. */
    void start() throws Exception;

    /**
     * Undoes {@link #start()}; safe after a failed or missing start. Returns the run's
     * connections whose original destination was wrong or missing.
     */
    Mismatches stop();
}
