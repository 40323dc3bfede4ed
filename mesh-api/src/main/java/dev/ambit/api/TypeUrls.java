package dev.ambit.api;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Descriptors.Descriptor;

/**
 * The xDS type URLs Ambit's control plane serves and its proxies subscribe to, defined
 * once for both sides. A type URL is {@value #PREFIX} followed by the resource's full
 * protobuf message name, which is what {@link com.google.protobuf.Any#pack} writes; these
 * are public facts of Istio's and Envoy's APIs, so a real ztunnel or istiod interoperates.
 */
public final class TypeUrls {

    /** What every type URL starts with. */
    public static final String PREFIX = "type.googleapis.com/";

    // ---------------------------------------------------------------- Istio (ztunnel's types)

    /** A workload or a service ({@code istio.workload.Address}); what ztunnel subscribes to. */
    public static final String ADDRESS = PREFIX + "istio.workload.Address";
    /** A workload on its own ({@code istio.workload.Workload}), Istio's older ztunnel type. */
    public static final String WORKLOAD = PREFIX + "istio.workload.Workload";
    /** An L4 authorization policy ({@code istio.security.Authorization}). */
    public static final String AUTHORIZATION = PREFIX + "istio.security.Authorization";

    // ---------------------------------------------------------------- Envoy (waypoint and gateway)

    /** Envoy's LDS type. */
    public static final String LISTENER = PREFIX + "envoy.config.listener.v3.Listener";
    /** Envoy's RDS type. */
    public static final String ROUTE_CONFIGURATION = PREFIX + "envoy.config.route.v3.RouteConfiguration";
    /** Envoy's CDS type. */
    public static final String CLUSTER = PREFIX + "envoy.config.cluster.v3.Cluster";
    /** Envoy's EDS type. */
    public static final String CLUSTER_LOAD_ASSIGNMENT = PREFIX + "envoy.config.endpoint.v3.ClusterLoadAssignment";
    /** Envoy's SDS type. */
    public static final String SECRET = PREFIX + "envoy.extensions.transport_sockets.tls.v3.Secret";

    // ---------------------------------------------------------------- Ambit's own typed configs

    /** The {@code istio.stats} HTTP filter's configuration ({@code ambit.telemetry.v1.StatsConfig}, issue 19). */
    public static final String STATS_CONFIG = PREFIX + "ambit.telemetry.v1.StatsConfig";

    private TypeUrls() {}

    /** The type URL of messages of type {@code descriptor}, as {@code Any.pack} writes it. */
    public static String of(Descriptor descriptor) {
        return PREFIX + requireNonNull(descriptor, "descriptor").getFullName();
    }

    /**
     * The message's full name, the type URL after its last {@code /}
     * ({@code istio.workload.Address}); what metrics label a type with.
     */
    public static String messageName(String typeUrl) {
        requireNonNull(typeUrl, "typeUrl");
        return typeUrl.substring(typeUrl.lastIndexOf('/') + 1);
    }
}
