package dev.ambit.ctl.local;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class DeploymentsTest {

    private static KubeObject deployment(int replicas, String command) {
        return Manifests.parse("""
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: backend, namespace: demo}
                spec:
                  replicas: %d
                  selector: {matchLabels: {app: backend}}
                  template:
                    metadata: {labels: {app: backend}}
                    spec: {containers: [{name: c, command: [%s]}]}
                """.formatted(replicas, command), "d.yaml", s -> { }).getFirst();
    }

    @Test
    void templateHashIsStableAndFollowsTheTemplateOnly() {
        String h = Deployments.templateHash(deployment(2, "sleep"));
        assertThat(h).matches("[" + Deployments.ALPHABET + "]{1,10}");
        assertThat(Deployments.templateHash(deployment(5, "sleep"))).isEqualTo(h); // replicas are not the template
        assertThat(Deployments.templateHash(deployment(2, "socat"))).isNotEqualTo(h);
    }

    @Test
    void podNamesAreDeployHashAndFiveChars() {
        KubeObject d = deployment(1, "sleep");
        String name = Deployments.newPodName(d, new Random(1), n -> false);
        assertThat(name).matches("backend-" + Deployments.templateHash(d) + "-[" + Deployments.ALPHABET + "]{5}");
    }

    @Test
    void spreadsReplicasRoundRobinOverNodes() {
        KubeObject d = deployment(4, "sleep");
        List<Deployments.PodPlan> plan = Deployments.plan(d, Map.of(), List.of("node1", "node2"), Map.of(),
                new Random(7), n -> false);
        assertThat(plan).hasSize(4);
        assertThat(plan).extracting(Deployments.PodPlan::node).containsExactly("node1", "node2", "node1", "node2");
        assertThat(plan).extracting(Deployments.PodPlan::name).doesNotHaveDuplicates();
    }

    @Test
    void breaksTiesTowardsTheEmptierNode() {
        KubeObject d = deployment(1, "sleep");
        List<Deployments.PodPlan> plan = Deployments.plan(d, Map.of(), List.of("node1", "node2"),
                Map.of("node1", 3), new Random(7), n -> false);
        assertThat(plan).singleElement().extracting(Deployments.PodPlan::node).isEqualTo("node2");
    }

    @Test
    void keepsExistingPodsAndAddsOrDropsTheDifference() {
        KubeObject three = deployment(3, "sleep");
        Map<String, String> existing = Map.of("backend-x-aaaaa", "node1", "backend-x-bbbbb", "node2");
        List<Deployments.PodPlan> up = Deployments.plan(three, existing, List.of("node1", "node2"),
                Map.of("node1", 1, "node2", 1), new Random(3), existing::containsKey);
        assertThat(up).hasSize(3);
        assertThat(up.subList(0, 2)).containsExactly(new Deployments.PodPlan("backend-x-aaaaa", "node1"),
                new Deployments.PodPlan("backend-x-bbbbb", "node2"));

        List<Deployments.PodPlan> down = Deployments.plan(deployment(1, "sleep"), existing,
                List.of("node1", "node2"), Map.of(), new Random(3), existing::containsKey);
        assertThat(down).containsExactly(new Deployments.PodPlan("backend-x-aaaaa", "node1"));
    }

    @Test
    void zeroReplicasMeansNoPods() {
        assertThat(Deployments.plan(deployment(0, "sleep"), Map.of("a", "node1"), List.of("node1"), Map.of(),
                new Random(), n -> false)).isEmpty();
    }
}
