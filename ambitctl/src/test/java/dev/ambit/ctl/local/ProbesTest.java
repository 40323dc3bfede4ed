package dev.ambit.ctl.local;

import static dev.ambit.ctl.local.ControllerFixtures.parse;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
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

/** The kubelet's probe rules: delays, periods, thresholds, startup before the others, liveness kills; Services follow readiness. */
class ProbesTest {

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
    /** What each kind of handler answers: the exec probe's and the HTTP probe's verdicts are set apart. */
    private final AtomicBoolean httpAnswers = new AtomicBoolean();
    private final AtomicBoolean execAnswers = new AtomicBoolean();
    private final AtomicBoolean tcpAnswers = new AtomicBoolean();
    private final List<String> probed = new ArrayList<>();
    private final List<String> killed = new ArrayList<>();
    private final List<Process> processes = new ArrayList<>();
    private final Probes probes = new Probes((target, handler, timeout) -> {
        String what = switch (handler) {
            case PodTemplate.HttpGet h -> "http " + target.ip() + ":" + PodTemplate.portNumber(h.port(), target.ports())
                    + h.path();
            case PodTemplate.TcpSocket s -> "tcp " + target.ip() + ":" + s.port();
            case PodTemplate.Exec x -> "exec " + String.join(" ", x.command()) + " HOSTNAME=" + target.env().get("HOSTNAME")
                    + " in " + target.cgroup() + " timeout " + timeout.toSeconds();
        };
        probed.add(what);
        boolean ok = switch (handler) {
            case PodTemplate.HttpGet h -> httpAnswers.get();
            case PodTemplate.TcpSocket s -> tcpAnswers.get();
            case PodTemplate.Exec x -> execAnswers.get();
        };
        return ok ? Probes.Result.PASS : Probes.Result.fail("no");
    }, (pod, container, reason) -> killed.add(container.spec.name() + ": " + reason), now::get, new Direct(), m -> { });

    @AfterEach
    void stop() {
        processes.forEach(Process::destroyForcibly);
    }

    private RunningPod pod(String yaml) throws Exception {
        KubeObject manifest = parse(yaml).getFirst();
        DesiredPod d = new DesiredPods(List.of("node1"), new Random(1)).of(List.of(manifest), Map.of()).values()
                .iterator().next();
        RunningPod p = new RunningPod(d, "0123abcd-0000-0000-0000-000000000000", "node1", "10.244.1.4", Path.of("/x"));
        for (PodTemplate.Container spec : d.template().containers()) {
            RunningPod.ContainerRun c = new RunningPod.ContainerRun(spec);
            c.process = start();
            c.env = Map.of("HOSTNAME", p.hostname);
            p.containers.add(c);
        }
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
        RunningPod p = pod(POD);
        assertThat(p.ready()).as("running, probe not passed yet").isFalse();

        httpAnswers.set(true);
        tick(p, 0); // probes: passes
        assertThat(probed).containsExactly("http 10.244.1.4:15021/ready");
        tick(p, 1); // applies the pass; not due again within the period
        assertThat(p.ready()).isTrue();
        assertThat(probed).hasSize(1);

        httpAnswers.set(false);
        tick(p, 1); // due: fails once
        tick(p, 2); // applies the failure (1 of 2), probes again: fails
        assertThat(p.ready()).as("one failure is below failureThreshold 2").isTrue();
        tick(p, 2);
        assertThat(p.ready()).isFalse();
        assertThat(probed).hasSize(4);
        assertThat(killed).as("readiness never kills").isEmpty();
    }

    @Test
    void aRestartedProcessStartsUnreadyAndServicesListOnlyReadyPods() throws Exception {
        RunningPod p = pod(POD);
        httpAnswers.set(true);
        tick(p, 0);
        tick(p, 2);
        assertThat(p.ready()).isTrue();

        KubeObject svc = parse(ControllerFixtures.service("demo", "web", "web", 80, 15021)).getFirst();
        ServiceRegistry registry = new ServiceRegistry(IpPool.serviceAddresses(), s -> { });
        assertThat(registry.update(List.of(svc), List.of(p)).get("demo/web").endpoints()).containsExactly("10.244.1.4:15021");
        // The Ready condition istiod-lite reads (its workload health) says the same.
        PodObjects objects = new PodObjects(ControllerFixtures.CLUSTER, uid -> null);
        assertThat(objects.of(p, false).at("/status/conditions/0/status").asText()).isEqualTo("True");

        p.containers.getFirst().process = start(); // restarted by the supervisor
        tick(p, 0);
        assertThat(p.ready()).isFalse();
        assertThat(registry.update(List.of(svc), List.of(p)).get("demo/web").endpoints()).isEmpty();
        assertThat(objects.of(p, false).at("/status/conditions/0/status").asText()).isEqualTo("False");
        tick(p, 2);
        assertThat(p.ready()).isTrue();
    }

