package dev.ambit.istiod.config;

import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.MetricsRegistry;

/** Metrics every config source reports, under the same names. */
public final class ConfigMetrics {

    public static final String REJECTED = "ambit_istiod_config_rejected_total";

    private ConfigMetrics() {}

    /** Inputs rejected by validation, by source ("folder", "kubernetes") and kind. */
    public static Counter.Family rejected(MetricsRegistry metrics) {
        return metrics.counter(REJECTED, "Config inputs rejected by validation; security objects fail closed, others keep their last good version.",
                "source", "kind");
    }
}
