package dev.ambit.istiod.deploy;

import static java.util.Objects.requireNonNull;

import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.l7.L7Validation;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRequestMirrorFilter;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.ParentReference;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.RouteParentStatus;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.BiFunction;
import java.util.function.Function;

/**
 * The {@code status.parents} of a GAMMA route (an HTTPRoute or GRPCRoute with {@code parentRefs}
 * of kind Service), as Gateway API specifies and Istio reports it for the mesh: one entry per
 * Service parent, {@code controllerName} {@value #CONTROLLER}, the parent reference as written,
 * and two conditions, each with the route's {@code observedGeneration} and a
 * {@code lastTransitionTime} kept while its status is unchanged:
 * <ul>
 *   <li>{@code Accepted}: False with {@code NoMatchingParent} when the Service does not exist,
 *       {@code UnsupportedValue} when istiod-lite rejects the route (the problems, field by
 *       field); otherwise True, {@code Accepted};</li>
 *   <li>{@code ResolvedRefs}: False with {@code InvalidKind} for a backend that is not a
 *       Service, {@code BackendNotFound} for a Service that does not exist (the first such
 *       {@code backendRefs} or RequestMirror {@code backendRef}, by field); otherwise True.</li>
 * </ul>
 * Entries of other controllers (another implementation's Gateway parents) are kept as they
 * are. ReferenceGrants are not read: cross-namespace backends resolve as in Istio's mesh mode.
 */
public final class RouteStatus {

    /** Istio's controller name for the mesh (the {@code istio-waypoint} GatewayClass's). */
    public static final String CONTROLLER = "istio.io/mesh-controller";

    /** Whether the Service {@code namespace/name} exists. */
    @FunctionalInterface
    public interface Services {
        boolean exists(String namespace, String name);
    }

    /** A backend reference found in a route, with its field path. */
    private record Backend(String field, String group, String kind, String name, String namespace) {}

    private RouteStatus() {
    }

    /** Whether {@code route} (HTTPRoute or GRPCRoute) has a Service parent, so this status is the mesh's to write. */
    public static boolean isMeshRoute(HasMetadata route) {
        return parentRefs(route).stream().anyMatch(RouteStatus::isService);
    }

    /**
     * The {@code status.parents} to write on {@code route}: this controller's entries computed
     * afresh, other controllers' entries of {@code previous} kept.
     *
     * @param previous the route's current {@code status.parents} (null or empty when none)
     */
    public static List<RouteParentStatus> parents(HasMetadata route, List<RouteParentStatus> previous,
                                                  Services services, Instant now) {
        requireNonNull(route, "route");
        requireNonNull(services, "services");
        requireNonNull(now, "now");
        Kind kind = route instanceof GRPCRoute ? Kind.GRPC_ROUTE : Kind.HTTP_ROUTE;
        String ns = route.getMetadata().getNamespace();
        long generation = route.getMetadata().getGeneration() == null ? 0 : route.getMetadata().getGeneration();
        List<String> problems = new ArrayList<>();
        L7Validation.validate(kind, route, (field, reason) -> problems.add(field + ": " + reason));
        String[] resolved = resolvedRefs(backends(route), ns, services);

        List<RouteParentStatus> out = new ArrayList<>();
        List<RouteParentStatus> before = previous == null ? List.of() : previous;
        for (RouteParentStatus p : before) {
            if (p != null && !CONTROLLER.equals(p.getControllerName())) {
                out.add(p);
            }
        }
        for (ParentReference ref : parentRefs(route)) {
            if (!isService(ref)) {
                continue;
            }
            String parentNs = ref.getNamespace() == null ? ns : ref.getNamespace();
            List<Condition> was = before.stream().filter(p -> p != null && CONTROLLER.equals(p.getControllerName())
                    && sameRef(p.getParentRef(), ref)).findFirst().map(RouteParentStatus::getConditions)
                    .orElse(List.of());
            Condition accepted;
            if (!services.exists(parentNs, ref.getName())) {
                accepted = WaypointStatus.condition("Accepted", false, "NoMatchingParent", "Service " + parentNs
                        + "/" + ref.getName() + " does not exist", generation, was, now);
            } else if (!problems.isEmpty()) {
                accepted = WaypointStatus.condition("Accepted", false, "UnsupportedValue", "istiod-lite rejects "
                        + "the route: " + String.join("; ", problems), generation, was, now);
            } else {
                accepted = WaypointStatus.condition("Accepted", true, "Accepted", "Route was valid", generation,
                        was, now);
            }
            Condition refs = WaypointStatus.condition("ResolvedRefs", resolved[0] == null, resolved[0] == null
                    ? "ResolvedRefs" : resolved[0], resolved[1], generation, was, now);
            RouteParentStatus status = new RouteParentStatus();
            status.setControllerName(CONTROLLER);
            status.setParentRef(ref);
            status.setConditions(List.of(accepted, refs));
            out.add(status);
        }
        return out;
    }

