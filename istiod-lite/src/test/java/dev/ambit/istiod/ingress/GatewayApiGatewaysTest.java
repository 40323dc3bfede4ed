package dev.ambit.istiod.ingress;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.istiod.model.ServiceCatalog;
import io.envoyproxy.envoy.config.route.v3.Route;
import java.util.List;
import org.junit.jupiter.api.Test;

class GatewayApiGatewaysTest {

    static final String GATEWAY = """
            apiVersion: gateway.networking.k8s.io/v1
            kind: Gateway
            metadata: {name: web, namespace: ingress, creationTimestamp: "2026-01-01T00:00:00Z"}
            spec:
              gatewayClassName: istio
              listeners:
              - {name: http, port: 80, protocol: HTTP, hostname: "*.example.com", allowedRoutes: {namespaces: {from: All}}}
              - name: https
                port: 443
                protocol: HTTPS
                hostname: app.example.com
                tls: {mode: Terminate, certificateRefs: [{name: app-cert}]}
                allowedRoutes: {namespaces: {from: All}}
              - name: tls
                port: 8443
                protocol: TLS
                tls: {mode: Passthrough}
              - {name: tcp, port: 9000, protocol: TCP}
            ---
            """;

    static final String ROUTE = """
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: {name: app, namespace: shop, creationTimestamp: "2026-01-02T00:00:00Z"}
            spec:
              parentRefs: [{name: web, namespace: ingress}]
              hostnames: [app.example.com, other.org]
              rules:
              - matches: [{path: {type: PathPrefix, value: /orders}}]
                backendRefs: [{name: orders, port: 8080}]
              - backendRefs: [{name: frontend, port: 8080}]
            ---
            """;

    static GatewayApiGateways.Result translate(ConfigSnapshot config) {
        MeshConfig mesh = MeshConfig.defaults();
        return GatewayApiGateways.proxies(config, mesh, ServiceCatalog.of(config, mesh));
    }

    @Test
    void clientCertificateValidationVerifiesAgainstTheReferenceOrLeavesTheListenerOut() {
        String gateways = """
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: legacy, namespace: ingress, creationTimestamp: "2026-01-01T00:00:00Z"}
                spec:
                  gatewayClassName: istio
                  listeners:
                  - {name: http, port: 80, protocol: HTTP}
                  - name: https
                    port: 443
                    protocol: HTTPS
                    tls:
                      mode: Terminate
                      certificateRefs: [{name: app-cert}]
                      frontendValidation: {caCertificateRefs: [{kind: ConfigMap, group: "", name: client-ca}]}
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: current, namespace: ingress, creationTimestamp: "2026-01-01T00:00:00Z"}
                spec:
                  gatewayClassName: istio
                  tls:
                    frontend:
                      default:
                        validation: {caCertificateRefs: [{kind: Secret, group: "", name: ca, namespace: other}]}
                      perPort:
                      - port: 8443
                        tls: {validation: {caCertificateRefs: [{kind: Service, group: "", name: ca}]}}
                  listeners:
                  - name: https
                    port: 443
                    protocol: HTTPS
                    tls: {mode: Terminate, certificateRefs: [{name: app-cert}]}
                  - name: odd
                    port: 8443
                    protocol: HTTPS
                    tls: {mode: Terminate, certificateRefs: [{name: app-cert}]}
                ---
                """;
        var result = translate(IngressSnapshots.of(gateways));
        GatewayModel.Proxy legacy = result.proxies().stream().filter(p -> p.key().equals("ingress/legacy")).findFirst()
                .orElseThrow();
        GatewayModel.Tls tls = legacy.servers().stream().filter(s -> s.name().equals("https")).findFirst().orElseThrow()
                .tls();
        assertThat(tls.mode()).isEqualTo(GatewayModel.TlsMode.MUTUAL);
        assertThat(tls.clientCa()).isEqualTo(new GatewayModel.CaRef(true, "ingress", "client-ca"));
        // A Secret in another namespace without a ReferenceGrant, and a kind that holds no CA: never
        // served without the verification asked for.
        GatewayModel.Proxy current = result.proxies().stream().filter(p -> p.key().equals("ingress/current"))
                .findFirst().orElseThrow();
        assertThat(current.servers()).isEmpty();
        assertThat(result.problems()).anyMatch(l -> l.contains("spec.tls.frontend.default.validation.caCertificateRefs[0]")
                && l.contains("RefNotPermitted") || l.contains("Secret other/ca is in another namespace"));
        assertThat(result.problems()).anyMatch(l -> l.contains("spec.tls.frontend.perPort[0].tls.validation")
                && l.contains("Service ca is not supported"));
    }

