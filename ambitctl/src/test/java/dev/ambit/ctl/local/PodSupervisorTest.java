package dev.ambit.ctl.local;

import static dev.ambit.ctl.local.ControllerFixtures.CLUSTER;
import static dev.ambit.ctl.local.ControllerFixtures.parse;
import static dev.ambit.ctl.local.ControllerFixtures.running;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PodSupervisorTest {

    private final PodSupervisor supervisor = new PodSupervisor(new StateDir(Path.of("/run/ambit/test-state")), CLUSTER,
            new PodEnrollment(n -> Path.of("/nonexistent"), new CniClient(PodEnrollment.CALL_TIMEOUT), Instant::now,
                    m -> { }), m -> { });

    @Test
    void restartsBackOffFromOneSecondDoublingUpToTwenty() {
        assertThat(List.of(0, 1, 2, 3, 4, 5, 50)).map(n -> PodSupervisor.backoff(n).toMillis())
                .containsExactly(1000L, 2000L, 4000L, 8000L, 16000L, 20000L, 20000L);
    }

    @Test
    void aContainerSeesItsPodAndItsFieldRefs() {
        RunningPod p = running(parse("""
                apiVersion: v1
                kind: Pod
                metadata: {name: web, namespace: demo}
                spec:
                  containers:
                  - name: c
                    command: [sleep]
                    env:
                    - {name: HOST, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}
                    - {name: PLAIN, value: x}
                """).getFirst(), "node1", "10.244.1.9", "abcdef01-0000-0000-0000-000000000000");
        Map<String, String> env = supervisor.containerEnv(p, p.template.containers().getFirst());
        assertThat(env).containsEntry("POD_NAME", "web").containsEntry("POD_NAMESPACE", "demo")
                .containsEntry("POD_IP", "10.244.1.9").containsEntry("NODE_NAME", "node1")
                .containsEntry("HOST", "10.10.0.11").containsEntry("PLAIN", "x");
    }

    @Test
    void aPodProcessJoinsItsCgroupThenItsUtsAndNetworkNamespacesWithAClearedEnvironment() {
        ProcessBuilder pb = PodSupervisor.podProcess(Path.of("/cg/pod"), "ambit-l-abcdef01", List.of("echo", "hi"),
                Map.of("A", "1", "HOSTNAME", "web"), "");
        assertThat(pb.command()).startsWith("/bin/sh", "-c")
                .endsWith("/cg/pod", "ambit-l-abcdef01", "/run/ambit-local-uts/ambit-l-abcdef01", "echo", "hi");
        assertThat(pb.command().get(2)).contains("nsenter --uts=\"$uts\" -- ip netns exec \"$ns\" \"$@\"");
        assertThat(pb.environment()).containsEntry("A", "1").containsEntry("HOSTNAME", "web")
                .containsEntry("HOME", "/root").containsKey("PATH").hasSize(4);
        assertThat(pb.directory()).isEqualTo(new java.io.File("/"));
    }

    @Test
    void everyContainerGetsThePodsHostnameUnlessItsEnvSaysOtherwise() {
        RunningPod p = running(parse("""
                apiVersion: v1
                kind: Pod
                metadata: {name: web-5c8d7-x2x9q, namespace: demo}
                spec:
                  containers:
                  - {name: a, command: [sleep]}
                  - {name: b, command: [sleep], env: [{name: HOSTNAME, value: mine}]}
                """).getFirst(), "node1", "10.244.1.9", "abcdef01-0000-0000-0000-000000000000");
        assertThat(p.hostname).isEqualTo("web-5c8d7-x2x9q");
        assertThat(supervisor.containerEnv(p, p.template.containers().get(0))).containsEntry("HOSTNAME", "web-5c8d7-x2x9q");
        assertThat(supervisor.containerEnv(p, p.template.containers().get(1))).containsEntry("HOSTNAME", "mine");
    }

    @Test
    void aKillSendsSigtermOnceWithTheSigkillDeadlineAfterTheGracePeriod() throws Exception {
        RunningPod p = running(parse("""
                apiVersion: v1
                kind: Pod
                metadata: {name: web, namespace: demo}
                spec:
                  terminationGracePeriodSeconds: 7
                  containers: [{name: c, command: [sleep]}]
                """).getFirst(), "node1", "10.244.1.9", "abcdef01-0000-0000-0000-000000000000");
        RunningPod.ContainerRun c = new RunningPod.ContainerRun(p.template.containers().getFirst());
        c.process = new ProcessBuilder("sleep", "30").start();
        p.containers.add(c);
        Instant before = Instant.now();
        try {
            supervisor.kill(p, c, "failed its liveness probe 3 times");
            assertThat(c.process.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
            assertThat(c.process.exitValue()).as("SIGTERM").isEqualTo(143);
            assertThat(c.killAt).isBetween(before.plusSeconds(7), Instant.now().plusSeconds(7));
            Instant due = c.killAt;
            supervisor.kill(p, c, "again");
            assertThat(c.killAt).as("a second kill changes nothing").isEqualTo(due);
        } finally {
            c.process.destroyForcibly().waitFor();
        }
    }

    @Test
    void underOnFailureAContainerAProbeKilledRestartsEvenWhenItExitedZero() throws Exception {
        String yaml = """
                apiVersion: v1
                kind: Pod
                metadata: {name: web, namespace: demo}
                spec:
                  restartPolicy: OnFailure
                  containers: [{name: c, command: [sleep]}]
                """;
        for (boolean probeKilled : List.of(true, false)) {
            RunningPod p = running(parse(yaml).getFirst(), "node1", "10.244.1.9", "abcdef01-0000-0000-0000-000000000000");
            RunningPod.ContainerRun c = new RunningPod.ContainerRun(p.template.containers().getFirst());
            c.started = true;
            c.startedAt = Instant.now();
            c.process = new ProcessBuilder("true").start(); // it handled SIGTERM and exited 0
            c.process.waitFor();
            if (probeKilled) {
                c.killAt = Instant.now().plusSeconds(30);
                c.killReason = "container c failed its liveness probe 3 times (x), killed";
            }
            p.containers.add(c);
            supervisor.supervise(List.of(p));
            assertThat(c.exitCode).isZero();
            assertThat(c.killAt).isNull();
            assertThat(c.done).as("probe killed: %s", probeKilled).isEqualTo(!probeKilled);
            assertThat(c.last.message()).isEqualTo(probeKilled ? c.killReason : "");
            if (probeKilled) {
                assertThat(c.nextStart).as("restart after the backoff").isAfter(Instant.now());
            }
        }
    }
}