    @Test
    void anExecReadinessProbeRunsInTheContainerAfterItsInitialDelayAndItsThresholds() throws Exception {
        RunningPod p = pod("""
                apiVersion: v1
                kind: Pod
                metadata: {name: web-1, namespace: demo, labels: {app: web}}
                spec:
                  containers:
                  - name: app
                    command: [sleep, "1000"]
                    readinessProbe:
                      exec: {command: [test, -e, /tmp/ready]}
                      initialDelaySeconds: 5
                      periodSeconds: 1
                      timeoutSeconds: 3
                      successThreshold: 2
                      failureThreshold: 1
                """);
        execAnswers.set(true);
        tick(p, 0);
        tick(p, 4);
        assertThat(probed).as("within initialDelaySeconds").isEmpty();
        tick(p, 1);
        assertThat(probed).containsExactly("exec test -e /tmp/ready HOSTNAME=web-1 in /x/app timeout 3");
        tick(p, 1);
        assertThat(p.ready()).as("one pass of successThreshold 2").isFalse();
        tick(p, 1);
        assertThat(p.ready()).isTrue();
        execAnswers.set(false);
        tick(p, 1);
        tick(p, 1);
        assertThat(p.ready()).as("failureThreshold 1").isFalse();
        execAnswers.set(true);
        tick(p, 1);
        tick(p, 1);
        assertThat(p.ready()).isFalse();
        tick(p, 1);
        assertThat(p.ready()).as("two passes in a row again").isTrue();
    }

    @Test
    void aLivenessProbeKillsAfterItsFailureThresholdOnceAndANewProcessIsProbedAnew() throws Exception {
        RunningPod p = pod("""
                apiVersion: v1
                kind: Pod
                metadata: {name: live, namespace: demo}
                spec:
                  containers:
                  - name: app
                    command: [sleep, "1000"]
                    ports: [{containerPort: 8080}]
                    livenessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1, failureThreshold: 3}
                """);
        assertThat(p.ready()).as("no readiness probe: ready while it runs").isTrue();
        tcpAnswers.set(false);
        tick(p, 0);
        tick(p, 1);
        tick(p, 1);
        assertThat(killed).as("two failures of three").isEmpty();
        tcpAnswers.set(true);
        tick(p, 1); // the third failure comes in, after a pass the count would restart
        assertThat(killed).hasSize(1);
        assertThat(killed.getFirst()).startsWith("app: failed its liveness probe 3 times (no)");
        int probes = probed.size();
        tick(p, 1);
        tick(p, 1);
        assertThat(probed).as("a killed process is not probed again").hasSize(probes);
        assertThat(killed).hasSize(1);

        RunningPod.ContainerRun c = p.containers.getFirst();
        c.process = start(); // the supervisor's restart
        tcpAnswers.set(false);
        tick(p, 0);
        tick(p, 1);
        tcpAnswers.set(true);
        tick(p, 1); // fail, fail, then a pass resets the count
        tcpAnswers.set(false);
        tick(p, 1);
        tick(p, 1);
        tick(p, 1);
        assertThat(killed).as("failures must be in a row").hasSize(1);
        tick(p, 1);
        assertThat(killed).hasSize(2);
    }

    @Test
    void theStartupProbeHoldsBackReadinessAndLivenessAndKillsWhenItNeverPasses() throws Exception {
        String yaml = """
                apiVersion: v1
                kind: Pod
                metadata: {name: slow, namespace: demo}
                spec:
                  containers:
                  - name: app
                    command: [sleep, "1000"]
                    ports: [{name: http, containerPort: 8080}]
                    startupProbe: {exec: {command: [cat, /tmp/started]}, periodSeconds: 1, failureThreshold: 2}
                    readinessProbe: {httpGet: {port: http}, periodSeconds: 1}
                    livenessProbe: {tcpSocket: {port: http}, periodSeconds: 1, failureThreshold: 1}
                """;
        RunningPod p = pod(yaml);
        httpAnswers.set(true);
        tcpAnswers.set(true);
        execAnswers.set(false);
        tick(p, 0);
        assertThat(probed).containsExactly("exec cat /tmp/started HOSTNAME=slow in /x/app timeout 1");
        assertThat(p.containers.getFirst().startedUp()).isFalse();
        execAnswers.set(true);
        tick(p, 1); // one failure of two; probes again: passes
        tick(p, 1); // started: readiness and liveness begin
        assertThat(p.containers.getFirst().startedUp()).isTrue();
        assertThat(probed).hasSize(4).endsWith("http 10.244.1.4:8080/", "tcp 10.244.1.4:http");
        tick(p, 1);
        assertThat(p.ready()).isTrue();
        assertThat(probed).as("the startup probe is not run again").filteredOn(s -> s.startsWith("exec")).hasSize(2);

        assertThat(killed).isEmpty();

        RunningPod never = pod(yaml);
        execAnswers.set(false);
        long others = probed.stream().filter(s -> !s.startsWith("exec")).count();
        tick(never, 0);
        tick(never, 1);
        tick(never, 1);
        assertThat(killed).containsExactly("app: failed its startup probe 2 times (no)");
        assertThat(probed.stream().filter(s -> !s.startsWith("exec")).count())
                .as("no readiness or liveness probe while not started").isEqualTo(others);
    }

