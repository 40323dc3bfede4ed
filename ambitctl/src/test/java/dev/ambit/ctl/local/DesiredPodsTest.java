package dev.ambit.ctl.local;

import static dev.ambit.ctl.local.ControllerFixtures.parse;
import static dev.ambit.ctl.local.ControllerFixtures.pod;
import static dev.ambit.ctl.local.ControllerFixtures.running;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class DesiredPodsTest {

    private final DesiredPods desiredPods = new DesiredPods(List.of("node1", "node2"), new Random(3));

    @Test
    void podsGoToTheEmptierNodeOrTheirNodeName() {
        List<KubeObject> manifests = parse(pod("demo", "a", "a", 80) + pod("demo", "b", "b", 80)
                + """
                apiVersion: v1
                kind: Pod
                metadata: {name: pinned, namespace: demo}
                spec: {nodeName: node1, containers: [{name: c, command: [sleep]}]}
                """);
        Map<String, DesiredPod> desired = desiredPods.of(manifests, Map.of());
        assertThat(desired.keySet()).containsExactly("demo/a", "demo/b", "demo/pinned");
        assertThat(desired.get("demo/a").node()).isEqualTo("node1");
        assertThat(desired.get("demo/b").node()).isEqualTo("node2");
        assertThat(desired.get("demo/pinned").node()).isEqualTo("node1");
        assertThat(desired.get("demo/a").owner()).isEmpty();
        assertThat(desired.get("demo/a").metadata().path("labels").path("app").asText()).isEqualTo("a");
    }

    @Test
    void aRunningPodKeepsItsNodeAndSpecHash() {
        KubeObject a = parse(pod("demo", "a", "a", 80)).getFirst();
        RunningPod onNode2 = running(a, "node2", "10.244.2.5", "0123abcd-0000-0000-0000-000000000000");
        Map<String, DesiredPod> desired = desiredPods.of(List.of(a), Map.of("demo/a", onNode2));
        assertThat(desired.get("demo/a").node()).isEqualTo("node2");
        assertThat(desired.get("demo/a").specHash()).isEqualTo(onNode2.specHash);
    }

    @Test
    void aDeploymentIsExpandedToItsReplicasOwnedByItsReplicaSet() {
        KubeObject d = parse("""
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: backend, namespace: demo}
                spec:
                  replicas: 2
                  selector: {matchLabels: {app: backend}}
                  template:
                    metadata: {labels: {app: backend}, annotations: {a: b}}
                    spec: {containers: [{name: c, command: [sleep]}]}
                """).getFirst();
        String hash = Deployments.templateHash(d);
        Map<String, DesiredPod> desired = desiredPods.of(List.of(d), Map.of());
        assertThat(desired).hasSize(2);
        assertThat(desired.values()).extracting(DesiredPod::node).containsExactlyInAnyOrder("node1", "node2");
        for (DesiredPod p : desired.values()) {
            assertThat(p.name()).startsWith("backend-" + hash + "-");
            assertThat(p.owner()).isEqualTo("backend");
            assertThat(p.specHash()).isEqualTo(hash);
            assertThat(p.metadata().path("labels").path(Deployments.TEMPLATE_HASH_LABEL).asText()).isEqualTo(hash);
            assertThat(p.metadata().path("annotations").path("a").asText()).isEqualTo("b");
            assertThat(p.metadata().path("ownerReferences").get(0).path("name").asText())
                    .isEqualTo("backend-" + hash);
        }
    }

    @Test
    void namespaceLabelsAreThoseOfTheAppliedNamespace() {
        List<KubeObject> manifests = parse("""
                apiVersion: v1
                kind: Namespace
                metadata: {name: demo, labels: {istio.io/dataplane-mode: ambient}}
                """);
        assertThat(DesiredPods.namespaceLabels(manifests, "demo")).containsEntry("istio.io/dataplane-mode", "ambient");
        assertThat(DesiredPods.namespaceLabels(manifests, "other")).isEmpty();
    }
}
