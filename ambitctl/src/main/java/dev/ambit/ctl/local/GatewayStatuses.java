package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * The status of waypoint Gateways, as Istio's deployment controller writes it (Gateway API
 * semantics): {@code Accepted} when the Gateway is a valid waypoint, {@code Programmed} once
 * its Service has a VIP and its pod is ready (its 15021 {@code /healthz/ready} answered), and
 * {@code status.addresses} the Service's VIP, which is what makes a Gateway count as a
 * waypoint. A condition's {@code lastTransitionTime} moves only when its status changes, so an
 * unchanged Gateway is not rewritten (and not pushed by istiod-lite). Single-threaded (the
 * controller's loop).
 */
final class GatewayStatuses {

    private record Transition(String status, Instant at) {}

    private final Path waypointJar;
    private final Supplier<Instant> clock;
    private final Map<String, Transition> transitions = new HashMap<>();

    /**
     * @param waypointJar the waypoint's jar, named in the status while it is missing
     */
    GatewayStatuses(Path waypointJar, Supplier<Instant> clock) {
        this.waypointJar = requireNonNull(waypointJar, "waypointJar");
        this.clock = requireNonNull(clock, "clock");
    }

    /**
     * Every Gateway API Gateway of {@code objects}, waypoints with their status, others as applied.
     *
     * @param problems by {@code namespace/name}, why a waypoint Gateway is not deployed ({@link Waypoints.Expansion})
     * @param services the Services with their VIPs this tick
     */
    List<KubeObject> update(List<KubeObject> objects, Map<String, String> problems, Map<String, ServiceView> services,
                            Collection<RunningPod> pods) {
        List<KubeObject> out = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (KubeObject gw : objects) {
            if (!Waypoints.isGateway(gw)) {
                continue;
            }
            if (!Waypoints.isWaypoint(gw)) {
                out.add(gw);
                continue;
            }
            String key = gw.namespace() + "/" + gw.name();
            seen.add(key);
            out.add(KubeObject.of(withStatus(gw, problems.get(key), services.get(key), pods)).from(gw.origin()));
        }
        transitions.keySet().removeIf(k -> !seen.contains(k.substring(0, k.lastIndexOf('/'))));
        return out;
    }

    private ObjectNode withStatus(KubeObject gw, String problem, ServiceView service, Collection<RunningPod> pods) {
        String key = gw.namespace() + "/" + gw.name();
        long generation = gw.tree().path("metadata").path("generation").asLong(1);
        ObjectNode tree = gw.tree();
        ObjectNode status = tree.putObject("status");
        String vip = service == null || service.vip().equals("None") ? null : service.vip();
        ArrayNode addresses = status.putArray("addresses");
        if (problem == null && vip != null) {
            addresses.addObject().put("type", "IPAddress").put("value", vip);
        }
        ArrayNode conditions = status.putArray("conditions");
        if (problem != null) {
            condition(conditions, key, "Accepted", false, "ListenersNotValid", problem, generation);
            condition(conditions, key, "Programmed", false, "Invalid", "not deployed: " + problem, generation);
            return tree;
        }
        condition(conditions, key, "Accepted", true, "Accepted", "Resource accepted", generation);
        if (vip == null) {
            condition(conditions, key, "Programmed", false, "AddressNotAssigned",
                    "its Service " + key + " has no VIP yet (see the controller's log)", generation);
            return tree;
        }
        RunningPod pod = pods.stream()
                .filter(p -> p.namespace.equals(gw.namespace()) && p.owner.equals(gw.name())
                        && gw.name().equals(KubeObject.text(p.metadata.path("labels").path(Waypoints.GATEWAY_NAME_LABEL))))
                .min((a, b) -> Boolean.compare(b.ready(), a.ready()))
                .orElse(null);
        if (pod != null && pod.ready()) {
            condition(conditions, key, "Programmed", true, "Programmed", "Resource programmed, assigned to service(s) "
                    + gw.name() + "." + gw.namespace() + ".svc.cluster.local:15008", generation);
        } else {
            condition(conditions, key, "Programmed", false, "Pending", pending(gw, pod), generation);
        }
        return tree;
    }

    /** Why the waypoint's pod is not ready, with where to look. */
    private String pending(KubeObject gw, RunningPod pod) {
        String jar = Files.isRegularFile(waypointJar) ? ""
                : "; waypoint-proxy is not built: " + waypointJar + " does not exist (mvn -pl waypoint-proxy -am package)";
        if (pod == null) {
            return "waiting for the waypoint pod of " + gw.namespace() + "/" + gw.name() + " to be created" + jar;
        }
        for (RunningPod.ContainerRun c : pod.containers) {
            if (c.process == null && c.started) {
                return "waypoint pod " + pod.key() + ": container " + c.spec.name() + " " + c.waitingReason()
                        + " (exit code " + c.exitCode + "; ambitctl local logs " + pod.name + " -n " + pod.namespace
                        + ")" + jar;
            }
        }
        return "waiting for waypoint pod " + pod.key() + " to be ready (GET :15021" + Waypoints.READY_PATH + ")" + jar;
    }

    private void condition(ArrayNode conditions, String key, String type, boolean ok, String reason, String message,
                           long generation) {
        String status = ok ? "True" : "False";
        Transition t = transitions.get(key + "/" + type);
        if (t == null || !t.status().equals(status)) {
            t = new Transition(status, clock.get().truncatedTo(java.time.temporal.ChronoUnit.SECONDS));
            transitions.put(key + "/" + type, t);
        }
        conditions.addObject().put("type", type).put("status", status).put("reason", reason).put("message", message)
                .put("lastTransitionTime", t.at().toString()).put("observedGeneration", generation);
    }
}