    @Test
    void anInvalidBackendKeepsItsWeightedShareWhichAnswers500() {
        String route = """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: app, namespace: shop, creationTimestamp: "2026-01-02T00:00:00Z"}
                spec:
                  parentRefs: [{name: web, namespace: ingress}]
                  hostnames: [app.example.com]
                  rules:
                  - backendRefs: [{name: frontend, port: 8080, weight: 80}, {name: missing, port: 8080, weight: 20}]
                ---
                """;
        var result = translate(IngressSnapshots.of(IngressSnapshots.service("shop", "frontend", 8080) + GATEWAY + route));
        GatewayModel.Proxy p = result.proxies().get(0);
        Route r = p.hosts().get(0).routes().get(0);
        assertThat(r.getRoute().getWeightedClusters().getClustersList())
                .extracting(c -> c.getName() + "=" + c.getWeight().getValue())
                .containsExactly("outbound|8080||frontend.shop.svc.cluster.local=80",
                        "outbound|8080||invalid-backend.missing.shop=20");
        assertThat(r.getRoute().getClusterNotFoundResponseCode()).isEqualTo(
                io.envoyproxy.envoy.config.route.v3.RouteAction.ClusterNotFoundResponseCode.INTERNAL_SERVER_ERROR);
        assertThat(p.clusters()).as("no resource defines the invalid backend's cluster")
                .containsExactly("outbound|8080||frontend.shop.svc.cluster.local");
        assertThat(result.problems()).anyMatch(l -> l.contains("missing.shop.svc.cluster.local does not exist; its "
                + "share of the requests answers 500"));
    }

    @Test
    void listenersBecomeServersAndAttachedRoutesHttpHosts() {
        var result = translate(IngressSnapshots.of(IngressSnapshots.service("shop", "frontend", 8080) + GATEWAY + ROUTE));
        GatewayModel.Proxy p = result.proxies().get(0);
        assertThat(p.key()).isEqualTo("ingress/web");
        assertThat(p.namespace()).isEqualTo("ingress");
        assertThat(p.servers()).extracting(GatewayModel.Server::name).containsExactly("http", "https", "tls");
        GatewayModel.Server https = p.servers().get(1);
        assertThat(https.protocol()).isEqualTo(GatewayModel.Protocol.HTTPS);
        assertThat(https.hosts()).containsExactly("app.example.com");
        assertThat(https.tls().mode()).isEqualTo(GatewayModel.TlsMode.SIMPLE);
        assertThat(https.tls().credential()).isEqualTo(new GatewayModel.SecretRef("ingress", "app-cert"));
        assertThat(p.secrets()).containsEntry("kubernetes://app-cert", https.tls().credential());
        assertThat(p.servers().get(2).tls().mode()).isEqualTo(GatewayModel.TlsMode.PASSTHROUGH);
        assertThat(p.servers().get(2).protocol()).isEqualTo(GatewayModel.Protocol.TLS);
        // other.org meets neither listener's hostname; app.example.com meets both.
        assertThat(p.hosts()).extracting(h -> h.server() + "|" + h.host())
                .containsExactly("http|app.example.com", "https|app.example.com");
        List<Route> routes = p.hosts().get(0).routes();
        // /orders: its Service does not exist, so the rule answers 500 (Gateway API); / goes to frontend.
        assertThat(routes.get(0).getMatch().getPath()).isEqualTo("/orders");
        assertThat(routes.get(0).getDirectResponse().getStatus()).isEqualTo(500);
        assertThat(routes).last().satisfies(r -> assertThat(r.getRoute().getCluster())
                .isEqualTo("outbound|8080||frontend.shop.svc.cluster.local"));
        assertThat(p.clusters()).containsExactly("outbound|8080||frontend.shop.svc.cluster.local");
        assertThat(result.problems()).anyMatch(l -> l.contains("orders.shop.svc.cluster.local does not exist"))
                .anyMatch(l -> l.contains("listener tcp is not served") && l.contains("TCP"));
    }

