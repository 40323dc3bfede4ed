package dev.ambit.ctl.local;

import java.util.List;

/**
 * Where the controller hands the listeners for LoadBalancer addresses and node ports
 * ({@link ExternalForwards#plan}); {@link LoadBalancerProxy} on a real cluster.
 */
@FunctionalInterface
interface ExternalTraffic {

    /** Makes the listeners match {@code forwards}; called by the controller's thread when they changed. */
    void apply(List<ExternalForwards.Forward> forwards);

    /** Whether {@link #apply} should run again although nothing changed (a bind to retry). */
    default boolean retryPending() {
        return false;
    }
}
