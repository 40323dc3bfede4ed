package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.istiod.model.MeshConfig;
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
 * semantics, the same conditions and reasons as istiod-lite's deployer on a cluster):
 * {@code Accepted} when the Gateway is a valid waypoint ({@code ListenersNotValid} when no or
 * only some listeners are {@code port: 15008, protocol: HBONE}), {@code Programmed} once its
 * Service has a VIP and its pod is ready (its 15021 {@code /healthz/ready} answered; else
 * {@code Invalid}, {@code AddressNotAssigned} or {@code Pending} with what is awaited),
 * {@code ResolvedRefs}, one {@code status.listeners[]} entry per listener (attached routes
 * counted), and {@code status.addresses}: the Service's VIP, which is what makes a Gateway count
 * as a waypoint, then its host name. A condition's {@code lastTransitionTime} moves only when its status changes, so an
 * unchanged Gateway is not rewritten (and not pushed by istiod-lite). Single-threaded (the
 * controller's loop).
 */
final class GatewayStatuses {

    private record Transition(String status, Instant at) {}

    /** The domain suffix of Service host names in the local cluster (istiod-lite's default). */
    private static final String DOMAIN_SUFFIX = MeshConfig.defaults().domainSuffix();

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
            out.add(KubeObject.of(withStatus(gw, problems.get(key), services.get(key), pods, objects)).from(gw.origin()));
        }
        transitions.keySet().removeIf(k -> !seen.contains(k.substring(0, k.indexOf('/', k.indexOf('/') + 1))));
        return out;
    }

    private ObjectNode withStatus(KubeObject gw, String problem, ServiceView service, Collection<RunningPod> pods,
                                  List<KubeObject> objects) {
        String key = gw.namespace() + "/" + gw.name();
        String host = gw.name() + "." + gw.namespace() + ".svc." + DOMAIN_SUFFIX;
        long generation = gw.tree().path("metadata").path("generation").asLong(1);
        Map<Integer, String> invalid = Waypoints.invalidListeners(gw);

        // Programmed: {status, reason, message}.
        String[] programmed;
        String vip = service == null || service.vip().equals("None") ? null : service.vip();
        if (problem != null) {
            programmed = new String[] {"False", "Invalid", "Not deployed: the Gateway is not accepted (see its Accepted"
                    + " condition)"};
        } else if (vip == null) {
            programmed = new String[] {"False", "AddressNotAssigned", "Service " + key + " has no cluster IP yet"
                    + " (see the controller's log)"};
        } else {
            RunningPod pod = pods.stream()
                    .filter(p -> p.namespace.equals(gw.namespace()) && p.owner.equals(gw.name())
                            && gw.name().equals(KubeObject.text(p.metadata.path("labels").path(Waypoints.GATEWAY_NAME_LABEL))))
                    .min((a, b) -> Boolean.compare(b.ready(), a.ready()))
                    .orElse(null);
            programmed = pod != null && pod.ready()
                    ? new String[] {"True", "Programmed", "Resource programmed, assigned to service(s) " + host + ":"
                            + IstioPorts.HBONE}
                    : new String[] {"False", "Pending", pending(gw, pod)};
        }
        boolean isProgrammed = programmed[0].equals("True");

        ObjectNode tree = gw.tree();
        ObjectNode status = tree.putObject("status");
        ArrayNode addresses = status.putArray("addresses");
        if (problem == null && vip != null) {
            // Istio reports both for a waypoint: the VIP first (what makes the Gateway a waypoint), then its name.
            addresses.addObject().put("type", "IPAddress").put("value", vip);
            addresses.addObject().put("type", "Hostname").put("value", host);
        }
        ArrayNode conditions = status.putArray("conditions");
        if (problem != null) {
            condition(conditions, key, "Accepted", false, "ListenersNotValid", problem, generation);
        } else if (!invalid.isEmpty()) {
            condition(conditions, key, "Accepted", true, "ListenersNotValid",
                    "One or more of the Gateway's listeners are invalid: " + String.join("; ", invalid.values()), generation);
        } else {
            condition(conditions, key, "Accepted", true, "Accepted", "Resource accepted", generation);
        }
        condition(conditions, key, "Programmed", isProgrammed, programmed[1], programmed[2], generation);
        condition(conditions, key, "ResolvedRefs", true, "ResolvedRefs", "All references resolved", generation);

        ArrayNode listeners = status.putArray("listeners");
        JsonNode specListeners = gw.spec().path("listeners");
        for (int i = 0; i < specListeners.size(); i++) {
            JsonNode l = specListeners.get(i);
            String name = KubeObject.text(l.path("name"));
            String lkey = key + "/listener/" + name;
            String why = invalid.get(i);
            boolean valid = why == null;
            ObjectNode ls = listeners.addObject();
            ls.put("name", name);
            ls.put("attachedRoutes", valid ? attachedRoutes(objects, gw, l) : 0);
            ArrayNode kinds = ls.putArray("supportedKinds");
            kinds.addObject().put("group", Waypoints.GATEWAY_GROUP).put("kind", "HTTPRoute");
            kinds.addObject().put("group", Waypoints.GATEWAY_GROUP).put("kind", "GRPCRoute");
            ArrayNode lc = ls.putArray("conditions");
            condition(lc, lkey, "Accepted", valid, valid ? "Accepted" : "UnsupportedProtocol",
                    valid ? "No errors found" : why, generation);
            condition(lc, lkey, "Conflicted", false, "NoConflicts", "No errors found", generation);
            condition(lc, lkey, "Programmed", valid && isProgrammed, !valid ? "Invalid" : isProgrammed ? "Programmed" : "Pending",
                    !valid ? why : isProgrammed ? "No errors found" : programmed[2], generation);
            condition(lc, lkey, "ResolvedRefs", true, "ResolvedRefs", "No errors found", generation);
        }
        return tree;
    }

    /** The HTTPRoutes and GRPCRoutes of {@code objects} whose {@code parentRefs} name this Gateway's listener. */
    static int attachedRoutes(List<KubeObject> objects, KubeObject gw, JsonNode listener) {
        int count = 0;
        for (KubeObject route : objects) {
            if (!route.group().equals(Waypoints.GATEWAY_GROUP)
                    || !(route.kind().equals("HTTPRoute") || route.kind().equals("GRPCRoute"))) {
                continue;
            }
            for (JsonNode ref : route.spec().path("parentRefs")) {
                String group = ref.path("group").asText(Waypoints.GATEWAY_GROUP);
                String kind = ref.path("kind").asText("Gateway");
                String ns = ref.path("namespace").asText(route.namespace());
                if (group.equals(Waypoints.GATEWAY_GROUP) && kind.equals("Gateway") && gw.name().equals(ref.path("name").asText())
                        && gw.namespace().equals(ns)
                        && (!ref.has("sectionName") || ref.path("sectionName").asText().equals(listener.path("name").asText()))
                        && (!ref.has("port") || ref.path("port").asInt() == listener.path("port").asInt())) {
                    count++;
                    break;
                }
            }
        }
        return count;
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
