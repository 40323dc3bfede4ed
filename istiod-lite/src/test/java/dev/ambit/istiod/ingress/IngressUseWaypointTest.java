package dev.ambit.istiod.ingress;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Message;
import dev.ambit.api.TypeUrls;
import dev.ambit.istiod.l7.L7Resources;
import dev.ambit.istiod.l7.L7Translator;
import dev.ambit.istiod.model.MeshConfig;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Istio's {@code istio.io/ingress-use-waypoint}: the gateway's endpoints of a labelled Service
 * are its waypoint's pods on 15008 with the Service's {@code VIP:port} as tunnel destination;
 * without the label (or on the waypoint's own proxy) the Service's own endpoints.
 */
class IngressUseWaypointTest {

    private static final String KEY = "istio-system/~istio=ingressgateway";
    private static final String ORDERS = "outbound|8080||orders.shop.svc.cluster.local";
    private static final String ORDERS_V1 = "outbound|8080|v1|orders.shop.svc.cluster.local";
    private static final String FRONTEND = "outbound|80||frontend.shop.svc.cluster.local";

    /** The mesh: a gateway, a waypoint {@code waypoint} in shop, orders (v1/v2) and frontend. */
    private static String mesh(String namespaceLabels, String ordersLabels, boolean waypointDeployed) {
        String waypoint = waypointDeployed ? """
                apiVersion: v1
                kind: Pod
                metadata:
                  name: waypoint-5d8f-x
                  namespace: shop
                  labels: {gateway.networking.k8s.io/gateway-name: waypoint}
                spec: {nodeName: n1, serviceAccountName: waypoint, containers: [{name: p, image: w}]}
                status: {phase: Running, podIP: 10.244.1.50, conditions: [{type: Ready, status: "True"}]}
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: waypoint, namespace: shop, labels: {gateway.networking.k8s.io/gateway-name: waypoint}}
                spec:
                  clusterIP: 10.96.1.50
                  selector: {gateway.networking.k8s.io/gateway-name: waypoint}
                  ports: [{name: mesh, port: 15008}]
                ---
                """ : "";
        return """
                apiVersion: v1
                kind: Namespace
                metadata: {name: istio-system}
                ---
                apiVersion: v1
                kind: Namespace
                metadata:
                  name: shop
                  labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint%1$s}
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: ingress-1, namespace: istio-system, labels: {istio: ingressgateway}}
                spec: {nodeName: n1, serviceAccountName: ingress, containers: [{name: p, image: w}]}
                status: {phase: Running, podIP: 10.244.0.10, conditions: [{type: Ready, status: "True"}]}
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: waypoint, namespace: shop}
                spec:
                  gatewayClassName: istio-waypoint
                  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
                ---
                %2$s
                apiVersion: v1
                kind: Service
                metadata: {name: orders, namespace: shop, labels: {%3$s}}
                spec:
                  clusterIP: 10.96.1.11
                  selector: {app: orders}
                  ports: [{name: http, port: 8080}]
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: orders-v1, namespace: shop, labels: {app: orders, version: v1}}
                spec: {nodeName: n1, serviceAccountName: orders, containers: [{name: o, image: o}]}
                status: {phase: Running, podIP: 10.244.1.21, conditions: [{type: Ready, status: "True"}]}
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: frontend, namespace: shop}
                spec:
                  clusterIP: 10.96.1.10
                  selector: {app: frontend}
                  ports: [{name: http, port: 80, targetPort: 8080}]
                ---
                apiVersion: v1
                kind: Pod
                metadata: {name: frontend-1, namespace: shop, labels: {app: frontend}}
                spec: {nodeName: n1, serviceAccountName: frontend, containers: [{name: f, image: f}]}
                status: {phase: Running, podIP: 10.244.1.20, conditions: [{type: Ready, status: "True"}]}
                ---
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: orders, namespace: shop}
                spec:
                  host: orders
                  subsets: [{name: v1, labels: {version: v1}}]
                ---
                apiVersion: networking.istio.io/v1
                kind: Gateway
                metadata: {name: gw, namespace: istio-system}
                spec:
                  selector: {istio: ingressgateway}
                  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
                ---
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: app, namespace: shop}
                spec:
                  hosts: [app.example.com]
                  gateways: [istio-system/gw]
                  http:
                  - match: [{uri: {prefix: /orders/v1}}]
                    route: [{destination: {host: orders, subset: v1}}]
                  - match: [{uri: {prefix: /orders}}]
                    route: [{destination: {host: orders}}]
                  - route: [{destination: {host: frontend}}]
                ---
                """.formatted(namespaceLabels, waypoint, ordersLabels);
    }

    private static L7Resources translate(String yaml) {
        return L7Translator.of(MeshConfig.defaults()).translate(IngressSnapshots.of(yaml));
    }

    private static LbEndpoint only(Map<String, Map<String, Message>> resources, String cluster) {
        ClusterLoadAssignment cla = (ClusterLoadAssignment) resources.get(TypeUrls.CLUSTER_LOAD_ASSIGNMENT).get(cluster);
        assertThat(cla.getEndpointsList()).flatExtracting(l -> l.getLbEndpointsList()).hasSize(1);
        return cla.getEndpoints(0).getLbEndpoints(0);
    }

    private static String address(LbEndpoint e) {
        var sa = e.getEndpoint().getAddress().getSocketAddress();
        return sa.getAddress() + ":" + sa.getPortValue();
    }

    private static Map<String, String> tunnel(LbEndpoint e) {
        var md = e.getMetadata().getFilterMetadataMap().get("envoy.filters.listener.original_dst");
        return md == null ? Map.of() : Map.of("local", md.getFieldsMap().get("local").getStringValue(),
                "waypoint", md.getFieldsMap().get("waypoint").getStringValue());
    }

    @Test
    void aLabelledServiceIsReachedThroughItsWaypointWithItsVipAsTheTunnelAuthority() {
        var resources = translate(mesh("", "istio.io/ingress-use-waypoint: \"true\"", true)).forProxy(KEY);
        for (String cluster : List.of(ORDERS, ORDERS_V1)) {
            LbEndpoint e = only(resources, cluster);
            assertThat(address(e)).as(cluster).isEqualTo("10.244.1.50:15008");
            assertThat(tunnel(e)).as(cluster).containsExactlyInAnyOrderEntriesOf(
                    Map.of("local", "10.96.1.11:8080", "waypoint", "10.244.1.50:15008"));
            assertThat(e.getMetadata().getFilterMetadataMap().get("envoy.transport_socket_match").getFieldsMap()
                    .get("tunnel").getStringValue()).isEqualTo("http");
        }
        // frontend has the namespace's waypoint too, but no label: straight to its pod (today's path).
        LbEndpoint direct = only(resources, FRONTEND);
        assertThat(address(direct)).isEqualTo("10.244.1.20:8080");
        assertThat(tunnel(direct)).isEmpty();
    }

    @Test
    void theNamespaceLabelAppliesToEveryServiceAndTheServiceLabelOverridesIt() {
        var resources = translate(mesh(", istio.io/ingress-use-waypoint: \"true\"",
                "istio.io/ingress-use-waypoint: \"false\"", true)).forProxy(KEY);
        assertThat(address(only(resources, FRONTEND))).isEqualTo("10.244.1.50:15008");
        assertThat(tunnel(only(resources, FRONTEND))).containsEntry("local", "10.96.1.10:80");
        assertThat(address(only(resources, ORDERS))).isEqualTo("10.244.1.21:8080");
    }

    @Test
    void withoutTheLabelTheGatewayGoesStraightToTheEndpoints() {
        var resources = translate(mesh("", "app: orders", true)).forProxy(KEY);
        assertThat(address(only(resources, ORDERS))).isEqualTo("10.244.1.21:8080");
        assertThat(tunnel(only(resources, ORDERS))).isEmpty();
    }

    @Test
    void aWaypointNotDeployedFailsClosedAndIsReported() {
        L7Resources r = translate(mesh("", "istio.io/ingress-use-waypoint: \"true\"", false));
        ClusterLoadAssignment cla = (ClusterLoadAssignment) r.forProxy(KEY).get(TypeUrls.CLUSTER_LOAD_ASSIGNMENT)
                .get(ORDERS);
        assertThat(cla.getEndpointsList()).flatExtracting(l -> l.getLbEndpointsList()).isEmpty();
        assertThat(r.warnings()).anyMatch(w -> w.contains(ORDERS) && w.contains("ingress-use-waypoint")
                && w.contains("shop/waypoint"));
    }
}
