package dev.ambit.ctl.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class KubectlPrinterTest {

    private static final Instant NOW = Instant.parse("2026-11-21T12:00:00Z");

    private static ClusterStatus.Pod pod(String ns, String name, String phase, String containerState, String reason,
                                         int restarts) {
        ObjectNode object = JsonNodeFactory.instance.objectNode();
        object.put("apiVersion", "v1").put("kind", "Pod");
        object.putObject("metadata").put("name", name).put("namespace", ns);
        object.putObject("spec").put("nodeName", "node1");
        object.putObject("status").put("phase", phase).put("podIP", "10.244.1.2");
        return new ClusterStatus.Pod(ns, name, "uid", "node1", "10.244.1.2", phase, "", restarts,
                NOW.minusSeconds(75).toString(), "ambit-l-12345678", "/cg", "", Map.of("app", "x"),
                List.of(new ClusterStatus.Container("c", containerState, reason, restarts, null, 1, List.of(), Map.of())),
                object);
    }

    @Test
    void podsTableLooksLikeKubectls() {
        String table = KubectlPrinter.pods(List.of(pod("demo", "client", "Running", "running", "", 0),
                pod("demo", "crasher", "Running", "waiting", "CrashLoopBackOff", 4)), KubectlPrinter.Format.TABLE, false, NOW);
        assertThat(table).isEqualTo("""
                NAME      READY   STATUS             RESTARTS   AGE
                client    1/1     Running            0          75s
                crasher   0/1     CrashLoopBackOff   4          75s
                """);
    }

    @Test
    void wideAndAllNamespacesAddColumns() {
        String table = KubectlPrinter.pods(List.of(pod("demo", "client", "Running", "running", "", 0)),
                KubectlPrinter.Format.WIDE, true, NOW);
        assertThat(table.lines().findFirst().orElseThrow())
                .isEqualTo("NAMESPACE   NAME     READY   STATUS    RESTARTS   AGE   IP           NODE    NOMINATED NODE   READINESS GATES");
        assertThat(table).contains("demo        client   1/1     Running   0          75s   10.244.1.2   node1   <none>");
    }

    @Test
    void jsonIsAKubernetesListOfPods() throws Exception {
        String json = KubectlPrinter.pods(List.of(pod("demo", "client", "Running", "running", "", 0)),
                KubectlPrinter.Format.JSON, false, NOW);
        JsonNode list = Manifests.JSON.readTree(json);
        assertThat(list.path("kind").asText()).isEqualTo("List");
        assertThat(list.path("apiVersion").asText()).isEqualTo("v1");
        assertThat(list.path("items").get(0).path("status").path("podIP").asText()).isEqualTo("10.244.1.2");
        assertThat(list.path("items").get(0).path("spec").path("nodeName").asText()).isEqualTo("node1");
        assertThat(json).contains("\"kind\": \"List\"").startsWith("{\n    \"apiVersion\": \"v1\"");
    }

    @Test
    void namePrintsTypeSlashName() {
        assertThat(KubectlPrinter.pods(List.of(pod("demo", "a", "Running", "running", "", 0)),
                KubectlPrinter.Format.NAME, false, NOW)).isEqualTo("pod/a\n");
    }

    @Test
    void statusColumnFollowsPhaseAndContainers() {
        assertThat(KubectlPrinter.podStatus(pod("d", "p", "Succeeded", "terminated", "Completed", 0))).isEqualTo("Completed");
        assertThat(KubectlPrinter.podStatus(pod("d", "p", "Failed", "terminated", "Error", 0))).isEqualTo("Error");
        ClusterStatus.Pod pending = new ClusterStatus.Pod("d", "p", "", "node1", "", "Pending", "ContainerCreating", 0,
                "", "", "", "", Map.of(), List.of(), null);
        assertThat(KubectlPrinter.podStatus(pending)).isEqualTo("ContainerCreating");
    }

    @Test
    void servicesAndNodes() {
        ClusterStatus.Service svc = new ClusterStatus.Service("demo", "backend", "ClusterIP", "10.96.0.10", "8080/TCP",
                Map.of("app", "backend"), Map.of(), NOW.minus(Duration.ofMinutes(5)).toString(), List.of(), null);
        assertThat(KubectlPrinter.services(List.of(svc), KubectlPrinter.Format.WIDE, false, NOW)).isEqualTo("""
                NAME      TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)    AGE   SELECTOR
                backend   ClusterIP   10.96.0.10   <none>        8080/TCP   5m    app=backend
                """);
        KubectlPrinter.NodeRow node = new KubectlPrinter.NodeRow("node1", "10.250.0.11", "10.244.1.0/24", true,
                NOW.minus(Duration.ofHours(3)).toString(), "6.1");
        assertThat(KubectlPrinter.nodes(List.of(node), KubectlPrinter.Format.TABLE, NOW)).isEqualTo("""
                NAME    STATUS   ROLES    AGE   VERSION
                node1   Ready    <none>   3h    ambit-local
                """);
        assertThat(KubectlPrinter.nodes(List.of(node), KubectlPrinter.Format.JSON, NOW))
                .contains("\"type\": \"InternalIP\"").contains("\"address\": \"10.250.0.11\"");
    }

    @Test
    void agesAsKubectlRoundsThem() {
        assertThat(KubectlPrinter.age(NOW.minusSeconds(5), NOW)).isEqualTo("5s");
        assertThat(KubectlPrinter.age(NOW.minusSeconds(119), NOW)).isEqualTo("119s");
        assertThat(KubectlPrinter.age(NOW.minusSeconds(200), NOW)).isEqualTo("3m20s");
        assertThat(KubectlPrinter.age(NOW.minusSeconds(60 * 42), NOW)).isEqualTo("42m");
        assertThat(KubectlPrinter.age(NOW.minus(Duration.ofMinutes(5 * 60 + 3)), NOW)).isEqualTo("5h3m");
        assertThat(KubectlPrinter.age(NOW.minus(Duration.ofHours(30)), NOW)).isEqualTo("30h");
        assertThat(KubectlPrinter.age(NOW.minus(Duration.ofHours(76)), NOW)).isEqualTo("3d4h");
        assertThat(KubectlPrinter.age(NOW.minus(Duration.ofDays(40)), NOW)).isEqualTo("40d");
        assertThat(KubectlPrinter.age(null, NOW)).isEqualTo("<unknown>");
    }

    @Test
    void gatewaysAsKubectlListsThemWithTheirAddressAndProgrammedCondition() {
        ObjectNode waypoint = ControllerFixtures.parse(WaypointsTest.GATEWAY).getFirst().tree();
        waypoint.with("metadata").put("creationTimestamp", NOW.minusSeconds(90).toString());
        ObjectNode status = waypoint.putObject("status");
        status.putArray("addresses").addObject().put("type", "IPAddress").put("value", "10.96.0.12");
        status.putArray("conditions").addObject().put("type", "Programmed").put("status", "True");
        ObjectNode other = ControllerFixtures.parse(WaypointsTest.GATEWAY.replace("name: waypoint,", "name: ingress,")
                .replace("istio-waypoint", "istio")).getFirst().tree();
        assertThat(KubectlPrinter.gateways(List.of(waypoint, other), KubectlPrinter.Format.TABLE, true, NOW))
                .isEqualTo("""
                        NAMESPACE   NAME       CLASS            ADDRESS      PROGRAMMED   AGE
                        shop        waypoint   istio-waypoint   10.96.0.12   True         90s
                        shop        ingress    istio                                      <unknown>
                        """);
        assertThat(KubectlPrinter.gateways(List.of(waypoint), KubectlPrinter.Format.YAML, false, NOW))
                .contains("kind: List", "value: 10.96.0.12", "type: Programmed");
    }

    @Test
    void rejectsUnknownOutputFormats() {
        assertThatThrownBy(() -> KubectlPrinter.Format.parse("xml")).hasMessageContaining("-o xml (expected: wide, json");
    }
}
