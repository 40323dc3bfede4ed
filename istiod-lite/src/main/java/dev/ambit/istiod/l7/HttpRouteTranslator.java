package dev.ambit.istiod.l7;

import com.google.protobuf.Duration;
import com.google.protobuf.UInt32Value;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.model.ServiceCatalog;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.core.v3.RuntimeFractionalPercent;
import io.envoyproxy.envoy.config.route.v3.DirectResponseAction;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.QueryParameterMatcher;
import io.envoyproxy.envoy.config.route.v3.RedirectAction;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.WeightedCluster;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatchAndSubstitute;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.BackendObjectReference;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPBackendRef;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPHeaderFilter;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPHeaderMatch;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPQueryParamMatch;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRequestMirrorFilter;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRouteFilter;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRouteMatch;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRouteRule;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.ParentReference;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * GAMMA HTTPRoutes (parentRefs of kind Service) for one host and port as Envoy routes.
 * Matches are ordered by Gateway API precedence ({@link RankedRoute}: exact path, longest
 * prefix, method, most headers, most query parameters, then the oldest route, its
 * namespace/name, rule order), together with the GRPCRoutes of the same Service.
 * A PathPrefix other than {@code /} becomes two Envoy routes, the exact path and the
 * prefix with a trailing separator, so it matches whole path elements as Gateway API
 * requires ({@code /foo} matches {@code /foo/bar}, not {@code /foobar}). Routes get
 * Istio's default retry policy (waypoints); {@code timeouts.backendRequest} becomes the
 * per-try timeout of that policy.
 */
final class HttpRouteTranslator {

    private record Entry(HTTPRoute route, int ruleIndex, HTTPRouteRule rule, int matchIndex, HTTPRouteMatch match,
                         int order) {}

    private final Hosts hosts;
    private final ServiceCatalog catalog;
    private final Problems problems;
    private final BackendReferences references;

    HttpRouteTranslator(Hosts hosts, ServiceCatalog catalog, Problems problems) {
        this(hosts, catalog, problems, BackendReferences.ALL);
    }

    HttpRouteTranslator(Hosts hosts, ServiceCatalog catalog, Problems problems, BackendReferences references) {
        this.hosts = hosts;
        this.catalog = catalog;
        this.problems = problems;
        this.references = references;
    }

    /** The routes of {@code routes} (oldest first) for {@code host:port}, in Gateway API precedence. */
    List<Route> routes(List<HTTPRoute> routes, String host, int port, boolean grpc, Set<String> clusters) {
        List<RankedRoute> ranked = new ArrayList<>();
        for (HTTPRoute r : routes) {
            ranked(r, host, port, grpc, clusters, ranked);
        }
        return RankedRoute.inOrder(ranked);
    }

    /**
     * Adds one {@link RankedRoute} per match of {@code r}'s rules when it attaches to
     * {@code host:port}, numbered on from {@code out}'s size (so the caller's order of
     * routes is the tie-break).
     */
    void ranked(HTTPRoute r, String host, int port, boolean grpc, Set<String> clusters, List<RankedRoute> out) {
        if (!attachesTo(r, r.getSpec().getParentRefs(), host, port)) {
            return;
        }
        rankedRules(r, port, grpc, clusters, out);
    }

    /**
     * Adds one {@link RankedRoute} per match of {@code r}'s rules, whatever its parents (a
     * gateway listener has decided the route attaches: {@link GatewayRouteRules}).
     */
    void rankedRules(HTTPRoute r, int port, boolean grpc, Set<String> clusters, List<RankedRoute> out) {
        List<HTTPRouteRule> rules = r.getSpec().getRules() == null ? List.of() : r.getSpec().getRules();
        for (int i = 0; i < rules.size(); i++) {
            HTTPRouteRule rule = rules.get(i);
            if (rule == null) {
                continue; // rejected by the validator
            }
            List<HTTPRouteMatch> matches = rule.getMatches() == null || rule.getMatches().isEmpty()
                    ? java.util.Collections.singletonList(null) : rule.getMatches();
            for (int j = 0; j < matches.size(); j++) {
                Entry e = new Entry(r, i, rule, j, matches.get(j), out.size());
                HTTPRouteMatch m = e.match();
                out.add(new RankedRoute(pathRank(m), pathLength(m), m != null && m.getMethod() != null,
                        size(m == null ? null : m.getHeaders()), size(m == null ? null : m.getQueryParams()),
                        e.order(), () -> build(e, port, grpc, clusters)));
            }
        }
    }

