package dev.ambit.ctl.local;

import static dev.ambit.ctl.local.ControllerFixtures.CLUSTER;
import static dev.ambit.ctl.local.ControllerFixtures.parse;
import static dev.ambit.ctl.local.ControllerFixtures.pod;
import static dev.ambit.ctl.local.ControllerFixtures.running;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

class PodObjectsTest {

    private static final String UID = "abcdef01-0000-0000-0000-000000000000";

    private final PodObjects podObjects = new PodObjects(CLUSTER, uid -> uid.equals(UID) ? "agent not ready" : null);

    private static RunningPod webPod() {
        RunningPod p = running(parse(pod("demo", "web", "web", 80)).getFirst(), "node2", "10.244.2.4", UID);
        p.containers.add(new RunningPod.ContainerRun(p.template.containers().getFirst()));
        return p;
    }

    @Test
    void thePodAsKubernetesShowsItWithItsNodeAndAddresses() {
        ObjectNode o = podObjects.of(webPod(), false);
        assertThat(o.path("kind").asText()).isEqualTo("Pod");
        assertThat(o.path("metadata").path("uid").asText()).isEqualTo(UID);
        assertThat(o.path("spec").path("nodeName").asText()).isEqualTo("node2");
        assertThat(o.path("spec").path("serviceAccountName").asText()).isEqualTo("default");
        assertThat(o.path("spec").path("restartPolicy").asText()).isEqualTo("Always");
        assertThat(o.path("status").path("podIP").asText()).isEqualTo("10.244.2.4");
        assertThat(o.path("status").path("hostIP").asText()).isEqualTo("10.10.0.12");
        assertThat(o.path("status").path("conditions").get(0).path("status").asText())
                .as("a container not running: not ready").isEqualTo("False");
        // For istiod-lite: nothing that changes on every restart.
        assertThat(o.path("status").has("containerStatuses")).isFalse();
        assertThat(o.path("status").has("startTime")).isFalse();
    }

    @Test
    void theFullPodShowsWhyItsContainersWait() {
        ObjectNode o = podObjects.of(webPod(), true);
        var state = o.path("status").path("containerStatuses").get(0).path("state");
        assertThat(state.path("waiting").path("reason").asText()).isEqualTo("ContainerCreating");
        assertThat(state.path("waiting").path("message").asText()).isEqualTo("agent not ready");
        assertThat(podObjects.hostIp("nope")).isEmpty();
    }

    @Test
    void aRestartedContainerShowsHowItsPreviousProcessEnded() {
        RunningPod p = webPod();
        RunningPod.ContainerRun c = p.containers.getFirst();
        c.restarts = 1;
        c.started = true;
        c.last = new RunningPod.Termination(143, java.time.Instant.parse("2026-12-07T04:00:00Z"),
                java.time.Instant.parse("2026-12-07T04:00:09Z"), "container c failed its liveness probe 3 times (x), killed");
        var s = podObjects.of(p, true).path("status").path("containerStatuses").get(0);
        assertThat(s.path("restartCount").asInt()).isEqualTo(1);
        var t = s.path("lastState").path("terminated");
        assertThat(t.path("exitCode").asInt()).isEqualTo(143);
        assertThat(t.path("reason").asText()).isEqualTo("Error");
        assertThat(t.path("finishedAt").asText()).isEqualTo("2026-12-07T04:00:09Z");
        assertThat(t.path("message").asText()).contains("liveness probe");
        assertThat(s.path("state").path("waiting").path("reason").asText()).isEqualTo("CrashLoopBackOff");
        assertThat(podObjects.of(p, false).path("status").has("containerStatuses")).as("not for istiod-lite").isFalse();
    }
}
