package dev.ambit.waypoint.http;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.api.telemetry.MetricConfig;
import dev.ambit.common.expr.Attributes;
import dev.ambit.proxy.telemetry.ConnectionLabels;
import dev.ambit.waypoint.config.TelemetryFieldsTestAccess;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The istio.stats settings as the waypoint applies them to Istio's metrics and its access log (seam T2). */
class StatsOverridesTest {

    private static final Attributes ERROR = Attributes.of(Map.of("response.code", 503L,
            "request.headers", Map.of("x-proto", "h9")));
    private static final Attributes OK = Attributes.of(Map.of("response.code", 200L, "request.headers", Map.of()));

    @Test
    void labelsAreReplacedOrEmptiedPerMetricAndMetricsDropped() {
        MetricConfig m = MetricConfig.newBuilder().setName("requests_total")
                .putDimensions("request_protocol", "request.headers['x-proto'] | 'none'")
                .putDimensions("source_app", "request.headers['x-missing']")
                .putDimensions("custom_label", "request.headers['x-proto'] | 'unknown'")
                .addTagsToRemove("destination_cluster").build();
        StatsOverrides o = StatsOverrides.of(TelemetryFieldsTestAccess.hcm(m, "response.code >= 500"));
        String[] values = new String[ConnectionLabels.HTTP_NAMES.size()];
        java.util.Arrays.fill(values, "v");
        StatsOverrides.Labels labels = o.labels("requests_total", values, ERROR);
        assertThat(labels.extraNames()).containsExactly("custom_label");
        assertThat(labels.extraValues()).containsExactly("h9");
        String[] out = labels.values();
        assertThat(out[ConnectionLabels.HTTP_NAMES.indexOf("request_protocol")]).isEqualTo("h9");
        assertThat(out[ConnectionLabels.HTTP_NAMES.indexOf("source_app")]).isEqualTo("unknown");
        assertThat(out[ConnectionLabels.HTTP_NAMES.indexOf("destination_cluster")]).isEmpty();
        assertThat(out[ConnectionLabels.HTTP_NAMES.indexOf("reporter")]).isEqualTo("v");
        assertThat(o.labels("requests_total", values, OK).values()[ConnectionLabels.HTTP_NAMES
                .indexOf("request_protocol")]).isEqualTo("none");
        assertThat(o.labels("requests_total", values, OK).extraValues()).containsExactly("unknown");
        // Other metrics keep their labels.
        assertThat(o.labels("request_bytes", values, ERROR).values()).isSameAs(values);
        assertThat(o.labels("request_bytes", values, ERROR).extraNames()).isEmpty();
        assertThat(o.dropped("requests_total")).isFalse();
        // The access log's filter: one line for the error, none for the 200.
        assertThat(o.accessLogLines(ERROR)).isEqualTo(1);
        assertThat(o.accessLogLines(OK)).isZero();

        StatsOverrides all = StatsOverrides.of(TelemetryFieldsTestAccess.hcm(MetricConfig.newBuilder().setDrop(true)
                .build(), null));
        assertThat(all.dropped("requests_total")).isTrue();
        assertThat(all.dropped("response_bytes")).isTrue();
        assertThat(all.accessLogLines(OK)).isEqualTo(1);
    }

    @Test
    void anHcmWithoutTelemetryLogsNothingAndChangesNothing() {
        StatsOverrides o = StatsOverrides.of(io.envoyproxy.envoy.extensions.filters.network.http_connection_manager
                .v3.HttpConnectionManager.getDefaultInstance());
        assertThat(o).isSameAs(StatsOverrides.NONE);
        assertThat(o.logs()).isFalse();
        assertThat(o.dropped("requests_total")).isFalse();
    }
}
