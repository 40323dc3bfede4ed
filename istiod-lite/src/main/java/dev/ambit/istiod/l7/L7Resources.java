package dev.ambit.istiod.l7;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Message;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The Envoy resources istiod-lite's L7 translation produced from one config snapshot:
 * per proxy key (waypoints {@code "NS/NAME"}, gateways) and for proxyless gRPC clients, each as
 * type URL → resource name → message. Immutable.
 */
public final class L7Resources {

    private static final L7Resources EMPTY = new L7Resources(Map.of(), Map.of(), Map.of(), List.of());

    private final Map<String, Map<String, Map<String, Message>>> waypoints;
    private final Map<String, Map<String, Message>> grpc;
    private final Map<String, Map<String, Message>> nodeAgents;
    private final List<String> warnings;

    private L7Resources(Map<String, Map<String, Map<String, Message>>> waypoints,
                       Map<String, Map<String, Message>> grpc, Map<String, Map<String, Message>> nodeAgents,
                       List<String> warnings) {
        this.waypoints = waypoints;
        this.grpc = grpc;
        this.nodeAgents = nodeAgents;
        this.warnings = warnings;
    }

    /** Copies its arguments (deeply, to immutable maps in the iteration order given). */
    public static L7Resources of(Map<String, Map<String, Map<String, Message>>> waypoints,
                                 Map<String, Map<String, Message>> grpc, List<String> warnings) {
        return of(waypoints, grpc, Map.of(), warnings);
    }

    /** As above, with what every node agent is served of Envoy's types (issue 19: its tracing). */
    public static L7Resources of(Map<String, Map<String, Map<String, Message>>> waypoints,
                                 Map<String, Map<String, Message>> grpc, Map<String, Map<String, Message>> nodeAgents,
                                 List<String> warnings) {
        requireNonNull(waypoints, "waypoints");
        requireNonNull(grpc, "grpc");
        requireNonNull(nodeAgents, "nodeAgents");
        requireNonNull(warnings, "warnings");
        var w = new java.util.LinkedHashMap<String, Map<String, Map<String, Message>>>();
        waypoints.forEach((k, v) -> w.put(k, copy(v)));
        return new L7Resources(java.util.Collections.unmodifiableMap(w), copy(grpc), copy(nodeAgents),
                List.copyOf(warnings));
    }

    public static L7Resources empty() {
        return EMPTY;
    }

    private static Map<String, Map<String, Message>> copy(Map<String, Map<String, Message>> byType) {
        var out = new java.util.LinkedHashMap<String, Map<String, Message>>();
        byType.forEach((type, byName) -> out.put(type,
                java.util.Collections.unmodifiableMap(new java.util.TreeMap<>(byName))));
        return java.util.Collections.unmodifiableMap(out);
    }

    /** One waypoint's resources by type URL; empty when this waypoint is unknown. */
    public Map<String, Map<String, Message>> forWaypoint(String namespace, String name) {
        requireNonNull(namespace, "namespace");
        requireNonNull(name, "name");
        return waypoints.getOrDefault(namespace + "/" + name, Map.of());
    }

    /** One proxy's resources by type URL (a waypoint's or a gateway's key); empty when unknown. */
    public Map<String, Map<String, Message>> forProxy(String key) {
        return waypoints.getOrDefault(requireNonNull(key, "key"), Map.of());
    }

    /** What proxyless gRPC clients are served, by type URL. */
    public Map<String, Map<String, Message>> forGrpc() {
        return grpc;
    }

    /**
     * What node agents are served of Envoy's types, by type URL (issue 19: the {@code connect_terminate}
     * Listener carrying the mesh's tracing, and the collector's Cluster and ClusterLoadAssignment).
     */
    public Map<String, Map<String, Message>> forNodeAgents() {
        return nodeAgents;
    }

    /**
     * The key of every proxy that has resources: waypoints and Gateway API gateways
     * {@code "NS/NAME"}, Istio-Gateway pods {@code "NS/~k=v,..."} (CONTRACT seam 1).
     */
    public Set<String> waypoints() {
        return waypoints.keySet();
    }

    /** What the translation left out or rejected: object, field and reason, one line each. */
    public List<String> warnings() {
        return warnings;
    }
}
