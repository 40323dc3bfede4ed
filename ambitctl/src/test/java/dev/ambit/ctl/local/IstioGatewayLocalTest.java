package dev.ambit.ctl.local;

import static dev.ambit.ctl.local.ControllerFixtures.parse;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Gateways of class istio in local mode: expanded as Istio's gateway controller deploys them
 * ({@link IstioGatewayDeployments}), their status and their routes' ({@link IstioGatewayStatuses},
 * {@link RouteStatuses}), and Istio's Ingresses' load-balancer status.
 */
class IstioGatewayLocalTest {

    static final String GATEWAY = """
            apiVersion: gateway.networking.k8s.io/v1
            kind: Gateway
            metadata: {name: web, namespace: shop}
            spec:
              gatewayClassName: istio
              listeners:
              - {name: http, port: 80, protocol: HTTP, hostname: app.example.com}
              - name: https
                port: 443
                protocol: HTTPS
                hostname: app.example.com
                tls: {certificateRefs: [{name: app-cert}]}
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: {name: app, namespace: shop}
            spec:
              parentRefs: [{name: web}]
              hostnames: [app.example.com]
              rules: [{backendRefs: [{name: frontend, port: 8080}]}, {matches: [{path: {value: /gone}}], backendRefs: [{name: gone, port: 80}]}]
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: frontend, namespace: shop}
            spec: {selector: {app: frontend}, ports: [{port: 8080}]}
            ---
            """;

