package dev.ambit.agent.proxy;

import dev.ambit.api.workload.Workload;
import dev.ambit.proxy.telemetry.ConnectionLabels;

/** Istio's TCP metric labels for an inbound connection (reporter "destination"). */
final class InboundLabels {

    static final String MUTUAL_TLS = "mutual_tls";
    static final String NONE = "none";

    private InboundLabels() {}

    /**
     * Labels for a connection from {@code source} (null when the client is not a known
     * workload) with {@code sourcePrincipal} (a SPIFFE ID, or null for plaintext) to the local
     * workload {@code destination}.
     */
    static ConnectionLabels of(Workload source, String sourcePrincipal, Workload destination, String security) {
        return new ConnectionLabels("destination",
                source == null ? null : workloadName(source),
                source == null ? null : source.getNamespace(),
                sourcePrincipal,
                source == null ? null : source.getCanonicalName(),
                source == null ? null : source.getCanonicalRevision(),
                source == null ? null : source.getCanonicalName(),
                source == null ? null : source.getCanonicalRevision(),
                source == null ? null : source.getClusterId(),
                workloadName(destination),
                destination.getNamespace(),
                identity(destination),
                destination.getCanonicalName(),
                destination.getCanonicalRevision(),
                // HBONE names the pod, not the service the client chose: unknown here, as in ztunnel
                // without a service in the request.
                null, null, null,
                destination.getCanonicalName(),
                destination.getCanonicalRevision(),
                destination.getClusterId(),
                security,
                null);
    }

    /** The workload's SPIFFE ID as Istio derives it (empty trust domain and account defaulted). */
    static String identity(Workload w) {
        String td = w.getTrustDomain().isEmpty() ? "cluster.local" : w.getTrustDomain();
        String sa = w.getServiceAccount().isEmpty() ? "default" : w.getServiceAccount();
        return "spiffe://" + td + "/ns/" + w.getNamespace() + "/sa/" + sa;
    }

    private static String workloadName(Workload w) {
        return w.getWorkloadName().isEmpty() ? w.getName() : w.getWorkloadName();
    }
}
