package dev.ambit.waypoint.config;

import dev.ambit.api.telemetry.MetricConfig;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;

/** The test HCM with telemetry, for the http package's tests. */
public final class TelemetryFieldsTestAccess {

    private TelemetryFieldsTestAccess() {
    }

    public static HttpConnectionManager hcm(MetricConfig metric, String filter) {
        return TelemetryFieldsTest.withTelemetry(metric, filter, "/dev/stdout");
    }

    /** As {@link #hcm}, its access log with {@code format} as {@code log_format.text_format_source}. */
    public static HttpConnectionManager hcm(MetricConfig metric, String filter, String format) {
        return TelemetryFieldsTest.withLogFormat(hcm(metric, filter), format);
    }
}
