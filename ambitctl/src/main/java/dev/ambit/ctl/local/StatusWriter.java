package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * {@code status.json}, what {@code local status}, {@code get} and {@code exec} read: every pod
 * (running, or desired and pending with the reason), every Service with its VIP and endpoints,
 * the Gateways with their status, and the manifests that cannot be read. Written when it changes, and every
 * {@value #REFRESH_SECONDS} s regardless, so its time stamp shows the controller is alive.
 */
final class StatusWriter {

    static final long REFRESH_SECONDS = 2;

    private final Path file;
    private final PodObjects podObjects;
    private final Function<String, String> waiting;
    private final Function<String, PodSandboxes.Failure> failures;
    private final Function<String, String> serviceCreated;
    private String lastStatus = "";
    private Instant lastWrite = Instant.EPOCH;

    /**
     * @param waiting by pod uid, why it waits for its node's agent, or null ({@link PodEnrollment#waiting})
     * @param failures by {@code namespace/name}, why a desired pod has no sandbox, or null
     * @param serviceCreated by {@code namespace/name}, when a Service got its VIP
     */
    StatusWriter(Path file, PodObjects podObjects, Function<String, String> waiting,
                 Function<String, PodSandboxes.Failure> failures, Function<String, String> serviceCreated) {
        this.file = requireNonNull(file, "file");
        this.podObjects = requireNonNull(podObjects, "podObjects");
        this.waiting = requireNonNull(waiting, "waiting");
        this.failures = requireNonNull(failures, "failures");
        this.serviceCreated = requireNonNull(serviceCreated, "serviceCreated");
    }

    /** Writes the status of {@code pods} (by {@code namespace/name}) if it changed or is {@value #REFRESH_SECONDS} s old; true if it wrote. */
    boolean write(Map<String, RunningPod> pods, Map<String, DesiredPod> desired, Map<String, ServiceView> services,
                  List<KubeObject> gateways, List<KubeObject> routes, List<String> errors) {
        List<ClusterStatus.Pod> out = new ArrayList<>();
        for (RunningPod p : pods.values()) {
            List<ClusterStatus.Container> cs = new ArrayList<>();
            int restarts = 0;
            for (RunningPod.ContainerRun c : p.containers) {
                restarts += c.restarts;
                String st = c.process != null ? "running" : c.done ? "terminated" : "waiting";
                String reason = c.process != null ? ""
                        : c.done ? (c.exitCode != null && c.exitCode == 0 ? "Completed" : "Error") : c.waitingReason();
                cs.add(new ClusterStatus.Container(c.spec.name(), st, reason, c.restarts, c.exitCode,
                        c.process != null ? c.process.pid() : 0, c.commandLine, c.env, c.ready()));
            }
            out.add(new ClusterStatus.Pod(p.namespace, p.name, p.uid, p.node, p.ip, p.phase,
                    waiting.apply(p.uid) != null ? "ContainerCreating" : "", restarts,
                    p.created.toString(), p.netns, p.cgroup.toString(), p.owner,
                    KubeObject.stringMap(p.metadata.path("labels")), cs, podObjects.of(p, true)));
        }
        for (DesiredPod d : desired.values()) {
            if (!pods.containsKey(d.key())) {
                PodSandboxes.Failure f = failures.apply(d.key());
                out.add(new ClusterStatus.Pod(d.namespace(), d.name(), "", d.node(), "", "Pending",
                        f == null ? "ContainerCreating" : f.reason(), 0, "", "", "", d.owner(),
                        KubeObject.stringMap(d.metadata().path("labels")), List.of(), null));
            }
        }
        List<ClusterStatus.Service> svcs = new ArrayList<>();
        for (ServiceView v : services.values()) {
            KubeObject o = v.object();
            ObjectNode tree = o.tree();
            ObjectNode spec = Services.withAllocations(Services.withClusterIp(tree, v.vip()), v).withObjectProperty("spec");
            if (!spec.has("type")) {
                spec.put("type", "ClusterIP");
            }
            // kubectl's PORT(S): port[:nodePort]/protocol
            String ports = String.join(",", v.ports().stream().map(sp -> sp.port()
                    + (v.nodePort(sp) > 0 ? ":" + v.nodePort(sp) : "") + "/" + sp.protocol()).toList());
            svcs.add(new ClusterStatus.Service(o.namespace(), o.name(), spec.path("type").asText(), v.vip(),
                    ports.isEmpty() ? "<none>" : ports, Services.selector(o), o.labels(),
                    serviceCreated.apply(o.namespace() + "/" + o.name()), v.endpoints(), tree));
        }
        List<ObjectNode> gws = gateways.stream().map(KubeObject::tree).toList();
        List<ObjectNode> rts = routes.stream().map(KubeObject::tree).toList();
        ClusterStatus status = new ClusterStatus("", ProcessHandle.current().pid(), out, svcs, errors, gws, rts);
        String content = Manifests.toJson(status);
        Instant now = Instant.now();
        if (content.equals(lastStatus) && now.isBefore(lastWrite.plus(Duration.ofSeconds(REFRESH_SECONDS)))) {
            return false;
        }
        ClusterStatus stamped = new ClusterStatus(now.toString(), status.controllerPid(), out, svcs, errors, gws,
                rts);
        Manifests.writeAtomically(file, Manifests.toJson(stamped));
        lastStatus = content;
        lastWrite = now;
        return true;
    }
}
