package dev.ambit.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * (9) The local cluster as a user outside it reaches a cluster: a LoadBalancer Service gets an
 * address from the local pool ({@code local get svc} EXTERNAL-IP, {@code status.loadBalancer})
 * and the machine's own curl reaches both replicas of a meshed Deployment behind it; a NodePort
 * Service answers on every node's address; Istio's demo ingress gateway is installed
 * ({@code istio-ingressgateway} in {@code istio-system}, a LoadBalancer Service with 15021, 80
 * and 443); deleting a Service takes its address off the node network and its node port away.
 * The shared cluster; {@code local down} leaving no host interface is {@link Leftovers}' check.
 */
@Order(9)
class LocalLoadBalancerTest {

    @RegisterExtension
    static final LocalMesh mesh = LocalMesh.nodes(2);

    private static final String NS = "it-lb";

    private static String services() {
        return """
                apiVersion: v1
                kind: Service
                metadata: {name: web-lb, namespace: it-lb}
                spec:
                  type: LoadBalancer
                  selector: {app: web}
                  ports: [{name: http, port: 80, targetPort: http}]
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: web-np, namespace: it-lb}
                spec:
                  type: NodePort
                  selector: {app: web}
                  ports: [{name: http, port: 8080, targetPort: http, nodePort: 31234}]
                ---
                """;
    }

    private static JsonNode service(String ns, String name) {
        return LocalMesh.json(Ambitctl.localOk("get", "svc", "-n", ns, "-o", "json")).path("items").valueStream()
                .filter(s -> s.path("metadata").path("name").asText().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no Service " + ns + "/" + name));
    }

    private static Ambitctl.Result curl(String url) {
        return Ambitctl.host(Duration.ofSeconds(10), "curl", "-sS", "-m", "3", url);
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void loadBalancerAndNodePortServicesAnswerTheMachineAndGoWithTheirService() {
        try {
            mesh.apply(Yaml.namespace(NS, true) + Yaml.serverDeployment(NS, "web", 2, "default") + services());
            mesh.awaitRunning(NS, 2, Duration.ofSeconds(60));

            String ip = mesh.eventually("an external address for web-lb", Duration.ofSeconds(20), () -> {
                String a = service(NS, "web-lb").at("/status/loadBalancer/ingress/0/ip").asText();
                return a.isEmpty() ? null : a;
            });
            assertThat(ip).startsWith("10.250.0.");
            assertThat(Integer.parseInt(ip.substring("10.250.0.".length()))).isBetween(200, 250);
            String table = Ambitctl.localOk("get", "svc", "-n", NS).out();
            assertThat(table).containsPattern("web-lb\\s+LoadBalancer\\s+10\\.96\\.\\d+\\.\\d+\\s+" + ip.replace(".", "\\.")
                    + "\\s+80:3\\d{4}/TCP");
            assertThat(table).containsPattern("web-np\\s+NodePort\\s+10\\.96\\.\\d+\\.\\d+\\s+<none>\\s+8080:31234/TCP");

            // From the machine's own namespace: both replicas, behind the one address.
            Set<String> answered = new HashSet<>();
            mesh.eventually("both replicas answering on http://" + ip + "/", Duration.ofSeconds(30), () -> {
                Ambitctl.Result r = curl("http://" + ip + "/");
                assertThat(r.out()).as("%s", r).startsWith("hello from web-");
                answered.add(r.out().strip());
                return answered.size() == 2;
            });

            // The LoadBalancer's own node port and the NodePort Service, on every node address.
            int lbNodePort = service(NS, "web-lb").at("/spec/ports/0/nodePort").asInt();
            assertThat(lbNodePort).isBetween(30000, 32767).isNotEqualTo(31234);
            List<String> urls = new ArrayList<>();
            for (String node : List.of("10.250.0.11", "10.250.0.12")) {
                urls.add("http://" + node + ":31234/");
                urls.add("http://" + node + ":" + lbNodePort + "/");
            }
            for (String url : urls) {
                Ambitctl.Result r = curl(url);
                assertThat(r.out()).as("%s: %s", url, r).startsWith("hello from web-");
            }

            // Gone with the Service: the address leaves the node network, the node port closes.
            mesh.delete(services());
            mesh.eventually("web-lb's address and web-np's node port gone", Duration.ofSeconds(20), () -> {
                Ambitctl.Result addr = Ambitctl.host(Duration.ofSeconds(10), "ip", "-n", "ambit-l-net", "-o", "addr");
                return !addr.out().contains(" " + ip + "/32") && !curl("http://" + ip + "/").ok()
                        && !curl("http://10.250.0.11:31234/").ok();
            });
        } finally {
            mesh.deleteNamespace(NS);
        }
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void istiosDemoIngressGatewayIsInstalledWithAnExternalAddress() {
        JsonNode svc = mesh.eventually("istio-system/istio-ingressgateway with an external address",
                Duration.ofSeconds(20), () -> {
                    JsonNode s = service("istio-system", "istio-ingressgateway");
                    return s.at("/status/loadBalancer/ingress/0/ip").asText().isEmpty() ? null : s;
                });
        assertThat(svc.at("/spec/type").asText()).isEqualTo("LoadBalancer");
        List<String> ports = new ArrayList<>();
        svc.at("/spec/ports").forEach(p -> ports.add(p.path("name").asText() + " " + p.path("port").asInt() + "->"
                + p.path("targetPort").asText()));
        assertThat(ports).containsExactly("status-port 15021->15021", "http2 80->80", "https 443->443");

        assertThat(Ambitctl.localOk("get", "deploy", "-n", "istio-system").out()).contains("istio-ingressgateway");
        JsonNode pod = mesh.eventually("the ingress gateway's pod", Duration.ofSeconds(30),
                () -> mesh.pods("istio-system").stream().findFirst().orElse(null));
        assertThat(pod.at("/metadata/labels/istio").asText()).isEqualTo("ingressgateway");
        assertThat(pod.at("/metadata/labels/app").asText()).isEqualTo("istio-ingressgateway");
        assertThat(pod.at("/metadata/labels").path("istio.io/dataplane-mode").asText()).isEqualTo("none");
        assertThat(pod.at("/spec/serviceAccountName").asText()).isEqualTo("istio-ingressgateway-service-account");
        String command = String.join(" ", pod.at("/spec/containers/0/command").valueStream().map(JsonNode::asText).toList());
        assertThat(command).contains("waypoint-proxy.jar --mode gateway --label istio=ingressgateway"
                + " --label app=istio-ingressgateway");
    }
}
