package dev.ambit.ctl.local;

import static dev.ambit.ctl.local.ControllerFixtures.parse;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The kubelet's readiness probe rules: period, thresholds, a new process starts unready; Services follow. */
class ReadinessProbesTest {

    private static final String POD = """
            apiVersion: v1
            kind: Pod
            metadata: {name: web, namespace: demo, labels: {app: web}}
            spec:
              containers:
              - name: c
                command: [sleep, "1000"]
                ports: [{name: status, containerPort: 15021}]
                readinessProbe: {httpGet: {path: /ready, port: status}, periodSeconds: 2, failureThreshold: 2}
            """;

    /** Runs each probe at once on the caller's thread: verdicts are visible on the next {@code probe}. */
    private static final class Direct extends AbstractExecutorService {
        @Override public void execute(Runnable r) { r.run(); }
        @Override public void shutdown() { }
        @Override public List<Runnable> shutdownNow() { return List.of(); }
        @Override public boolean isShutdown() { return false; }
        @Override public boolean isTerminated() { return false; }
        @Override public boolean awaitTermination(long t, TimeUnit u) { return true; }
    }

    private final AtomicReference<Instant> now = new AtomicReference<>(Instant.parse("2026-12-06T10:00:00Z"));
    private final AtomicBoolean answers = new AtomicBoolean();
    private final List<String> probed = new ArrayList<>();
    private final List<Process> processes = new ArrayList<>();
    private final ReadinessProbes probes = new ReadinessProbes((netns, ip, port, path, timeout) -> {
        probed.add(ip + ":" + port + path);
        return answers.get();
    }, now::get, new Direct());

    @AfterEach
    void stop() {
        processes.forEach(Process::destroyForcibly);
    }

    private RunningPod pod() throws Exception {
        KubeObject manifest = parse(POD).getFirst();
        DesiredPod d = new DesiredPods(List.of("node1"), new Random(1)).of(List.of(manifest), Map.of()).values()
                .iterator().next();
        RunningPod p = new RunningPod(d, "0123abcd-0000-0000-0000-000000000000", "node1", "10.244.1.4", Path.of("/x"));
        RunningPod.ContainerRun c = new RunningPod.ContainerRun(d.template().containers().getFirst());
        c.process = start();
        p.containers.add(c);
        return p;
    }

    private Process start() throws Exception {
        Process p = new ProcessBuilder("sleep", "30").start();
        processes.add(p);
        return p;
    }

    private void tick(RunningPod p, long seconds) {
        now.set(now.get().plusSeconds(seconds));
        probes.probe(List.of(p));
    }

    @Test
    void readyAfterAPassNotReadyAfterTheFailureThresholdAndEveryPeriod() throws Exception {
        RunningPod p = pod();
        assertThat(p.ready()).as("running, probe not passed yet").isFalse();

        answers.set(true);
        tick(p, 0); // probes: passes
        assertThat(probed).containsExactly("10.244.1.4:15021/ready");
        tick(p, 1); // applies the pass; not due again within the period
        assertThat(p.ready()).isTrue();
        assertThat(probed).hasSize(1);

        answers.set(false);
        tick(p, 1); // due: fails once
        tick(p, 2); // applies the failure (1 of 2), probes again: fails
        assertThat(p.ready()).as("one failure is below failureThreshold 2").isTrue();
        tick(p, 2);
        assertThat(p.ready()).isFalse();
        assertThat(probed).hasSize(4);
    }

    @Test
    void aRestartedProcessStartsUnreadyAndServicesListOnlyReadyPods() throws Exception {
        RunningPod p = pod();
        answers.set(true);
        tick(p, 0);
        tick(p, 2);
        assertThat(p.ready()).isTrue();

        KubeObject svc = parse(ControllerFixtures.service("demo", "web", "web", 80, 15021)).getFirst();
        ServiceRegistry registry = new ServiceRegistry(IpPool.serviceAddresses(), s -> { });
        assertThat(registry.update(List.of(svc), List.of(p)).get("demo/web").endpoints()).containsExactly("10.244.1.4:15021");

        p.containers.getFirst().process = start(); // restarted by the supervisor
        tick(p, 0);
        assertThat(p.ready()).isFalse();
        assertThat(registry.update(List.of(svc), List.of(p)).get("demo/web").endpoints()).isEmpty();
        tick(p, 2);
        assertThat(p.ready()).isTrue();
    }

    @Test
    void probesAreParsedWithTheKubeletsDefaultsAndExecProbesAreRefused() {
        PodTemplate t = PodTemplate.parse(parse("""
                apiVersion: v1
                kind: Pod
                metadata: {name: a}
                spec: {containers: [{name: c, command: [x], readinessProbe: {tcpSocket: {port: 8080}}}]}
                """).getFirst().spec(), "spec");
        assertThat(t.containers().getFirst().readinessProbe()).isEqualTo(new PodTemplate.Probe(null, "8080", 10, 1, 1, 3));
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> PodTemplate.parse(parse("""
                apiVersion: v1
                kind: Pod
                metadata: {name: a}
                spec: {containers: [{name: c, command: [x], readinessProbe: {exec: {command: [true]}}}]}
                """).getFirst().spec(), "spec")).hasMessageContaining("spec.containers[0].readinessProbe: no httpGet");
    }
}
