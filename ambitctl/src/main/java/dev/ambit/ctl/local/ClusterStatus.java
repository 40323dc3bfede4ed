package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * {@code status.json}: the pods and Services as the controller last saw them, for
 * {@code local get}, {@code exec}, {@code logs} and {@code status}.
 *
 * @param updatedAt when the controller wrote it (its heartbeat)
 * @param controllerPid the controller process
 * @param manifestErrors the applied manifests the controller cannot read, one line each
 *                       naming the file and why (see {@link StoredManifests})
 * @param gateways the Gateway API Gateways, waypoints with the status the controller gives them
 *                 ({@link GatewayStatuses})
 * @param routes the mesh's HTTPRoutes and GRPCRoutes with their status ({@link RouteStatuses})
 */
public record ClusterStatus(String updatedAt, long controllerPid, List<Pod> pods, List<Service> services,
                            List<String> manifestErrors, List<ObjectNode> gateways, List<ObjectNode> routes) {

    public ClusterStatus {
        gateways = gateways == null ? List.of() : List.copyOf(gateways);
        routes = routes == null ? List.of() : List.copyOf(routes);
        pods = pods == null ? List.of() : List.copyOf(pods);
        services = services == null ? List.of() : List.copyOf(services);
        manifestErrors = manifestErrors == null ? List.of() : List.copyOf(manifestErrors);
    }

    /** Without routes (a controller from before they had a status). */
    public ClusterStatus(String updatedAt, long controllerPid, List<Pod> pods, List<Service> services,
                         List<String> manifestErrors, List<ObjectNode> gateways) {
        this(updatedAt, controllerPid, pods, services, manifestErrors, gateways, List.of());
    }

    /**
     * A pod.
     *
     * @param phase Pending, Running, Succeeded or Failed
     * @param reason why it is not running, for Pending and Failed pods ("" otherwise)
     * @param owner the Deployment that made it, "" for a Pod applied as such
     * @param object the pod as Kubernetes would show it ({@code spec.nodeName}, {@code status.podIP}, ...)
     */
    public record Pod(String namespace, String name, String uid, String node, String ip, String phase, String reason,
                      int restarts, String createdAt, String netns, String cgroup, String owner,
                      Map<String, String> labels, List<Container> containers, ObjectNode object) {

        public String key() {
            return namespace + "/" + name;
        }

        /** Containers ready now: running, and their readiness probe passed if they have one. */
        public long ready() {
            return containers.stream().filter(Container::ready).count();
        }
    }

    /**
     * A container of a pod.
     *
     * @param state waiting, running or terminated
     * @param reason CrashLoopBackOff, Completed, Error, ... ("" while running)
     * @param ready running and, with a readiness probe, passing it
     */
    public record Container(String name, String state, String reason, int restarts, Integer exitCode, long pid,
                            List<String> command, Map<String, String> env, boolean ready) {

        /** A container without a readiness probe: ready while it runs. */
        public Container(String name, String state, String reason, int restarts, Integer exitCode, long pid,
                         List<String> command, Map<String, String> env) {
            this(name, state, reason, restarts, exitCode, pid, command, env, state.equals("running"));
        }
    }

    /** A Service and its VIP ("None" for a headless one). */
    public record Service(String namespace, String name, String type, String clusterIp, String ports,
                          Map<String, String> selector, Map<String, String> labels, String createdAt,
                          List<String> endpoints, ObjectNode object) {}

    /** Reads {@code status.json}; empty before the controller's first write. */
    public static Optional<ClusterStatus> read(StateDir state) {
        requireNonNull(state, "state");
        try {
            return Optional.of(ClusterInfo.MAPPER.readValue(Files.readString(state.statusJson()), ClusterStatus.class));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new LocalException(state.statusJson() + ": cannot read: " + e.getMessage());
        }
    }

    /** Reads {@code status.json}, failing with a hint when the controller has not written it. */
    public static ClusterStatus require(StateDir state) {
        ClusterInfo.require(state);
        return read(state).orElseThrow(() -> new LocalException("the controller has not reported yet ("
                + state.statusJson() + " is missing): is it running? see ambitctl local status and "
                + state.controllerLog()));
    }

    /** The pod {@code namespace/name}, or the first running pod of deployment {@code deploy/NAME}. */
    public Pod pod(String namespace, String ref) {
        requireNonNull(namespace, "namespace");
        requireNonNull(ref, "ref");
        if (ref.startsWith("deploy/") || ref.startsWith("deployment/") || ref.startsWith("deployment.apps/")) {
            String deploy = ref.substring(ref.indexOf('/') + 1);
            return pods.stream()
                    .filter(p -> p.namespace().equals(namespace) && p.owner().equals(deploy))
                    .sorted(java.util.Comparator.comparing((Pod p) -> !p.phase().equals("Running")).thenComparing(Pod::name))
                    .findFirst()
                    .orElseThrow(() -> new LocalException("deployment " + namespace + "/" + deploy + " has no pods"
                            + " (ambitctl local get pods -n " + namespace + " lists them)"));
        }
        String name = ref.startsWith("pod/") ? ref.substring(4) : ref;
        return pods.stream().filter(p -> p.namespace().equals(namespace) && p.name().equals(name)).findFirst()
                .orElseThrow(() -> new LocalException("pod " + namespace + "/" + name + " not found"
                        + " (ambitctl local get pods -n " + namespace + " lists them; -n picks the namespace)"));
    }
}
