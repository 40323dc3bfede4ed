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
}
