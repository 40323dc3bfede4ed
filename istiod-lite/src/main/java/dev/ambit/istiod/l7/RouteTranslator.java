package dev.ambit.istiod.l7;

import com.google.protobuf.Any;
import com.google.protobuf.Duration;
import com.google.protobuf.UInt32Value;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.model.ServiceCatalog;
import io.envoyproxy.envoy.config.core.v3.RuntimeFractionalPercent;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.QueryParameterMatcher;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.WeightedCluster;
import io.envoyproxy.envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatchAndSubstitute;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.fabric8.istio.api.api.networking.v1alpha3.Destination;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPMatchRequest;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPMirrorPolicy;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPRetry;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPRoute;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPRouteDestination;
import io.fabric8.istio.api.api.networking.v1alpha3.StringMatch;
import io.fabric8.istio.api.networking.v1.VirtualService;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * One VirtualService's {@code http} routes for one host and port as Envoy routes, in order
 * (first match wins): one Envoy route per {@code match} entry, named
 * {@code <ns>/<name>/<route name or index>}. Matches, destinations (weights, subsets),
 * redirect, rewrite, direct response, timeout, retries (Istio's default policy when none is
 * set, for waypoints), mirrors, headers, faults and CORS follow Istio's translation. What is
 * not translated is reported through {@link Problems}, never dropped silently.
 */
final class RouteTranslator {

    static final String FAULT_FILTER = "envoy.filters.http.fault";
    static final String CORS_FILTER = "envoy.filters.http.cors";
    static final String DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

    private final Hosts hosts;
    private final ServiceCatalog catalog;
    private final Problems problems;
    private final RouteFeatures features;

    RouteTranslator(Hosts hosts, ServiceCatalog catalog, Problems problems) {
        this.hosts = hosts;
        this.catalog = catalog;
        this.problems = problems;
        this.features = new RouteFeatures(problems);
    }

    /**
     * Istio's default retry policy: 2 retries on connection-level failures, gRPC UNAVAILABLE and
     * CANCELLED, and a 503 (its one retriable status code), preferring other hosts.
     */
    static RetryPolicy defaultRetryPolicy() {
        return RetryPolicy.newBuilder()
                .setRetryOn(DEFAULT_RETRY_ON)
                .setNumRetries(UInt32Value.of(2))
                .addRetriableStatusCodes(503)
                .addRetryHostPredicate(previousHosts())
                .setHostSelectionRetryMaxAttempts(5)
                .build();
    }

    private static RetryPolicy.RetryHostPredicate previousHosts() {
        return RetryPolicy.RetryHostPredicate.newBuilder().setName("envoy.retry_host_predicates.previous_hosts")
                .setTypedConfig(Any.pack(PreviousHostsPredicate.getDefaultInstance())).build();
    }

    /**
     * The Envoy routes of {@code vs} for service port {@code port}; adds every cluster they
     * reference to {@code clusters}. Proxyless gRPC ({@code grpc}) gets no default retry policy.
     */
    List<Route> routes(VirtualService vs, int port, boolean grpc, Set<String> clusters) {
        String ns = vs.getMetadata().getNamespace();
        List<HTTPRoute> http = vs.getSpec().getHttp() == null ? List.of() : vs.getSpec().getHttp();
        List<Route> out = new ArrayList<>();
        for (int i = 0; i < http.size(); i++) {
            HTTPRoute h = http.get(i);
            String path = "spec.http[" + i + "]";
            if (h == null) {
                continue;
            }
            String name = ns + "/" + vs.getMetadata().getName() + "/"
                    + (h.getName() != null && !h.getName().isEmpty() ? h.getName() : String.valueOf(i));
            if (h.getDelegate() != null) {
                problems.field(Kind.VIRTUAL_SERVICE, vs, path + ".delegate", "delegation is not supported "
                        + "by waypoints; this route is left out");
                continue;
            }
            Route.Builder template = Route.newBuilder().setName(name);
            if (!action(vs, h, path, port, grpc, template, clusters)) {
                continue;
            }
            features.decorate(vs, h, path, grpc, template);
            List<HTTPMatchRequest> matches = h.getMatch() == null || h.getMatch().isEmpty()
                    ? java.util.Collections.singletonList(null) : h.getMatch();
            for (int j = 0; j < matches.size(); j++) {
                HTTPMatchRequest m = matches.get(j);
                if (m != null && m.getPort() != null && m.getPort() != port) {
                    continue; // this match is for another port's route configuration
                }
                if (m != null && ((m.getSourceLabels() != null && !m.getSourceLabels().isEmpty())
                        || (m.getSourceNamespace() != null && !m.getSourceNamespace().isEmpty()))) {
                    // A waypoint does not know the client's labels or namespace: as Istio, such
                    // a match never matches (never "always": that would route everyone).
                    problems.field(Kind.VIRTUAL_SERVICE, vs, path + ".match[" + j + "]."
                            + (m.getSourceLabels() != null && !m.getSourceLabels().isEmpty() ? "sourceLabels"
                            : "sourceNamespace"), "not supported by waypoints; as in Istio this match never "
                            + "matches and is left out");
                    continue;
                }
                Route.Builder r = template.clone().setMatch(match(vs, m, path + ".match[" + j + "]"));
                if (r.getMatch().hasSafeRegex() && r.hasRoute() && !r.getRoute().getPrefixRewrite().isEmpty()) {
                    // Envoy has no prefix to swap for a regex match: as Istio, the whole
                    // matched path is rewritten.
                    String uri = r.getRoute().getPrefixRewrite();
                    r.getRouteBuilder().clearPrefixRewrite().setRegexRewrite(RegexMatchAndSubstitute.newBuilder()
                            .setPattern(r.getMatch().getSafeRegex()).setSubstitution(uri));
                }
                out.add(r.build());
            }
        }
        return out;
    }