    /** {reason or null when all resolve, message} of ResolvedRefs. */
    private static String[] resolvedRefs(List<Backend> backends, String ns, Services services) {
        for (Backend b : backends) {
            boolean service = (b.kind() == null || "Service".equals(b.kind()))
                    && (b.group() == null || b.group().isEmpty() || "core".equals(b.group()));
            if (!service) {
                return new String[] {"InvalidKind", b.field() + ": " + b.kind() + " backends are not supported "
                        + "(expected: a Service)"};
            }
            String backendNs = b.namespace() == null ? ns : b.namespace();
            if (b.name() == null || !services.exists(backendNs, b.name())) {
                return new String[] {"BackendNotFound", b.field() + ": Service " + backendNs + "/" + b.name()
                        + " does not exist"};
            }
        }
        return new String[] {null, "All references resolved"};
    }

    private static List<Backend> backends(HasMetadata route) {
        List<Backend> out = new ArrayList<>();
        switch (route) {
            case HTTPRoute r when r.getSpec() != null && r.getSpec().getRules() != null ->
                    rules(r.getSpec().getRules(), rule -> rule.getBackendRefs(), rule -> rule.getFilters(),
                            (field, b) -> new Backend(field, b.getGroup(), b.getKind(), b.getName(), b.getNamespace()),
                            f -> f.getRequestMirror(), out);
            case GRPCRoute r when r.getSpec() != null && r.getSpec().getRules() != null ->
                    rules(r.getSpec().getRules(), rule -> rule.getBackendRefs(), rule -> rule.getFilters(),
                            (field, b) -> new Backend(field, b.getGroup(), b.getKind(), b.getName(), b.getNamespace()),
                            f -> f.getRequestMirror(), out);
            default -> { }
        }
        return out;
    }

    /**
     * The backends of an HTTPRoute's or a GRPCRoute's rules (their models share no types):
     * each rule's {@code backendRefs} and its filters' {@code requestMirror.backendRef}, named
     * by their field paths.
     */
    private static <R, B, F> void rules(List<R> rules, Function<R, List<B>> refsOf, Function<R, List<F>> filtersOf,
                                        BiFunction<String, B, Backend> backend,
                                        Function<F, HTTPRequestMirrorFilter> mirrorOf, List<Backend> out) {
        for (int i = 0; i < rules.size(); i++) {
            R rule = rules.get(i);
            if (rule == null) {
                continue;
            }
            String p = "spec.rules[" + i + "]";
            List<B> refs = refsOf.apply(rule) == null ? List.of() : refsOf.apply(rule);
            for (int j = 0; j < refs.size(); j++) {
                if (refs.get(j) != null) {
                    out.add(backend.apply(p + ".backendRefs[" + j + "]", refs.get(j)));
                }
            }
            List<F> filters = filtersOf.apply(rule) == null ? List.of() : filtersOf.apply(rule);
            for (int j = 0; j < filters.size(); j++) {
                if (filters.get(j) != null) {
                    mirror(p + ".filters[" + j + "]", mirrorOf.apply(filters.get(j)), out);
                }
            }
        }
    }

    private static void mirror(String field, HTTPRequestMirrorFilter m, List<Backend> out) {
        if (m != null && m.getBackendRef() != null) {
            var b = m.getBackendRef();
            out.add(new Backend(field + ".requestMirror.backendRef", b.getGroup(), b.getKind(), b.getName(),
                    b.getNamespace()));
        }
    }

    private static List<ParentReference> parentRefs(HasMetadata route) {
        List<ParentReference> refs = switch (route) {
            case HTTPRoute r when r.getSpec() != null -> r.getSpec().getParentRefs();
            case GRPCRoute r when r.getSpec() != null -> r.getSpec().getParentRefs();
            default -> null;
        };
        return refs == null ? List.of() : refs.stream().filter(Objects::nonNull).toList();
    }

    private static boolean isService(ParentReference p) {
        return "Service".equals(p.getKind())
                && (p.getGroup() == null || p.getGroup().isEmpty() || "core".equals(p.getGroup()));
    }

    private static boolean sameRef(ParentReference a, ParentReference b) {
        return a != null && Objects.equals(a.getName(), b.getName()) && Objects.equals(a.getNamespace(),
                b.getNamespace()) && Objects.equals(a.getKind(), b.getKind())
                && Objects.equals(a.getPort(), b.getPort()) && Objects.equals(a.getSectionName(), b.getSectionName());
    }
}