    @Test
    void probesAreParsedWithTheKubeletsDefaultsAndKubernetesValidation() {
        PodTemplate t = template("""
                {containers: [{name: c, command: [x],
                  readinessProbe: {tcpSocket: {port: 8080}},
                  livenessProbe: {httpGet: {path: /healthz, port: 8080, host: 10.1.1.1,
                    httpHeaders: [{name: X-Probe, value: live}]}, initialDelaySeconds: 4, periodSeconds: 5},
                  startupProbe: {exec: {command: [cat, /tmp/ok]}, failureThreshold: 30}}],
                 hostname: web-0, terminationGracePeriodSeconds: 0}
                """);
        PodTemplate.Container c = t.containers().getFirst();
        assertThat(c.readinessProbe()).isEqualTo(new PodTemplate.Probe(null, "8080", 10, 1, 1, 3));
        assertThat(c.livenessProbe()).isEqualTo(new PodTemplate.Probe(new PodTemplate.HttpGet("/healthz", "8080",
                "10.1.1.1", List.of(new PodTemplate.Header("X-Probe", "live"))), 4, 5, 1, 1, 3));
        assertThat(c.startupProbe()).isEqualTo(new PodTemplate.Probe(new PodTemplate.Exec(List.of("cat", "/tmp/ok")),
                0, 10, 1, 1, 30));
        assertThat(t.hostnameOf("web-7d9f-abcde")).isEqualTo("web-0");
        assertThat(t.terminationGracePeriodSeconds()).isZero();

        assertThatThrownBy(() -> template("{containers: [{name: c, command: [x], readinessProbe: {periodSeconds: 1}}]}"))
                .hasMessageContaining("spec.containers[0].readinessProbe: no handler (expected: exactly one of");
        assertThatThrownBy(() -> template("{containers: [{name: c, command: [x], livenessProbe: {exec: {command: []}}}]}"))
                .hasMessageContaining("spec.containers[0].livenessProbe.exec.command: missing or empty");
        assertThatThrownBy(() -> template("{containers: [{name: c, command: [x],"
                + " livenessProbe: {tcpSocket: {port: 80}, successThreshold: 2}}]}"))
                .hasMessageContaining("livenessProbe.successThreshold: 2 (expected: 1 for liveness and startup probes)");
        assertThatThrownBy(() -> template("{containers: [{name: c, command: [x], readinessProbe: {grpc: {port: 9}}}]}"))
                .hasMessageContaining("readinessProbe.grpc: ambitctl local runs no gRPC probes");
        assertThatThrownBy(() -> template("{containers: [{name: c, command: [x],"
                + " readinessProbe: {httpGet: {port: 80, scheme: HTTPS}}}]}"))
                .hasMessageContaining("readinessProbe.httpGet.scheme: HTTPS (expected: HTTP");
        assertThatThrownBy(() -> template("{containers: [{name: c, command: [x],"
                + " readinessProbe: {tcpSocket: {port: 80}, initialDelaySeconds: -1}}]}"))
                .hasMessageContaining("readinessProbe.initialDelaySeconds: -1 (expected: a whole number, at least 0)");
        assertThatThrownBy(() -> template("{hostname: Web_1, containers: [{name: c, command: [x]}]}"))
                .hasMessageContaining("spec.hostname: Web_1 (expected: a DNS label");
    }

    @Test
    void aPodsHostnameIsItsNameCutAsTheKubeletCutsIt() {
        PodTemplate t = template("{containers: [{name: c, command: [x]}]}");
        assertThat(t.hostnameOf("web-5c8d7-x2x9q")).isEqualTo("web-5c8d7-x2x9q");
        String longName = "a".repeat(62) + "-b";
        assertThat(t.hostnameOf(longName)).as("63 characters, trailing '-' trimmed").isEqualTo("a".repeat(62));
    }

    @Test
    void realChecksFailWithTheKubeletsReasons() {
        Probes.Target nowhere = new Probes.Target("ambit-l-none", "10.244.1.4", Path.of("/x"), Map.of(), "",
                List.of(new PodTemplate.Port("http", 8080)));
        assertThat(Probes.realCheck(nowhere, new PodTemplate.HttpGet("/", "metrics", "", List.of()), Duration.ofSeconds(1)))
                .isEqualTo(Probes.Result.fail("port metrics is not a port of the container"));
        assertThat(Probes.realCheck(nowhere, new PodTemplate.TcpSocket("8080", ""), Duration.ofSeconds(1)).ok())
                .as("no such namespace").isFalse();
    }

    private static PodTemplate template(String specFlow) {
        return PodTemplate.parse(parse("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: " + specFlow)
                .getFirst().spec(), "spec");
    }
}
