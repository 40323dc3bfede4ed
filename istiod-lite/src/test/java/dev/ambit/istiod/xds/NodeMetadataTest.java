package dev.ambit.istiod.xds;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.core.v3.Node;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** CONTRACT seam 1: the proxy key a node's metadata names. */
class NodeMetadataTest {

    @Test
    void theGatewayNameLabelNamesAWaypointOrGatewayApiGateway() {
        NodeMetadata m = NodeMetadata.of(node("shop", Map.of("gateway.networking.k8s.io/gateway-name", "wp",
                "pod-template-hash", "abc")));
        assertThat(m.proxyKey()).isEqualTo("shop/wp").isEqualTo(m.waypointKey());
        // The whole label map is kept.
        assertThat(m.labels()).containsOnlyKeys("gateway.networking.k8s.io/gateway-name", "pod-template-hash");
    }

    @Test
    void otherLabelsNameTheIngressPodsSortedByKey() {
        NodeMetadata m = NodeMetadata.of(node("istio-system", Map.of("istio", "ingressgateway",
                "app", "istio-ingressgateway", "pod-template-hash", "7f9c")));
        assertThat(m.proxyKey()).isEqualTo("istio-system/~app=istio-ingressgateway,istio=ingressgateway,"
                + "pod-template-hash=7f9c");
        assertThat(m.waypointKey()).isEmpty();
        assertThat(NodeMetadata.labelKey("istio-system", m.labels())).isEqualTo(m.proxyKey());
    }

    @Test
    void aNodeSayingItsPodNameIsKeyedByThePod() {
        // A proxy knows only some of its pod's labels (a Deployment adds pod-template-hash): the
        // pod's name keys it, and istiod-lite reads the labels from the pod object.
        Node n = node("istio-system", Map.of("istio", "ingressgateway")).toBuilder()
                .setMetadata(node("istio-system", Map.of("istio", "ingressgateway")).getMetadata().toBuilder()
                        .putFields("NAME", Value.newBuilder().setStringValue("istio-ingressgateway-5d8f-x2k").build()))
                .build();
        NodeMetadata m = NodeMetadata.of(n);
        assertThat(m.name()).isEqualTo("istio-ingressgateway-5d8f-x2k");
        assertThat(m.proxyKey()).isEqualTo("istio-system/@istio-ingressgateway-5d8f-x2k");
        // A waypoint keeps its name key whatever its pod is called.
        Node wp = node("shop", Map.of("gateway.networking.k8s.io/gateway-name", "wp")).toBuilder()
                .setMetadata(node("shop", Map.of("gateway.networking.k8s.io/gateway-name", "wp")).getMetadata()
                        .toBuilder().putFields("NAME", Value.newBuilder().setStringValue("wp-abc").build()))
                .build();
        assertThat(NodeMetadata.of(wp).proxyKey()).isEqualTo("shop/wp");
    }

    @Test
    void noLabelsOrNoNamespaceIsNoProxy() {
        assertThat(NodeMetadata.of(node("shop", Map.of())).proxyKey()).isEmpty();
        assertThat(NodeMetadata.of(node("", Map.of("istio", "ingressgateway"))).proxyKey()).isEmpty();
        assertThat(NodeMetadata.of(Node.newBuilder().setId("ztunnel").build()).proxyKey()).isEmpty();
        // A label that is not a string is left out, not taken as empty.
        Node odd = Node.newBuilder().setMetadata(Struct.newBuilder()
                .putFields("NAMESPACE", Value.newBuilder().setStringValue("shop").build())
                .putFields("LABELS", Value.newBuilder().setStructValue(Struct.newBuilder()
                        .putFields("n", Value.newBuilder().setNumberValue(1).build())).build())).build();
        assertThat(NodeMetadata.of(odd).labels()).isEmpty();
        assertThat(NodeMetadata.of(odd).proxyKey()).isEmpty();
    }

    private static Node node(String namespace, Map<String, String> labels) {
        Struct.Builder l = Struct.newBuilder();
        labels.forEach((k, v) -> l.putFields(k, Value.newBuilder().setStringValue(v).build()));
        return Node.newBuilder().setId("n").setMetadata(Struct.newBuilder()
                .putFields("NAMESPACE", Value.newBuilder().setStringValue(namespace).build())
                .putFields("LABELS", Value.newBuilder().setStructValue(l).build())).build();
    }
}
