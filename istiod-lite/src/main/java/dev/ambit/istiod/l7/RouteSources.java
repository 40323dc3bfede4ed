package dev.ambit.istiod.l7;

import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.config.ObjectRef;
import dev.ambit.istiod.model.ServiceCatalog;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.fabric8.istio.api.networking.v1.VirtualService;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.ParentReference;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Which routing object applies to which host: the accepted (or last good) VirtualServices,
 * HTTPRoutes and GRPCRoutes, and per host the one that wins (oldest first, see
 * {@link L7Translator}). The HTTPRoutes and GRPCRoutes attached to one Service count as one
 * source, their rules merged in Gateway API precedence ({@link RankedRoute}), as Istio does.
 */
final class RouteSources {

    /** A VirtualService, or the HTTPRoutes and GRPCRoutes attached to one host (oldest first). */
    private record Source(HasMetadata first, VirtualService vs, List<HasMetadata> gatewayRoutes) {
        String created() {
            return Hosts.created(first);
        }
    }

    private final RouteTranslator translator;
    private final HttpRouteTranslator httpRoutes;
    private final GrpcRouteTranslator grpcRoutes;
    private final Problems problems;
    private final Map<String, Source> byHost = new HashMap<>();
    /** Every VirtualService in force (accepted, or its last good version), for gateways too. */
    private final List<VirtualService> virtualServices = new ArrayList<>();

    RouteSources(ConfigSnapshot config, ServiceCatalog catalog, Hosts hosts, RouteTranslator translator,
                 L7Validation validation, Problems problems, Map<ObjectRef, HasMetadata> lastGood) {
        this.translator = translator;
        this.problems = problems;
        this.httpRoutes = new HttpRouteTranslator(hosts, catalog, problems);
        this.grpcRoutes = new GrpcRouteTranslator(hosts, catalog, problems, httpRoutes);
        Set<ObjectRef> present = new HashSet<>();
        Map<String, List<Source>> candidates = new HashMap<>();
        for (VirtualService vs : config.list(Kind.VIRTUAL_SERVICE, VirtualService.class)) {
            present.add(ConfigSnapshot.refOf(Kind.VIRTUAL_SERVICE, vs));
            VirtualService use = accepted(Kind.VIRTUAL_SERVICE, vs, validation.check(vs), problems, lastGood);
            if (use != null && use.getSpec() != null) {
                virtualServices.add(use);
            }
            if (use == null || use.getSpec() == null || !forMesh(use)) {
                continue;
            }
            validation.untranslated(use, problems);
            String ns = use.getMetadata().getNamespace();
            Set<String> covered = new HashSet<>();
            for (String h : use.getSpec().getHosts() == null ? List.<String>of() : use.getSpec().getHosts()) {
                String pattern = hosts.resolve(h, ns);
                for (Service svc : catalog.services()) {
                    String host = catalog.hostname(svc);
                    if (Hosts.covers(pattern, host) && covered.add(host)) {
                        candidates.computeIfAbsent(host, k -> new ArrayList<>()).add(new Source(use, use, null));
                    }
                }
            }
        }
        Map<String, List<HasMetadata>> routesByHost = new HashMap<>();
        List<HasMetadata> all = new ArrayList<>(config.list(Kind.HTTP_ROUTE, HTTPRoute.class));
        all.addAll(config.list(Kind.GRPC_ROUTE, GRPCRoute.class));
        all.sort(Comparator.comparing((HasMetadata r) -> Hosts.created(r)).thenComparing(Hosts::key)
                .thenComparing(r -> kindOf(r)));
        for (HasMetadata r : all) {
            Kind kind = kindOf(r);
            present.add(ConfigSnapshot.refOf(kind, r));
            HasMetadata use = switch (r) {
                case GRPCRoute g -> accepted(kind, g, validation.check(g), problems, lastGood);
                case HTTPRoute h -> accepted(kind, h, validation.check(h), problems, lastGood);
                default -> throw new IllegalStateException("not a Gateway API route: " + r.getKind());
            };
            List<ParentReference> parents = use instanceof GRPCRoute g && g.getSpec() != null
                    ? g.getSpec().getParentRefs()
                    : use instanceof HTTPRoute h && h.getSpec() != null ? h.getSpec().getParentRefs() : null;
            if (parents == null) {
                continue;
            }
            for (String host : serviceParents(kind, use, parents, catalog, problems)) {
                routesByHost.computeIfAbsent(host, k -> new ArrayList<>()).add(use);
            }
        }
        routesByHost.forEach((host, routes) -> candidates.computeIfAbsent(host, k -> new ArrayList<>())
                .add(new Source(routes.getFirst(), null, List.copyOf(routes))));
        candidates.forEach((host, list) -> {
            list.sort(Comparator.comparing(Source::created).thenComparing(s -> Hosts.key(s.first())));
            Source winner = list.getFirst();
            byHost.put(host, winner);
            for (Source loser : list.subList(1, list.size())) {
                problems.object(kindOf(loser.first()), loser.first(), "conflicts with the older " + Problems.describe(
                        kindOf(winner.first()), winner.first())
                        + " for host " + host + " (as Istio, the oldest applies); not applied to that host");
            }
        });
        lastGood.keySet().removeIf(ref -> (ref.kind() == Kind.VIRTUAL_SERVICE || ref.kind() == Kind.HTTP_ROUTE
                || ref.kind() == Kind.GRPC_ROUTE) && !present.contains(ref));
    }

