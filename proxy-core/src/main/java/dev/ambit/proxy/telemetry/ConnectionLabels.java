package dev.ambit.proxy.telemetry;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.workload.Service;
import dev.ambit.api.workload.TunnelProtocol;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.proxy.identity.WorkloadIdentity;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Istio's standard TCP metric labels for one connection, as a proxy reports them. Immutable;
 * made by {@link #builder(Reporter)} from the connection's two workloads, so every proxy
 * derives the labels the same way:
 *
 * <pre>{@code
 * ConnectionLabels.builder(Reporter.SOURCE)
 *         .source(client)
 *         .destination(server, service)
 *         .security(SecurityPolicy.MUTUAL_TLS)
 *         .build();
 * }</pre>
 *
 * <p>Unknown values are {@code "unknown"}, as in Istio; {@code response_flags} is {@code "-"}
 * when nothing went wrong.
 */
public final class ConnectionLabels {

    public static final String UNKNOWN = "unknown";

    /** Who reports the connection: Istio's {@code reporter} label. */
    public enum Reporter {
        /** The client's proxy (outbound). */
        SOURCE("source"),
        /** The server's proxy (inbound). */
        DESTINATION("destination"),
        /**
         * A waypoint, between the two: the source principal is the one the client proved to
         * it, the destination's the identity of the endpoint it reached over HBONE.
         */
        WAYPOINT("waypoint");

        private final String label;

        Reporter(String label) {
            this.label = label;
        }

        /** The label value. */
        public String label() {
            return label;
        }
    }

    /** How the connection was secured: Istio's {@code connection_security_policy} label. */
    public enum SecurityPolicy {
        /** Mutual TLS (HBONE): both identities proven. */
        MUTUAL_TLS("mutual_tls"),
        /** Known to be plaintext (an inbound connection that bypassed the tunnel). */
        NONE("none"),
        /** Not known to the reporter (an outbound connection passed through as plain TCP). */
        UNKNOWN("unknown");

        private final String label;

        SecurityPolicy(String label) {
            this.label = label;
        }

        /** The label value. */
        public String label() {
            return label;
        }
    }

    /** Label names in the order of {@link #values()}; Istio's names so dashboards carry over. */
    static final String[] NAMES = {
        "reporter", "source_workload", "source_workload_namespace", "source_principal", "source_app",
        "source_version", "source_canonical_service", "source_canonical_revision", "source_cluster",
        "destination_workload", "destination_workload_namespace", "destination_principal", "destination_app",
        "destination_version", "destination_service", "destination_service_name",
        "destination_service_namespace", "destination_canonical_service", "destination_canonical_revision",
        "destination_cluster", "request_protocol", "connection_security_policy", "response_flags"
    };
    static final int RESPONSE_FLAGS = NAMES.length - 1;

    /**
     * Label names of Istio's HTTP metrics ({@code istio_requests_total} & co.): the connection's
     * names plus {@code response_code} and {@code grpc_response_status}, in the order of
     * {@link #httpValues}.
     */
    public static final List<String> HTTP_NAMES;

    static {
        List<String> names = new ArrayList<>(List.of(NAMES));
        names.add("response_code");
        names.add("grpc_response_status");
        HTTP_NAMES = List.copyOf(names);
    }

    private final Reporter reporter;
    // Computed once: every counter update and the access log read them.
    private final String[] values;

    private ConnectionLabels(Reporter reporter, String[] values) {
        this.reporter = reporter;
        this.values = values;
    }

    /** Labels for a connection {@code reporter} reports. */
    public static Builder builder(Reporter reporter) {
        return new Builder(requireNonNull(reporter, "reporter"));
    }

    public Reporter reporter() {
        return reporter;
    }

    /** The same connection with other response flags (a denial, an upstream failure); null means none. */
    public ConnectionLabels withResponseFlags(String flags) {
        String[] v = values.clone();
        v[RESPONSE_FLAGS] = flags == null ? "-" : flags;
        return new ConnectionLabels(reporter, v);
    }

    /**
     * Label values of one HTTP request for {@link #HTTP_NAMES}: these labels with
     * {@code response_flags} = {@code responseFlags} ({@code -} when null or empty),
     * {@code response_code} (0 when no response was sent, as Envoy reports it) and
     * {@code grpc_response_status} (empty when the request is not gRPC, as Istio does).
     */
    public String[] httpValues(int responseCode, String grpcStatus, String responseFlags) {
        String[] v = Arrays.copyOf(values, values.length + 2);
        v[RESPONSE_FLAGS] = responseFlags == null || responseFlags.isEmpty() ? "-" : responseFlags;
        v[values.length] = Integer.toString(responseCode);
        v[values.length + 1] = grpcStatus == null ? "" : grpcStatus;
        return v;
    }

    /** The value of label {@code name} (one of {@link #HTTP_NAMES} but the two HTTP-only ones); null if no such label. */
    public String value(String name) {
        for (int i = 0; i < NAMES.length; i++) {
            if (NAMES[i].equals(name)) {
                return values[i];
            }
        }
        return null;
    }

    /** Values in the order of {@link #NAMES}, never null; shared, so callers must not modify it. */
    String[] values() {
        return values;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ConnectionLabels other && Arrays.equals(values, other.values);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(values);
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder("ConnectionLabels{");
        for (int i = 0; i < NAMES.length; i++) {
            s.append(i == 0 ? "" : ", ").append(NAMES[i]).append('=').append(values[i]);
        }
        return s.append('}').toString();
    }

    /** Istio's workload name: the owning workload's (a Deployment's), else the pod's own. */
    public static String workloadName(Workload w) {
        return w.getWorkloadName().isEmpty() ? w.getName() : w.getWorkloadName();
    }

    /**
     * Collects the connection's two workloads. Principals follow from the reporter: a proxy
     * knows its own workload's identity, and the peer's only when mutual TLS proved it.
     */
    public static final class Builder {

        private final Reporter reporter;
        private Workload source;
        private Workload destination;
        private Service service;
        private SpiffeId peer;
        private SecurityPolicy security = SecurityPolicy.UNKNOWN;
        private String requestProtocol = "tcp";
        private String[] serviceOverride;

        private Builder(Reporter reporter) {
            this.reporter = reporter;
        }

        /** The client's workload; {@code null} (the default) when it is not a known workload. */
        public Builder source(Workload source) {
            this.source = source;
            return this;
        }

        /**
         * The server's workload and the service the client addressed; either may be {@code null}
         * (unknown; no service when the client addressed a pod).
         */
        public Builder destination(Workload destination, Service service) {
            this.destination = destination;
            this.service = service;
            return this;
        }

        /**
         * The identity the peer proved with mutual TLS, or {@code null} (the default) when none
         * was. For the {@link Reporter#DESTINATION destination} it is the source principal.
         * For the {@link Reporter#SOURCE source} the destination principal is otherwise the
         * destination workload's identity when it is reached over HBONE, whose handshake checks
         * exactly that identity.
         */
        public Builder peer(SpiffeId peer) {
            this.peer = peer;
            return this;
        }

        /** How the connection is secured; {@link SecurityPolicy#UNKNOWN} by default. */
        public Builder security(SecurityPolicy security) {
            this.security = requireNonNull(security, "security");
            return this;
        }

        /** Istio's {@code request_protocol}: {@code tcp} (the default), {@code http} or {@code grpc}. */
        public Builder requestProtocol(String requestProtocol) {
            this.requestProtocol = requireNonNull(requestProtocol, "requestProtocol");
            return this;
        }

        /**
         * The destination service by name, when no {@link Service} resource is at hand (a
         * waypoint knows the service from its route's cluster, {@code outbound|P|SUBSET|HOST}):
         * {@code destination_service}, {@code _name} and {@code _namespace}; a {@link Service}
         * given to {@link #destination} wins. Null values are unknown.
         */
        public Builder destinationService(String hostname, String name, String namespace) {
            this.serviceOverride = new String[] {hostname, name, namespace};
            return this;
        }

        public ConnectionLabels build() {
            String sourcePrincipal;
            String destinationPrincipal;
            String[] so = service != null
                    ? new String[] {service.getHostname(), service.getName(), service.getNamespace()}
                    : serviceOverride != null ? serviceOverride : new String[3];
            if (reporter == Reporter.SOURCE) {
                sourcePrincipal = source == null ? null : WorkloadIdentity.of(source).uri();
                destinationPrincipal = peer != null ? peer.uri()
                        : destination != null && destination.getTunnelProtocol() == TunnelProtocol.HBONE
                        ? WorkloadIdentity.of(destination).uri() : null;
            } else {
                sourcePrincipal = peer == null ? null : peer.uri();
                destinationPrincipal = destination == null ? null : WorkloadIdentity.of(destination).uri();
            }
            Workload s = source;
            Workload d = destination;
            return new ConnectionLabels(reporter, new String[] {
                reporter.label(),
                or(s == null ? null : workloadName(s)),
                or(s == null ? null : s.getNamespace()),
                or(sourcePrincipal),
                or(s == null ? null : s.getCanonicalName()),          // source_app
                or(s == null ? null : s.getCanonicalRevision()),      // source_version
                or(s == null ? null : s.getCanonicalName()),          // source_canonical_service
                or(s == null ? null : s.getCanonicalRevision()),      // source_canonical_revision
                or(s == null ? null : s.getClusterId()),
                or(d == null ? null : workloadName(d)),
                or(d == null ? null : d.getNamespace()),
                or(destinationPrincipal),
                or(d == null ? null : d.getCanonicalName()),          // destination_app
                or(d == null ? null : d.getCanonicalRevision()),      // destination_version
                or(so[0]),
                or(so[1]),
                or(so[2]),
                or(d == null ? null : d.getCanonicalName()),          // destination_canonical_service
                or(d == null ? null : d.getCanonicalRevision()),      // destination_canonical_revision
                or(d == null ? null : d.getClusterId()),
                requestProtocol,
                security.label(),
                "-"
            });
        }

        private static String or(String v) {
            return v == null || v.isEmpty() ? UNKNOWN : v;
        }
    }
}
