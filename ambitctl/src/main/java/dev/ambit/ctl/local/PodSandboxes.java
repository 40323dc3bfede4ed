package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import dev.ambit.agent.inpod.LocalSandboxes;
import dev.ambit.agent.inpod.PodSandbox;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.function.Consumer;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * The kubelet's sandbox part: makes the running pods match the desired ones. A pod whose
 * spec changed, or that is no longer wanted, is stopped and its sandbox removed; a missing
 * one gets a sandbox (uid, address, network namespace, veth and routes, UTS namespace with its
 * hostname, cgroup, resolv.conf and hosts file) and the file its node's agent reads. A sandbox that cannot be created is
 * retried with {@link PodSupervisor#BACKOFF}, its reason kept for {@code status}. Its
 * containers are {@link PodSupervisor}'s. Single-threaded (the controller's loop).
 */
final class PodSandboxes {

    /** Why a desired pod has no sandbox yet, and when to try again. */
    record Failure(int attempts, Instant retryAt, String reason) {}

    private final StateDir state;
    private final ClusterInfo cluster;
    private final Path podsCgroup;
    private final Map<String, RunningPod> pods;
    private final PodEnrollment enrollment;
    private final HostsFiles hosts;
    private final Supplier<List<HostsFile.ServiceName>> serviceNames;
    private final Consumer<String> log;
    private final Map<String, IpPool> podIps = new HashMap<>();
    private final Map<String, Failure> createFailures = new HashMap<>();

    /**
     * @param podsCgroup the parent of every pod's cgroup
     * @param pods the running pods, by {@code namespace/name}: this adds and removes them
     * @param serviceNames the Services a new pod's hosts file names
     */
    PodSandboxes(StateDir state, ClusterInfo cluster, Path podsCgroup, Map<String, RunningPod> pods,
                 PodEnrollment enrollment, HostsFiles hosts, Supplier<List<HostsFile.ServiceName>> serviceNames,
                 Consumer<String> log) {
        this.state = requireNonNull(state, "state");
        this.cluster = requireNonNull(cluster, "cluster");
        this.podsCgroup = requireNonNull(podsCgroup, "podsCgroup");
        this.pods = requireNonNull(pods, "pods");
        this.enrollment = requireNonNull(enrollment, "enrollment");
        this.hosts = requireNonNull(hosts, "hosts");
        this.serviceNames = requireNonNull(serviceNames, "serviceNames");
        this.log = requireNonNull(log, "log");
        for (ClusterInfo.Node n : cluster.nodes()) {
            podIps.put(n.name(), IpPool.podAddresses(n.index()));
        }
    }

    /**
     * Pods made to match {@code desired}: deleted and created (their containers not yet
     * started). {@code manifests} give the Namespace labels that mesh a pod.
     */
    void reconcile(Map<String, DesiredPod> desired, List<KubeObject> manifests) {
        List<RunningPod> doomed = new ArrayList<>();
        for (RunningPod p : pods.values()) {
            DesiredPod d = desired.get(p.key());
            if (d == null || !d.specHash().equals(p.specHash)) {
                doomed.add(p);
            } else {
                p.metadata = d.metadata(); // labels changed in place: no restart, as in Kubernetes
            }
        }
        delete(doomed);
        createFailures.keySet().retainAll(desired.keySet());
        for (DesiredPod d : desired.values()) {
            if (!pods.containsKey(d.key())) {
                Failure f = createFailures.get(d.key());
                if (f == null || Instant.now().isAfter(f.retryAt())) {
                    create(d, f, DesiredPods.namespaceLabels(manifests, d.namespace()));
                }
            }
        }
    }

    /** Why desired pod {@code key} has no sandbox, or null if none failed. */
    Failure failure(String key) {
        return createFailures.get(key);
    }

    /** Removes pod sandboxes a previous controller left: processes, namespaces, cgroups, agent files. */
    void cleanupLeftovers() {
        int removed = 0;
        for (Path cg : Folders.dirs(podsCgroup)) {
            Cgroups.removeTree(cg);
            removed++;
        }
        for (String ns : Topology.existingNamespaces()) {
            if (ns.matches(Topology.PREFIX + "[0-9a-f]{8}")) {
                Topology.deleteNamespace(ns);
            }
        }
        Topology.deleteUtsLeftovers().forEach(log);
        for (ClusterInfo.Node n : cluster.nodes()) {
            Topology.deletePodVeths(n.index());
            for (Path f : Folders.files(state.nodePods(n.name()))) {
                try {
                    Files.deleteIfExists(f);
                } catch (IOException e) {
                    log.accept("cannot remove " + f + ": " + e.getMessage());
                }
            }
        }
        if (removed > 0) {
            log.accept("removed " + removed + " pods a previous controller left; they are created anew");
        }
    }

