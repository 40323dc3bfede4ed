package dev.ambit.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * (2) A waypoint deployed as a user of Istio ambient deploys one: {@code ambitctl waypoint
 * apply --enroll-namespace --wait} returns once the local controller has made the Gateway's
 * ServiceAccount, Service and pod, the pod's 15021 {@code /healthz/ready} answers and the
 * Gateway is Programmed with the Service's VIP as its address ({@code local get gateway});
 * {@code waypoint list} and {@code status} say so; {@code waypoint delete} removes the pod
 * and Service with the Gateway. Deployment and status only: traffic through the waypoint is
 * the L7 suite's.
 */
@Order(2)
class WaypointDeploymentTest {

    @RegisterExtension
    static final LocalMesh mesh = LocalMesh.nodes(2);

    private static final Path WAYPOINT_JAR = Ambitctl.REPO.resolve("waypoint-proxy/target/waypoint-proxy.jar");
    private static final String GATEWAY_LABEL = "gateway.networking.k8s.io/gateway-name";

    private static Ambitctl.Result waypoint(Duration timeout, String sub, String... args) {
        return Ambitctl.run(timeout, "waypoint", sub, args);
    }

    private static List<JsonNode> items(Ambitctl.Result r) {
        assertThat(r.ok()).as("%s", r).isTrue();
        List<JsonNode> out = new ArrayList<>();
        LocalMesh.json(r).path("items").forEach(out::add);
        return out;
    }

    private static JsonNode condition(JsonNode object, String type) {
        for (JsonNode c : object.path("status").path("conditions")) {
            if (c.path("type").asText().equals(type)) {
                return c;
            }
        }
        return null;
    }

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void applyDeploysTheWaypointAndTheGatewayIsProgrammedWithItsAddressThenDeleteRemovesIt() {
        // Skipped on a developer's machine without the jar; in CI (make test builds every jar) it must be there.
        assertThat(Files.isRegularFile(WAYPOINT_JAR) || !LocalMesh.ci()).as(WAYPOINT_JAR + " is not built").isTrue();
        assumeTrue(Files.isRegularFile(WAYPOINT_JAR), WAYPOINT_JAR + " is not built (mvn -pl waypoint-proxy -am package)");
        String ns = "it-waypoint-deploy";
        try {
            mesh.apply(Yaml.namespace(ns, true) + Yaml.serviceAccount(ns, "server")
                    + Yaml.serverPod(ns, "web", "server", "node2", Map.of()) + Yaml.service(ns, "web", "web"));
            mesh.awaitRunning(ns, 1, Duration.ofSeconds(60));

            Ambitctl.Result apply = waypoint(Duration.ofSeconds(150), "apply", "-n", ns, "--enroll-namespace", "--wait",
                    "--timeout", "120s");
            assertThat(apply.ok()).as(() -> apply + "\n" + mesh.diagnostics()).isTrue();
            assertThat(apply.out()).contains("waypoint " + ns + "/waypoint applied",
                    "namespace " + ns + " labeled with \"istio.io/use-waypoint: waypoint\"",
                    "waypoint " + ns + "/waypoint is programmed");

            // The Service: a VIP, Istio's three ports, selecting the waypoint's pod.
            JsonNode svc = items(Ambitctl.local("get", "svc", "-n", ns, "waypoint", "-o", "json")).getFirst();
            String vip = svc.path("spec").path("clusterIP").asText();
            assertThat(vip).startsWith("10.96.");
            List<Integer> ports = new ArrayList<>();
            svc.path("spec").path("ports").forEach(p -> ports.add(p.path("port").asInt()));
            assertThat(ports).containsExactly(15008, 15021, 15020);

            // The Gateway: Accepted, Programmed, its address the VIP (what local get shows).
            Ambitctl.Result yaml = Ambitctl.localOk("get", "gateway", "-n", ns, "-o", "yaml");
            assertThat(yaml.out()).contains("type: IPAddress", "value: " + vip);
            JsonNode gw = items(Ambitctl.local("get", "gateway", "-n", ns, "-o", "json")).getFirst();
            assertThat(condition(gw, "Accepted").path("status").asText()).isEqualTo("True");
            assertThat(condition(gw, "Programmed").path("status").asText()).isEqualTo("True");
            assertThat(Ambitctl.localOk("get", "gateway", "-n", ns).out()).contains("waypoint", "istio-waypoint", vip, "True");

            // The pod: not captured, the waypoint's identity, ready because its 15021 answers.
            List<JsonNode> pods = items(Ambitctl.local("get", "pods", "-n", ns, "-l", GATEWAY_LABEL + "=waypoint", "-o", "json"));
            assertThat(pods).hasSize(1);
            JsonNode pod = pods.getFirst();
            assertThat(LocalMesh.name(pod)).startsWith("waypoint-");
            assertThat(pod.path("metadata").path("labels").path("istio.io/dataplane-mode").asText()).isEqualTo("none");
            assertThat(pod.path("spec").path("serviceAccountName").asText()).isEqualTo("waypoint");
            assertThat(condition(pod, "Ready").path("status").asText()).isEqualTo("True");
            Ambitctl.Result ready = mesh.exec(ns, LocalMesh.name(pod), Duration.ofSeconds(15),
                    "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:15021/healthz/ready");
            assertThat(ready.out()).as("%s", ready).isEqualTo("200");
            assertThat(mesh.listeners(ns, LocalMesh.name(pod))).as("the waypoint listens on HBONE itself")
                    .contains(15008).doesNotContain(15001, 15006);

            assertThat(Ambitctl.localOk("get", "deploy", "-n", ns).out()).containsPattern("waypoint\\s+1/1\\s+1\\s+1");
            assertThat(waypoint(Duration.ofSeconds(60), "list", "-n", ns).out())
                    .contains("NAME", "REVISION", "PROGRAMMED").containsPattern("waypoint\\s+default\\s+True");
            Ambitctl.Result status = waypoint(Duration.ofSeconds(60), "status", "-n", ns);
            assertThat(status.code()).as("%s", status).isZero();
            assertThat(status.out()).contains("Programmed");

            // Deleting the Gateway removes what was made for it.
            assertThat(waypoint(Duration.ofSeconds(60), "delete", "-n", ns).out())
                    .isEqualTo("waypoint " + ns + "/waypoint deleted\n");
            mesh.eventually("the waypoint's pod and Service gone", Duration.ofSeconds(30), () ->
                    items(Ambitctl.local("get", "pods", "-n", ns, "-l", GATEWAY_LABEL + "=waypoint", "-o", "json")).isEmpty()
                            && items(Ambitctl.local("get", "svc", "-n", ns, "-o", "json")).stream()
                            .noneMatch(s -> s.path("metadata").path("name").asText().equals("waypoint"))
                            && items(Ambitctl.local("get", "gateway", "-n", ns, "-o", "json")).isEmpty());
        } finally {
            mesh.deleteNamespace(ns);
        }
    }
}