    private RouteMatch match(VirtualService vs, HTTPMatchRequest m, String path) {
        RouteMatch.Builder b = RouteMatch.newBuilder();
        if (m == null || m.getUri() == null || m.getUri().getMatchType() == null) {
            b.setPrefix("/");
            if (m == null) {
                return b.build();
            }
        } else {
            StringMatcher uri = Envoy.stringMatcher(m.getUri(), false);
            switch (uri.getMatchPatternCase()) {
                case EXACT -> b.setPath(uri.getExact());
                case PREFIX -> b.setPrefix(uri.getPrefix());
                default -> b.setSafeRegex(uri.getSafeRegex());
            }
        }
        if (Boolean.TRUE.equals(m.getIgnoreUriCase())) {
            b.setCaseSensitive(com.google.protobuf.BoolValue.of(false));
        }
        if (m.getMethod() != null && m.getMethod().getMatchType() != null) {
            b.addHeaders(header(":method", m.getMethod(), false));
        }
        if (m.getAuthority() != null && m.getAuthority().getMatchType() != null) {
            b.addHeaders(header(":authority", m.getAuthority(), false));
        }
        if (m.getScheme() != null && m.getScheme().getMatchType() != null) {
            b.addHeaders(header(":scheme", m.getScheme(), false));
        }
        sorted(m.getHeaders()).forEach((k, v) -> b.addHeaders(header(k, v, false)));
        sorted(m.getWithoutHeaders()).forEach((k, v) -> b.addHeaders(header(k, v, true)));
        sorted(m.getQueryParams()).forEach((k, v) -> {
            QueryParameterMatcher.Builder q = QueryParameterMatcher.newBuilder().setName(k);
            StringMatcher sm = Envoy.stringMatcher(v, false);
            if (sm == null) {
                q.setPresentMatch(true);
            } else {
                q.setStringMatch(sm);
            }
            b.addQueryParameters(q);
        });
        if (m.getGateways() != null && !m.getGateways().isEmpty() && !m.getGateways().contains("mesh")) {
            problems.field(Kind.VIRTUAL_SERVICE, vs, path + ".gateways", "names no \"mesh\"; ignored for waypoints");
        }
        if (m.getStatPrefix() != null && !m.getStatPrefix().isEmpty()) {
            problems.field(Kind.VIRTUAL_SERVICE, vs, path + ".statPrefix", "not supported; ignored");
        }
        return b.build();
    }

    private static <V> Map<String, V> sorted(Map<String, V> m) {
        Map<String, V> out = new TreeMap<>();
        if (m != null) {
            m.forEach((k, v) -> out.put(k.toLowerCase(java.util.Locale.ROOT), v));
        }
        return out;
    }

