package dev.ambit.ctl.local;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A pod with a sandbox, as the controller's loop keeps it: created by {@link PodSandboxes},
 * its containers run by {@link PodSupervisor}, shown by {@link PodObjects}. Mutable and owned
 * by the loop's one thread.
 */
final class RunningPod {
    final String namespace;
    final String name;
    final String uid;
    final String node;
    final String ip;
    final String netns;
    /** Its hostname, in its own UTS namespace ({@link Topology#utsPath}) and each container's {@code HOSTNAME}. */
    final String hostname;
    final Path cgroup;
    final Instant created = Instant.now();
    final String owner;
    final String specHash;
    ObjectNode metadata; // labels, annotations, owner references: may change in place
    ObjectNode spec;
    final PodTemplate template;
    final List<ContainerRun> containers = new ArrayList<>();
    /** In the ambient mesh: its containers start only once its node's agent captured it. */
    boolean meshed;
    String phase = "Running";

    RunningPod(DesiredPod d, String uid, String node, String ip, Path cgroup) {
        this.namespace = d.namespace();
        this.name = d.name();
        this.uid = uid;
        this.node = node;
        this.ip = ip;
        this.netns = Topology.podNs(uid);
        this.hostname = d.template().hostnameOf(d.name());
        this.cgroup = cgroup;
        this.owner = d.owner();
        this.specHash = d.specHash();
        this.metadata = d.metadata();
        this.spec = d.spec();
        this.template = d.template();
    }

    String key() {
        return namespace + "/" + name;
    }

    /** Running, and every container ready: what Kubernetes' {@code Ready} condition says, and what Services route to. */
    boolean ready() {
        return phase.equals("Running") && containers.stream().allMatch(ContainerRun::ready);
    }

    /** How a container's process ended: its exit code, and why when a probe killed it. */
    record Termination(int exitCode, Instant startedAt, Instant finishedAt, String message) {}

    /** One container's process and its restart bookkeeping. */
    static final class ContainerRun {
        final PodTemplate.Container spec;
        Process process;
        int restarts;
        boolean started;
        Integer exitCode;
        Instant nextStart = Instant.EPOCH;
        Instant startedAt;
        boolean done; // terminated for good (restartPolicy says no more)
        List<String> commandLine = List.of();
        Map<String, String> env = Map.of();
        /** Its readiness probe's verdict on the current process ({@link Probes}); false until it passed. */
        boolean probeReady;
        /** Its startup probe passed for the current process ({@link Probes}); liveness and readiness wait for it. */
        boolean startupDone;
        /** When a probe killed the current process: SIGKILL is due at this time if it still runs; else null. */
        Instant killAt;
        /** The previous process's end (Kubernetes' {@code lastState.terminated}); null before the first exit. */
        Termination last;
        /** Why a probe killed the current process (with {@link #killAt}). */
        String killReason = "";

        ContainerRun(PodTemplate.Container spec) {
            this.spec = spec;
        }

        /** Its process runs and, if it has a startup probe, that passed for this process. */
        boolean startedUp() {
            return process != null && (spec.startupProbe() == null || startupDone);
        }

        /** Started up and, if it has a readiness probe, the probe passed for this process. */
        boolean ready() {
            return startedUp() && (spec.readinessProbe() == null || probeReady);
        }

        /** Why it is not running while it may still run. */
        String waitingReason() {
            return started ? "CrashLoopBackOff" : "ContainerCreating";
        }
    }
}