    private List<Route> build(Entry e, int port, boolean grpc, Set<String> clusters) {
        String ns = e.route().getMetadata().getNamespace();
        String ruleName = e.rule().getName() != null && !e.rule().getName().isEmpty() ? e.rule().getName()
                : String.valueOf(e.ruleIndex());
        Route.Builder route = Route.newBuilder().setName(ns + "/" + e.route().getMetadata().getName() + "/" + ruleName)
                .setMatch(match(e.match()));
        action(e, port, grpc, route, clusters);
        RouteMatch m = route.getMatch();
        if (!m.hasPrefix() || m.getPrefix().equals("/")) {
            return List.of(route.build());
        }
        // Gateway API prefixes match whole path elements: /foo matches /foo and
        // /foo/bar, not /foobar. Envoy's prefix does not, so: the path itself, then
        // the prefix with its separator (a replaced prefix keeps the separator).
        Route.Builder under = route.clone();
        route.getMatchBuilder().setPath(m.getPrefix());
        under.getMatchBuilder().setPrefix(m.getPrefix() + "/");
        if (under.hasRoute() && !under.getRoute().getPrefixRewrite().isEmpty()) {
            under.getRouteBuilder().setPrefixRewrite(withSlash(under.getRoute().getPrefixRewrite()));
        }
        if (under.hasRedirect() && !under.getRedirect().getPrefixRewrite().isEmpty()) {
            under.getRedirectBuilder().setPrefixRewrite(withSlash(under.getRedirect().getPrefixRewrite()));
        }
        return List.of(route.build(), under.build());
    }

    /** Whether a route of {@code r}'s namespace with these {@code parents} attaches to {@code host:port} (GAMMA). */
    boolean attachesTo(HasMetadata r, List<ParentReference> parents, String host, int port) {
        for (ParentReference p : parents == null ? List.<ParentReference>of() : parents) {
            String ns = p.getNamespace() == null ? r.getMetadata().getNamespace() : p.getNamespace();
            if ("Service".equals(p.getKind()) && host.equals(hosts.resolve(p.getName(), ns))
                    && (p.getPort() == null || p.getPort() == port)
                    && (p.getSectionName() == null || p.getSectionName().equals(portName(host, port)))) {
                return true;
            }
        }
        return false;
    }

    private static String withSlash(String prefix) {
        return prefix.endsWith("/") ? prefix : prefix + "/";
    }

    /** For a Service parent, {@code sectionName} names the port. */
    private String portName(String host, int port) {
        return catalog.byHostname(host).flatMap(svc -> ServiceCatalog.tcpPorts(svc).stream()
                .filter(p -> p.getPort() == port).map(p -> p.getName()).findFirst()).orElse(null);
    }

    private static int pathRank(HTTPRouteMatch m) {
        String type = m == null || m.getPath() == null ? "PathPrefix" : pathType(m);
        return switch (type) {
            case "Exact" -> 0;
            case "PathPrefix" -> 1;
            default -> 2;
        };
    }

    private static String pathType(HTTPRouteMatch m) {
        return m.getPath().getType() == null ? "PathPrefix" : m.getPath().getType();
    }

    private static int pathLength(HTTPRouteMatch m) {
        return m == null || m.getPath() == null || m.getPath().getValue() == null ? 1 : m.getPath().getValue().length();
    }

    private static int size(List<?> l) {
        return l == null ? 0 : l.size();
    }

    private static RouteMatch match(HTTPRouteMatch m) {
        RouteMatch.Builder b = RouteMatch.newBuilder();
        if (m == null || m.getPath() == null) {
            b.setPrefix("/");
            return m == null ? b.build() : b.mergeFrom(extras(m)).build();
        }
        String value = m.getPath().getValue() == null ? "/" : m.getPath().getValue();
        switch (pathType(m)) {
            case "Exact" -> b.setPath(value);
            case "RegularExpression" -> b.setSafeRegex(Envoy.regex(value));
            default -> b.setPrefix(value.length() > 1 && value.endsWith("/") ? value.substring(0, value.length() - 1)
                    : value);
        }
        return b.mergeFrom(extras(m)).build();
    }