    /** Header matcher; an empty StringMatch ({@code {}}) matches presence, as in Istio. */
    static HeaderMatcher header(String name, StringMatch value, boolean invert) {
        HeaderMatcher.Builder h = HeaderMatcher.newBuilder().setName(name);
        StringMatcher sm = Envoy.stringMatcher(value, false);
        if (sm == null) {
            h.setPresentMatch(true);
        } else {
            h.setStringMatch(sm);
        }
        if (invert) {
            h.setInvertMatch(true);
        }
        return h.build();
    }

    /** Sets the route's action; false when the route has none (it is reported and left out). */
    private boolean action(VirtualService vs, HTTPRoute h, String path, int port, boolean grpc,
                           Route.Builder route, Set<String> clusters) {
        if (h.getDirectResponse() != null) {
            route.setDirectResponse(features.directResponse(h.getDirectResponse()));
            return true;
        }
        if (h.getRedirect() != null) {
            route.setRedirect(features.redirect(vs, h.getRedirect(), path + ".redirect"));
            return true;
        }
        List<HTTPRouteDestination> dests = h.getRoute() == null ? List.of() : h.getRoute();
        if (dests.isEmpty()) {
            problems.field(Kind.VIRTUAL_SERVICE, vs, path, "no route, redirect or directResponse; left out");
            return false;
        }
        RouteAction.Builder a = RouteAction.newBuilder();
        String ns = vs.getMetadata().getNamespace();
        if (dests.size() == 1) {
            HTTPRouteDestination d = dests.getFirst();
            String cluster = cluster(d.getDestination(), ns, port);
            clusters.add(cluster);
            a.setCluster(cluster);
            features.destinationHeaders(vs, d, path + ".route[0]", route);
        } else {
            WeightedCluster.Builder w = WeightedCluster.newBuilder();
            for (int k = 0; k < dests.size(); k++) {
                HTTPRouteDestination d = dests.get(k);
                int weight = d.getWeight() == null ? 0 : d.getWeight();
                if (weight <= 0) {
                    continue; // weight 0 takes no traffic; Istio leaves it out
                }
                String cluster = cluster(d.getDestination(), ns, port);
                clusters.add(cluster);
                WeightedCluster.ClusterWeight.Builder cw = WeightedCluster.ClusterWeight.newBuilder()
                        .setName(cluster).setWeight(UInt32Value.of(weight));
                features.destinationHeaders(vs, d, path + ".route[" + k + "]", cw);
                w.addClusters(cw);
            }
            if (w.getClustersCount() == 1) {
                // One destination left with weight: a plain cluster route, as Istio emits it.
                var only = w.getClusters(0);
                a.setCluster(only.getName());
                route.addAllRequestHeadersToAdd(only.getRequestHeadersToAddList())
                        .addAllRequestHeadersToRemove(only.getRequestHeadersToRemoveList())
                        .addAllResponseHeadersToAdd(only.getResponseHeadersToAddList())
                        .addAllResponseHeadersToRemove(only.getResponseHeadersToRemoveList());
            } else {
                a.setWeightedClusters(w);
            }
        }
        Duration timeout = h.getTimeout() == null ? null : Envoy.duration(h.getTimeout());
        a.setTimeout(timeout == null ? Duration.getDefaultInstance() : timeout);
        RetryPolicy retry = retryPolicy(h.getRetries(), grpc, vs, path + ".retries");
        if (retry != null) {
            a.setRetryPolicy(retry);
        }
        if (h.getRewrite() != null) {
            var rw = h.getRewrite();
            if (rw.getUri() != null && !rw.getUri().isEmpty()) {
                a.setPrefixRewrite(rw.getUri());
            }
            if (rw.getUriRegexRewrite() != null) {
                a.setRegexRewrite(RegexMatchAndSubstitute.newBuilder()
                        .setPattern(Envoy.regex(rw.getUriRegexRewrite().getMatch()))
                        .setSubstitution(rw.getUriRegexRewrite().getRewrite() == null ? ""
                                : rw.getUriRegexRewrite().getRewrite()));
            }
            if (rw.getAuthority() != null && !rw.getAuthority().isEmpty()) {
                a.setHostRewriteLiteral(rw.getAuthority());
            }
        }
        mirrors(vs, h, path, ns, port, a, clusters);
        route.setRoute(a);
        return true;
    }