    /** The VirtualServices in force (accepted or last good), in namespace/name order. */
    List<VirtualService> virtualServices() {
        return List.copyOf(virtualServices);
    }

    /** The kind of a routing object this class handles. */
    private static Kind kindOf(HasMetadata o) {
        return switch (o) {
            case VirtualService vs -> Kind.VIRTUAL_SERVICE;
            case GRPCRoute g -> Kind.GRPC_ROUTE;
            default -> Kind.HTTP_ROUTE;
        };
    }

    /** VirtualServices apply to waypoints when {@code gateways} is empty or names {@code mesh}. */
    private static boolean forMesh(VirtualService vs) {
        List<String> gateways = vs.getSpec().getGateways();
        return gateways == null || gateways.isEmpty() || gateways.contains("mesh");
    }

    /** The hostnames of the Services an HTTPRoute or GRPCRoute attaches to (GAMMA). */
    private static Set<String> serviceParents(Kind kind, HasMetadata r, List<ParentReference> parents,
                                              ServiceCatalog catalog, Problems problems) {
        Set<String> out = new java.util.LinkedHashSet<>();
        for (int i = 0; i < parents.size(); i++) {
            ParentReference p = parents.get(i);
            if (p == null || !"Service".equals(p.getKind()) || !(p.getGroup() == null || p.getGroup().isEmpty()
                    || p.getGroup().equals("core"))) {
                continue; // a Gateway parent: an ingress route, not a waypoint's
            }
            String ns = p.getNamespace() == null ? r.getMetadata().getNamespace() : p.getNamespace();
            var svc = catalog.config().get(Kind.SERVICE, ns, p.getName(), Service.class);
            if (svc.isPresent()) {
                out.add(catalog.hostname(svc.get()));
            } else {
                problems.field(kind, r, "spec.parentRefs[" + i + "]", "Service " + ns + "/" + p.getName()
                        + " does not exist; the route is not attached to it");
            }
        }
        return out;
    }

    /**
     * The version of an object to use: itself when it has no problems (it becomes the last
     * good one), else its last good version (or none), with the problems reported.
     */
    @SuppressWarnings("unchecked")
    private static <T extends HasMetadata> T accepted(Kind kind, T object, List<L7Validation.Problem> found,
                                                      Problems problems, Map<ObjectRef, HasMetadata> lastGood) {
        ObjectRef ref = ConfigSnapshot.refOf(kind, object);
        if (found.isEmpty()) {
            lastGood.put(ref, object);
            return object;
        }
        T previous = (T) lastGood.get(ref);
        String consequence = previous != null ? "rejected; its last good version stays in force"
                : "rejected; it is not applied until fixed";
        for (L7Validation.Problem p : found) {
            problems.field(kind, object, p.field(), p.reason() + " (" + consequence + ")");
        }
        return previous;
    }

    /**
     * The routes for {@code host:port}, adding the clusters they use to {@code clusters};
     * {@code null} when no routing object applies (the caller routes everything to the service).
     */
    List<Route> routes(String host, int port, boolean grpc, Set<String> clusters) {
        Source s = byHost.get(host);
        if (s == null) {
            return null;
        }
        Set<String> used = new java.util.LinkedHashSet<>();
        List<Route> routes;
        try {
            routes = s.vs() != null ? translator.routes(s.vs(), port, grpc, used)
                    : gatewayRoutes(s.gatewayRoutes(), host, port, grpc, used);
        } catch (RuntimeException e) {
            // A gap in validation must not stop every other host's translation.
            problems.object(kindOf(s.first()), s.first(),
                    "cannot be translated (a bug in Ambit, please report it): " + e + "; " + host + ":" + port
                            + " gets the default route");
            return null;
        }
        if (routes.isEmpty()) {
            return null; // nothing for this port: Istio falls back to the default route
        }
        clusters.addAll(used);
        return routes;
    }

    /** The HTTPRoutes' and GRPCRoutes' rules for {@code host:port} as one list in Gateway API precedence. */
    private List<Route> gatewayRoutes(List<HasMetadata> routes, String host, int port, boolean grpc,
                                      Set<String> clusters) {
        List<RankedRoute> ranked = new ArrayList<>();
        for (HasMetadata r : routes) {
            switch (r) {
                case GRPCRoute g -> grpcRoutes.ranked(g, host, port, grpc, clusters, ranked);
                case HTTPRoute h -> httpRoutes.ranked(h, host, port, grpc, clusters, ranked);
                default -> throw new IllegalStateException("not a Gateway API route: " + r.getKind());
            }
        }
        return RankedRoute.inOrder(ranked);
    }
}
