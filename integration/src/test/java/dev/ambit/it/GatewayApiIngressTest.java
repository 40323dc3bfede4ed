package dev.ambit.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 16, must-show 2 (and 4's missing backend): the same door with Gateway API, as Istio
 * deploys it (a {@code Gateway} of class {@code istio} becomes a Deployment, a ServiceAccount
 * and a Service of type LoadBalancer whose address the Gateway's status shows), an HTTPRoute
 * attached by {@code parentRefs}, their status conditions as {@code ambitctl local get ... -o
 * yaml} prints them; and a Kubernetes Ingress of class {@code istio}, served by
 * {@code istio-ingressgateway}. Checked from the machine with curl, as a user would.
 */
@Order(19)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class GatewayApiIngressTest {

    @RegisterExtension
    static final LocalMesh mesh = LocalMesh.nodes(2);

    static final String NS = "it-gwapi";
    static final String WEB_HOST = "web.example.com";
    static final String INGRESS_HOST = "ing.example.com";
    private static final Path CERTS = Ambitctl.REPO.resolve("integration/target/it-gwapi-certs");

    private static Certs.Pair ca;
    private static Certs.Pair ingressCert;
    private static String address;

    static final String GATEWAY = """
            apiVersion: gateway.networking.k8s.io/v1
            kind: Gateway
            metadata: {name: web-gateway, namespace: %1$s}
            spec:
              gatewayClassName: istio
              listeners:
              - name: http
                hostname: %2$s
                port: 80
                protocol: HTTP
                allowedRoutes: {namespaces: {from: Same}}
              - name: https
                hostname: %2$s
                port: 443
                protocol: HTTPS
                tls:
                  mode: Terminate
                  certificateRefs: [{kind: Secret, name: web-credential}]
                allowedRoutes: {namespaces: {from: Same}}
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: {name: web, namespace: %1$s}
            spec:
              parentRefs: [{name: web-gateway}]
              hostnames: [%2$s]
              rules:
              - matches: [{path: {type: PathPrefix, value: /missing}}]
                backendRefs: [{name: missing, port: 8080}]
              - backendRefs: [{name: web, port: 8080}]
            ---
            apiVersion: networking.k8s.io/v1
            kind: Ingress
            metadata: {name: web, namespace: %1$s}
            spec:
              ingressClassName: istio
              tls: [{hosts: [%3$s], secretName: ing-credential}]
              rules:
              - host: %3$s
                http:
                  paths:
                  - path: /
                    pathType: Prefix
                    backend: {service: {name: web, port: {number: 8080}}}
            ---
            """.formatted(NS, WEB_HOST, INGRESS_HOST);

    @BeforeAll
    static void deploy() {
        Certs certs = Certs.in(CERTS);
        ca = certs.ca("gwapi-ca");
        Certs.Pair web = certs.server("web", ca, WEB_HOST);
        ingressCert = certs.server("ing", ca, INGRESS_HOST);
        mesh.apply(Yaml.namespace(NS, true) + Yaml.serviceAccount(NS, "web")
                + Yaml.serverPod(NS, "web", "web", "node2", Map.of()) + Yaml.service(NS, "web", "web"));
        mesh.awaitRunning(NS, 1, Duration.ofSeconds(60));
        mesh.awaitEnrolled(NS, "web");
        // The credential in the Gateway's own namespace, as Gateway API's certificateRefs expect.
        // The Ingress's secretName is read where istio-ingressgateway runs, as Istio does.
        mesh.apply(IngressYaml.tlsSecret("web-credential", web).replace("namespace: " + IngressYaml.GATEWAY_NS,
                "namespace: " + NS) + IngressYaml.tlsSecret("ing-credential", ingressCert) + GATEWAY);
        address = mesh.eventually("the Gateway Programmed with an address", Duration.ofSeconds(90), () -> {
            JsonNode gw = first(LocalMesh.json(Ambitctl.local("get", "gateway", "-n", NS, "web-gateway", "-o", "json")));
            String a = gw.path("status").path("addresses").path(0).path("value").asText();
            return "True".equals(status(gw.path("status"), "Programmed")) && !a.isEmpty() ? a : null;
        });
        mesh.eventually("http://" + WEB_HOST + "/ answered through the Gateway", Duration.ofSeconds(60), () -> {
            Ambitctl.Result r = IngressTest.host("curl", "-sS", "-m", "5", "--resolve", WEB_HOST + ":80:" + address,
                    "http://" + WEB_HOST + "/");
            return r.ok() && r.out().startsWith("hello from web");
        });
    }

    @AfterAll
    static void cleanUp() {
        try {
            mesh.delete("apiVersion: v1\nkind: Secret\nmetadata: {name: ing-credential, namespace: "
                    + IngressYaml.GATEWAY_NS + "}\n---\n");
        } finally {
            mesh.deleteNamespace(NS);
        }
    }

    @Test
    @Order(1)
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void gatewayOfClassIstioIsDeployedProgrammedAndServesHttpAndHttps() {
        // What Istio's deployment controller makes, and the status Gateway API specifies.
        Ambitctl.Result yaml = Ambitctl.localOk("get", "gateway", "-n", NS, "web-gateway", "-o", "yaml");
        assertThat(yaml.out()).contains("type: Accepted", "type: Programmed", "value: " + address);
        JsonNode gw = first(LocalMesh.json(Ambitctl.localOk("get", "gateway", "-n", NS, "web-gateway", "-o", "json")));
        assertThat(status(gw.path("status"), "Accepted")).isEqualTo("True");
        assertThat(status(gw.path("status"), "Programmed")).isEqualTo("True");
        assertThat(Ambitctl.localOk("get", "svc", "-n", NS).out()).as("a LoadBalancer Service with the address")
                .contains("LoadBalancer", address);

        // HTTP and HTTPS (the listener's certificateRefs), from the machine, through the mesh.
        Ambitctl.Result http = IngressTest.host("curl", "-sS", "-m", "10", "--resolve", WEB_HOST + ":80:" + address,
                "http://" + WEB_HOST + "/");
        assertThat(http.out()).as("%s", http).startsWith("hello from web");
        Ambitctl.Result https = IngressTest.host("curl", "-sS", "-m", "10", "--resolve", WEB_HOST + ":443:" + address,
                "--cacert", ca.cert().toString(), "https://" + WEB_HOST + "/");
        assertThat(https.out()).as("%s", https).startsWith("hello from web");
        // The web pod's agent saw a SPIFFE identity of the Gateway's namespace over mutual TLS.
        mesh.eventually("node2's agent logging the gateway's identity towards web", Duration.ofSeconds(15),
                () -> mesh.accessLog("node2").stream().anyMatch(l -> l.path("reporter").asText().equals("destination")
                        && l.path("src.identity").asText().startsWith(Yaml.SPIFFE + NS + "/sa/")
                        && l.path("dst.workload").asText().equals("web")));
    }

    @Test
    @Order(2)
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void httpRouteToAMissingBackendAnswers500AndItsStatusSaysBackendNotFound() {
        JsonNode route = mesh.eventually("the HTTPRoute's status written", Duration.ofSeconds(30), () -> {
            JsonNode r = first(LocalMesh.json(Ambitctl.local("get", "httproute", "-n", NS, "web", "-o", "json")));
            JsonNode parent = r.path("status").path("parents").path(0);
            return parent.isMissingNode() ? null : parent;
        });
        assertThat(status(route, "Accepted")).as("%s", route).isEqualTo("True");
        assertThat(status(route, "ResolvedRefs")).as("%s", route).isEqualTo("False");
        assertThat(reason(route, "ResolvedRefs")).as("%s", route).isEqualTo("BackendNotFound");
        assertThat(Ambitctl.localOk("get", "httproute", "-n", NS, "web", "-o", "yaml").out())
                .contains("BackendNotFound", "type: ResolvedRefs", "type: Accepted");

        Ambitctl.Result missing = IngressTest.host("curl", "-sS", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}",
                "--resolve", WEB_HOST + ":80:" + address, "http://" + WEB_HOST + "/missing/x");
        assertThat(missing.out()).as("%s", missing).isEqualTo("500");
        // The route's other rule keeps serving.
        assertThat(IngressTest.host("curl", "-sS", "-m", "10", "--resolve", WEB_HOST + ":80:" + address,
                "http://" + WEB_HOST + "/other").out()).startsWith("hello from web");
    }

    @Test
    @Order(3)
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void kubernetesIngressOfClassIstioIsServedByIstioIngressgateway() {
        String ip = IngressTest.externalIp(IngressYaml.GATEWAY_NS, "istio-ingressgateway");
        mesh.eventually("http://" + INGRESS_HOST + "/ answered by istio-ingressgateway", Duration.ofSeconds(60), () -> {
            Ambitctl.Result r = IngressTest.host("curl", "-sS", "-m", "5", "--resolve", INGRESS_HOST + ":80:" + ip,
                    "http://" + INGRESS_HOST + "/");
            return r.ok() && r.out().startsWith("hello from web");
        });
        // HTTPS with the Ingress's tls[].secretName.
        Ambitctl.Result https = IngressTest.host("curl", "-sS", "-m", "10", "--resolve", INGRESS_HOST + ":443:" + ip,
                "--cacert", ca.cert().toString(), "https://" + INGRESS_HOST + "/");
        assertThat(https.out()).as("%s", https).startsWith("hello from web");
        // A host the Ingress does not name: 404 from the same gateway.
        Ambitctl.Result other = IngressTest.host("curl", "-sS", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}",
                "--resolve", "nobody.example.com:80:" + ip, "http://nobody.example.com/");
        assertThat(other.out()).isEqualTo("404");
    }

    private static JsonNode first(JsonNode listOrObject) {
        return listOrObject.has("items") ? listOrObject.path("items").path(0) : listOrObject;
    }

    /** The {@code status} of condition {@code type} in {@code holder.conditions}; "" when absent. */
    private static String status(JsonNode holder, String type) {
        for (JsonNode c : holder.path("conditions")) {
            if (c.path("type").asText().equals(type)) {
                return c.path("status").asText();
            }
        }
        return "";
    }

    private static String reason(JsonNode holder, String type) {
        for (JsonNode c : holder.path("conditions")) {
            if (c.path("type").asText().equals(type)) {
                return c.path("reason").asText();
            }
        }
        return "";
    }
}
