package dev.ambit.ctl.local;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

/** Manifests, a two-node cluster and running pods for the tests of the controller's parts: no root, no namespaces. */
final class ControllerFixtures {

    static final ClusterInfo.Node NODE1 = new ClusterInfo.Node("node1", 1, "ambit-l-node1", "10.10.0.11",
            "10.244.1.0/24", "10.244.1.1", "/sys/fs/bpf/x", null);
    static final ClusterInfo.Node NODE2 = new ClusterInfo.Node("node2", 2, "ambit-l-node2", "10.10.0.12",
            "10.244.2.0/24", "10.244.2.1", "/sys/fs/bpf/y", null);
    static final ClusterInfo CLUSTER = new ClusterInfo(1, "/s", "/r", "/sys/fs/cgroup", "2026-01-01T00:00:00Z",
            null, null, List.of(NODE1, NODE2), "1m");

    private ControllerFixtures() {}

    static List<KubeObject> parse(String yaml) {
        return Manifests.parse(yaml, "test.yaml", s -> { });
    }

    /** A Pod manifest: one container {@code c} listening on {@code port}, labelled {@code app: <app>}. */
    static String pod(String namespace, String name, String app, int port) {
        return """
                apiVersion: v1
                kind: Pod
                metadata: {name: %s, namespace: %s, labels: {app: %s}}
                spec: {containers: [{name: c, command: [sleep, "1000"], ports: [{containerPort: %d}]}]}
                ---
                """.formatted(name, namespace, app, port);
    }

    /** A ClusterIP Service selecting {@code app: <app>}, port {@code port} to {@code targetPort}. */
    static String service(String namespace, String name, String app, int port, int targetPort) {
        return """
                apiVersion: v1
                kind: Service
                metadata: {name: %s, namespace: %s}
                spec: {selector: {app: %s}, ports: [{port: %d, targetPort: %d}]}
                ---
                """.formatted(name, namespace, app, port, targetPort);
    }

    /** The pod {@code podManifest} running on {@code node} at {@code ip}. */
    static RunningPod running(KubeObject podManifest, String node, String ip, String uid) {
        DesiredPod d = new DesiredPods(List.of(node), new Random(1)).of(List.of(podManifest), Map.of())
                .values().iterator().next();
        return new RunningPod(d, uid, node, ip, Path.of("/sys/fs/cgroup/test").resolve(uid));
    }
}
