package dev.ambit.istiod.xds;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Message;
import dev.ambit.api.TypeUrls;
import dev.ambit.istiod.l7.L7Resources;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Envoy resources of one {@link L7Resources} as {@link XdsSnapshot}s: one per proxy key
 * (waypoints and Gateway API gateways {@code "NS/NAME"}, Istio-Gateway pods {@code "NS/~labels"}) and one for proxyless gRPC clients. Waypoints are few (one
 * per namespace or service that opts in), so a snapshot per waypoint costs little next
 * to the one Address/Authorization snapshot every node agent shares.
 *
 * @param source what these were built from; the same object next time means no change
 * @param waypoints waypoint key → its resources of the four Envoy types
 * @param grpc what proxyless gRPC clients get
 * @param problems resources left out (see {@link #of}), each logged once while it lasts
 */
record L7Snapshots(L7Resources source, Map<String, XdsSnapshot> waypoints, XdsSnapshot grpc, XdsSnapshot nodeAgents,
                   Set<String> problems) {

    private static final Logger log = LoggerFactory.getLogger(L7Snapshots.class);

    /**
     * The Envoy types, in the order they are pushed: CDS, EDS, SDS, LDS, RDS (Envoy's
     * make-before-break order: a listener never names a secret, route or cluster not sent yet).
     * Waypoints get an empty Secret set; gateways their certificates.
     */
    static final List<String> ENVOY_TYPES = List.of(TypeUrls.CLUSTER, TypeUrls.CLUSTER_LOAD_ASSIGNMENT,
            TypeUrls.SECRET, TypeUrls.LISTENER, TypeUrls.ROUTE_CONFIGURATION);

    /** What proxyless gRPC clients are served (no SDS: gRFC A27's four types). */
    static final List<String> GRPC_TYPES = List.of(TypeUrls.CLUSTER, TypeUrls.CLUSTER_LOAD_ASSIGNMENT,
            TypeUrls.LISTENER, TypeUrls.ROUTE_CONFIGURATION);

    /** The Envoy types, each empty: what a client that is no known waypoint or gateway gets. */
    static final XdsSnapshot EMPTY = build(Map.of(), XdsSnapshot.empty(), "nobody", new TreeSet<>());

    static final L7Snapshots NONE = new L7Snapshots(L7Resources.empty(), Map.of(), EMPTY, EMPTY, Set.of());

    L7Snapshots {
        requireNonNull(source, "source");
        waypoints = Collections.unmodifiableMap(new LinkedHashMap<>(waypoints));
        requireNonNull(grpc, "grpc");
        requireNonNull(nodeAgents, "nodeAgents");
        problems = Set.copyOf(problems);
    }

    /**
     * Snapshots of {@code l7}, reusing {@code previous}'s resources wherever their bytes
     * did not change (see {@link XdsSnapshot.Builder#reusing(XdsSnapshot)}).
     */
    static L7Snapshots of(L7Resources l7, L7Snapshots previous) {
        requireNonNull(l7, "l7");
        requireNonNull(previous, "previous");
        if (l7 == previous.source()) {
            return previous;
        }
        Map<String, XdsSnapshot> waypoints = new LinkedHashMap<>();
        Set<String> problems = new TreeSet<>();
        for (String key : new TreeSet<>(l7.waypoints())) {
            int slash = key.indexOf('/');
            if (slash <= 0 || slash == key.length() - 1) {
                problems.add("L7 resources name a waypoint '" + key + "' (expected: NS/NAME); not served");
                continue;
            }
            waypoints.put(key, build(l7.forWaypoint(key.substring(0, slash), key.substring(slash + 1)),
                    previous.waypoint(key), "waypoint " + key, problems));
        }
        XdsSnapshot grpc = build(l7.forGrpc(), previous.grpc(), "proxyless gRPC", problems);
        XdsSnapshot nodeAgents = build(l7.forNodeAgents(), previous.nodeAgents(), "node agents", problems);
        for (String problem : problems) {
            // A bug of the translator, not of user input; once, not on every rebuild.
            if (!previous.problems().contains(problem)) {
                log.error("{}", problem);
            }
        }
        return new L7Snapshots(l7, waypoints, grpc, nodeAgents, problems);
    }

    /**
     * The snapshot of waypoint {@code key}; for the empty key (a client that names no proxy: the
     * node agents) {@link #nodeAgents()}; {@link #EMPTY} for an unknown one.
     */
    XdsSnapshot waypoint(String key) {
        if (key.isEmpty()) {
            return nodeAgents;
        }
        XdsSnapshot s = waypoints.get(key);
        return s != null ? s : EMPTY;
    }

    /** True when every waypoint and the gRPC set have the same resource versions in both. */
    boolean sameContent(L7Snapshots other) {
        if (!waypoints.keySet().equals(other.waypoints.keySet()) || !grpc.sameContent(other.grpc)
                || !nodeAgents.sameContent(other.nodeAgents)) {
            return false;
        }
        for (Map.Entry<String, XdsSnapshot> e : waypoints.entrySet()) {
            if (!e.getValue().sameContent(other.waypoints.get(e.getKey()))) {
                return false;
            }
        }
        return true;
    }

    /**
     * Per waypoint known to either, per Envoy type, what changed from {@code previous}. A
     * waypoint in neither has no entry: nothing changed for it.
     */
    Map<String, Map<String, XdsSnapshot.Changes>> changesFrom(L7Snapshots previous) {
        Set<String> keys = new TreeSet<>(waypoints.keySet());
        keys.addAll(previous.waypoints.keySet());
        keys.add(""); // the node agents'
        Map<String, Map<String, XdsSnapshot.Changes>> changes = new LinkedHashMap<>();
        for (String key : keys) {
            XdsSnapshot now = waypoint(key);
            XdsSnapshot before = previous.waypoint(key);
            Map<String, XdsSnapshot.Changes> byType = new LinkedHashMap<>();
            for (String typeUrl : ENVOY_TYPES) {
                byType.put(typeUrl, now == before ? new XdsSnapshot.Changes(List.of(), List.of())
                        : now.changesFrom(before, typeUrl));
            }
            changes.put(key, Map.copyOf(byType));
        }
        return changes;
    }

    /**
     * One snapshot of the four Envoy types. A resource whose message does not match its
     * type URL, or of a type that is not one of the four, is left out with an error: one
     * bad entry from the translator must not stop the rest from being served.
     */
    private static XdsSnapshot build(Map<String, Map<String, Message>> byType, XdsSnapshot previous, String what,
                                     Set<String> problems) {
        XdsSnapshot.Builder builder = XdsSnapshot.builder().reusing(previous);
        for (String typeUrl : ENVOY_TYPES) {
            builder.addType(typeUrl);
        }
        byType.forEach((typeUrl, byName) -> {
            if (!ENVOY_TYPES.contains(typeUrl)) {
                problems.add("L7 resources of " + what + ": type " + typeUrl + " is not served (expected one of "
                        + ENVOY_TYPES + "); left out");
                return;
            }
            byName.forEach((name, message) -> {
                try {
                    builder.add(typeUrl, name, message);
                } catch (IllegalArgumentException e) {
                    problems.add("L7 resources of " + what + ": " + e.getMessage() + "; left out");
                }
            });
        });
        return builder.build();
    }
}
