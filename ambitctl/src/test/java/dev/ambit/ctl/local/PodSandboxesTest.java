package dev.ambit.ctl.local;

import static dev.ambit.ctl.local.ControllerFixtures.CLUSTER;
import static dev.ambit.ctl.local.ControllerFixtures.parse;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What needs no root: the sandboxes themselves are LocalClusterTest's. */
class PodSandboxesTest {

    @TempDir
    Path root;

    @Test
    void aPodOnANodeTheClusterLacksWaitsWithTheFixAndIsForgottenOnceNotWanted() {
        Map<String, RunningPod> pods = new LinkedHashMap<>();
        List<String> logged = new ArrayList<>();
        PodSandboxes sandboxes = new PodSandboxes(new StateDir(root), CLUSTER, root.resolve("cgroup"), pods,
                new PodEnrollment(n -> root.resolve("cni"), new CniClient(PodEnrollment.CALL_TIMEOUT), Instant::now,
                        logged::add),
                new HostsFiles(root::resolve, logged::add), List::of, logged::add);
        List<KubeObject> manifests = parse("""
                apiVersion: v1
                kind: Pod
                metadata: {name: lost, namespace: demo}
                spec: {nodeName: node9, containers: [{name: c, command: [sleep]}]}
                """);
        Map<String, DesiredPod> desired = new DesiredPods(List.of("node1"), new Random(1)).of(manifests, pods);

        sandboxes.reconcile(desired, manifests);

        assertThat(pods).isEmpty();
        assertThat(sandboxes.failure("demo/lost").reason())
                .isEqualTo("node node9 does not exist (nodes: [node1, node2]); fix spec.nodeName");
        sandboxes.reconcile(Map.of(), List.of());
        assertThat(sandboxes.failure("demo/lost")).isNull();
        assertThat(logged).isEmpty();
    }
}
