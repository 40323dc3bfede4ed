package dev.ambit.istiod.xds;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.core.v3.Node;

/**
 * What istiod-lite reads from a client's {@code node} to pick what it serves, as Istio
 * reads its proxies' node metadata.
 *
 * <ul>
 *   <li>A <b>waypoint</b> is named by {@code metadata.NAMESPACE} and
 *       {@code metadata.LABELS["gateway.networking.k8s.io/gateway-name"]} (the label every
 *       pod of a waypoint deployment carries); it gets that waypoint's Envoy resources.</li>
 *   <li>A <b>proxyless gRPC</b> client says {@code metadata.GENERATOR: grpc}.</li>
 * </ul>
 *
 * @param namespace {@code NAMESPACE}, or empty
 * @param gatewayName the gateway-name label, or empty
 * @param generator {@code GENERATOR}, or empty
 */
public record NodeMetadata(String namespace, String gatewayName, String generator) {

    static final String NAMESPACE = "NAMESPACE";
    static final String LABELS = "LABELS";
    static final String GENERATOR = "GENERATOR";
    /** The label every waypoint pod carries: the name of the Gateway it was deployed from. */
    public static final String GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name";
    /** {@code GENERATOR} of proxyless gRPC clients (Istio's value). */
    public static final String GRPC_GENERATOR = "grpc";

    static final NodeMetadata NONE = new NodeMetadata("", "", "");

    public NodeMetadata {
        requireNonNull(namespace, "namespace");
        requireNonNull(gatewayName, "gatewayName");
        requireNonNull(generator, "generator");
    }

    /** Reads a node; fields that are absent or not strings are taken as empty. */
    public static NodeMetadata of(Node node) {
        requireNonNull(node, "node");
        Struct metadata = node.getMetadata();
        Value labels = metadata.getFieldsOrDefault(LABELS, Value.getDefaultInstance());
        String gateway = labels.hasStructValue()
                ? string(labels.getStructValue().getFieldsOrDefault(GATEWAY_NAME_LABEL, Value.getDefaultInstance()))
                : "";
        return new NodeMetadata(string(metadata.getFieldsOrDefault(NAMESPACE, Value.getDefaultInstance())), gateway,
                string(metadata.getFieldsOrDefault(GENERATOR, Value.getDefaultInstance())));
    }

    private static String string(Value v) {
        return v.hasStringValue() ? v.getStringValue().trim() : "";
    }

    /**
     * {@code "NS/NAME"} of the waypoint this client is, as {@code L7Resources.waypoints()}
     * names them; empty when the node does not say both.
     */
    public String waypointKey() {
        return namespace.isEmpty() || gatewayName.isEmpty() ? "" : namespace + "/" + gatewayName;
    }

    public boolean isProxylessGrpc() {
        return GRPC_GENERATOR.equals(generator);
    }
}
