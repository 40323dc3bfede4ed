package dev.ambit.istiod.deploy;

import static java.util.Objects.requireNonNull;

import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.ingress.GatewayApiAttachments;
import dev.ambit.istiod.ingress.GatewayApiAttachments.GatewayState;
import dev.ambit.istiod.ingress.GatewayApiAttachments.ListenerState;
import dev.ambit.istiod.ingress.GatewayApiAttachments.ParentOutcome;
import dev.ambit.istiod.l7.L7Validation;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayStatus;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayStatusAddress;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.ListenerStatus;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.ParentReference;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.RouteGroupKind;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.RouteParentStatus;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.TLSRoute;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * The status of Gateways of class {@value GatewayApiAttachments#CLASS} and of the routes attached
 * to them, as Gateway API specifies and Istio's gateway controller reports it ({@code controllerName}
 * {@value #CONTROLLER}). Pure: the evaluation ({@link GatewayApiAttachments}) says what is served,
 * these functions say it in conditions; each condition carries the object's
 * {@code observedGeneration} and keeps its {@code lastTransitionTime} while its status is unchanged.
 *
 * <p>Gateway: {@code Accepted} (False {@code ListenersNotValid} when no listener is accepted; True
 * with that reason when only some are), {@code Programmed} (True once the gateway's Service has an
 * address and its pods are ready; else {@code AddressNotAssigned} or {@code Pending}),
 * {@code status.addresses} (the Service's load-balancer addresses: {@code IPAddress} or
 * {@code Hostname}). Per listener: {@code Accepted} ({@code UnsupportedProtocol}),
 * {@code Conflicted} ({@code ProtocolConflict}, {@code HostnameConflict}, else {@code NoConflicts}),
 * {@code ResolvedRefs} ({@code InvalidCertificateRef} for a Secret that is missing or malformed,
 * {@code RefNotPermitted}, {@code InvalidRouteKinds}), {@code Programmed}, {@code supportedKinds}
 * and {@code attachedRoutes}.
 *
 * <p>Route, per {@code parentRefs} entry naming such a Gateway: {@code Accepted} (True, or False
 * with {@code NoMatchingParent}, {@code NotAllowedByListeners}, {@code NoMatchingListenerHostname},
 * {@code UnsupportedValue}) and {@code ResolvedRefs} (False with {@code InvalidKind},
 * {@code RefNotPermitted} or {@code BackendNotFound}, naming the field). Other controllers'
 * entries (the mesh controller's Service parents) are kept as they are.
 */
public final class GatewayApiStatus {

    /** Istio's controller name for gateways of class istio. */
    public static final String CONTROLLER = "istio.io/gateway-controller";

    private static final Pattern IP = Pattern.compile("[0-9.]+|[0-9a-fA-F:]*:[0-9a-fA-F:.]*");

    /** Why Secret {@code namespace/name} cannot serve as a certificate, or null when it can. */
    @FunctionalInterface
    public interface Secrets {
        String problem(String namespace, String name);
    }

    /**
     * What was observed of a gateway's deployment.
     *
     * @param addresses the Service's load-balancer addresses (IPs or host names), empty before one is assigned
     * @param ready whether a pod of the gateway is ready
     * @param serviceHost the Service's host name, named in the Programmed message
     * @param pending why it is not ready (a write failure, a missing jar), or null
     */
    public record Observed(List<String> addresses, boolean ready, String serviceHost, String pending) {
        public Observed {
            addresses = List.copyOf(addresses);
            requireNonNull(serviceHost, "serviceHost");
        }
    }

    private GatewayApiStatus() {
    }

    /**
     * The status of Gateway {@code current} (its previous conditions give the transition times
     * to keep), or null when it is not a Gateway of class istio in {@code eval}.
     */
    public static GatewayStatus gateway(Gateway current, GatewayApiAttachments eval, Observed observed, Secrets secrets,
                                        Instant now) {
        requireNonNull(current, "current");
        requireNonNull(eval, "eval");
        requireNonNull(observed, "observed");
        requireNonNull(secrets, "secrets");
        requireNonNull(now, "now");
        String key = current.getMetadata().getNamespace() + "/" + current.getMetadata().getName();
        GatewayState gw = eval.gateways().stream().filter(g -> g.key().equals(key)).findFirst().orElse(null);
        if (gw == null) {
            return null;
        }
        long generation = current.getMetadata().getGeneration() == null ? 0 : current.getMetadata().getGeneration();
        GatewayStatus previous = current.getStatus();
        List<Condition> before = previous == null || previous.getConditions() == null ? List.of()
                : previous.getConditions();

        List<String> invalid = new ArrayList<>();
        for (ListenerState l : gw.listeners()) {
            if (l.notAccepted() != null) {
                invalid.add(l.notAccepted()[1]);
            }
        }
        boolean accepted = invalid.size() < gw.listeners().size();
        Condition acceptedCondition = invalid.isEmpty()
                ? WaypointStatus.condition("Accepted", true, "Accepted", "Resource accepted", generation, before, now)
                : WaypointStatus.condition("Accepted", accepted, "ListenersNotValid", (accepted
                        ? "One or more of the Gateway's listeners are invalid: " : "No listener is valid: ")
                        + String.join("; ", invalid), generation, before, now);
        String[] programmed;
        if (!accepted) {
            programmed = new String[] {"Invalid", "Not deployed: the Gateway is not accepted (see its Accepted "
                    + "condition)"};
        } else if (observed.addresses().isEmpty()) {
            programmed = new String[] {"AddressNotAssigned", "Service " + observed.serviceHost()
                    + " has no load-balancer address yet" + (observed.pending() == null ? "" : "; "
                    + observed.pending())};
        } else if (!observed.ready()) {
            programmed = new String[] {"Pending", observed.pending() != null ? observed.pending()
                    : "no pod of the gateway is ready yet"};
        } else {
            programmed = new String[] {"Programmed", "Resource programmed, assigned to service(s) "
                    + observed.serviceHost()};
        }
        boolean isProgrammed = programmed[0].equals("Programmed");

        List<ListenerStatus> listeners = new ArrayList<>();
        for (ListenerState l : gw.listeners()) {
            List<Condition> lb = previousListener(previous, l.name());
            String[] refs = l.unresolved();
            if (refs == null && l.tls() != null && l.tls().credential() != null) {
                String why = secrets.problem(l.tls().credential().namespace(), l.tls().credential().name());
                if (why != null) {
                    refs = new String[] {"InvalidCertificateRef", "spec.listeners[" + l.index()
                            + "].tls.certificateRefs[0]: " + why};
                }
            }
            boolean served = l.usable() && (refs == null || refs[0].equals("InvalidRouteKinds"));
            List<Condition> lc = List.of(
                    WaypointStatus.condition("Accepted", l.notAccepted() == null,
                            l.notAccepted() == null ? "Accepted" : l.notAccepted()[0],
                            l.notAccepted() == null ? "No errors found" : l.notAccepted()[1], generation, lb, now),
                    WaypointStatus.condition("Conflicted", l.conflict() != null,
                            l.conflict() == null ? "NoConflicts" : l.conflict(), l.conflict() == null
                                    ? "No errors found" : "another listener on port " + l.port() + " conflicts ("
                                    + l.conflict() + ")", generation, lb, now),
                    WaypointStatus.condition("Programmed", served && isProgrammed,
                            !served ? "Invalid" : isProgrammed ? "Programmed" : "Pending",
                            !served ? "The listener is not served (see its other conditions)"
                                    : isProgrammed ? "No errors found" : programmed[1], generation, lb, now),
                    WaypointStatus.condition("ResolvedRefs", refs == null, refs == null ? "ResolvedRefs" : refs[0],
                            refs == null ? "No errors found" : refs[1], generation, lb, now));
            List<RouteGroupKind> kinds = l.kinds().stream().sorted()
                    .map(k -> new RouteGroupKind("gateway.networking.k8s.io", k)).toList();
            listeners.add(new ListenerStatus(served ? eval.attachedRoutes(gw, l) : 0, lc, l.name(), kinds));
        }
        List<GatewayStatusAddress> addresses = new ArrayList<>();
        if (accepted) {
            for (String a : observed.addresses()) {
                addresses.add(new GatewayStatusAddress(IP.matcher(a).matches() ? "IPAddress" : "Hostname", a));
            }
        }
        GatewayStatus status = new GatewayStatus();
        status.setConditions(List.of(acceptedCondition, WaypointStatus.condition("Programmed", isProgrammed,
                programmed[0], programmed[1], generation, before, now)));
        status.setAddresses(addresses);
        status.setListeners(listeners);
        return status;
    }

    /** Whether {@code route} names a Gateway of class istio in its parentRefs (so its status is ours to write). */
    public static boolean hasGatewayParent(HasMetadata route, GatewayApiAttachments eval) {
        return !eval.outcomes(route).isEmpty();
    }

    /**
     * The {@code status.parents} to write on {@code route} (HTTPRoute, GRPCRoute or TLSRoute):
     * this controller's entries computed afresh, other controllers' entries of {@code previous} kept.
     */
    public static List<RouteParentStatus> parents(HasMetadata route, List<RouteParentStatus> previous,
                                                  GatewayApiAttachments eval, RouteStatus.Services services,
                                                  Instant now) {
        requireNonNull(route, "route");
        requireNonNull(eval, "eval");
        requireNonNull(services, "services");
        requireNonNull(now, "now");
        long generation = route.getMetadata().getGeneration() == null ? 0 : route.getMetadata().getGeneration();
        List<String> problems = new ArrayList<>();
        if (!(route instanceof TLSRoute)) {
            L7Validation.validate(route instanceof GRPCRoute ? Kind.GRPC_ROUTE : Kind.HTTP_ROUTE, route,
                    (field, reason) -> problems.add(field + ": " + reason));
        }
        String[] resolved = resolvedRefs(route, eval, services);
        List<RouteParentStatus> before = previous == null ? List.of() : previous;
        List<RouteParentStatus> out = new ArrayList<>();
        for (RouteParentStatus p : before) {
            if (p != null && !CONTROLLER.equals(p.getControllerName())) {
                out.add(p);
            }
        }
        for (ParentOutcome o : eval.outcomes(route)) {
            List<Condition> was = before.stream().filter(p -> p != null && CONTROLLER.equals(p.getControllerName())
                    && sameRef(p.getParentRef(), o.ref())).findFirst().map(RouteParentStatus::getConditions)
                    .orElse(List.of());
            Condition accepted = !o.accepted()
                    ? WaypointStatus.condition("Accepted", false, o.reason(), o.message(), generation, was, now)
                    : !problems.isEmpty()
                    ? WaypointStatus.condition("Accepted", false, "UnsupportedValue", "istiod-lite rejects the route: "
                            + String.join("; ", problems), generation, was, now)
                    : WaypointStatus.condition("Accepted", true, "Accepted", "Route was valid", generation, was, now);
            Condition refs = WaypointStatus.condition("ResolvedRefs", resolved == null,
                    resolved == null ? "ResolvedRefs" : resolved[0],
                    resolved == null ? "All references resolved" : resolved[1], generation, was, now);
            RouteParentStatus status = new RouteParentStatus();
            status.setControllerName(CONTROLLER);
            status.setParentRef(o.ref());
            status.setConditions(List.of(accepted, refs));
            out.add(status);
        }
        return out;
    }

    /** {reason, message} of the first backend that does not resolve, or null. */
    private static String[] resolvedRefs(HasMetadata route, GatewayApiAttachments eval, RouteStatus.Services services) {
        String ns = route.getMetadata().getNamespace();
        String fromKind = route instanceof GRPCRoute ? "GRPCRoute" : route instanceof TLSRoute ? "TLSRoute"
                : "HTTPRoute";
        for (String[] b : backends(route)) {
            String field = b[0];
            String group = b[1] == null || b[1].equals("core") ? "" : b[1];
            String kind = b[2] == null ? "Service" : b[2];
            String backendNs = b[4] == null ? ns : b[4];
            if (!kind.equals("Service") || !group.isEmpty()) {
                return new String[] {"InvalidKind", field + ": " + kind + " backends are not supported (expected: "
                        + "a Service)"};
            }
            if (!eval.grants().permitted("gateway.networking.k8s.io", fromKind, ns, "", "Service", backendNs, b[3])) {
                return new String[] {"RefNotPermitted", field + ": Service " + backendNs + "/" + b[3] + " is in "
                        + "another namespace and no ReferenceGrant there allows it"};
            }
            if (b[3] == null || !services.exists(backendNs, b[3])) {
                return new String[] {"BackendNotFound", field + ": Service " + backendNs + "/" + b[3]
                        + " does not exist"};
            }
        }
        return null;
    }

    /** {field, group, kind, name, namespace} of every backendRef of the route's rules. */
    private static List<String[]> backends(HasMetadata route) {
        List<String[]> out = new ArrayList<>();
        switch (route) {
            case HTTPRoute r when r.getSpec() != null && r.getSpec().getRules() != null -> {
                for (int i = 0; i < r.getSpec().getRules().size(); i++) {
                    var rule = r.getSpec().getRules().get(i);
                    var refs = rule == null || rule.getBackendRefs() == null ? List.<io.fabric8.kubernetes.api.model
                            .gatewayapi.v1.HTTPBackendRef>of() : rule.getBackendRefs();
                    for (int j = 0; j < refs.size(); j++) {
                        var b = refs.get(j);
                        if (b != null) {
                            out.add(new String[] {"spec.rules[" + i + "].backendRefs[" + j + "]", b.getGroup(),
                                    b.getKind(), b.getName(), b.getNamespace()});
                        }
                    }
                }
            }
            case GRPCRoute r when r.getSpec() != null && r.getSpec().getRules() != null -> {
                for (int i = 0; i < r.getSpec().getRules().size(); i++) {
                    var rule = r.getSpec().getRules().get(i);
                    var refs = rule == null || rule.getBackendRefs() == null ? List.<io.fabric8.kubernetes.api.model
                            .gatewayapi.v1.GRPCBackendRef>of() : rule.getBackendRefs();
                    for (int j = 0; j < refs.size(); j++) {
                        var b = refs.get(j);
                        if (b != null) {
                            out.add(new String[] {"spec.rules[" + i + "].backendRefs[" + j + "]", b.getGroup(),
                                    b.getKind(), b.getName(), b.getNamespace()});
                        }
                    }
                }
            }
            case TLSRoute r when r.getSpec() != null && r.getSpec().getRules() != null -> {
                for (int i = 0; i < r.getSpec().getRules().size(); i++) {
                    var rule = r.getSpec().getRules().get(i);
                    var refs = rule == null || rule.getBackendRefs() == null ? List.<io.fabric8.kubernetes.api.model
                            .gatewayapi.v1.BackendRef>of() : rule.getBackendRefs();
                    for (int j = 0; j < refs.size(); j++) {
                        var b = refs.get(j);
                        if (b != null) {
                            out.add(new String[] {"spec.rules[" + i + "].backendRefs[" + j + "]", b.getGroup(),
                                    b.getKind(), b.getName(), b.getNamespace()});
                        }
                    }
                }
            }
            default -> { }
        }
        return out;
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

    private static boolean sameRef(ParentReference a, ParentReference b) {
        return a != null && Objects.equals(a.getName(), b.getName()) && Objects.equals(a.getNamespace(),
                b.getNamespace()) && Objects.equals(a.getKind(), b.getKind())
                && Objects.equals(a.getPort(), b.getPort()) && Objects.equals(a.getSectionName(), b.getSectionName());
    }
}
