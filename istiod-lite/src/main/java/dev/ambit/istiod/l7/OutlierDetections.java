package dev.ambit.istiod.l7;

import com.google.protobuf.Duration;
import com.google.protobuf.UInt32Value;
import dev.ambit.istiod.config.Kind;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.type.v3.Percent;
import io.fabric8.istio.api.api.networking.v1alpha3.OutlierDetection;
import io.fabric8.istio.api.networking.v1.DestinationRule;

/**
 * DestinationRule {@code trafficPolicy.outlierDetection} → Envoy {@code outlier_detection}, as
 * Istio's {@code applyOutlierDetection}:
 * <ul>
 *   <li>{@code enforcing_success_rate: 0} always (no success-rate ejection);</li>
 *   <li>{@code consecutive5xxErrors} → {@code consecutive_5xx}, with
 *       {@code enforcing_consecutive_5xx} 100 when it is positive, else 0 (so {@code 0} turns
 *       Envoy's default detector off);</li>
 *   <li>{@code consecutiveGatewayErrors} → {@code consecutive_gateway_failure} with
 *       {@code enforcing_consecutive_gateway_failure} the same way;</li>
 *   <li>{@code interval}, {@code baseEjectionTime} as they are; a positive
 *       {@code maxEjectionPercent} → {@code max_ejection_percent};</li>
 *   <li>{@code splitExternalLocalOriginErrors} → {@code split_external_local_origin_errors}
 *       with {@code enforcing_local_origin_success_rate: 0}, and then a positive
 *       {@code consecutiveLocalOriginFailures} → {@code consecutive_local_origin_failure}
 *       with enforcing 100;</li>
 *   <li>{@code minHealthPercent} (0 when unset) → {@code common_lb_config.healthy_panic_threshold}:
 *       with outlier detection Istio turns Envoy's 50% panic off unless asked.</li>
 * </ul>
 * The deprecated {@code consecutiveErrors} is not translated (Istio warns and ignores it).
 */
final class OutlierDetections {

    private OutlierDetections() {}

    /** Applies {@code outlier} (null: none) to the cluster being built. */
    static void apply(Cluster.Builder c, OutlierDetection outlier) {
        if (outlier == null) {
            return;
        }
        var out = io.envoyproxy.envoy.config.cluster.v3.OutlierDetection.newBuilder()
                .setEnforcingSuccessRate(UInt32Value.of(0));
        if (outlier.getConsecutive5xxErrors() != null) {
            int v = Math.max(0, outlier.getConsecutive5xxErrors());
            out.setConsecutive5Xx(UInt32Value.of(v)).setEnforcingConsecutive5Xx(UInt32Value.of(v > 0 ? 100 : 0));
        }
        if (outlier.getConsecutiveGatewayErrors() != null) {
            int v = Math.max(0, outlier.getConsecutiveGatewayErrors());
            out.setConsecutiveGatewayFailure(UInt32Value.of(v))
                    .setEnforcingConsecutiveGatewayFailure(UInt32Value.of(v > 0 ? 100 : 0));
        }
        Duration interval = Envoy.duration(outlier.getInterval());
        if (interval != null) {
            out.setInterval(interval);
        }
        Duration base = Envoy.duration(outlier.getBaseEjectionTime());
        if (base != null) {
            out.setBaseEjectionTime(base);
        }
        if (outlier.getMaxEjectionPercent() != null && outlier.getMaxEjectionPercent() > 0) {
            out.setMaxEjectionPercent(UInt32Value.of(Math.min(100, outlier.getMaxEjectionPercent())));
        }
        if (Boolean.TRUE.equals(outlier.getSplitExternalLocalOriginErrors())) {
            out.setSplitExternalLocalOriginErrors(true);
            Integer local = outlier.getConsecutiveLocalOriginFailures();
            if (local != null && local > 0) {
                out.setConsecutiveLocalOriginFailure(UInt32Value.of(local))
                        .setEnforcingConsecutiveLocalOriginFailure(UInt32Value.of(100));
            }
            out.setEnforcingLocalOriginSuccessRate(UInt32Value.of(0));
        }
        c.setOutlierDetection(out);
        int minHealth = outlier.getMinHealthPercent() == null ? 0 : outlier.getMinHealthPercent();
        if (minHealth >= 0) {
            c.getCommonLbConfigBuilder().setHealthyPanicThreshold(Percent.newBuilder().setValue(Math.min(100, minHealth)));
        }
    }

    /** Warns about the outlierDetection fields at {@code path} that are not applied. */
    static void warnUntranslated(DestinationRule dr, String path, OutlierDetection od, Problems problems) {
        if (od == null) {
            return;
        }
        if (od.getConsecutiveErrors() != null && od.getConsecutiveErrors() != 0) {
            problems.field(Kind.DESTINATION_RULE, dr, path + ".consecutiveErrors", "deprecated and not applied, "
                    + "as in Istio (use consecutive5xxErrors or consecutiveGatewayErrors)");
        }
        if (!Boolean.TRUE.equals(od.getSplitExternalLocalOriginErrors()) && od.getConsecutiveLocalOriginFailures() != null
                && od.getConsecutiveLocalOriginFailures() > 0) {
            problems.field(Kind.DESTINATION_RULE, dr, path + ".consecutiveLocalOriginFailures", "not applied: "
                    + "splitExternalLocalOriginErrors is false (Istio rejects this combination)");
        }
        for (String[] d : new String[][] {{"interval", od.getInterval()}, {"baseEjectionTime", od.getBaseEjectionTime()}}) {
            if (d[1] != null && Envoy.duration(d[1]) == null) {
                problems.field(Kind.DESTINATION_RULE, dr, path + "." + d[0], "\"" + d[1]
                        + "\" is not a duration (expected e.g. 30s); Envoy's default applies");
            }
        }
    }
}
