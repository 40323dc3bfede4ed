package dev.ambit.proxy.telemetry;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.workload.Workload;

/**
 * Istio's W3C {@code baggage} header for a tunnel's client: who is calling (cluster, namespace,
 * workload, canonical service and revision), so the peer can label the connection without
 * asking the control plane. Keys are OpenTelemetry's resource attributes, as Istio sends them;
 * empty fields are left out.
 */
public final class Baggage {

    private Baggage() {}

    /** The header value describing {@code source}, e.g. {@code k8s.namespace.name=shop,k8s.deployment.name=web}. */
    public static String of(Workload source) {
        requireNonNull(source, "source");
        StringBuilder b = new StringBuilder();
        append(b, "k8s.cluster.name", source.getClusterId());
        append(b, "k8s.namespace.name", source.getNamespace());
        String kind = switch (source.getWorkloadType()) {
            case DEPLOYMENT -> "deployment";
            case CRONJOB -> "cronjob";
            case JOB -> "job";
            default -> "pod";
        };
        append(b, "k8s." + kind + ".name", ConnectionLabels.workloadName(source));
        append(b, "service.name", source.getCanonicalName());
        append(b, "service.version", source.getCanonicalRevision());
        return b.toString();
    }

    private static void append(StringBuilder b, String key, String value) {
        if (value == null || value.isEmpty()) {
            return;
        }
        if (!b.isEmpty()) {
            b.append(',');
        }
        b.append(key).append('=').append(value);
    }
}
