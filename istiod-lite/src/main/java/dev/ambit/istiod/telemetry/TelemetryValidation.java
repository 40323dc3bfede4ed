package dev.ambit.istiod.telemetry;

import dev.ambit.common.expr.Expression;
import io.fabric8.istio.api.api.telemetry.v1alpha1.AccessLogging;
import io.fabric8.istio.api.api.telemetry.v1alpha1.Metrics;
import io.fabric8.istio.api.api.telemetry.v1alpha1.MetricsOverrides;
import io.fabric8.istio.api.api.telemetry.v1alpha1.MetricsOverridesTagOverrideOperation;
import io.fabric8.istio.api.api.telemetry.v1alpha1.Tracing;
import io.fabric8.istio.api.telemetry.v1.Telemetry;
import java.util.List;
import java.util.function.BiConsumer;

/**
 * The checks of one Telemetry that need no other object (run by the decoder and the webhook, so a
 * bad object is refused naming its field): every {@code tagOverrides} value and
 * {@code accessLogging[].filter.expression} parses as an attribute expression the proxies
 * evaluate ({@link Expression}); {@code randomSamplingPercentage} is 0-100; a {@code selector}
 * and {@code targetRefs} are not both set. Provider names need MeshConfig: {@link Telemetries}
 * reports unknown ones.
 */
public final class TelemetryValidation {

    private TelemetryValidation() {
    }

    /** Reports each problem of {@code telemetry} to {@code problems} as (field path, reason). */
    public static void validate(Telemetry telemetry, BiConsumer<String, String> problems) {
        var spec = telemetry.getSpec();
        if (spec == null) {
            return;
        }
        boolean selector = spec.getSelector() != null && spec.getSelector().getMatchLabels() != null
                && !spec.getSelector().getMatchLabels().isEmpty();
        boolean refs = spec.getTargetRef() != null || (spec.getTargetRefs() != null && !spec.getTargetRefs().isEmpty());
        if (selector && refs) {
            problems.accept("spec.targetRefs", "selector and targetRefs both set (expected: one of them)");
        }
        List<Metrics> metrics = spec.getMetrics() == null ? List.of() : spec.getMetrics();
        for (int i = 0; i < metrics.size(); i++) {
            List<MetricsOverrides> os = metrics.get(i) == null || metrics.get(i).getOverrides() == null ? List.of()
                    : metrics.get(i).getOverrides();
            for (int j = 0; j < os.size(); j++) {
                if (os.get(j) == null || os.get(j).getTagOverrides() == null) {
                    continue;
                }
                String base = "spec.metrics[" + i + "].overrides[" + j + "].tagOverrides";
                os.get(j).getTagOverrides().forEach((tag, to) -> {
                    if (to == null || to.getOperation() == MetricsOverridesTagOverrideOperation.REMOVE) {
                        return;
                    }
                    String field = base + "." + tag + ".value";
                    if (to.getValue() == null || to.getValue().isEmpty()) {
                        problems.accept(field, "missing (expected: an attribute expression for operation UPSERT)");
                        return;
                    }
                    expression(to.getValue(), field, problems);
                });
            }
        }
        List<AccessLogging> logs = spec.getAccessLogging() == null ? List.of() : spec.getAccessLogging();
        for (int i = 0; i < logs.size(); i++) {
            AccessLogging l = logs.get(i);
            if (l != null && l.getFilter() != null && l.getFilter().getExpression() != null
                    && !l.getFilter().getExpression().isEmpty()) {
                expression(l.getFilter().getExpression(), "spec.accessLogging[" + i + "].filter.expression", problems);
            }
        }
        List<Tracing> tracing = spec.getTracing() == null ? List.of() : spec.getTracing();
        for (int i = 0; i < tracing.size(); i++) {
            Tracing t = tracing.get(i);
            if (t == null) {
                continue;
            }
            Double p = t.getRandomSamplingPercentage();
            if (p != null && !(p >= 0 && p <= 100)) {
                problems.accept("spec.tracing[" + i + "].randomSamplingPercentage", p + " (expected: 0-100)");
            }
            if (t.getCustomTags() != null) {
                final int n = i;
                t.getCustomTags().forEach((tag, value) -> {
                    if (value == null || value.getType() == null) {
                        problems.accept("spec.tracing[" + n + "].customTags." + tag,
                                "no value (expected: one of literal, environment, header)");
                    }
                });
            }
        }
    }

    private static void expression(String text, String field, BiConsumer<String, String> problems) {
        try {
            Expression.parse(text, field);
        } catch (IllegalArgumentException e) {
            String m = e.getMessage();
            problems.accept(field, m.startsWith(field + ": ") ? m.substring(field.length() + 2) : m);
        }
    }
}