    private void mirrors(VirtualService vs, HTTPRoute h, String path, String ns, int port, RouteAction.Builder a,
                         Set<String> clusters) {
        if (h.getMirror() != null) {
            double pct = h.getMirrorPercentage() != null && h.getMirrorPercentage().getValue() != null
                    ? h.getMirrorPercentage().getValue()
                    : h.getMirrorPercent() != null ? h.getMirrorPercent() : 100;
            a.addRequestMirrorPolicies(mirror(h.getMirror(), pct, ns, port, clusters));
        }
        List<HTTPMirrorPolicy> mirrors = h.getMirrors() == null ? List.of() : h.getMirrors();
        for (HTTPMirrorPolicy m : mirrors) {
            if (m != null && m.getDestination() != null) {
                double pct = m.getPercentage() != null && m.getPercentage().getValue() != null
                        ? m.getPercentage().getValue() : 100;
                a.addRequestMirrorPolicies(mirror(m.getDestination(), pct, ns, port, clusters));
            }
        }
    }

    private RouteAction.RequestMirrorPolicy mirror(Destination d, double pct, String ns, int port,
                                                   Set<String> clusters) {
        String cluster = cluster(d, ns, port);
        clusters.add(cluster);
        return RouteAction.RequestMirrorPolicy.newBuilder().setCluster(cluster)
                .setRuntimeFraction(RuntimeFractionalPercent.newBuilder().setDefaultValue(Envoy.percent(pct)))
                .build();
    }

    /**
     * The cluster of a destination: its host resolved in the VirtualService's namespace; its
     * port as given, else the service's only port, else the port the request came in on.
     */
    String cluster(Destination d, String ns, int incomingPort) {
        String host = hosts.resolve(d.getHost(), ns);
        int port;
        if (d.getPort() != null && d.getPort().getNumber() != null) {
            port = d.getPort().getNumber().intValue();
        } else {
            var svc = catalog.byHostname(host).orElse(null);
            var ports = svc == null ? List.<io.fabric8.kubernetes.api.model.ServicePort>of()
                    : ServiceCatalog.tcpPorts(svc);
            port = ports.size() == 1 ? ports.getFirst().getPort() : incomingPort;
        }
        return ClusterTranslator.name(port, d.getSubset() == null ? "" : d.getSubset(), host);
    }

    /** Istio's conversion: none set → the default (waypoints only); attempts 0 → no retries. */
    RetryPolicy retryPolicy(HTTPRetry in, boolean grpc, VirtualService vs, String path) {
        if (in == null) {
            return grpc ? null : defaultRetryPolicy();
        }
        if (in.getAttempts() == null || in.getAttempts() <= 0) {
            return null;
        }
        RetryPolicy.Builder out = defaultRetryPolicy().toBuilder().setNumRetries(UInt32Value.of(in.getAttempts()));
        if (in.getRetryOn() != null && !in.getRetryOn().isBlank()) {
            List<String> conditions = new ArrayList<>();
            List<Integer> codes = new ArrayList<>();
            for (String part : in.getRetryOn().split(",")) {
                String p = part.strip();
                if (p.isEmpty()) {
                    continue;
                }
                if (p.chars().allMatch(Character::isDigit)) {
                    codes.add(Integer.parseInt(p));
                } else {
                    conditions.add(p);
                }
            }
            if (!codes.isEmpty() && !conditions.contains("retriable-status-codes")) {
                conditions.add("retriable-status-codes");
            }
            out.setRetryOn(String.join(",", conditions)).clearRetriableStatusCodes().addAllRetriableStatusCodes(codes);
        }
        if (in.getPerTryTimeout() != null) {
            Duration d = Envoy.duration(in.getPerTryTimeout());
            if (d != null) {
                out.setPerTryTimeout(d);
            }
        }
        if (Boolean.FALSE.equals(in.getRetryIgnorePreviousHosts())) {
            out.clearRetryHostPredicate();
        }
        if (in.getBackoff() != null) {
            Duration d = Envoy.duration(in.getBackoff());
            if (d != null) {
                out.setRetryBackOff(RetryPolicy.RetryBackOff.newBuilder().setBaseInterval(d));
            }
        }
        if (Boolean.TRUE.equals(in.getRetryRemoteLocalities())) {
            problems.field(Kind.VIRTUAL_SERVICE, vs, path + ".retryRemoteLocalities", "not supported "
                    + "(one locality); ignored");
        }
        return out.build();
    }
}
