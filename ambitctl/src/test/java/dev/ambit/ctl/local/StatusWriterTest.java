package dev.ambit.ctl.local;

import static dev.ambit.ctl.local.ControllerFixtures.CLUSTER;
import static dev.ambit.ctl.local.ControllerFixtures.parse;
import static dev.ambit.ctl.local.ControllerFixtures.pod;
import static dev.ambit.ctl.local.ControllerFixtures.running;
import static dev.ambit.ctl.local.ControllerFixtures.service;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StatusWriterTest {

    @TempDir
    Path root;

    @Test
    void runningAndPendingPodsAndServicesAreWrittenWhenTheyChange() throws Exception {
        StateDir state = new StateDir(root);
        StatusWriter status = new StatusWriter(state.statusJson(), new PodObjects(CLUSTER, uid -> null), uid -> null,
                key -> key.equals("demo/b") ? new PodSandboxes.Failure(1, Instant.now(), "sandbox: no room") : null,
                key -> "2026-01-01T00:00:00Z");
        List<KubeObject> manifests = parse(pod("demo", "a", "web", 80) + pod("demo", "b", "web", 80)
                + service("demo", "web", "web", 80, 80));
        Map<String, DesiredPod> desired = new DesiredPods(List.of("node1"), new Random(1)).of(manifests, Map.of());
        RunningPod a = running(manifests.getFirst(), "node1", "10.244.1.2", "abcdef01-0000-0000-0000-000000000000");
        KubeObject svc = manifests.get(2);
        Map<String, ServiceView> views = Map.of("demo/web", new ServiceView(svc, "10.96.0.10", Services.ports(svc),
                List.of("10.244.1.2:80"), Map.of()));

        assertThat(status.write(Map.of("demo/a", a), desired, views, List.of(), List.of(), List.of())).isTrue();
        ClusterStatus read = Manifests.JSON.readValue(state.statusJson().toFile(), ClusterStatus.class);
        assertThat(read.pod("demo", "a").phase()).isEqualTo("Running");
        assertThat(read.pod("demo", "a").ip()).isEqualTo("10.244.1.2");
        assertThat(read.pod("demo", "b").phase()).isEqualTo("Pending");
        assertThat(read.pod("demo", "b").reason()).isEqualTo("sandbox: no room");
        assertThat(read.services()).singleElement().satisfies(s -> {
            assertThat(s.clusterIp()).isEqualTo("10.96.0.10");
            assertThat(s.type()).isEqualTo("ClusterIP");
            assertThat(s.ports()).isEqualTo("80/TCP");
            assertThat(s.endpoints()).containsExactly("10.244.1.2:80");
        });

        assertThat(status.write(Map.of("demo/a", a), desired, views, List.of(), List.of(), List.of())).as("unchanged, fresh").isFalse();
        a.phase = "Failed";
        assertThat(status.write(Map.of("demo/a", a), desired, views, List.of(), List.of(), List.of())).as("changed").isTrue();
    }
}
