package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.function.Function;

/** A running pod as Kubernetes would show it: for istiod-lite's folder and for {@code status.json}. */
final class PodObjects {

    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private final ClusterInfo cluster;
    private final Function<String, String> waiting;

    /**
     * @param waiting by pod uid, why its containers wait for its node's agent, or null
     *     ({@link PodEnrollment#waiting})
     */
    PodObjects(ClusterInfo cluster, Function<String, String> waiting) {
        this.cluster = requireNonNull(cluster, "cluster");
        this.waiting = requireNonNull(waiting, "waiting");
    }

    /**
     * The pod as Kubernetes would show it; for istiod-lite ({@code full} false) without the
     * fields that change on every restart, so a crash-looping container does not push xDS.
     */
    ObjectNode of(RunningPod p, boolean full) {
        ObjectNode pod = NODES.objectNode();
        pod.put("apiVersion", "v1").put("kind", "Pod");
        ObjectNode meta = p.metadata.deepCopy();
        meta.put("uid", p.uid);
        meta.put("creationTimestamp", p.created.toString());
        pod.set("metadata", meta);
        ObjectNode spec = p.spec.deepCopy();
        spec.put("nodeName", p.node);
        if (!spec.has("serviceAccountName")) {
            spec.put("serviceAccountName", p.template.serviceAccountName());
        }
        if (!spec.has("restartPolicy")) {
            spec.put("restartPolicy", p.template.restartPolicy());
        }
        pod.set("spec", spec);
        ObjectNode status = pod.putObject("status");
        status.put("phase", p.phase);
        status.put("podIP", p.ip);
        status.putArray("podIPs").addObject().put("ip", p.ip);
        status.put("hostIP", hostIp(p.node));
        boolean ready = p.ready();
        ArrayNode conditions = status.putArray("conditions");
        conditions.addObject().put("type", "Ready").put("status", ready ? "True" : "False");
        if (full) {
            status.put("startTime", p.created.toString());
            ArrayNode cs = status.putArray("containerStatuses");
            for (RunningPod.ContainerRun c : p.containers) {
                ObjectNode s = cs.addObject();
                s.put("name", c.spec.name()).put("ready", c.ready()).put("restartCount", c.restarts)
                        .put("image", "").put("started", c.startedUp());
                ObjectNode st = s.putObject("state");
                if (c.last != null && !c.done) {
                    // The previous process, as the kubelet keeps it for a restarted container.
                    ObjectNode t = s.putObject("lastState").putObject("terminated").put("exitCode", c.last.exitCode())
                            .put("reason", c.last.exitCode() == 0 ? "Completed" : "Error")
                            .put("startedAt", String.valueOf(c.last.startedAt()))
                            .put("finishedAt", c.last.finishedAt().toString());
                    if (!c.last.message().isEmpty()) {
                        t.put("message", c.last.message());
                    }
                }
                if (c.process != null) {
                    st.putObject("running").put("startedAt", String.valueOf(c.startedAt));
                } else if (c.done) {
                    st.putObject("terminated").put("exitCode", c.exitCode == null ? 0 : c.exitCode)
                            .put("reason", c.exitCode != null && c.exitCode == 0 ? "Completed" : "Error");
                } else {
                    ObjectNode w = st.putObject("waiting").put("reason", c.waitingReason());
                    String why = waiting.apply(p.uid);
                    if (why != null) {
                        w.put("message", why);
                    }
                }
            }
        }
        return pod;
    }

    /** The address of {@code node} on the node network; empty for a node the cluster does not have. */
    String hostIp(String node) {
        return cluster.node(node).map(ClusterInfo.Node::address).orElse("");
    }
}
