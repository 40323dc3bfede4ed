package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.backoff.Backoff;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The kubelet's container part: runs each pod's containers as processes in its cgroup,
 * network and UTS namespaces, notices exits and restarts per {@code restartPolicy} with a
 * doubling delay (1 s up to 20 s, as Kubernetes' CrashLoopBackOff), kills a container whose
 * liveness or startup probe failed ({@link #kill}: SIGTERM, SIGKILL after the pod's
 * {@code terminationGracePeriodSeconds}), and derives the pod's phase. A meshed pod's
 * containers start only once its node's agent has captured it ({@link PodEnrollment}).
 * Single-threaded (the controller's loop).
 */
final class PodSupervisor {

    /**
     * Between restarts of a container, and between attempts to create a sandbox. Without
     * jitter: one loop restarts its own containers, so there is no herd to spread, and
     * {@code status} shows the plain doubling.
     */
    static final Backoff BACKOFF = Backoff.of(Duration.ofSeconds(1), Duration.ofSeconds(20)).withJitter(0);

    private final StateDir state;
    private final ClusterInfo cluster;
    private final PodEnrollment enrollment;
    private final Consumer<String> log;

    PodSupervisor(StateDir state, ClusterInfo cluster, PodEnrollment enrollment, Consumer<String> log) {
        this.state = requireNonNull(state, "state");
        this.cluster = requireNonNull(cluster, "cluster");
        this.enrollment = requireNonNull(enrollment, "enrollment");
        this.log = requireNonNull(log, "log");
    }

    /** The delay before restart {@code restarts + 1}: 1 s, 2 s, 4 s ... up to 20 s. */
    static Duration backoff(int restarts) {
        return BACKOFF.delay(restarts);
    }

    /** Starts containers that are due, notices exits, applies restartPolicy, derives the pod's phase. */
    void supervise(Collection<RunningPod> pods) {
        Instant now = Instant.now();
        for (RunningPod p : pods) {
            if (p.meshed && !enrollment.admit(p.node, new CniClient.Pod(p.uid, p.namespace, p.name,
                    Topology.netnsPath(p.netns), p.cgroup, List.of(p.ip)))) {
                continue; // ContainerCreating: never run outside the mesh (PodEnrollment)
            }
            if (p.phase.equals("Pending")) {
                p.phase = "Running";
            }
            String policy = p.template.restartPolicy();
            for (RunningPod.ContainerRun c : p.containers) {
                if (c.process != null && c.killAt != null && c.process.isAlive() && !now.isBefore(c.killAt)) {
                    log.accept("pod " + p.key() + ": container " + c.spec.name() + " still runs "
                            + p.template.terminationGracePeriodSeconds() + " s after SIGTERM: SIGKILL");
                    Cgroups.kill(p.cgroup.resolve(c.spec.name()), 2000);
                }
                if (c.process != null && !c.process.isAlive()) {
                    c.exitCode = c.process.exitValue();
                    c.process = null;
                    boolean probeKilled = c.killAt != null;
                    c.last = new RunningPod.Termination(c.exitCode, c.startedAt, now, probeKilled ? c.killReason : "");
                    c.killAt = null;
                    // What the main process left behind (forked children) goes with it, as with a container.
                    Cgroups.kill(p.cgroup.resolve(c.spec.name()), 2000);
                    // A container a probe killed restarts unless the policy is Never, whatever its exit code (the kubelet's rule).
                    boolean again = policy.equals("Always")
                            || (policy.equals("OnFailure") && (c.exitCode != 0 || probeKilled));
                    if (again) {
                        Duration wait = backoff(c.restarts);
                        c.nextStart = now.plus(wait);
                        log.accept("pod " + p.key() + ": container " + c.spec.name() + " exited " + c.exitCode
                                + "; restarting in " + wait.toMillis() + " ms (restartPolicy " + policy + ")");
                    } else {
                        c.done = true;
                        log.accept("pod " + p.key() + ": container " + c.spec.name() + " exited " + c.exitCode
                                + " (restartPolicy " + policy + ": not restarted)");
                    }
                }
                if (c.process == null && !c.done && !now.isBefore(c.nextStart)) {
                    if (c.started) {
                        c.restarts++;
                    }
                    start(p, c);
                }
            }
            boolean allDone = p.containers.stream().allMatch(c -> c.done);
            p.phase = !allDone ? "Running"
                    : p.containers.stream().allMatch(c -> c.exitCode != null && c.exitCode == 0) ? "Succeeded" : "Failed";
        }
    }

    /**
     * Kills container {@code c} of {@code p} because {@code reason} (a probe failed), as the
     * kubelet does: SIGTERM now, SIGKILL to everything left in its cgroup once the pod's
     * {@code terminationGracePeriodSeconds} passed ({@link #supervise}). Its exit is then
     * handled as any other: restarted per {@code restartPolicy}, {@code restartCount} counting.
     */
    void kill(RunningPod p, RunningPod.ContainerRun c, String reason) {
        if (c.process == null || c.killAt != null) {
            return; // not running, or already being killed
        }
        int grace = p.template.terminationGracePeriodSeconds();
        String policy = p.template.restartPolicy();
        log.accept("pod " + p.key() + ": container " + c.spec.name() + " " + reason + "; killing it (SIGTERM, SIGKILL"
                + " after " + grace + " s)" + (policy.equals("Never") ? "" : ", it will be restarted"));
        c.killAt = Instant.now().plusSeconds(grace);
        c.killReason = "container " + c.spec.name() + " " + reason + ", killed";
        if (grace == 0) {
            Cgroups.kill(p.cgroup.resolve(c.spec.name()), 2000);
        } else {
            c.process.destroy();
        }
    }

    private void start(RunningPod p, RunningPod.ContainerRun c) {
        c.started = true;
        c.startedAt = Instant.now();
        c.probeReady = false; // probes judge each process afresh (Probes)
        c.startupDone = false;
        c.killAt = null;
        Path cg = p.cgroup.resolve(c.spec.name());
        Map<String, String> env = containerEnv(p, c.spec);
        List<String> commandLine = c.spec.commandLine(env);
        c.commandLine = commandLine;
        c.env = env;
        Path logFile = state.containerLog(p.namespace, p.name, c.spec.name());
        try {
            Cgroups.create(cg);
            c.process = podProcess(cg, p.netns, commandLine, env, c.spec.workingDir())
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
                    .start();
            c.exitCode = null;
            log.accept("pod " + p.key() + ": container " + c.spec.name() + " started, pid " + c.process.pid() + ": "
                    + String.join(" ", commandLine));
        } catch (IOException | RuntimeException e) {
            c.exitCode = 127;
            c.nextStart = Instant.now().plus(backoff(c.restarts));
            appendQuietly(logFile, "ambitctl: cannot start " + commandLine + ": " + e.getMessage() + "\n");
            log.accept("pod " + p.key() + ": container " + c.spec.name() + " did not start: " + e.getMessage());
            if (!p.template.restartPolicy().equals("Always")) {
                c.done = true;
            }
        }
    }

    /**
     * A process of a pod: it joins {@code cgroup} first (so the pod's BPF programs see its
     * sockets from the first one), then the pod's UTS namespace (its hostname,
     * {@link Topology#utsPath}) through {@code nsenter}, then becomes {@code command} inside
     * the pod's network namespace through {@code ip netns exec}, which also bind-mounts the
     * pod's hosts and resolv.conf over /etc. {@code env} is its whole environment but for
     * PATH and HOME. Output and stdin are the caller's to set.
     */
    static ProcessBuilder podProcess(Path cgroup, String netns, List<String> command, Map<String, String> env,
                                     String workingDir) {
        List<String> cmd = new ArrayList<>(List.of("/bin/sh", "-c",
                "echo $$ > \"$0/cgroup.procs\" && ns=\"$1\" && uts=\"$2\" && shift 2"
                        + " && exec nsenter --uts=\"$uts\" -- ip netns exec \"$ns\" \"$@\"",
                cgroup.toString(), netns, Topology.utsPath(netns).toString()));
        cmd.addAll(command);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        Map<String, String> e = pb.environment();
        String path = e.getOrDefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        e.clear();
        e.put("PATH", path);
        e.put("HOME", "/root");
        e.putAll(env);
        pb.directory(new File(workingDir == null || workingDir.isEmpty() ? "/" : workingDir));
        return pb;
    }

    /**
     * A container's environment: HOSTNAME (the pod's hostname, as the container runtime sets
     * it), the pod's POD_* and NODE_NAME, then its own {@code env} (fieldRefs resolved).
     */
    Map<String, String> containerEnv(RunningPod p, PodTemplate.Container c) {
        Map<String, String> fields = Map.of(
                "metadata.name", p.name,
                "metadata.namespace", p.namespace,
                "metadata.uid", p.uid,
                "status.podIP", p.ip,
                "spec.nodeName", p.node,
                "spec.serviceAccountName", p.template.serviceAccountName(),
                "status.hostIP", cluster.node(p.node).map(ClusterInfo.Node::address).orElse(""));
        Map<String, String> env = new LinkedHashMap<>();
        env.put("HOSTNAME", p.hostname);
        env.put("POD_NAME", p.name);
        env.put("POD_NAMESPACE", p.namespace);
        env.put("POD_IP", p.ip);
        env.put("NODE_NAME", p.node);
        env.putAll(PodTemplate.environment(c, fields));
        return env;
    }

    private static void appendQuietly(Path file, String text) {
        try {
            Files.createDirectories(file.getParent());
            Files.writeString(file, text, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException ignored) {
            // The controller log has the same message.
        }
    }
}
