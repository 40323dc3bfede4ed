package dev.ambit.common.expr;

import java.util.Map;
import java.util.Set;

/**
 * The attributes an {@link Expression} reads, as Envoy and Istio name them: one request (or
 * connection) seen by a proxy. {@link #get} answers a full dotted name from {@link #KNOWN}, such
 * as {@code request.method}, with a {@code String}, {@code Long}, {@code Boolean} or, for the
 * header maps, a {@code Map<String, String>} whose keys are lower case; null when the attribute
 * has no value for this request (then the expression's {@code |} fallback or {@code has()}
 * decides).
 */
@FunctionalInterface
public interface Attributes {

    /**
     * The attributes an expression may name (Envoy's request, response, connection, source,
     * destination and upstream attributes, Istio's {@code upstream_peer}/{@code downstream_peer}
     * workload metadata). {@code filter_state}, {@code metadata} and {@code xds} are not supported.
     */
    Set<String> KNOWN = Set.of(
            "request.headers", "request.method", "request.path", "request.url_path", "request.host",
            "request.scheme", "request.protocol", "request.id", "request.useragent", "request.referer",
            "request.query", "request.size", "request.total_size", "request.duration",
            "response.code", "response.code_details", "response.flags", "response.grpc_status",
            "response.headers", "response.size", "response.total_size",
            "source.address", "source.port", "source.principal",
            "destination.address", "destination.port", "destination.principal",
            "connection.mtls", "connection.requested_server_name", "connection.id",
            "upstream.address", "upstream.port",
            "upstream_peer.app", "upstream_peer.version", "upstream_peer.service", "upstream_peer.workload",
            "upstream_peer.namespace", "upstream_peer.cluster", "upstream_peer.revision",
            "downstream_peer.app", "downstream_peer.version", "downstream_peer.service",
            "downstream_peer.workload", "downstream_peer.namespace", "downstream_peer.cluster",
            "downstream_peer.revision");

    /** The roots of {@link #KNOWN} names. */
    Set<String> ROOTS = Set.of("request", "response", "source", "destination", "connection", "upstream",
            "upstream_peer", "downstream_peer");

    /** The value of attribute {@code name} (one of {@link #KNOWN}), or null when it has none. */
    Object get(String name);

    /** Attributes from a map (tests, and callers that compute every value up front). */
    static Attributes of(Map<String, ?> values) {
        return values::get;
    }
}