    private void create(DesiredPod d, Failure before, Map<String, String> namespaceLabels) {
        ClusterInfo.Node node = cluster.node(d.node()).orElse(null);
        if (node == null) {
            createFailures.put(d.key(), new Failure(1, Instant.now().plusSeconds(5), "node " + d.node()
                    + " does not exist (nodes: " + cluster.nodeNames() + "); fix spec.nodeName"));
            return;
        }
        String uid = newUid();
        Path cgroup = podsCgroup.resolve(uid);
        RunningPod p = null;
        try {
            String ip = podIps.get(node.name()).allocate(d.key());
            p = new RunningPod(d, uid, node.name(), ip, cgroup);
            Topology.createPodNetwork(uid, node.index(), ip);
            Topology.createPodUts(p.netns, p.hostname);
            Cgroups.create(cgroup);
            Path etc = Topology.etcNetns(p.netns);
            Files.createDirectories(etc);
            Files.writeString(etc.resolve("resolv.conf"), HostsFile.resolvConf(p.namespace), StandardCharsets.UTF_8);
            Files.createDirectories(state.podLogs(p.namespace, p.name));
            for (PodTemplate.Container c : d.template().containers()) {
                p.containers.add(new RunningPod.ContainerRun(c));
            }
            p.meshed = PodEnrollment.meshed(KubeObject.stringMap(d.metadata().path("labels")), namespaceLabels);
            if (p.meshed) {
                p.phase = "Pending"; // until its agent has captured it (PodSupervisor)
            }
            pods.put(p.key(), p);
            createFailures.remove(d.key());
            // The agent's file before the containers start; istiod-lite's copy follows at the end
            // of this tick. A meshed pod's containers wait for its agent's CNI answer (PodSupervisor).
            hosts.writePod(p, serviceNames.get());
            LocalSandboxes.write(state.nodePods(node.name()),
                    new PodSandbox(p.namespace, p.name, uid, cgroup, Topology.netnsPath(p.netns)));
            log.accept("pod " + p.key() + " created on " + node.name() + ": ip " + ip + ", netns " + p.netns
                    + ", uid " + uid);
        } catch (IOException | RuntimeException e) {
            int attempts = before == null ? 1 : before.attempts() + 1;
            Duration wait = PodSupervisor.BACKOFF.delay(attempts - 1);
            log.accept("pod " + d.key() + ": cannot create its sandbox (attempt " + attempts + ", retry in " + wait
                    + "): " + e);
            createFailures.put(d.key(), new Failure(attempts, Instant.now().plus(wait),
                    "sandbox: " + e.getMessage()));
            pods.remove(d.key());
            if (p != null) {
                removeSandbox(p);
            } else {
                podIps.get(node.name()).release(d.key());
            }
        }
    }

    private String newUid() {
        Set<String> taken = new HashSet<>();
        pods.values().forEach(p -> taken.add(Topology.shortId(p.uid)));
        for (int i = 0; i < 100; i++) {
            String uid = UUID.randomUUID().toString();
            if (!taken.contains(Topology.shortId(uid)) && !Topology.exists(Topology.podNs(uid))) {
                return uid;
            }
        }
        throw new IllegalStateException("no free pod uid after 100 attempts");
    }

    /**
     * Stops and removes pods: the agent's file first (it unenrolls), then SIGTERM to every
     * process, up to 2 s for all of them together, then {@code cgroup.kill}, then the sandbox.
     */
    private void delete(List<RunningPod> doomed) {
        if (doomed.isEmpty()) {
            return;
        }
        for (RunningPod p : doomed) {
            try {
                LocalSandboxes.remove(state.nodePods(p.node), p.namespace, p.name);
            } catch (IOException e) {
                log.accept("pod " + p.key() + ": cannot remove its sandbox file: " + e.getMessage());
            }
            if (p.meshed) {
                enrollment.forget(p.node, p.uid);
            }
            for (long pid : allPids(p.cgroup)) {
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroy);
            }
        }
        long deadline = System.nanoTime() + 2_000_000_000L;
        for (RunningPod p : doomed) {
            while (Cgroups.populated(p.cgroup) && System.nanoTime() < deadline) {
                Cgroups.sleep(20);
            }
        }
        for (RunningPod p : doomed) {
            pods.remove(p.key());
            removeSandbox(p);
            podIps.get(p.node).release(p.key());
            log.accept("pod " + p.key() + " deleted");
        }
    }

    private void removeSandbox(RunningPod p) {
        try {
            if (p.cgroup != null) {
                Cgroups.removeTree(p.cgroup);
            }
        } catch (RuntimeException e) {
            log.accept("pod " + p.key() + ": " + e.getMessage());
        }
        for (RunningPod.ContainerRun c : p.containers) {
            if (c.process != null) {
                c.process.destroyForcibly();
            }
        }
        try {
            Topology.deletePodNetwork(p.uid, cluster.node(p.node).map(ClusterInfo.Node::index).orElseThrow());
        } catch (RuntimeException e) {
            log.accept("pod " + p.key() + ": " + e.getMessage());
        }
        podIps.get(p.node).release(p.key());
        hosts.forget(p.netns);
    }

    private static List<Long> allPids(Path cgroup) {
        List<Long> out = new ArrayList<>();
        if (cgroup == null || !Files.isDirectory(cgroup)) {
            return out;
        }
        try (Stream<Path> s = Files.walk(cgroup)) {
            s.filter(Files::isDirectory).forEach(d -> out.addAll(Cgroups.pids(d)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }
}