    /** A Secret with a certificate and no key (built directly: Secrets are another helper's kind to accept). */
    static KubeObject brokenSecret() {
        var tree = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
        tree.put("apiVersion", "v1").put("kind", "Secret").put("type", "kubernetes.io/tls");
        tree.putObject("metadata").put("name", "app-cert").put("namespace", "shop");
        tree.putObject("stringData").put("tls.crt", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
        return KubeObject.of(tree);
    }

    @TempDir
    Path dir;

    private final AtomicReference<Instant> now = new AtomicReference<>(Instant.parse("2026-12-07T04:00:00Z"));
    private final IstioGatewayDeployments deployments = new IstioGatewayDeployments(new Waypoints(WaypointsTest.LAUNCH));

    private static JsonNode condition(JsonNode conditions, String type) {
        for (JsonNode c : conditions) {
            if (c.path("type").asText().equals(type)) {
                return c;
            }
        }
        throw new AssertionError("no condition " + type + " in " + conditions);
    }

    @Test
    void aGatewayOfClassIstioBecomesServiceAccountLoadBalancerServiceAndGatewayModeDeployment() {
        List<KubeObject> objects = deployments.expand(parse(GATEWAY));
        assertThat(objects).extracting(KubeObject::key).contains("serviceaccount/shop/web-istio",
                "service/shop/web-istio", "deployment/shop/web-istio");
        KubeObject svc = objects.stream().filter(o -> o.key().equals("service/shop/web-istio")).findFirst().orElseThrow();
        assertThat(svc.spec().path("type").asText()).isEqualTo("LoadBalancer");
        assertThat(Services.ports(svc)).extracting(Services.ServicePort::port).containsExactly(15021, 80, 443);
        assertThat(Services.selector(svc)).isEqualTo(Map.of("gateway.networking.k8s.io/gateway-name", "web"));
        KubeObject d = objects.stream().filter(o -> o.key().equals("deployment/shop/web-istio")).findFirst().orElseThrow();
        JsonNode pod = d.spec().path("template");
        assertThat(pod.at("/metadata/labels/gateway.networking.k8s.io~1gateway-name").asText()).isEqualTo("web");
        assertThat(pod.at("/metadata/labels/gateway.istio.io~1managed").asText()).isEqualTo("istio.io-gateway-controller");
        assertThat(pod.at("/spec/serviceAccountName").asText()).isEqualTo("web-istio");
        List<String> command = new ArrayList<>();
        pod.at("/spec/containers/0/command").forEach(n -> command.add(n.asText()));
        assertThat(String.join(" ", command)).contains("--name web-istio", "--service-account web-istio",
                "--mode gateway", "--label gateway.networking.k8s.io/gateway-name=web");
        // The waypoint's class is not expanded here.
        assertThat(deployments.expand(parse(WaypointsTest.GATEWAY))).hasSize(1);
    }

    @Test
    void gatewayAndRouteStatusAsGatewayApiSays() throws Exception {
        List<KubeObject> objects = new ArrayList<>(deployments.expand(parse(GATEWAY)));
        objects.add(brokenSecret());
        IstioGatewayStatuses statuses = new IstioGatewayStatuses(now::get);
        List<KubeObject> gateways = objects.stream().filter(Waypoints::isGateway).toList();

        KubeObject gw = statuses.update(gateways, objects, Map.of(), List.of()).getFirst();
        assertThat(condition(gw.tree().at("/status/conditions"), "Accepted").path("status").asText()).isEqualTo("True");
        assertThat(condition(gw.tree().at("/status/conditions"), "Programmed").path("reason").asText())
                .isEqualTo("AddressNotAssigned");
        JsonNode https = gw.tree().at("/status/listeners/1");
        assertThat(https.path("name").asText()).isEqualTo("https");
        assertThat(condition(https.path("conditions"), "ResolvedRefs").path("message").asText())
                .contains("Secret shop/app-cert: tls.key is missing");
        assertThat(gw.tree().at("/status/listeners/0/attachedRoutes").asInt()).isEqualTo(1);

        // The load balancer gives the Service an address, the pod gets ready: Programmed, with the address.
        KubeObject svc = objects.stream().filter(o -> o.key().equals("service/shop/web-istio")).findFirst().orElseThrow();
        var tree = svc.tree();
        tree.putObject("status").putObject("loadBalancer").putArray("ingress").addObject().put("ip", "172.18.255.3");
        KubeObject withLb = KubeObject.of(tree);
        Map<String, ServiceView> views = Map.of("shop/web-istio",
                new ServiceView(withLb, "10.96.0.30", Services.ports(withLb), List.of(), Map.of()));
        KubeObject deployment = objects.stream().filter(o -> o.key().equals("deployment/shop/web-istio")).findFirst()
                .orElseThrow();
        DesiredPod d = new DesiredPods(List.of("node1"), new Random(1)).of(List.of(deployment), Map.of())
                .values().iterator().next();
        RunningPod pod = new RunningPod(d, "0123abcd-0000-0000-0000-000000000001", "node1", "10.244.1.10", dir);
        RunningPod.ContainerRun c = new RunningPod.ContainerRun(d.template().containers().getFirst());
        pod.containers.add(c);
        c.process = new ProcessBuilder("sleep", "30").start();
        try {
            c.probeReady = true;
            now.set(now.get().plusSeconds(5));
            gw = statuses.update(gateways, objects, views, List.of(pod)).getFirst();
            JsonNode programmed = condition(gw.tree().at("/status/conditions"), "Programmed");
            assertThat(programmed.path("status").asText()).isEqualTo("True");
            assertThat(programmed.path("lastTransitionTime").asText()).isEqualTo("2026-12-07T04:00:05Z");
            assertThat(condition(gw.tree().at("/status/conditions"), "Accepted").path("lastTransitionTime").asText())
                    .as("unchanged status keeps its time").isEqualTo("2026-12-07T04:00:00Z");
            assertThat(gw.tree().at("/status/addresses/0/value").asText()).isEqualTo("172.18.255.3");
        } finally {
            c.process.destroyForcibly();
        }

        KubeObject route = new RouteStatuses(now::get).update(objects).getFirst();
        JsonNode parent = route.tree().at("/status/parents/0");
        assertThat(parent.path("controllerName").asText()).isEqualTo("istio.io/gateway-controller");
        assertThat(condition(parent.path("conditions"), "Accepted").path("status").asText()).isEqualTo("True");
        JsonNode refs = condition(parent.path("conditions"), "ResolvedRefs");
        assertThat(refs.path("reason").asText()).isEqualTo("BackendNotFound");
        assertThat(refs.path("message").asText()).contains("spec.rules[1].backendRefs[0]", "shop/gone");
    }

    @Test
    void istioIngressesGetTheIngressGatewayAddress() {
        List<KubeObject> objects = parse("""
                apiVersion: v1
                kind: Service
                metadata: {name: istio-ingressgateway, namespace: istio-system}
                spec: {type: LoadBalancer, selector: {istio: ingressgateway}, ports: [{name: http2, port: 80}]}
                status: {loadBalancer: {ingress: [{ip: 172.18.255.1}]}}
                ---
                apiVersion: networking.k8s.io/v1
                kind: Ingress
                metadata: {name: shop, namespace: shop}
                spec: {ingressClassName: istio, defaultBackend: {service: {name: frontend, port: {number: 8080}}}}
                ---
                apiVersion: networking.k8s.io/v1
                kind: Ingress
                metadata: {name: other, namespace: shop}
                spec: {ingressClassName: nginx, defaultBackend: {service: {name: frontend, port: {number: 8080}}}}
                """);
        assertThat(IstioGatewayStatuses.ingresses(objects, Map.of())).singleElement().satisfies(i -> {
            assertThat(i.name()).isEqualTo("shop");
            assertThat(i.tree().at("/status/loadBalancer/ingress/0/ip").asText()).isEqualTo("172.18.255.1");
        });
    }
}
