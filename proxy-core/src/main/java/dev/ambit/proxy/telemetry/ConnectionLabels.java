package dev.ambit.proxy.telemetry;

import static java.util.Objects.requireNonNull;

/**
 * Istio's standard TCP metric labels for one connection, as a node agent reports them.
 * Unknown values are {@code "unknown"}, as in Istio; {@code response_flags} is {@code "-"}
 * when nothing went wrong.
 *
 * @param reporter "source" (outbound, the client's agent) or "destination" (inbound)
 */
public record ConnectionLabels(
        String reporter,
        String sourceWorkload,
        String sourceWorkloadNamespace,
        String sourcePrincipal,
        String sourceApp,
        String sourceVersion,
        String sourceCanonicalService,
        String sourceCanonicalRevision,
        String sourceCluster,
        String destinationWorkload,
        String destinationWorkloadNamespace,
        String destinationPrincipal,
        String destinationApp,
        String destinationVersion,
        String destinationService,
        String destinationServiceName,
        String destinationServiceNamespace,
        String destinationCanonicalService,
        String destinationCanonicalRevision,
        String destinationCluster,
        String connectionSecurityPolicy,
        String responseFlags) {

    public static final String UNKNOWN = "unknown";

    /** Label names in the order of {@link #values()}; Istio's names so dashboards carry over. */
    static final String[] NAMES = {
        "reporter", "source_workload", "source_workload_namespace", "source_principal", "source_app",
        "source_version", "source_canonical_service", "source_canonical_revision", "source_cluster",
        "destination_workload", "destination_workload_namespace", "destination_principal", "destination_app",
        "destination_version", "destination_service", "destination_service_name",
        "destination_service_namespace", "destination_canonical_service", "destination_canonical_revision",
        "destination_cluster", "request_protocol", "connection_security_policy", "response_flags"
    };

    public ConnectionLabels {
        requireNonNull(reporter, "reporter");
        if (!reporter.equals("source") && !reporter.equals("destination")) {
            throw new IllegalArgumentException("reporter: " + reporter + " (expected: source or destination)");
        }
    }

    /** Values in the order of {@link #NAMES}; {@code null} becomes "unknown". */
    String[] values() {
        return new String[] {
            reporter, or(sourceWorkload), or(sourceWorkloadNamespace), or(sourcePrincipal), or(sourceApp),
            or(sourceVersion), or(sourceCanonicalService), or(sourceCanonicalRevision), or(sourceCluster),
            or(destinationWorkload), or(destinationWorkloadNamespace), or(destinationPrincipal), or(destinationApp),
            or(destinationVersion), or(destinationService), or(destinationServiceName),
            or(destinationServiceNamespace), or(destinationCanonicalService), or(destinationCanonicalRevision),
            or(destinationCluster), "tcp", or(connectionSecurityPolicy), responseFlags == null ? "-" : responseFlags
        };
    }

    /** The same connection with other response flags (a denial, an upstream failure). */
    public ConnectionLabels withResponseFlags(String flags) {
        return new ConnectionLabels(reporter, sourceWorkload, sourceWorkloadNamespace, sourcePrincipal, sourceApp,
                sourceVersion, sourceCanonicalService, sourceCanonicalRevision, sourceCluster, destinationWorkload,
                destinationWorkloadNamespace, destinationPrincipal, destinationApp, destinationVersion,
                destinationService, destinationServiceName, destinationServiceNamespace,
                destinationCanonicalService, destinationCanonicalRevision, destinationCluster,
                connectionSecurityPolicy, flags);
    }

    private static String or(String v) {
        return v == null || v.isEmpty() ? UNKNOWN : v;
    }
}
