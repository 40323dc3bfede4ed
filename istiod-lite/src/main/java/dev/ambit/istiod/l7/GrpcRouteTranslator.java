package dev.ambit.istiod.l7;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.UInt32Value;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.model.ServiceCatalog;
import io.envoyproxy.envoy.config.route.v3.DirectResponseAction;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.WeightedCluster;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.BackendObjectReference;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCBackendRef;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCHeaderMatch;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCMethodMatch;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRouteFilter;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRouteMatch;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRouteRule;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * GAMMA GRPCRoutes (parentRefs of kind Service) for one host and port as Envoy routes,
 * ranked together with the HTTPRoutes of the same Service ({@link RankedRoute}), as Istio
 * merges both kinds into one route table.
 *
 * <p>A gRPC request is {@code POST /<service>/<method>}, so a {@code method} match is a
 * path match: type {@code Exact} with service and method is the exact path, with the
 * service only the prefix {@code /<service>/}, with the method only a regular expression
 * {@code /[^/]+/<method>}; type {@code RegularExpression} is the regular expression
 * {@code /<service>/<method>}, a missing part being {@code [^/]+}. Headers match exactly
 * or by RE2 regular expression. Filters: RequestHeaderModifier, ResponseHeaderModifier,
 * RequestMirror; others warn. Weighted {@code backendRefs} become weighted clusters; on
 * waypoints a backend that is not a Service, or a Service that does not exist, keeps its
 * share of the requests and fails it with 503, which gRPC reads as {@code UNAVAILABLE}
 * (Gateway API: the proportion of requests for an invalid backend MUST get
 * {@code UNAVAILABLE}; proxyless clients cannot resolve a missing cluster, so for them it
 * is dropped, with the warning), and a
 * rule with no backends at all answers 503 too (proxyless gRPC clients refuse
 * {@code direct_response}: for them such a rule is left out, with a warning). Waypoint routes get Istio's default retry
 * policy and no timeout; the upstream is HTTP/2 (explicitly for {@code grpc}/{@code http2}
 * ports, the client's protocol, HTTP/2 for gRPC, on {@code http} ports).
 */
final class GrpcRouteTranslator {

    private static final String UNAVAILABLE = "on waypoints its share of the requests fails with UNAVAILABLE "
            + "(HTTP 503), as Gateway API requires; proxyless gRPC clients, which cannot resolve a route to a "
            + "missing cluster, send it to the other backends";

    private record Entry(GRPCRoute route, int ruleIndex, GRPCRouteRule rule, GRPCRouteMatch match) {}

    private final Hosts hosts;
    private final ServiceCatalog catalog;
    private final Problems problems;
    private final HttpRouteTranslator http;

    GrpcRouteTranslator(Hosts hosts, ServiceCatalog catalog, Problems problems, HttpRouteTranslator http) {
        this.hosts = requireNonNull(hosts, "hosts");
        this.catalog = requireNonNull(catalog, "catalog");
        this.problems = requireNonNull(problems, "problems");
        this.http = requireNonNull(http, "http");
    }

    /**
     * Adds one {@link RankedRoute} per match of {@code r}'s rules when it attaches to
     * {@code host:port}, numbered on from {@code out}'s size.
     */
    void ranked(GRPCRoute r, String host, int port, boolean grpc, Set<String> clusters, List<RankedRoute> out) {
        if (!http.attachesTo(r, r.getSpec().getParentRefs(), host, port)) {
            return;
        }
        if (r.getSpec().getHostnames() != null && !r.getSpec().getHostnames().isEmpty()) {
            problems.field(Kind.GRPC_ROUTE, r, "spec.hostnames", "not used for a Service parent (GAMMA: the "
                    + "Service is the host); ignored");
        }
        rankedRules(r, port, grpc, clusters, out);
    }

    /**
     * Adds one {@link RankedRoute} per match of {@code r}'s rules, whatever its parents (a
     * gateway listener has decided the route attaches: {@link GatewayRouteRules}).
     */
    void rankedRules(GRPCRoute r, int port, boolean grpc, Set<String> clusters, List<RankedRoute> out) {
        List<GRPCRouteRule> rules = r.getSpec().getRules() == null ? List.of() : r.getSpec().getRules();
        for (int i = 0; i < rules.size(); i++) {
            GRPCRouteRule rule = rules.get(i);
            if (rule == null) {
                continue; // rejected by the validator
            }
            List<GRPCRouteMatch> matches = rule.getMatches() == null || rule.getMatches().isEmpty()
                    ? Collections.singletonList(null) : rule.getMatches();
            for (GRPCRouteMatch m : matches) {
                Entry e = new Entry(r, i, rule, m);
                RouteMatch match = match(m);
                int rank;
                int length;
                switch (match.getPathSpecifierCase()) {
                    case PATH -> {
                        rank = RankedRoute.EXACT;
                        length = match.getPath().length();
                    }
                    case PREFIX -> {
                        rank = match.getPrefix().equals("/") ? RankedRoute.NONE : RankedRoute.PREFIX;
                        length = match.getPrefix().length();
                    }
                    default -> {
                        rank = RankedRoute.REGEX;
                        length = match.getSafeRegex().getRegex().length();
                    }
                }
                out.add(new RankedRoute(rank, length, false, match.getHeadersCount(), 0, out.size(), () -> {
                    Route built = build(e, match, port, grpc, clusters);
                    return built == null ? List.of() : List.of(built);
                }));
            }
        }
    }

    /** The Envoy match of a GRPCRoute match; {@code null} (no match) is every request. */
    static RouteMatch match(GRPCRouteMatch m) {
        RouteMatch.Builder b = RouteMatch.newBuilder();
        GRPCMethodMatch method = m == null ? null : m.getMethod();
        if (method == null || (empty(method.getService()) && empty(method.getMethod()))) {
            b.setPrefix("/");
        } else if ("RegularExpression".equals(method.getType())) {
            b.setSafeRegex(Envoy.regex(regex(method)));
        } else if (empty(method.getMethod())) {
            b.setPrefix("/" + method.getService() + "/");
        } else if (empty(method.getService())) {
            // Exact names are identifiers (no regex metacharacters), checked by the validator.
            b.setSafeRegex(Envoy.regex("/[^/]+/" + method.getMethod()));
        } else {
            b.setPath("/" + method.getService() + "/" + method.getMethod());
        }
        for (GRPCHeaderMatch h : m == null || m.getHeaders() == null ? List.<GRPCHeaderMatch>of() : m.getHeaders()) {
            if (h == null) {
                continue;
            }
            StringMatcher value = "RegularExpression".equals(h.getType())
                    ? StringMatcher.newBuilder().setSafeRegex(Envoy.regex(h.getValue())).build()
                    : StringMatcher.newBuilder().setExact(h.getValue() == null ? "" : h.getValue()).build();
            b.addHeaders(HeaderMatcher.newBuilder().setName(h.getName().toLowerCase(Locale.ROOT))
                    .setStringMatch(value));
        }
        return b.build();
    }

    /** The path regular expression of a {@code RegularExpression} method match; a missing part is any name. */
    static String regex(GRPCMethodMatch method) {
        String service = empty(method.getService()) ? "[^/]+" : method.getService();
        String name = empty(method.getMethod()) ? "[^/]+" : method.getMethod();
        return "/" + service + "/" + name;
    }

    private static boolean empty(String s) {
        return s == null || s.isEmpty();
    }

    /** The Envoy route of one match; {@code null} when proxyless clients must do without it. */
    private Route build(Entry e, RouteMatch match, int port, boolean grpc, Set<String> clusters) {
        GRPCRoute r = e.route();
        String ns = r.getMetadata().getNamespace();
        String ruleName = e.rule().getName() != null && !e.rule().getName().isEmpty() ? e.rule().getName()
                : String.valueOf(e.ruleIndex());
        Route.Builder route = Route.newBuilder().setName(ns + "/" + r.getMetadata().getName() + "/" + ruleName)
                .setMatch(match);
        String path = "spec.rules[" + e.ruleIndex() + "]";
        RouteAction.Builder a = RouteAction.newBuilder();
        List<GRPCRouteFilter> filters = e.rule().getFilters() == null ? List.of() : e.rule().getFilters();
        for (int i = 0; i < filters.size(); i++) {
            GRPCRouteFilter f = filters.get(i);
            String fp = path + ".filters[" + i + "]";
            if (f == null) {
                continue;
            }
            switch (f.getType() == null ? "" : f.getType()) {
                case "RequestHeaderModifier" -> HttpRouteTranslator.headers(f.getRequestHeaderModifier(), route, true);
                case "ResponseHeaderModifier" -> HttpRouteTranslator.headers(f.getResponseHeaderModifier(), route,
                        false);
                case "RequestMirror" -> http.mirror(Kind.GRPC_ROUTE, r, f.getRequestMirror(), fp, a, clusters);
                default -> problems.field(Kind.GRPC_ROUTE, r, fp + ".type", "filter \"" + f.getType()
                        + "\" is not supported by waypoints; ignored");
            }
        }
        List<GRPCBackendRef> backends = e.rule().getBackendRefs() == null ? List.of() : e.rule().getBackendRefs();
        WeightedCluster.Builder w = WeightedCluster.newBuilder();
        for (int i = 0; i < backends.size(); i++) {
            GRPCBackendRef b = backends.get(i);
            String bp = path + ".backendRefs[" + i + "]";
            if (b == null) {
                continue;
            }
            if (b.getFilters() != null && !b.getFilters().isEmpty()) {
                problems.field(Kind.GRPC_ROUTE, r, bp + ".filters", "per-backend filters are not supported; ignored");
            }
            int weight = b.getWeight() == null ? 1 : b.getWeight();
            String cluster = cluster(r, new BackendObjectReference(b.getGroup(), b.getKind(), b.getName(),
                    b.getNamespace(), b.getPort()), ns, bp, grpc);
            if (cluster != null && weight > 0) {
                clusters.add(cluster);
                w.addClusters(WeightedCluster.ClusterWeight.newBuilder().setName(cluster)
                        .setWeight(UInt32Value.of(weight)));
            }
        }
        if (e.rule().getSessionPersistence() != null) {
            problems.field(Kind.GRPC_ROUTE, r, path + ".sessionPersistence", "not supported; ignored");
        }
        if (w.getClustersCount() == 0) {
            if (grpc) {
                // grpc-java NACKs a whole RouteConfiguration holding a direct_response route (a
                // client takes forwarding routes only), so proxyless clients do without this rule.
                problems.field(Kind.GRPC_ROUTE, r, path + ".backendRefs", "no usable backend: waypoints answer "
                        + "UNAVAILABLE (503); proxyless gRPC clients accept no such route, so for them the rule "
                        + "is left out and its calls take the next matching rule");
                return null;
            }
            // Gateway API: a rule without usable backends answers UNAVAILABLE (HTTP 503 in gRPC's mapping).
            return route.setDirectResponse(DirectResponseAction.newBuilder().setStatus(503)).build();
        }
        if (w.getClustersCount() == 1) {
            a.setCluster(w.getClusters(0).getName());
        } else {
            a.setWeightedClusters(w);
        }
        a.setTimeout(com.google.protobuf.Duration.getDefaultInstance());
        if (!grpc) {
            a.setRetryPolicy(RouteTranslator.defaultRetryPolicy());
        }
        return route.setRoute(a).build();
    }

    /**
     * The cluster for a backend: its Service's, or for a backend that cannot be used a
     * cluster no resource defines, so that backend's share fails with 503 (the waypoint's
     * answer to a missing cluster) instead of going to the others; for proxyless gRPC
     * clients ({@code grpc}), whose resolver does not get past a missing cluster, none.
     */
    private String cluster(GRPCRoute r, BackendObjectReference b, String ns, String path, boolean grpc) {
        if (!http.serviceBackend(Kind.GRPC_ROUTE, b, path, r, UNAVAILABLE)
                || !http.referencePermitted(Kind.GRPC_ROUTE, b, ns, path, r, UNAVAILABLE)) {
            String name = b == null || b.getName() == null ? "unknown" : b.getName();
            return grpc ? null : ClusterTranslator.name(b == null || b.getPort() == null ? 0 : b.getPort(), "",
                    "invalid-backend." + name + "." + (b == null || b.getNamespace() == null ? ns : b.getNamespace()));
        }
        String host = hosts.resolve(b.getName(), b.getNamespace() == null ? ns : b.getNamespace());
        if (catalog.byHostname(host).isEmpty()) {
            problems.field(Kind.GRPC_ROUTE, r, path, "Service " + host + " does not exist; " + UNAVAILABLE);
            if (grpc) {
                return null;
            }
        }
        return ClusterTranslator.name(b.getPort(), "", host);
    }
}
