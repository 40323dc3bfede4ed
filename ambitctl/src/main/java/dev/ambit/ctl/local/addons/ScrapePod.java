package dev.ambit.ctl.local.addons;

import static java.util.Objects.requireNonNull;

import java.util.Map;

/**
 * A pod as Prometheus's Kubernetes service discovery ({@code role: pod}) sees it: what
 * {@link ScrapeTargets} turns into the {@code __meta_kubernetes_pod_*} labels of one target.
 * The controller hands its running pods over in this shape; the node agents and istiod-lite,
 * which are daemons in local mode, are described in it too (as the pods they are on Kubernetes).
 *
 * @param node the node it runs on, "" for none (istiod-lite in local mode)
 * @param hostIp the node's address, "" for none
 * @param ip the pod's address, "" while it has none (such a pod is not a target)
 * @param phase Pending, Running, Succeeded or Failed
 * @param controllerKind the kind of its controller (ReplicaSet, DaemonSet), "" for none
 * @param container its first container's name, "" for none
 * @param port its first container's first port, 0 for none
 */
public record ScrapePod(String namespace, String name, String uid, String node, String hostIp, String ip, String phase,
                        boolean ready, Map<String, String> labels, Map<String, String> annotations,
                        String controllerKind, String controllerName, String container, int port) {

    public ScrapePod {
        requireNonNull(namespace, "namespace");
        requireNonNull(name, "name");
        requireNonNull(uid, "uid");
        requireNonNull(node, "node");
        requireNonNull(hostIp, "hostIp");
        requireNonNull(ip, "ip");
        requireNonNull(phase, "phase");
        labels = Map.copyOf(labels);
        annotations = Map.copyOf(annotations);
        requireNonNull(controllerKind, "controllerKind");
        requireNonNull(controllerName, "controllerName");
        requireNonNull(container, "container");
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port: " + port + " (expected: 0-65535, 0 for none)");
        }
    }
}
