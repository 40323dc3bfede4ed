package dev.ambit.ctl.local;

import static dev.ambit.ctl.local.ControllerFixtures.parse;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ambit.istiod.model.MeshConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class IstioIngressTest {

    private final IstioIngress ingress = new IstioIngress(new Waypoints.Launch("/jdk/bin/java",
            Path.of("/repo/waypoint-proxy/target/waypoint-proxy.jar"), "10.250.0.2:15012", Path.of("/s/istiod/ca/root.pem"),
            "/s/nodes/$(NODE_NAME)/token", MeshConfig.defaults()));

    private static KubeObject find(List<KubeObject> objects, String kind, String name) {
        return objects.stream().filter(o -> o.kind().equals(kind) && o.name().equals(name)).findFirst().orElseThrow();
    }

    @Test
    void istiosDemoIngressGateway() {
        List<KubeObject> objects = ingress.expand(List.of());
        assertThat(objects).extracting(o -> o.kind() + " " + o.namespace() + "/" + o.name()).containsExactly(
                "Namespace " + find(objects, "Namespace", "istio-system").namespace() + "/istio-system",
                "ServiceAccount istio-system/istio-ingressgateway-service-account",
                "Deployment istio-system/istio-ingressgateway",
                "Service istio-system/istio-ingressgateway");

        KubeObject svc = find(objects, "Service", "istio-ingressgateway");
        assertThat(Services.type(svc)).isEqualTo("LoadBalancer");
        assertThat(Services.selector(svc)).isEqualTo(Map.of("istio", "ingressgateway", "app", "istio-ingressgateway"));
        assertThat(Services.ports(svc)).extracting(p -> p.name() + " " + p.port() + "->" + p.targetPort())
                .containsExactly("status-port 15021->15021", "http2 80->80", "https 443->443");
        Services.validate(svc);

        JsonNode template = find(objects, "Deployment", "istio-ingressgateway").spec().path("template");
        assertThat(KubeObject.stringMap(template.path("metadata").path("labels"))).containsEntry("istio", "ingressgateway")
                .containsEntry("app", "istio-ingressgateway").containsEntry("istio.io/dataplane-mode", "none");
        JsonNode pod = template.path("spec");
        assertThat(pod.path("serviceAccountName").asText()).isEqualTo("istio-ingressgateway-service-account");
        JsonNode c = pod.path("containers").get(0);
        assertThat(c.path("name").asText()).isEqualTo("istio-proxy");
        assertThat(c.at("/readinessProbe/httpGet/port").asInt()).isEqualTo(15021);
        assertThat(c.at("/readinessProbe/httpGet/path").asText()).isEqualTo("/healthz/ready");
        List<String> cmd = new ArrayList<>();
        c.path("command").forEach(a -> cmd.add(a.asText()));
        assertThat(String.join(" ", cmd)).startsWith("/jdk/bin/java --enable-native-access=ALL-UNNAMED")
                .contains("-jar /repo/waypoint-proxy/target/waypoint-proxy.jar --mode gateway"
                        + " --label istio=ingressgateway --label app=istio-ingressgateway"
                        + " --namespace istio-system --name istio-ingressgateway --pod-name $(POD_NAME) --pod-ip $(POD_IP)"
                        + " --service-account istio-ingressgateway-service-account"
                        + " --xds-address 10.250.0.2:15012 --ca-address 10.250.0.2:15012 --root-cert /s/istiod/ca/root.pem"
                        + " --token-file /s/nodes/$(NODE_NAME)/token --trust-domain cluster.local --cluster-id Kubernetes");
    }

    @Test
    void whatTheUserAppliedUnderTheSameNameWins() {
        List<KubeObject> applied = parse("""
                apiVersion: v1
                kind: Service
                metadata: {name: istio-ingressgateway, namespace: istio-system}
                spec: {type: NodePort, selector: {istio: ingressgateway}, ports: [{port: 8080}]}
                ---
                apiVersion: v1
                kind: Namespace
                metadata: {name: istio-system, labels: {team: mesh}}
                """);
        List<KubeObject> objects = ingress.expand(applied);
        assertThat(objects).hasSize(4);
        assertThat(Services.type(find(objects, "Service", "istio-ingressgateway"))).isEqualTo("NodePort");
        assertThat(find(objects, "Namespace", "istio-system").labels()).containsEntry("team", "mesh");
    }

    @Test
    void theChoiceOfLocalUpIsKeptInClusterJson() throws Exception {
        for (Boolean ingress : new Boolean[] {true, false}) {
            ClusterInfo info = new ClusterInfo(1, "/s", "/r", "/sys/fs/cgroup", "2026-01-01T00:00:00Z", null, null,
                    List.of(ControllerFixtures.NODE1), null, ingress);
            ClusterInfo read = ClusterInfo.MAPPER.readValue(ClusterInfo.MAPPER.writeValueAsString(info), ClusterInfo.class);
            assertThat(read.ingress()).isEqualTo(ingress);
            assertThat(read.withController(null).ingress()).as("kept by the with* copies").isEqualTo(ingress);
        }
        ClusterInfo older = ClusterInfo.MAPPER.readValue("{\"version\":1,\"nodes\":[]}", ClusterInfo.class);
        assertThat(older.ingress()).as("a cluster.json without the field: no ingress gateway").isNull();
        assertThat(new LocalCluster.UpOptions(1, new Home(Path.of("/r")), Path.of("/sys/fs/cgroup"),
                java.time.Duration.ofSeconds(90)).ingress()).as("local up installs it unless --no-ingress").isTrue();
    }
}
