package dev.ambit.agent.inpod;

import static java.util.Objects.requireNonNull;

import java.nio.file.Path;

/**
 * Where one running pod lives on this node: what enrollment needs besides the pod's
 * workload from xDS.
 *
 * @param namespace the pod's Kubernetes namespace
 * @param name the pod's name
 * @param uid the pod's Kubernetes UID (names its BPF pins)
 * @param cgroup the pod's cgroup folder on the cgroup v2 hierarchy (the pod level, whose
 *     descendants are its containers)
 * @param netns the pod's network namespace file ({@code /proc/PID/ns/net} or a bind mount)
 */
public record PodSandbox(String namespace, String name, String uid, Path cgroup, Path netns) {

    public PodSandbox {
        requireNonNull(namespace, "namespace");
        requireNonNull(name, "name");
        requireNonNull(uid, "uid");
        requireNonNull(cgroup, "cgroup");
        requireNonNull(netns, "netns");
    }

    /** {@code namespace/name}, for logs and maps. */
    public String key() {
        return namespace + "/" + name;
    }
}