    /** Method, headers and query parameters of a match. */
    private static RouteMatch extras(HTTPRouteMatch m) {
        RouteMatch.Builder b = RouteMatch.newBuilder();
        if (m.getMethod() != null) {
            b.addHeaders(HeaderMatcher.newBuilder().setName(":method")
                    .setStringMatch(StringMatcher.newBuilder().setExact(m.getMethod())));
        }
        for (HTTPHeaderMatch h : m.getHeaders() == null ? List.<HTTPHeaderMatch>of() : m.getHeaders()) {
            b.addHeaders(HeaderMatcher.newBuilder().setName(h.getName().toLowerCase(Locale.ROOT))
                    .setStringMatch(matcher(h.getType(), h.getValue())));
        }
        for (HTTPQueryParamMatch q : m.getQueryParams() == null ? List.<HTTPQueryParamMatch>of() : m.getQueryParams()) {
            b.addQueryParameters(QueryParameterMatcher.newBuilder().setName(q.getName())
                    .setStringMatch(matcher(q.getType(), q.getValue())));
        }
        return b.build();
    }

    private static StringMatcher matcher(String type, String value) {
        return "RegularExpression".equals(type) ? StringMatcher.newBuilder().setSafeRegex(Envoy.regex(value)).build()
                : StringMatcher.newBuilder().setExact(value == null ? "" : value).build();
    }

    private void action(Entry e, int port, boolean grpc, Route.Builder route, Set<String> clusters) {
        HTTPRoute r = e.route();
        String path = "spec.rules[" + e.ruleIndex() + "]";
        String ns = r.getMetadata().getNamespace();
        RouteAction.Builder a = RouteAction.newBuilder();
        RedirectAction redirect = null;
        List<HTTPRouteFilter> filters = e.rule().getFilters() == null ? List.of() : e.rule().getFilters();
        for (int i = 0; i < filters.size(); i++) {
            HTTPRouteFilter f = filters.get(i);
            String fp = path + ".filters[" + i + "]";
            if (f == null) {
                continue;
            }
            switch (f.getType() == null ? "" : f.getType()) {
                case "RequestHeaderModifier" -> headers(f.getRequestHeaderModifier(), route, true);
                case "ResponseHeaderModifier" -> headers(f.getResponseHeaderModifier(), route, false);
                case "RequestRedirect" -> redirect = redirect(f.getRequestRedirect());
                case "URLRewrite" -> {
                    var rw = f.getUrlRewrite();
                    if (rw.getHostname() != null) {
                        a.setHostRewriteLiteral(rw.getHostname());
                    }
                    if (rw.getPath() != null && "ReplacePrefixMatch".equals(rw.getPath().getType())) {
                        a.setPrefixRewrite(rw.getPath().getReplacePrefixMatch());
                    } else if (rw.getPath() != null && "ReplaceFullPath".equals(rw.getPath().getType())) {
                        a.setRegexRewrite(RegexMatchAndSubstitute.newBuilder().setPattern(Envoy.regex("/.*"))
                                .setSubstitution(rw.getPath().getReplaceFullPath()));
                    }
                }
                case "RequestMirror" -> mirror(Kind.HTTP_ROUTE, r, f.getRequestMirror(), fp, a, clusters);
                default -> problems.field(Kind.HTTP_ROUTE, r, fp + ".type", "filter \"" + f.getType()
                        + "\" is not supported by waypoints; ignored");
            }
        }
        if (redirect != null) {
            route.setRedirect(redirect);
            return;
        }
        List<HTTPBackendRef> backends = e.rule().getBackendRefs() == null ? List.of() : e.rule().getBackendRefs();
        WeightedCluster.Builder w = WeightedCluster.newBuilder();
        int valid = 0;
        boolean invalid = false;
        for (int i = 0; i < backends.size(); i++) {
            HTTPBackendRef b = backends.get(i);
            String bp = path + ".backendRefs[" + i + "]";
            if (b == null) {
                continue;
            }
            if (b.getFilters() != null && !b.getFilters().isEmpty()) {
                problems.field(Kind.HTTP_ROUTE, r, bp + ".filters", "per-backend filters are not supported; ignored");
            }
            int weight = b.getWeight() == null ? 1 : b.getWeight();
            BackendObjectReference ref = new BackendObjectReference(b.getGroup(), b.getKind(), b.getName(),
                    b.getNamespace(), b.getPort());
            String cluster = backendCluster(Kind.HTTP_ROUTE, ref, ns, bp, r, SHARE_500);
            if (weight <= 0) {
                continue;
            }
            if (cluster == null) {
                // Gateway API: the share of requests for an invalid backend MUST get 500. A cluster no
                // resource defines, with cluster_not_found_response_code 500, keeps that share (Envoy
                // Gateway's way) instead of handing it to the valid backends.
                cluster = invalidBackend(ref, ns);
                invalid = true;
            } else {
                clusters.add(cluster);
                valid++;
            }
            w.addClusters(WeightedCluster.ClusterWeight.newBuilder().setName(cluster).setWeight(UInt32Value.of(weight)));
        }
        if (valid == 0) {
            // Gateway API: a rule without usable backends answers 500.
            route.setDirectResponse(DirectResponseAction.newBuilder().setStatus(500));
            return;
        }
        if (invalid) {
            a.setClusterNotFoundResponseCode(RouteAction.ClusterNotFoundResponseCode.INTERNAL_SERVER_ERROR);
        }
        if (w.getClustersCount() == 1) {
            a.setCluster(w.getClusters(0).getName());
        } else {
            a.setWeightedClusters(w);
        }
        var timeouts = e.rule().getTimeouts();
        Duration request = timeouts == null ? null : Envoy.duration(timeouts.getRequest());
        a.setTimeout(request == null ? Duration.getDefaultInstance() : request);
        RetryPolicy retry = grpc ? null : RouteTranslator.defaultRetryPolicy();
        Duration backend = timeouts == null ? null : Envoy.duration(timeouts.getBackendRequest());
        if (backend != null) {
            retry = (retry == null ? RouteTranslator.defaultRetryPolicy().toBuilder().setNumRetries(UInt32Value.of(0))
                    : retry.toBuilder()).setPerTryTimeout(backend).build();
        }
        if (retry != null) {
            a.setRetryPolicy(retry);
        }
        if (e.rule().getRetry() != null) {
            problems.field(Kind.HTTP_ROUTE, r, path + ".retry", "not supported (experimental); Istio's default "
                    + "retry policy applies");
        }
        if (e.rule().getSessionPersistence() != null) {
            problems.field(Kind.HTTP_ROUTE, r, path + ".sessionPersistence", "not supported; ignored");
        }
        route.setRoute(a);
    }

