package dev.ambit.istiod.ingress;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.deploy.GatewayApiStatus;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayStatus;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.ListenerStatus;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.RouteParentStatus;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class GatewayApiStatusTest {

    private static final Instant NOW = Instant.parse("2026-12-07T04:00:00Z");

    private static final String GATEWAYS = """
            apiVersion: gateway.networking.k8s.io/v1
            kind: Gateway
            metadata: {name: web, namespace: ingress, generation: 3}
            spec:
              gatewayClassName: istio
              listeners:
              - {name: http, port: 80, protocol: HTTP, hostname: app.example.com}
              - {name: http-again, port: 80, protocol: HTTP, hostname: app.example.com}
              - name: https
                port: 443
                protocol: HTTPS
                tls: {certificateRefs: [{name: app-cert}]}
              - {name: udp, port: 53, protocol: UDP}
              - {name: api, port: 8080, protocol: HTTP, hostname: api.example.com}
            ---
            apiVersion: v1
            kind: Namespace
            metadata: {name: shop, labels: {team: shop}}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: frontend, namespace: ingress}
            spec: {clusterIP: 10.96.0.9, ports: [{name: http, port: 8080}]}
            ---
            """;

    private static ConfigSnapshot config(String more) {
        return IngressSnapshots.of(GATEWAYS + more);
    }

    private static Condition condition(List<Condition> conditions, String type) {
        return conditions.stream().filter(c -> c.getType().equals(type)).findFirst().orElseThrow();
    }

    private static ListenerStatus listener(GatewayStatus s, String name) {
        return s.getListeners().stream().filter(l -> l.getName().equals(name)).findFirst().orElseThrow();
    }

    @Test
    void gatewayConditionsListenersAndAddresses() {
        String route = """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: app, namespace: ingress}
                spec:
                  parentRefs: [{name: web}]
                  rules: [{backendRefs: [{name: frontend, port: 8080}]}]
                """;
        ConfigSnapshot config = config(route);
        GatewayApiAttachments eval = GatewayApiAttachments.of(config);
        Gateway gw = config.get(Kind.GATEWAY, "ingress", "web", Gateway.class).orElseThrow();
        GatewayApiStatus.Secrets secrets = (ns, name) -> name.equals("app-cert")
                ? "Secret ingress/app-cert: tls.key is missing (expected: a PEM private key)" : null;

        GatewayStatus pending = GatewayApiStatus.gateway(gw, eval, new GatewayApiStatus.Observed(List.of(), false,
                "web-istio.ingress.svc.cluster.local", null), secrets, NOW);
        assertThat(condition(pending.getConditions(), "Accepted")).satisfies(c -> {
            assertThat(c.getStatus()).isEqualTo("True");
            assertThat(c.getReason()).isEqualTo("ListenersNotValid");
            assertThat(c.getMessage()).contains("spec.listeners[3].protocol");
            assertThat(c.getObservedGeneration()).isEqualTo(3);
        });
        assertThat(condition(pending.getConditions(), "Programmed").getReason()).isEqualTo("AddressNotAssigned");
        assertThat(pending.getAddresses()).isEmpty();

        GatewayStatus ready = GatewayApiStatus.gateway(gw, eval, new GatewayApiStatus.Observed(List.of("172.18.255.1"),
                true, "web-istio.ingress.svc.cluster.local", null), secrets, NOW);
        assertThat(condition(ready.getConditions(), "Programmed").getStatus()).isEqualTo("True");
        assertThat(ready.getAddresses()).singleElement().satisfies(a -> {
            assertThat(a.getType()).isEqualTo("IPAddress");
            assertThat(a.getValue()).isEqualTo("172.18.255.1");
        });
        // Same hostname on one port: both conflicted, neither takes the route.
        assertThat(condition(listener(ready, "http").getConditions(), "Conflicted").getReason())
                .isEqualTo("HostnameConflict");
        assertThat(listener(ready, "http").getAttachedRoutes()).isZero();
        assertThat(condition(listener(ready, "https").getConditions(), "ResolvedRefs")).satisfies(c -> {
            assertThat(c.getStatus()).isEqualTo("False");
            assertThat(c.getReason()).isEqualTo("InvalidCertificateRef");
            assertThat(c.getMessage()).contains("tls.key is missing");
        });
        assertThat(condition(listener(ready, "udp").getConditions(), "Accepted").getReason())
                .isEqualTo("UnsupportedProtocol");
        assertThat(listener(ready, "api").getAttachedRoutes()).isEqualTo(1);
        assertThat(condition(listener(ready, "api").getConditions(), "Programmed").getStatus()).isEqualTo("True");
        assertThat(listener(ready, "api").getSupportedKinds()).extracting(k -> k.getKind())
                .containsExactly("GRPCRoute", "HTTPRoute");
    }

    @Test
    void tlsRouteParentsGetAcceptedAndResolvedRefsAsGatewayApiSpecifies() {
        String routes = """
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: edge, namespace: ingress}
                spec:
                  gatewayClassName: istio
                  listeners:
                  - {name: tls, port: 8443, protocol: TLS, tls: {mode: Passthrough}}
                ---
                apiVersion: gateway.networking.k8s.io/v1alpha2
                kind: TLSRoute
                metadata: {name: secure, namespace: ingress, generation: 4}
                spec:
                  parentRefs: [{name: edge}]
                  hostnames: [secure.example.com]
                  rules: [{backendRefs: [{name: frontend, port: 8080}]}]
                ---
                apiVersion: gateway.networking.k8s.io/v1alpha2
                kind: TLSRoute
                metadata: {name: gone, namespace: ingress}
                spec:
                  parentRefs: [{name: edge}, {name: web, sectionName: api}]
                  hostnames: [gone.example.com]
                  rules: [{backendRefs: [{name: nope, port: 8443}]}]
                ---
                """;
        ConfigSnapshot config = config(routes);
        GatewayApiAttachments eval = GatewayApiAttachments.of(config);
        dev.ambit.istiod.deploy.RouteStatus.Services services =
                (ns, name) -> config.get(Kind.SERVICE, ns, name, Service.class).isPresent();

        var secure = config.get(Kind.TLS_ROUTE, "ingress", "secure",
                io.fabric8.kubernetes.api.model.gatewayapi.v1.TLSRoute.class).orElseThrow();
        assertThat(GatewayApiStatus.hasGatewayParent(secure, eval)).isTrue();
        RouteParentStatus ok = GatewayApiStatus.parents(secure, null, eval, services, NOW).get(0);
        assertThat(ok.getParentRef().getName()).isEqualTo("edge");
        assertThat(condition(ok.getConditions(), "Accepted")).satisfies(c -> {
            assertThat(c.getStatus()).isEqualTo("True");
            assertThat(c.getObservedGeneration()).isEqualTo(4);
        });
        assertThat(condition(ok.getConditions(), "ResolvedRefs").getStatus()).isEqualTo("True");

        var gone = config.get(Kind.TLS_ROUTE, "ingress", "gone",
                io.fabric8.kubernetes.api.model.gatewayapi.v1.TLSRoute.class).orElseThrow();
        List<RouteParentStatus> g = GatewayApiStatus.parents(gone, null, eval, services, NOW);
        assertThat(g).hasSize(2);
        assertThat(condition(g.get(0).getConditions(), "Accepted").getStatus()).isEqualTo("True");
        assertThat(condition(g.get(0).getConditions(), "ResolvedRefs")).satisfies(c -> {
            assertThat(c.getStatus()).isEqualTo("False");
            assertThat(c.getReason()).isEqualTo("BackendNotFound");
            assertThat(c.getMessage()).contains("spec.rules[0].backendRefs[0]", "ingress/nope");
        });
        // An HTTP listener takes no TLSRoutes.
        assertThat(condition(g.get(1).getConditions(), "Accepted")).satisfies(c -> {
            assertThat(c.getStatus()).isEqualTo("False");
            assertThat(c.getReason()).isEqualTo("NotAllowedByListeners");
        });
    }

    @Test
    void routeParentsSayWhyARouteIsNotAttachedOrDoesNotResolve() {
        String routes = """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: missing-backend, namespace: ingress, generation: 2}
                spec:
                  parentRefs: [{name: web, sectionName: api}]
                  rules: [{backendRefs: [{name: nope, port: 8080}]}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: other-ns, namespace: shop}
                spec:
                  parentRefs: [{name: web, namespace: ingress, sectionName: api}]
                  rules: [{backendRefs: [{name: frontend, namespace: ingress, port: 8080}]}]
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: wrong-host, namespace: ingress}
                spec:
                  parentRefs: [{name: web, sectionName: api}, {name: web, sectionName: nosuch}, {kind: Service, name: frontend, port: 8080}]
                  hostnames: [shop.example.org]
                  rules: [{backendRefs: [{name: frontend, port: 8080}]}]
                """;
        ConfigSnapshot config = config(routes);
        GatewayApiAttachments eval = GatewayApiAttachments.of(config);
        dev.ambit.istiod.deploy.RouteStatus.Services services =
                (ns, name) -> config.get(Kind.SERVICE, ns, name, Service.class).isPresent();

        HTTPRoute missing = config.get(Kind.HTTP_ROUTE, "ingress", "missing-backend", HTTPRoute.class).orElseThrow();
        RouteParentStatus p = GatewayApiStatus.parents(missing, null, eval, services, NOW).get(0);
        assertThat(p.getControllerName()).isEqualTo("istio.io/gateway-controller");
        assertThat(condition(p.getConditions(), "Accepted").getStatus()).isEqualTo("True");
        assertThat(condition(p.getConditions(), "ResolvedRefs")).satisfies(c -> {
            assertThat(c.getReason()).isEqualTo("BackendNotFound");
            assertThat(c.getMessage()).contains("spec.rules[0].backendRefs[0]").contains("ingress/nope");
            assertThat(c.getObservedGeneration()).isEqualTo(2);
        });

        HTTPRoute otherNs = config.get(Kind.HTTP_ROUTE, "shop", "other-ns", HTTPRoute.class).orElseThrow();
        RouteParentStatus o = GatewayApiStatus.parents(otherNs, null, eval, services, NOW).get(0);
        assertThat(condition(o.getConditions(), "Accepted").getReason()).isEqualTo("NotAllowedByListeners");
        assertThat(condition(o.getConditions(), "ResolvedRefs").getReason()).isEqualTo("RefNotPermitted");

        HTTPRoute wrongHost = config.get(Kind.HTTP_ROUTE, "ingress", "wrong-host", HTTPRoute.class).orElseThrow();
        RouteParentStatus mesh = new RouteParentStatus();
        mesh.setControllerName("istio.io/mesh-controller");
        List<RouteParentStatus> w = GatewayApiStatus.parents(wrongHost, List.of(mesh), eval, services, NOW);
        assertThat(w).hasSize(3);
        assertThat(w.get(0)).isSameAs(mesh); // the mesh controller's entry is kept
        assertThat(condition(w.get(1).getConditions(), "Accepted").getReason()).isEqualTo("NoMatchingListenerHostname");
        assertThat(condition(w.get(2).getConditions(), "Accepted").getReason()).isEqualTo("NoMatchingParent");
    }

    @Test
    void transitionTimesStayWhileTheStatusDoesNot() {
        ConfigSnapshot config = config("");
        GatewayApiAttachments eval = GatewayApiAttachments.of(config);
        Gateway gw = config.get(Kind.GATEWAY, "ingress", "web", Gateway.class).orElseThrow();
        var observed = new GatewayApiStatus.Observed(List.of("lb.example.net"), true, "web-istio", null);
        GatewayStatus first = GatewayApiStatus.gateway(gw, eval, observed, (ns, n) -> null, NOW);
        gw.setStatus(first);
        GatewayStatus later = GatewayApiStatus.gateway(gw, eval, observed, (ns, n) -> null, NOW.plusSeconds(60));
        assertThat(condition(later.getConditions(), "Programmed").getLastTransitionTime()).isEqualTo(NOW.toString());
        assertThat(later.getAddresses().get(0).getType()).isEqualTo("Hostname");
    }
}
