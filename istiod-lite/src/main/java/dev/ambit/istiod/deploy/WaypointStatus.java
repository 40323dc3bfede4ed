package dev.ambit.istiod.deploy;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.IstioPorts;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayStatus;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayStatusAddress;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Listener;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.ListenerStatus;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.ParentReference;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.RouteGroupKind;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A waypoint Gateway's validation and status, as Gateway API specifies and Istio reports them.
 *
 * <p>Gateway conditions: {@code Accepted} (False with reason {@code ListenersNotValid} when no
 * listener is {@code {port: 15008, protocol: HBONE}}, the message naming each offending
 * {@code spec.listeners[i]}; True with that reason when only some are invalid, as Istio),
 * {@code Programmed} (True once the Service has a cluster IP and the Deployment an available
 * replica; otherwise False: {@code Invalid}, {@code AddressNotAssigned} or {@code Pending}, the
 * message saying what is awaited or what failed) and {@code ResolvedRefs}; each with the
 * Gateway's {@code observedGeneration}, {@code lastTransitionTime} kept while its status is
 * unchanged. {@code status.addresses}: the Service's cluster IPs ({@code IPAddress}), then its
 * host name ({@code Hostname}), as Istio reports both for waypoints; none before the Service has
 * an IP. One {@code status.listeners[]} entry per listener (attached HTTPRoutes counted).
 */
public final class WaypointStatus {

    static final String HBONE = "HBONE";
    private static final List<RouteGroupKind> ROUTE_KINDS = List.of(
            new RouteGroupKind("gateway.networking.k8s.io", "HTTPRoute"),
            new RouteGroupKind("gateway.networking.k8s.io", "GRPCRoute"));
    private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

    /** The outcome of {@link #validate}: per listener index, why it is invalid (absent: valid). */
    public record Validation(boolean accepted, String reason, String message, Map<Integer, String> invalidListeners) {}

    /**
     * What the deployer saw of the objects: the Service's cluster IPs (empty before one is
     * allocated), the Deployment's available and desired replicas, and a write failure (or null).
     */
    record Observed(List<String> clusterIps, int availableReplicas, int replicas, String failure) {
        static Observed failed(String failure) {
            return new Observed(List.of(), 0, 0, requireNonNull(failure, "failure"));
        }
    }

    private WaypointStatus() {}

    public static Validation validate(Gateway gw) {
        List<Listener> listeners = gw.getSpec().getListeners() == null ? List.of() : gw.getSpec().getListeners();
        Map<Integer, String> invalid = new LinkedHashMap<>();
        for (int i = 0; i < listeners.size(); i++) {
            Listener l = listeners.get(i);
            if (!(Integer.valueOf(IstioPorts.HBONE).equals(l.getPort()) && HBONE.equals(l.getProtocol()))) {
                invalid.put(i, "spec.listeners[" + i + "] (" + l.getName() + "): port " + l.getPort()
                        + ", protocol " + l.getProtocol() + " (expected: port " + IstioPorts.HBONE + ", protocol "
                        + HBONE + ")");
            }
        }
        if (invalid.size() == listeners.size()) {
            StringBuilder m = new StringBuilder("spec.listeners: no listener with port ").append(IstioPorts.HBONE)
                    .append(" and protocol ").append(HBONE).append(" (expected: a listener {name: mesh, port: ")
                    .append(IstioPorts.HBONE).append(", protocol: ").append(HBONE).append("})");
            invalid.values().forEach(v -> m.append("; ").append(v));
            return new Validation(false, "ListenersNotValid", m.toString(), invalid);
        }
        if (!invalid.isEmpty()) {
            return new Validation(true, "ListenersNotValid",
                    "One or more of the Gateway's listeners are invalid: " + String.join("; ", invalid.values()),
                    invalid);
        }
        return new Validation(true, "Accepted", "Resource accepted", invalid);
    }

    /**
     * The status to write on {@code current} (the stored Gateway, whose previous conditions give
     * the transition times to keep). {@code observed} is null when nothing was deployed (not accepted).
     */
    static GatewayStatus compute(Gateway current, Validation validation, Observed observed,
            Collection<HTTPRoute> routes, String domainSuffix, Instant now) {
        long generation = current.getMetadata().getGeneration() == null ? 0 : current.getMetadata().getGeneration();
        GatewayStatus previous = current.getStatus();
        List<Condition> before = previous == null || previous.getConditions() == null ? List.of()
                : previous.getConditions();
        String ns = current.getMetadata().getNamespace();
        String name = current.getMetadata().getName();
        String host = name + "." + ns + ".svc." + domainSuffix;

        String[] programmed = programmed(validation, observed, ns, name, host);
        boolean isProgrammed = programmed[0].equals("True");
        List<Condition> conditions = List.of(
                condition("Accepted", validation.accepted(), validation.reason(), validation.message(),
                        generation, before, now),
                condition("Programmed", isProgrammed, programmed[1], programmed[2], generation, before, now),
                condition("ResolvedRefs", true, "ResolvedRefs", "All references resolved", generation, before, now));

        List<GatewayStatusAddress> addresses = new ArrayList<>();
        if (validation.accepted() && observed != null && !observed.clusterIps().isEmpty()) {
            observed.clusterIps().forEach(ip -> addresses.add(new GatewayStatusAddress("IPAddress", ip)));
            addresses.add(new GatewayStatusAddress("Hostname", host));
        }

        List<ListenerStatus> listeners = new ArrayList<>();
        List<Listener> specListeners = current.getSpec().getListeners() == null ? List.of()
                : current.getSpec().getListeners();
        for (int i = 0; i < specListeners.size(); i++) {
            Listener l = specListeners.get(i);
            List<Condition> lBefore = previousListener(previous, l.getName());
            String why = validation.invalidListeners().get(i);
            boolean valid = why == null;
            List<Condition> lc = List.of(
                    condition("Accepted", valid, valid ? "Accepted" : "UnsupportedProtocol",
                            valid ? "No errors found" : why, generation, lBefore, now),
                    condition("Conflicted", false, "NoConflicts", "No errors found", generation, lBefore, now),
                    condition("Programmed", valid && isProgrammed,
                            !valid ? "Invalid" : isProgrammed ? "Programmed" : "Pending",
                            !valid ? why : isProgrammed ? "No errors found" : programmed[2], generation, lBefore, now),
                    condition("ResolvedRefs", true, "ResolvedRefs", "No errors found", generation, lBefore, now));
            int attached = valid ? attachedRoutes(routes, ns, name, l) : 0;
            listeners.add(new ListenerStatus(attached, lc, l.getName(), ROUTE_KINDS));
        }
        GatewayStatus status = new GatewayStatus();
        status.setConditions(conditions);
        status.setAddresses(addresses);
        status.setListeners(listeners);
        return status;
    }

