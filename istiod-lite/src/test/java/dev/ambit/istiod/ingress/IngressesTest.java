package dev.ambit.istiod.ingress;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.istiod.model.ServiceCatalog;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class IngressesTest {

    private static final String INGRESS = """
            apiVersion: networking.k8s.io/v1
            kind: Ingress
            metadata: {name: shop, namespace: shop, creationTimestamp: "2026-01-01T00:00:00Z"}
            spec:
              ingressClassName: istio
              tls: [{hosts: [app.example.com], secretName: app-cert}]
              defaultBackend: {service: {name: frontend, port: {number: 8080}}}
              rules:
              - host: app.example.com
                http:
                  paths:
                  - {path: /, pathType: Prefix, backend: {service: {name: frontend, port: {name: http}}}}
                  - {path: /orders/, pathType: Prefix, backend: {service: {name: orders, port: {number: 9090}}}}
                  - {path: /healthz, pathType: Exact, backend: {service: {name: frontend, port: {number: 8080}}}}
                  - {path: /static/*, pathType: ImplementationSpecific, backend: {service: {name: frontend, port: {number: 8080}}}}
            ---
            apiVersion: networking.k8s.io/v1
            kind: Ingress
            metadata: {name: nginx, namespace: shop, annotations: {kubernetes.io/ingress.class: nginx}}
            spec:
              rules: [{host: nginx.example.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: frontend, port: {number: 8080}}}}]}}]
            ---
            """;

    private static Ingresses.Contribution contribute(ConfigSnapshot config) {
        MeshConfig mesh = MeshConfig.defaults();
        return Ingresses.contribute(config, mesh, ServiceCatalog.of(config, mesh), "istio-system");
    }

    @Test
    void serversRoutesAndSecretsAsIstioConvertsThem() {
        var c = contribute(IngressSnapshots.of(IngressSnapshots.service("shop", "frontend", 8080) + INGRESS));
        assertThat(c.servers()).extracting(s -> s.port() + " " + s.protocol() + " " + s.hosts())
                .containsExactly("80 HTTP [*]", "443 HTTPS [app.example.com]");
        // Read where the gateway runs, not in the Ingress's namespace (Istio's rule).
        assertThat(c.servers().get(1).tls().credential())
                .isEqualTo(new GatewayModel.SecretRef("istio-system", "app-cert"));
        assertThat(c.secrets()).containsOnlyKeys("kubernetes://app-cert");
        // app.example.com on both servers, * (default backend) on the HTTP one; nginx's Ingress is not Istio's.
        assertThat(c.hosts()).extracting(h -> h.server() + "|" + h.host())
                .containsExactly("http-ingress-80|app.example.com", "https-443-ingress-shop-shop-0|app.example.com",
                        "http-ingress-80|*");
        List<Route> routes = c.hosts().get(0).routes();
        assertThat(routes).extracting(r -> r.getMatch().hasPath() ? "=" + r.getMatch().getPath()
                        : r.getMatch().getPrefix() + "*")
                .containsExactly("=/healthz", "=/orders", "/orders/*", "/static*", "/*");
        assertThat(routes.get(1).getRoute().getCluster()).isEqualTo("outbound|9090||orders.shop.svc.cluster.local");
        // port.name resolved on the Service.
        assertThat(routes.get(4).getRoute().getCluster()).isEqualTo("outbound|8080||frontend.shop.svc.cluster.local");
        assertThat(c.hosts().get(2).routes()).singleElement().satisfies(r -> assertThat(r.getName())
                .isEqualTo("shop/shop/default"));
        assertThat(c.problems()).anyMatch(p -> p.contains("orders.shop.svc.cluster.local does not exist"));
    }

    @Test
    void anOlderIngressKeepsATlsHostAnotherClaimsWithAnotherSecret() {
        String newer = """
                apiVersion: networking.k8s.io/v1
                kind: Ingress
                metadata: {name: late, namespace: other, creationTimestamp: "2026-02-01T00:00:00Z"}
                spec:
                  ingressClassName: istio
                  tls: [{hosts: [app.example.com], secretName: their-cert}]
                """;
        var c = contribute(IngressSnapshots.of(INGRESS + newer));
        assertThat(c.servers()).hasSize(2);
        assertThat(c.problems()).anyMatch(p -> p.startsWith("Ingress other/late") && p.contains("istio-system/app-cert"));
    }

    @Test
    void noIstioIngressContributesNothing() {
        assertThat(contribute(IngressSnapshots.of("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n")).isEmpty())
                .isTrue();
        assertThat(Ingresses.selects(Map.of("istio", "ingressgateway", "app", "x"))).isTrue();
        assertThat(Ingresses.selects(Map.of("app", "istio-ingressgateway"))).isFalse();
    }

    @Test
    void statusCopiesTheGatewayServiceAddresses() {
        ConfigSnapshot config = IngressSnapshots.of(INGRESS);
        Ingress ing = config.get(Kind.INGRESS, "shop", "shop", Ingress.class).orElseThrow();
        assertThat(Ingresses.isIstio(ing)).isTrue();
        Service svc = new ServiceBuilder().withNewMetadata().withName("istio-ingressgateway").endMetadata()
                .withNewStatus().withNewLoadBalancer().addNewIngress().withIp("172.18.255.10").endIngress()
                .endLoadBalancer().endStatus().build();
        assertThat(Ingresses.loadBalancer(svc).getIngress()).singleElement()
                .satisfies(i -> assertThat(i.getIp()).isEqualTo("172.18.255.10"));
        assertThat(Ingresses.loadBalancer(null).getIngress()).isEmpty();
    }
}