    /** Adds the mirror policy of a RequestMirror filter at {@code path} (HTTPRoute and GRPCRoute). */
    void mirror(Kind kind, HasMetadata r, HTTPRequestMirrorFilter m, String path, RouteAction.Builder a,
                Set<String> clusters) {
        String cluster = backendCluster(kind, m.getBackendRef(), r.getMetadata().getNamespace(),
                path + ".requestMirror.backendRef", r);
        if (cluster != null) {
            clusters.add(cluster);
            double pct = m.getPercent() != null ? m.getPercent()
                    : m.getFraction() != null && m.getFraction().getDenominator() != null
                    && m.getFraction().getDenominator() > 0
                    ? 100.0 * m.getFraction().getNumerator() / m.getFraction().getDenominator() : 100;
            a.addRequestMirrorPolicies(RouteAction.RequestMirrorPolicy.newBuilder().setCluster(cluster)
                    .setRuntimeFraction(RuntimeFractionalPercent.newBuilder().setDefaultValue(Envoy.percent(pct))));
        }
    }

    /**
     * The cluster of a Service backend ({@code outbound|PORT||HOST}), or {@code null} with a
     * warning naming {@code path} when it is not a Service with a port, the route may not
     * reference it ({@link BackendReferences}) or the Service does not exist.
     */
    String backendCluster(Kind kind, BackendObjectReference b, String ns, String path, HasMetadata r) {
        return backendCluster(kind, b, ns, path, r, "ignored");
    }

