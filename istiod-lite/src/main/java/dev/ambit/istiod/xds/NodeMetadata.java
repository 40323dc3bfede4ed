package dev.ambit.istiod.xds;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.core.v3.Node;
import java.util.Map;
import java.util.TreeMap;

/**
 * What istiod-lite reads from a client's {@code node} to pick what it serves, as Istio
 * reads its proxies' node metadata.
 *
 * <ul>
 *   <li>A <b>waypoint</b>, or a Gateway API gateway of class {@code istio}, is named by
 *       {@code metadata.NAMESPACE} and {@code metadata.LABELS["gateway.networking.k8s.io/gateway-name"]}
 *       (the label every pod of such a deployment carries); it gets that gateway's Envoy resources.</li>
 *   <li>An <b>ingress gateway</b> picked by an Istio {@code Gateway}'s selector is named by its
 *       namespace and its whole {@code LABELS} map ({@link #proxyKey()}).</li>
 *   <li>A <b>proxyless gRPC</b> client says {@code metadata.GENERATOR: grpc}.</li>
 * </ul>
 *
 * @param namespace {@code NAMESPACE}, or empty
 * @param gatewayName the gateway-name label, or empty
 * @param generator {@code GENERATOR}, or empty
 * @param labels every string entry of {@code LABELS}, sorted by key
 * @param name {@code NAME} (the pod's name), or empty
 */
public record NodeMetadata(String namespace, String gatewayName, String generator, Map<String, String> labels,
                           String name) {

    static final String NAMESPACE = "NAMESPACE";
    static final String LABELS = "LABELS";
    static final String GENERATOR = "GENERATOR";
    static final String NAME = "NAME";
    /** The label every waypoint pod carries: the name of the Gateway it was deployed from. */
    public static final String GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name";
    /** {@code GENERATOR} of proxyless gRPC clients (Istio's value). */
    public static final String GRPC_GENERATOR = "grpc";

    static final NodeMetadata NONE = new NodeMetadata("", "", "", Map.of(), "");

    public NodeMetadata {
        requireNonNull(namespace, "namespace");
        requireNonNull(gatewayName, "gatewayName");
        requireNonNull(generator, "generator");
        labels = java.util.Collections.unmodifiableMap(new TreeMap<>(requireNonNull(labels, "labels")));
        requireNonNull(name, "name");
    }

    /** A node that does not say its pod's name. */
    public NodeMetadata(String namespace, String gatewayName, String generator, Map<String, String> labels) {
        this(namespace, gatewayName, generator, labels, "");
    }

    /** A node without labels other than the gateway-name label (when {@code gatewayName} is not empty). */
    public NodeMetadata(String namespace, String gatewayName, String generator) {
        this(namespace, gatewayName, generator, gatewayName.isEmpty() ? Map.of() : Map.of(GATEWAY_NAME_LABEL,
                gatewayName));
    }

    /** Reads a node; fields that are absent or not strings are taken as empty (label entries: left out). */
    public static NodeMetadata of(Node node) {
        requireNonNull(node, "node");
        Struct metadata = node.getMetadata();
        Value labelsValue = metadata.getFieldsOrDefault(LABELS, Value.getDefaultInstance());
        Map<String, String> labels = new TreeMap<>();
        if (labelsValue.hasStructValue()) {
            labelsValue.getStructValue().getFieldsMap().forEach((k, v) -> {
                if (v.hasStringValue()) {
                    labels.put(k, v.getStringValue().trim());
                }
            });
        }
        return new NodeMetadata(string(metadata.getFieldsOrDefault(NAMESPACE, Value.getDefaultInstance())),
                labels.getOrDefault(GATEWAY_NAME_LABEL, ""),
                string(metadata.getFieldsOrDefault(GENERATOR, Value.getDefaultInstance())), labels,
                string(metadata.getFieldsOrDefault(NAME, Value.getDefaultInstance())));
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

    /**
     * The key of the Envoy resources this client gets (CONTRACT seam 1): {@code NS/NAME} when it
     * carries the gateway-name label (waypoints, Gateway API gateways); else, with any labels,
     * {@code NS/@POD} when it says its pod's {@code NAME} (ingress pods an Istio Gateway selects, by
     * name), without a name {@code NS/~k1=v1,k2=v2} (labels sorted by key);
     * else, or without a namespace, empty.
     */
    public String proxyKey() {
        if (namespace.isEmpty()) {
            return "";
        }
        if (!gatewayName.isEmpty()) {
            return namespace + "/" + gatewayName;
        }
        if (labels.isEmpty()) {
            return "";
        }
        // By pod name when the node says it: its labels are then read from the pod object, so a
        // proxy need not know every label its Deployment gave the pod (GatewayModel.podKey).
        return name.isEmpty() ? labelKey(namespace, labels) : dev.ambit.istiod.ingress.GatewayModel.podKey(namespace,
                name);
    }

    /** {@code NS/~k1=v1,k2=v2}, labels sorted by key: the key of pods with these labels. */
    public static String labelKey(String namespace, Map<String, String> labels) {
        return dev.ambit.istiod.ingress.GatewayModel.labelKey(namespace, labels);
    }

    public boolean isProxylessGrpc() {
        return GRPC_GENERATOR.equals(generator);
    }
}