    @Test
    void aBackendInAnotherNamespaceNeedsAReferenceGrant() {
        String route = """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: app, namespace: ingress}
                spec:
                  parentRefs: [{name: web, sectionName: http}]
                  hostnames: [app.example.com]
                  rules:
                  - backendRefs: [{name: frontend, namespace: shop, port: 8080}]
                ---
                """;
        String base = IngressSnapshots.service("shop", "frontend", 8080) + GATEWAY + route;
        var denied = translate(IngressSnapshots.of(base)).proxies().get(0);
        assertThat(denied.hosts()).singleElement().satisfies(h ->
                assertThat(h.routes().get(0).getDirectResponse().getStatus()).isEqualTo(500));
        String grant = """
                apiVersion: gateway.networking.k8s.io/v1beta1
                kind: ReferenceGrant
                metadata: {name: from-ingress, namespace: shop}
                spec:
                  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: ingress}]
                  to: [{group: "", kind: Service}]
                """;
        var allowed = translate(IngressSnapshots.of(base + grant)).proxies().get(0);
        assertThat(allowed.hosts()).singleElement().satisfies(h -> assertThat(h.routes().get(0).getRoute().getCluster())
                .isEqualTo("outbound|8080||frontend.shop.svc.cluster.local"));
    }

    @Test
    void aBackendNoReferenceGrantAllowsKeepsItsWeightedShareWhichAnswers500() {
        String route = """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: app, namespace: ingress}
                spec:
                  parentRefs: [{name: web, sectionName: http}]
                  hostnames: [app.example.com]
                  rules:
                  - backendRefs: [{name: frontend, namespace: ingress, port: 8080, weight: 3},
                                  {name: frontend, namespace: shop, port: 8080, weight: 1}]
                ---
                """;
        var result = translate(IngressSnapshots.of(IngressSnapshots.service("shop", "frontend", 8080)
                + IngressSnapshots.service("ingress", "frontend", 8080) + GATEWAY + route));
        Route r = result.proxies().get(0).hosts().get(0).routes().get(0);
        // Gateway API: the share of an invalid backendRef (RefNotPermitted) answers 500; it is not
        // handed to the permitted backend.
        assertThat(r.getRoute().getWeightedClusters().getClustersList())
                .extracting(c -> c.getName() + "=" + c.getWeight().getValue())
                .containsExactly("outbound|8080||frontend.ingress.svc.cluster.local=3",
                        "outbound|8080||invalid-backend.frontend.shop=1");
        assertThat(r.getRoute().getClusterNotFoundResponseCode()).isEqualTo(
                io.envoyproxy.envoy.config.route.v3.RouteAction.ClusterNotFoundResponseCode.INTERNAL_SERVER_ERROR);
        assertThat(result.proxies().get(0).clusters()).containsExactly("outbound|8080||frontend.ingress.svc.cluster.local");
        assertThat(result.problems()).anyMatch(l -> l.contains("HTTPRoute ingress/app") && l.contains("backendRefs[1]")
                && l.contains("RefNotPermitted") && l.contains("answers 500"));
    }

    @Test
    void tlsRoutesPassThroughBySni() {
        String tls = """
                apiVersion: gateway.networking.k8s.io/v1alpha2
                kind: TLSRoute
                metadata: {name: secure, namespace: ingress}
                spec:
                  parentRefs: [{name: web, sectionName: tls}]
                  hostnames: [secure.example.com]
                  rules: [{backendRefs: [{name: secure, port: 8443}]}]
                """;
        var p = translate(IngressSnapshots.of(IngressSnapshots.service("ingress", "secure", 8443) + GATEWAY + tls))
                .proxies().get(0);
        assertThat(p.streams()).singleElement().satisfies(s -> {
            assertThat(s.server()).isEqualTo("tls");
            assertThat(s.sniHosts()).containsExactly("secure.example.com");
            assertThat(s.cluster()).isEqualTo("outbound|8443||secure.ingress.svc.cluster.local");
        });
    }