    /** {status, reason, message} of the Programmed condition. */
    private static String[] programmed(Validation v, Observed o, String ns, String name, String host) {
        if (!v.accepted() || o == null) {
            return new String[] {"False", "Invalid", "Not deployed: the Gateway is not accepted (see its Accepted condition)"};
        }
        if (o.failure() != null) {
            return new String[] {"False", "Pending", o.failure()};
        }
        if (o.clusterIps().isEmpty()) {
            return new String[] {"False", "AddressNotAssigned", "Service " + ns + "/" + name
                    + " has no cluster IP yet"};
        }
        if (o.availableReplicas() < 1) {
            return new String[] {"False", "Pending", "Deployment " + ns + "/" + name
                    + " has no available replica yet (" + o.availableReplicas() + " of " + o.replicas()
                    + " available)"};
        }
        return new String[] {"True", "Programmed", "Resource programmed, assigned to service(s) " + host + ":"
                + IstioPorts.HBONE};
    }

    private static List<Condition> previousListener(GatewayStatus previous, String name) {
        if (previous == null || previous.getListeners() == null) {
            return List.of();
        }
        for (ListenerStatus s : previous.getListeners()) {
            if (s.getName() != null && s.getName().equals(name) && s.getConditions() != null) {
                return s.getConditions();
            }
        }
        return List.of();
    }

    /** A condition whose lastTransitionTime is the previous one's while its status stays the same. */
    static Condition condition(String type, boolean status, String reason, String message, long generation,
            List<Condition> before, Instant now) {
        String value = status ? "True" : "False";
        String since = now.truncatedTo(ChronoUnit.SECONDS).toString();
        for (Condition c : before) {
            if (type.equals(c.getType()) && value.equals(c.getStatus()) && c.getLastTransitionTime() != null) {
                since = c.getLastTransitionTime();
            }
        }
        return new ConditionBuilder().withType(type).withStatus(value).withReason(reason).withMessage(message)
                .withObservedGeneration(generation).withLastTransitionTime(since).build();
    }

    /** HTTPRoutes whose parentRefs name this Gateway (and this listener, when they name a section or port). */
    static int attachedRoutes(Collection<HTTPRoute> routes, String ns, String name, Listener listener) {
        int count = 0;
        for (HTTPRoute route : routes) {
            if (route.getSpec() == null || route.getSpec().getParentRefs() == null) {
                continue;
            }
            String routeNs = route.getMetadata().getNamespace();
            for (ParentReference ref : route.getSpec().getParentRefs()) {
                boolean gatewayKind = (ref.getGroup() == null || ref.getGroup().equals("gateway.networking.k8s.io"))
                        && (ref.getKind() == null || ref.getKind().equals("Gateway"));
                boolean same = gatewayKind && name.equals(ref.getName())
                        && ns.equals(ref.getNamespace() == null ? routeNs : ref.getNamespace())
                        && (ref.getSectionName() == null || ref.getSectionName().equals(listener.getName()))
                        && (ref.getPort() == null || ref.getPort().equals(listener.getPort()));
                if (same) {
                    count++;
                    break;
                }
            }
        }
        return count;
    }

    /** Whether two statuses (or parts) say the same, whatever empty-versus-absent differences serialization makes. */
    static boolean same(Object a, Object b) {
        return java.util.Objects.equals(normalize(a == null ? null : SERIALIZATION.convertValue(a, Object.class)),
                normalize(b == null ? null : SERIALIZATION.convertValue(b, Object.class)));
    }

    private static Object normalize(Object o) {
        if (o instanceof Map<?, ?> m) {
            Map<Object, Object> out = new LinkedHashMap<>();
            m.forEach((k, v) -> {
                Object n = normalize(v);
                if (n != null) {
                    out.put(k, n);
                }
            });
            return out.isEmpty() ? null : out;
        }
        if (o instanceof List<?> l) {
            List<Object> out = new ArrayList<>();
            l.forEach(v -> out.add(normalize(v)));
            return out.isEmpty() ? null : out;
        }
        return o;
    }

    static boolean isProgrammed(GatewayStatus status) {
        return status != null && status.getConditions() != null && status.getConditions().stream()
                .anyMatch(c -> "Programmed".equals(c.getType()) && "True".equals(c.getStatus()));
    }
}
