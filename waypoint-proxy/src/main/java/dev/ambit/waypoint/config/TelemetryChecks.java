package dev.ambit.waypoint.config;

import com.google.protobuf.Message;
import dev.ambit.api.telemetry.MetricConfig;
import dev.ambit.common.expr.Expression;
import dev.ambit.proxy.telemetry.trace.TracingConfig;
import dev.ambit.waypoint.http.AccessLogFormat;
import dev.ambit.waypoint.http.StatsOverrides;
import io.envoyproxy.envoy.extensions.access_loggers.file.v3.FileAccessLog;
import io.envoyproxy.envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import java.util.function.BiConsumer;

/**
 * {@link ResourceValidator}'s checks of the telemetry an HCM carries (issue 19): what
 * {@code http.HttpTelemetry}, {@code http.StatsOverrides} and the tracers can honour. Problems go
 * to {@code problems} as (field path, reason), as the validator reports them.
 */
final class TelemetryChecks {

    private TelemetryChecks() {}

    /** Access log filters and files, {@code istio.stats} metric overrides; other messages: nothing. */
    static void check(Message m, String path, BiConsumer<String, String> problems) {
        switch (m) {
            case ExpressionFilter ef -> {
                String at = ResourceValidator.join(path, "expression");
                try {
                    Expression.parse(ef.getExpression(), at);
                } catch (IllegalArgumentException e) {
                    problems.accept(at, e.getMessage().substring(at.length() + 2));
                }
            }
            case FileAccessLog fal -> {
                if (!fal.getPath().equals("/dev/stdout") && !fal.getPath().equals("/dev/stderr")) {
                    problems.accept(ResourceValidator.join(path, "path"), "\"" + fal.getPath() + "\" not supported by this waypoint "
                            + "(expected: /dev/stdout or /dev/stderr)");
                }
                try {
                    AccessLogFormat.of(fal); // an operator Envoy would reject is NACKed, named
                } catch (IllegalArgumentException e) {
                    String msg = e.getMessage();
                    int colon = msg.indexOf(": ");
                    problems.accept(ResourceValidator.join(path, msg.substring(0, colon)), msg.substring(colon + 2));
                }
            }
            case MetricConfig mc -> StatsOverrides.check(mc, path, problems);
            default -> {
                // Not telemetry.
            }
        }
    }

    /** {@code istio.stats} first among the HTTP filters; a {@code tracing} the proxy can export (NACKed, not ignored). */
    static void connectionManager(HttpConnectionManager h, String path, BiConsumer<String, String> problems) {
        for (int i = 1; i < h.getHttpFiltersCount(); i++) {
            if (h.getHttpFilters(i).getName().equals("istio.stats")) {
                problems.accept(ResourceValidator.join(path, "http_filters[" + i + "].name"), "istio.stats (expected: first)");
            }
        }
        if (h.hasTracing()) {
            try {
                TracingConfig.settings(h, "validation");
            } catch (IllegalArgumentException e) {
                problems.accept(ResourceValidator.join(path, "tracing"), e.getMessage());
            }
        }
    }
}