    @Test
    void aCertificateInAnotherNamespaceWithoutGrantLeavesTheListenerOut() {
        String gw = """
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: web, namespace: ingress}
                spec:
                  gatewayClassName: istio
                  listeners:
                  - name: https
                    port: 443
                    protocol: HTTPS
                    tls: {certificateRefs: [{name: cert, namespace: certs}]}
                  - {name: http, port: 80, protocol: HTTP}
                """;
        var result = translate(IngressSnapshots.of(gw));
        assertThat(result.proxies().get(0).servers()).extracting(GatewayModel.Server::name).containsExactly("http");
        assertThat(result.problems()).anyMatch(l -> l.contains("RefNotPermitted") && l.contains("certs/cert"));
        String grant = """
                ---
                apiVersion: gateway.networking.k8s.io/v1beta1
                kind: ReferenceGrant
                metadata: {name: gw, namespace: certs}
                spec:
                  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: ingress}]
                  to: [{group: "", kind: Secret, name: cert}]
                """;
        var granted = translate(IngressSnapshots.of(gw + grant)).proxies().get(0);
        assertThat(granted.servers()).extracting(GatewayModel.Server::name).containsExactly("https", "http");
        assertThat(granted.secrets()).containsKey("kubernetes://certs/cert");
    }

    @Test
    void otherClassesAreNotGatewaysOfThisController() {
        String waypoint = """
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: waypoint, namespace: shop}
                spec:
                  gatewayClassName: istio-waypoint
                  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
                """;
        assertThat(translate(IngressSnapshots.of(waypoint)).proxies()).isEmpty();
    }

    @Test
    void hostnamesIntersectAsGatewayApiSays() {
        assertThat(GatewayApiAttachments.intersect("*", List.of())).containsExactly("*");
        assertThat(GatewayApiAttachments.intersect("*.example.com", List.of())).containsExactly("*.example.com");
        assertThat(GatewayApiAttachments.intersect("*.example.com", List.of("a.example.com", "example.com", "x.org")))
                .containsExactly("a.example.com");
        assertThat(GatewayApiAttachments.intersect("app.example.com", List.of("*.example.com")))
                .containsExactly("app.example.com");
        assertThat(GatewayApiAttachments.intersect("app.example.com", List.of("*.other.com"))).isEmpty();
    }

    @Test
    void allowedRoutesSelectNamespacesByLabelAndGrpcRoutesRankWithHttpRoutes() {
        String config = """
                apiVersion: v1
                kind: Namespace
                metadata: {name: shop, labels: {team: shop}}
                ---
                apiVersion: v1
                kind: Namespace
                metadata: {name: other, labels: {team: other}}
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: web, namespace: ingress}
                spec:
                  gatewayClassName: istio
                  listeners:
                  - name: http
                    port: 80
                    protocol: HTTP
                    allowedRoutes:
                      namespaces: {from: Selector, selector: {matchExpressions: [{key: team, operator: In, values: [shop]}]}}
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: GRPCRoute
                metadata: {name: greeter, namespace: shop}
                spec:
                  parentRefs: [{name: web, namespace: ingress}]
                  rules:
                  - matches: [{method: {service: helloworld.Greeter, method: SayHello}}]
                    backendRefs: [{name: greeter, port: 9000}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: site, namespace: shop}
                spec:
                  parentRefs: [{name: web, namespace: ingress}]
                  rules: [{backendRefs: [{name: frontend, port: 8080}]}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: intruder, namespace: other}
                spec:
                  parentRefs: [{name: web, namespace: ingress}]
                  rules: [{backendRefs: [{name: frontend, port: 8080}]}]
                ---
                """ + IngressSnapshots.service("shop", "frontend", 8080) + IngressSnapshots.service("shop", "greeter", 9000);
        ConfigSnapshot snapshot = IngressSnapshots.of(config);
        var p = translate(snapshot).proxies().get(0);
        assertThat(p.hosts()).singleElement().satisfies(h -> {
            assertThat(h.host()).isEqualTo("*");
            assertThat(h.routes()).extracting(r -> r.getMatch().hasPath() ? r.getMatch().getPath() : r.getMatch().getPrefix())
                    .containsExactly("/helloworld.Greeter/SayHello", "/");
            assertThat(h.routes()).extracting(Route::getName).containsExactly("shop/greeter/0", "shop/site/0");
        });
        var eval = GatewayApiAttachments.of(snapshot);
        assertThat(eval.outcomes(snapshot.get(dev.ambit.istiod.config.Kind.HTTP_ROUTE, "other", "intruder",
                io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute.class).orElseThrow()))
                .singleElement().satisfies(o -> assertThat(o.reason()).isEqualTo("NotAllowedByListeners"));
        assertThat(eval.attachedRoutes(eval.gateways().get(0), eval.gateways().get(0).listeners().get(0))).isEqualTo(2);
    }
}