    /** As {@link #backendCluster(Kind, BackendObjectReference, String, String, HasMetadata)}, warning with {@code consequence}. */
    String backendCluster(Kind kind, BackendObjectReference b, String ns, String path, HasMetadata r,
                          String consequence) {
        if (!serviceBackend(kind, b, path, r, consequence)) {
            return null;
        }
        if (!referencePermitted(kind, b, ns, path, r, consequence)) {
            return null;
        }
        String host = hosts.resolve(b.getName(), b.getNamespace() == null ? ns : b.getNamespace());
        if (catalog.byHostname(host).isEmpty()) {
            problems.field(kind, r, path, "Service " + host + " does not exist; " + consequence);
            return null;
        }
        return ClusterTranslator.name(b.getPort(), "", host);
    }

    /**
     * Whether {@code r} may reference backend {@code b} ({@link BackendReferences}); when not,
     * warns naming {@code path} and {@code consequence}.
     */
    boolean referencePermitted(Kind kind, BackendObjectReference b, String ns, String path, HasMetadata r,
                               String consequence) {
        if (references.permitted(kind, r, b)) {
            return true;
        }
        problems.field(kind, r, path, "Service " + (b.getNamespace() == null ? ns : b.getNamespace()) + "/"
                + b.getName() + " is in another namespace and no ReferenceGrant there allows it (RefNotPermitted); "
                + consequence);
        return false;
    }

    /** What a rule's invalid backend's share of requests gets (Gateway API). */
    static final String SHARE_500 = "its share of the requests answers 500";

    /** The name of a cluster no resource defines, for an invalid backend (as the gRPC translator names it). */
    static String invalidBackend(BackendObjectReference b, String ns) {
        String name = b == null || b.getName() == null ? "unknown" : b.getName();
        return ClusterTranslator.name(b == null || b.getPort() == null ? 0 : b.getPort(), "",
                "invalid-backend." + name + "." + (b == null || b.getNamespace() == null ? ns : b.getNamespace()));
    }

    /**
     * Whether {@code b} names a Service and a port; when not, warns naming {@code path} and
     * what happens instead ({@code consequence}).
     */
    boolean serviceBackend(Kind kind, BackendObjectReference b, String path, HasMetadata r, String consequence) {
        if (b == null || !(b.getKind() == null || "Service".equals(b.getKind()))
                || !(b.getGroup() == null || b.getGroup().isEmpty())) {
            problems.field(kind, r, path, "only Services are supported as backends; " + consequence);
            return false;
        }
        if (b.getPort() == null) {
            problems.field(kind, r, path + ".port", "missing (a Service backend needs a port); " + consequence);
            return false;
        }
        return true;
    }

    static void headers(HTTPHeaderFilter f, Route.Builder route, boolean request) {
        if (f == null) {
            return;
        }
        List<HeaderValueOption> add = new ArrayList<>();
        if (f.getSet() != null) {
            f.getSet().forEach(h -> add.add(Envoy.header(h.getName().toLowerCase(Locale.ROOT), h.getValue(), true)));
        }
        if (f.getAdd() != null) {
            f.getAdd().forEach(h -> add.add(Envoy.header(h.getName().toLowerCase(Locale.ROOT), h.getValue(), false)));
        }
        List<String> remove = f.getRemove() == null ? List.of() : f.getRemove();
        if (request) {
            route.addAllRequestHeadersToAdd(add).addAllRequestHeadersToRemove(remove);
        } else {
            route.addAllResponseHeadersToAdd(add).addAllResponseHeadersToRemove(remove);
        }
    }

    private static RedirectAction redirect(io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRequestRedirectFilter f) {
        RedirectAction.Builder out = RedirectAction.newBuilder();
        if (f.getScheme() != null) {
            out.setSchemeRedirect(f.getScheme());
        }
        if (f.getHostname() != null) {
            out.setHostRedirect(f.getHostname());
        }
        if (f.getPort() != null) {
            out.setPortRedirect(f.getPort());
        }
        if (f.getPath() != null && "ReplaceFullPath".equals(f.getPath().getType())) {
            out.setPathRedirect(f.getPath().getReplaceFullPath());
        } else if (f.getPath() != null && "ReplacePrefixMatch".equals(f.getPath().getType())) {
            out.setPrefixRewrite(f.getPath().getReplacePrefixMatch());
        }
        var code = Envoy.redirectCode(f.getStatusCode() == null ? 302 : f.getStatusCode());
        return out.setResponseCode(code == null ? RedirectAction.RedirectResponseCode.FOUND : code).build();
    }
}
