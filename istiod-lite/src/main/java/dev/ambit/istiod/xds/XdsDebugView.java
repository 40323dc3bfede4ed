package dev.ambit.istiod.xds;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.json.JsonWriter;
import java.time.Instant;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * What the xDS server knows at one instant: the current snapshot and, per connected
 * client, what it subscribed to, what it was sent and whether it accepted it. For an
 * admin endpoint: {@link #toJson()} renders it.
 *
 * @param snapshot the Address/Authorization snapshot every client shares
 * @param waypoints waypoint {@code "NS/NAME"} → the Envoy resources served to it
 * @param grpc the Envoy resources served to proxyless gRPC clients
 * @param clients the open streams, oldest first
 */
public record XdsDebugView(SnapshotView snapshot, Map<String, SnapshotView> waypoints, SnapshotView grpc,
                           List<ClientView> clients) {

    public XdsDebugView {
        requireNonNull(snapshot, "snapshot");
        waypoints = Collections.unmodifiableMap(new TreeMap<>(requireNonNull(waypoints, "waypoints")));
        requireNonNull(grpc, "grpc");
        clients = List.copyOf(requireNonNull(clients, "clients"));
    }

    /** Which ADS method a client uses. */
    public enum Protocol {
        /** {@code DeltaAggregatedResources}: node agents, waypoints. */
        DELTA,
        /** {@code StreamAggregatedResources}: proxyless gRPC. */
        SOTW
    }

    /** Where a client stands with the last response of one type. */
    public enum AckState {
        /** Nothing sent yet for this type. */
        NONE,
        /** The last response is neither ACKed nor NACKed yet. */
        PENDING,
        /** The client applied the last response. */
        ACKED,
        /** The client rejected the last response; see the NACK message. */
        NACKED
    }

    /**
     * The snapshot being served.
     *
     * @param generation how many distinct snapshots were published; 0 before the first,
     *        while no client gets an answer
     * @param typeVersions type URL → version of the whole type
     * @param resources type URL → resource name → resource version
     */
    public record SnapshotView(long generation, Map<String, String> typeVersions,
                               Map<String, SortedMap<String, String>> resources) {
        public SnapshotView {
            typeVersions = Map.copyOf(requireNonNull(typeVersions, "typeVersions"));
            resources = Map.copyOf(requireNonNull(resources, "resources"));
        }
    }

    /**
     * One open stream.
     *
     * @param streamId this server's number for the stream
     * @param nodeId {@code node.id} of the first request; empty until it arrives
     * @param peer the client's socket address
     * @param connectedAt when the stream opened
     * @param awaitingReady true while a response is held back because the client does not
     *        read fast enough (gRPC flow control); it gets the latest state once it does
     * @param subscriptions one per type URL the client asked for
     * @param protocol delta or state of the world
     * @param proxy the waypoint {@code "NS/NAME"} the client is served as, {@code grpc} for
     *        a proxyless gRPC client, or empty
     */
    public record ClientView(long streamId, String nodeId, String peer, Instant connectedAt, boolean awaitingReady,
                             List<SubscriptionView> subscriptions, Protocol protocol, String proxy) {
        public ClientView {
            requireNonNull(protocol, "protocol");
            requireNonNull(proxy, "proxy");
            requireNonNull(nodeId, "nodeId");
            requireNonNull(peer, "peer");
            requireNonNull(connectedAt, "connectedAt");
            subscriptions = List.copyOf(requireNonNull(subscriptions, "subscriptions"));
        }
    }

    /**
     * One type URL on one stream.
     *
     * @param typeUrl the type
     * @param wildcard subscribed to every resource of the type
     * @param names explicitly subscribed names (beside any wildcard)
     * @param lastNonce nonce of the last response sent; empty if none
     * @param ackState whether the last response was ACKed or NACKed
     * @param lastNackNonce nonce of the last NACKed response; empty if none
     * @param lastNackMessage the client's error message for it; empty if none
     * @param responses responses of this type sent on the stream
     * @param sent name → version the client was last sent (what it should hold)
     */
    public record SubscriptionView(String typeUrl, boolean wildcard, List<String> names, String lastNonce,
                                   AckState ackState, String lastNackNonce, String lastNackMessage, long responses,
                                   SortedMap<String, String> sent) {
        public SubscriptionView {
            requireNonNull(typeUrl, "typeUrl");
            names = List.copyOf(requireNonNull(names, "names"));
            requireNonNull(lastNonce, "lastNonce");
            requireNonNull(ackState, "ackState");
            requireNonNull(lastNackNonce, "lastNackNonce");
            requireNonNull(lastNackMessage, "lastNackMessage");
            requireNonNull(sent, "sent");
        }
    }

    /** The client with this node id, or null. */
    public ClientView client(String nodeId) {
        for (ClientView c : clients) {
            if (c.nodeId().equals(nodeId)) {
                return c;
            }
        }
        return null;
    }

    /** Renders the view as one JSON object (keys in a fixed order, so diffs read well). */
    public String toJson() {
        JsonWriter json = new JsonWriter();
        json.open('{');
        json.key("snapshot");
        snapshotJson(json, snapshot);
        json.key("waypoints").open('{');
        for (Map.Entry<String, SnapshotView> w : waypoints.entrySet()) {
            json.key(w.getKey());
            snapshotJson(json, w.getValue());
        }
        json.close('}');
        json.key("grpc");
        snapshotJson(json, grpc);
        json.key("clients").open('[');
        for (ClientView c : clients) {
            json.open('{');
            json.key("streamId").value(c.streamId());
            json.key("nodeId").value(c.nodeId());
            json.key("protocol").value(c.protocol().name());
            json.key("proxy").value(c.proxy());
            json.key("peer").value(c.peer());
            json.key("connectedAt").value(c.connectedAt().toString());
            json.key("awaitingReady").value(c.awaitingReady());
            json.key("subscriptions").open('[');
            for (SubscriptionView s : c.subscriptions()) {
                json.open('{');
                json.key("typeUrl").value(s.typeUrl());
                json.key("wildcard").value(s.wildcard());
                json.key("names").list(s.names());
                json.key("lastNonce").value(s.lastNonce());
                json.key("ackState").value(s.ackState().name());
                json.key("lastNackNonce").value(s.lastNackNonce());
                json.key("lastNackMessage").value(s.lastNackMessage());
                json.key("responses").value(s.responses());
                json.key("sent").map(s.sent());
                json.close('}');
            }
            json.close(']');
            json.close('}');
        }
        json.close(']');
        json.close('}');
        return json.toString();
    }

    private static void snapshotJson(JsonWriter json, SnapshotView snapshot) {
        json.open('{');
        json.key("generation").value(snapshot.generation());
        json.key("types").open('{');
        for (Map.Entry<String, String> type : new TreeMap<>(snapshot.typeVersions()).entrySet()) {
            json.key(type.getKey()).open('{');
            json.key("version").value(type.getValue());
            json.key("resources")
                    .map(snapshot.resources().getOrDefault(type.getKey(), Collections.emptySortedMap()));
            json.close('}');
        }
        json.close('}');
        json.close('}');
    }
}
