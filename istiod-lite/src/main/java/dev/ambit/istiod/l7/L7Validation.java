package dev.ambit.istiod.l7;

import com.google.re2j.PatternSyntaxException;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.model.ServiceCatalog;
import io.fabric8.istio.api.api.networking.v1alpha3.Destination;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPFaultInjectionDelayFixedDelay;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPMatchRequest;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPMirrorPolicy;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPRoute;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPRouteDestination;
import io.fabric8.istio.api.api.networking.v1alpha3.HeadersHeaderOperations;
import io.fabric8.istio.api.api.networking.v1alpha3.Percent;
import io.fabric8.istio.api.api.networking.v1alpha3.StringMatch;
import io.fabric8.istio.api.api.networking.v1alpha3.StringMatchRegex;
import io.fabric8.istio.api.networking.v1.DestinationRule;
import io.fabric8.istio.api.networking.v1.VirtualService;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPBackendRef;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPHeaderMatch;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPQueryParamMatch;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRouteMatch;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRouteRule;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What makes a routing object unusable. The syntactic checks ({@link #validate}) need only
 * the object: the config sources and the admission webhook run them through the object
 * validator, so a bad regex (RE2, Envoy's syntax), a negative weight, weights summing to
 * 0, an invalid duration, percentage or retry condition is rejected before it is accepted.
 * The semantic checks ({@link #check}) need the rest of the mesh (a destination subset
 * must be defined by a DestinationRule of its host) and run in the translator, which keeps
 * the object's last good version when they fail.
 */
public final class L7Validation {

    /** One problem: the field path and the reason. */
    public record Problem(String field, String reason) {}

    /** Receives one problem. */
    @FunctionalInterface
    public interface Sink {
        void add(String field, String reason);
    }

    /** Envoy's retry_on conditions (HTTP and gRPC) that Istio passes through. */
    private static final Set<String> RETRY_ON = Set.of("5xx", "gateway-error", "reset", "reset-before-request",
            "connect-failure", "envoy-ratelimited", "retriable-4xx", "refused-stream", "retriable-status-codes",
            "retriable-headers", "http3-post-connect-failure", "cancelled", "deadline-exceeded", "internal",
            "resource-exhausted", "unavailable");

    private final Hosts hosts;
    private final DestinationRules rules;
    private final ServiceCatalog catalog;

    L7Validation(Hosts hosts, DestinationRules rules, ServiceCatalog catalog) {
        this.hosts = hosts;
        this.rules = rules;
        this.catalog = catalog;
    }

    /** Syntactic checks of a VirtualService, DestinationRule, HTTPRoute or GRPCRoute; other kinds have none here. */
    public static void validate(Kind kind, HasMetadata object, Sink sink) {
        switch (object) {
            case VirtualService vs when vs.getSpec() != null -> virtualService(vs, sink);
            case DestinationRule dr when dr.getSpec() != null -> destinationRule(dr, sink);
            case io.fabric8.istio.api.security.v1.RequestAuthentication ra when ra.getSpec() != null ->
                    JwtFilters.validate(ra.getSpec(), sink); // jwt
            case io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute r when r.getSpec() != null ->
                    httpRoute(r, sink);
            case GRPCRoute r when r.getSpec() != null -> GrpcRouteValidation.validate(r, sink);
            default -> { }
        }
    }

    /** Syntactic and semantic problems of a VirtualService; empty when it can be applied. */
    List<Problem> check(VirtualService vs) {
        List<Problem> out = new ArrayList<>();
        if (vs.getSpec() == null) {
            return out;
        }
        virtualService(vs, (f, r) -> out.add(new Problem(f, r)));
        List<HTTPRoute> http = vs.getSpec().getHttp() == null ? List.of() : vs.getSpec().getHttp();
        String ns = vs.getMetadata().getNamespace();
        for (int i = 0; i < http.size(); i++) {
            HTTPRoute h = http.get(i);
            if (h == null) {
                continue;
            }
            List<HTTPRouteDestination> dests = h.getRoute() == null ? List.of() : h.getRoute();
            for (int j = 0; j < dests.size(); j++) {
                if (dests.get(j) != null) {
                    subset(dests.get(j).getDestination(), ns, "spec.http[" + i + "].route[" + j + "].destination", out);
                }
            }
            subset(h.getMirror(), ns, "spec.http[" + i + "].mirror", out);
            List<HTTPMirrorPolicy> mirrors = h.getMirrors() == null ? List.of() : h.getMirrors();
            for (int j = 0; j < mirrors.size(); j++) {
                if (mirrors.get(j) != null) {
                    subset(mirrors.get(j).getDestination(), ns, "spec.http[" + i + "].mirrors[" + j + "].destination",
                            out);
                }
            }
        }
        return out;
    }

    /** Syntactic problems of an HTTPRoute; empty when it can be applied. */
    List<Problem> check(io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute r) {
        List<Problem> out = new ArrayList<>();
        if (r.getSpec() != null) {
            httpRoute(r, (f, reason) -> out.add(new Problem(f, reason)));
        }
        return out;
    }

    /** Syntactic problems of a GRPCRoute; empty when it can be applied. */
    List<Problem> check(GRPCRoute r) {
        List<Problem> out = new ArrayList<>();
        if (r.getSpec() != null) {
            GrpcRouteValidation.validate(r, (f, reason) -> out.add(new Problem(f, reason)));
        }
        return out;
    }

    private void subset(Destination d, String ns, String path, List<Problem> out) {
        if (d == null || d.getSubset() == null || d.getSubset().isEmpty() || d.getHost() == null) {
            return;
        }
        String host = hosts.resolve(d.getHost(), ns);
        if (!rules.hasSubset(host, d.getSubset())) {
            out.add(new Problem(path + ".subset", "unknown subset \"" + d.getSubset() + "\" of " + host
                    + " (expected: a subset defined by a DestinationRule for that host)"));
        }
    }

    /**
     * Reports what a VirtualService sets that the translation does not apply, and hosts
     * that name nothing in the mesh (warnings, not errors: a service may appear later).
     */
    void untranslated(VirtualService vs, Problems problems) {
        var spec = vs.getSpec();
        String ns = vs.getMetadata().getNamespace();
        List<String> vsHosts = spec.getHosts() == null ? List.of() : spec.getHosts();
        for (int i = 0; i < vsHosts.size(); i++) {
            String pattern = hosts.resolve(vsHosts.get(i), ns);
            if (catalog.services().stream().noneMatch(svc -> Hosts.covers(pattern, catalog.hostname(svc)))) {
                problems.field(Kind.VIRTUAL_SERVICE, vs, "spec.hosts[" + i + "]", "no service in the mesh is "
                        + pattern + "; nothing to route for it");
            }
        }
        List<HTTPRoute> routes = spec.getHttp() == null ? List.of() : spec.getHttp();
        for (int i = 0; i < routes.size(); i++) {
            HTTPRoute h = routes.get(i);
            if (h == null) {
                continue;
            }
            List<HTTPRouteDestination> dests = h.getRoute() == null ? List.of() : h.getRoute();
            for (int j = 0; j < dests.size(); j++) {
                if (dests.get(j) != null) {
                    destination(vs, dests.get(j).getDestination(), "spec.http[" + i + "].route[" + j + "].destination",
                            problems);
                }
            }
            destination(vs, h.getMirror(), "spec.http[" + i + "].mirror", problems);
            List<HTTPMirrorPolicy> mirrors = h.getMirrors() == null ? List.of() : h.getMirrors();
            for (int j = 0; j < mirrors.size(); j++) {
                if (mirrors.get(j) != null) {
                    destination(vs, mirrors.get(j).getDestination(), "spec.http[" + i + "].mirrors[" + j
                            + "].destination", problems);
                }
            }
        }
        if (spec.getTcp() != null && !spec.getTcp().isEmpty()) {
            problems.field(Kind.VIRTUAL_SERVICE, vs, "spec.tcp", "TCP routes are not supported by waypoints; "
                    + "TCP ports go to the service itself");
        }
        if (spec.getTls() != null && !spec.getTls().isEmpty()) {
            problems.field(Kind.VIRTUAL_SERVICE, vs, "spec.tls", "TLS routes are not supported by waypoints; "
                    + "TLS ports go to the service itself");
        }
        if (spec.getExportTo() != null && !spec.getExportTo().isEmpty()) {
            problems.field(Kind.VIRTUAL_SERVICE, vs, "spec.exportTo", "not applied (visible mesh-wide)");
        }
        if (spec.getAdditionalProperties() != null) {
            spec.getAdditionalProperties().keySet().stream().sorted().forEach(k -> problems.field(
                    Kind.VIRTUAL_SERVICE, vs, "spec." + k, "unknown field; ignored"));
        }
        List<HTTPRoute> http = spec.getHttp() == null ? List.of() : spec.getHttp();
        for (int i = 0; i < http.size(); i++) {
            HTTPRoute h = http.get(i);
            if (h != null && h.getAdditionalProperties() != null) {
                for (String k : h.getAdditionalProperties().keySet().stream().sorted().toList()) {
                    problems.field(Kind.VIRTUAL_SERVICE, vs, "spec.http[" + i + "]." + k, "unknown field; ignored");
                }
            }
        }
    }

    /** A destination whose service or port does not exist: its requests fail with 503, as in Istio. */
    private void destination(VirtualService vs, Destination d, String path, Problems problems) {
        if (d == null || d.getHost() == null) {
            return;
        }
        String host = hosts.resolve(d.getHost(), vs.getMetadata().getNamespace());
        var svc = catalog.byHostname(host).orElse(null);
        if (svc == null) {
            problems.field(Kind.VIRTUAL_SERVICE, vs, path + ".host", "no service " + host + " in the mesh; "
                    + "requests routed there fail with 503 until it exists");
        } else if (d.getPort() != null && d.getPort().getNumber() != null && ServiceCatalog.tcpPorts(svc).stream()
                .noneMatch(p -> p.getPort().longValue() == d.getPort().getNumber())) {
            problems.field(Kind.VIRTUAL_SERVICE, vs, path + ".port.number", "service " + host + " has no port "
                    + d.getPort().getNumber() + "; requests routed there fail with 503");
        }
    }

    private static void virtualService(VirtualService vs, Sink sink) {
        List<HTTPRoute> http = vs.getSpec().getHttp() == null ? List.of() : vs.getSpec().getHttp();
        for (int i = 0; i < http.size(); i++) {
            HTTPRoute h = http.get(i);
            String p = "spec.http[" + i + "]";
            if (h == null) {
                continue;
            }
            List<HTTPMatchRequest> matches = h.getMatch() == null ? List.of() : h.getMatch();
            for (int j = 0; j < matches.size(); j++) {
                HTTPMatchRequest m = matches.get(j);
                if (m == null) {
                    continue;
                }
                String mp = p + ".match[" + j + "]";
                regex(mp + ".uri", m.getUri(), sink);
                regex(mp + ".method", m.getMethod(), sink);
                regex(mp + ".authority", m.getAuthority(), sink);
                regex(mp + ".scheme", m.getScheme(), sink);
                regexes(mp + ".headers", m.getHeaders(), sink);
                regexes(mp + ".withoutHeaders", m.getWithoutHeaders(), sink);
                regexes(mp + ".queryParams", m.getQueryParams(), sink);
                if (m.getPort() != null && (m.getPort() < 1 || m.getPort() > 65535)) {
                    sink.add(mp + ".port", "port " + m.getPort() + " (expected: 1-65535)");
                }
            }
            int actions = (h.getRoute() != null && !h.getRoute().isEmpty() ? 1 : 0) + (h.getRedirect() != null ? 1 : 0)
                    + (h.getDirectResponse() != null ? 1 : 0) + (h.getDelegate() != null ? 1 : 0);
            if (actions > 1) {
                sink.add(p, "route, redirect, directResponse and delegate are mutually exclusive (expected: one)");
            }
            List<HTTPRouteDestination> dests = h.getRoute() == null ? List.of() : h.getRoute();
            long total = 0;
            for (int j = 0; j < dests.size(); j++) {
                HTTPRouteDestination d = dests.get(j);
                String dp = p + ".route[" + j + "]";
                if (d == null || d.getDestination() == null || d.getDestination().getHost() == null
                        || d.getDestination().getHost().isEmpty()) {
                    sink.add(dp + ".destination.host", "missing (expected: a host)");
                    continue;
                }
                if (d.getWeight() != null && d.getWeight() < 0) {
                    sink.add(dp + ".weight", "negative weight " + d.getWeight() + " (expected: 0 or more)");
                }
                total += d.getWeight() == null ? 0 : Math.max(0, d.getWeight());
            }
            if (dests.size() > 1 && total == 0) {
                sink.add(p + ".route", "the weights of " + dests.size() + " destinations sum to 0 (expected: "
                        + "a positive total; weights are relative)");
            }
            requiredHost(p + ".mirror", h.getMirror(), sink);
            if (h.getMirrors() != null) {
                for (int j = 0; j < h.getMirrors().size(); j++) {
                    var m = h.getMirrors().get(j);
                    requiredHost(p + ".mirrors[" + j + "].destination", m == null ? null : m.getDestination(), sink);
                    if (m == null || m.getDestination() == null) {
                        sink.add(p + ".mirrors[" + j + "].destination", "missing (expected: a destination)");
                    }
                }
            }
            headerValues(p + ".headers", h.getHeaders(), sink);
            for (int j = 0; j < dests.size(); j++) {
                if (dests.get(j) != null) {
                    headerValues(p + ".route[" + j + "].headers", dests.get(j).getHeaders(), sink);
                }
            }
            if (h.getDirectResponse() != null && h.getDirectResponse().getBody() != null) {
                var body = h.getDirectResponse().getBody().getSpecifier();
                boolean empty = switch (body) {
                    case io.fabric8.istio.api.api.networking.v1alpha3.HTTPBodyString b -> b.getString() == null;
                    case io.fabric8.istio.api.api.networking.v1alpha3.HTTPBodyBytes b -> b.getBytes() == null
                            || !isBase64(b.getBytes());
                    case null, default -> true;
                };
                if (empty) {
                    sink.add(p + ".directResponse.body", "needs string or base64 bytes");
                }
            }
            duration(p + ".timeout", h.getTimeout(), sink);
            if (h.getRetries() != null) {
                var r = h.getRetries();
                duration(p + ".retries.perTryTimeout", r.getPerTryTimeout(), sink);
                duration(p + ".retries.backoff", r.getBackoff(), sink);
                if (r.getAttempts() != null && r.getAttempts() < 0) {
                    sink.add(p + ".retries.attempts", "negative (expected: 0 or more)");
                }
                if (r.getRetryOn() != null) {
                    for (String part : r.getRetryOn().split(",")) {
                        String c = part.strip();
                        boolean status = !c.isEmpty() && c.chars().allMatch(Character::isDigit)
                                && c.length() <= 3 && Integer.parseInt(c) >= 100 && Integer.parseInt(c) <= 599;
                        if (!c.isEmpty() && !status && !RETRY_ON.contains(c)) {
                            sink.add(p + ".retries.retryOn", "unknown retry condition \"" + c + "\" (expected: an "
                                    + "HTTP status or one of " + RETRY_ON.stream().sorted().toList() + ")");
                        }
                    }
                }
            }
            if (h.getRewrite() != null && h.getRewrite().getUriRegexRewrite() != null) {
                regex(p + ".rewrite.uriRegexRewrite.match", h.getRewrite().getUriRegexRewrite().getMatch(), sink);
                if (h.getRewrite().getUri() != null && !h.getRewrite().getUri().isEmpty()) {
                    sink.add(p + ".rewrite", "uri and uriRegexRewrite are mutually exclusive (expected: one)");
                }
            }
            percent(p + ".mirrorPercentage", h.getMirrorPercentage(), sink);
            if (h.getMirrors() != null) {
                for (int j = 0; j < h.getMirrors().size(); j++) {
                    var m = h.getMirrors().get(j);
                    if (m != null) {
                        percent(p + ".mirrors[" + j + "].percentage", m.getPercentage(), sink);
                    }
                }
            }
            if (h.getFault() != null) {
                var f = h.getFault();
                if (f.getDelay() != null) {
                    percent(p + ".fault.delay.percentage", f.getDelay().getPercentage(), sink);
                    if (f.getDelay().getHttpDelayType() instanceof HTTPFaultInjectionDelayFixedDelay fd) {
                        duration(p + ".fault.delay.fixedDelay", fd.getFixedDelay(), sink);
                        if (fd.getFixedDelay() == null) {
                            sink.add(p + ".fault.delay.fixedDelay", "missing (expected: a duration)");
                        }
                    }
                }
                if (f.getAbort() != null) {
                    percent(p + ".fault.abort.percentage", f.getAbort().getPercentage(), sink);
                    if (f.getAbort().getErrorType() instanceof
                            io.fabric8.istio.api.api.networking.v1alpha3.HTTPFaultInjectionAbortHttpStatus s
                            && (s.getHttpStatus() == null || s.getHttpStatus() < 200 || s.getHttpStatus() > 599)) {
                        sink.add(p + ".fault.abort.httpStatus", s.getHttpStatus() + " (expected: 200-599)");
                    }
                }
            }
            if (h.getCorsPolicy() != null && h.getCorsPolicy().getAllowOrigins() != null) {
                for (int j = 0; j < h.getCorsPolicy().getAllowOrigins().size(); j++) {
                    regex(p + ".corsPolicy.allowOrigins[" + j + "]", h.getCorsPolicy().getAllowOrigins().get(j), sink);
                }
            }
        }
    }

    private static void requiredHost(String path, Destination d, Sink sink) {
        if (d != null && (d.getHost() == null || d.getHost().isEmpty())) {
            sink.add(path + ".host", "missing (expected: a host)");
        }
    }

    private static void headerValues(String path, io.fabric8.istio.api.api.networking.v1alpha3.Headers headers,
                                     Sink sink) {
        if (headers != null) {
            headerValues(path + ".request", headers.getRequest(), sink);
            headerValues(path + ".response", headers.getResponse(), sink);
        }
    }

    private static void headerValues(String path, HeadersHeaderOperations ops, Sink sink) {
        if (ops != null) {
            headerValues(path + ".set", ops.getSet(), sink);
            headerValues(path + ".add", ops.getAdd(), sink);
        }
    }

    private static void headerValues(String path, Map<String, String> values, Sink sink) {
        if (values != null) {
            values.forEach((k, v) -> {
                if (v == null) {
                    sink.add(path + "." + k, "missing value (expected: a string, \"\" for empty)");
                }
            });
        }
    }

    private static boolean isBase64(String text) {
        try {
            java.util.Base64.getDecoder().decode(text);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private static void destinationRule(DestinationRule dr, Sink sink) {
        var subsets = dr.getSpec().getSubsets() == null ? List.<io.fabric8.istio.api.api.networking.v1alpha3.Subset>of()
                : dr.getSpec().getSubsets();
        Set<String> names = new java.util.HashSet<>();
        for (int i = 0; i < subsets.size(); i++) {
            var s = subsets.get(i);
            if (s == null || s.getName() == null || s.getName().isEmpty()) {
                sink.add("spec.subsets[" + i + "].name", "missing (expected: a subset name)");
            } else if (!names.add(s.getName())) {
                sink.add("spec.subsets[" + i + "].name", "subset \"" + s.getName() + "\" is defined twice");
            }
        }
    }

    private static void httpRoute(io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute r, Sink sink) {
        List<HTTPRouteRule> rules = r.getSpec().getRules() == null ? List.of() : r.getSpec().getRules();
        for (int i = 0; i < rules.size(); i++) {
            HTTPRouteRule rule = rules.get(i);
            String p = "spec.rules[" + i + "]";
            if (rule == null) {
                sink.add(p, "empty rule (expected: an object)");
                continue;
            }
            List<HTTPRouteMatch> matches = rule.getMatches() == null ? List.of() : rule.getMatches();
            for (int j = 0; j < matches.size(); j++) {
                HTTPRouteMatch m = matches.get(j);
                String mp = p + ".matches[" + j + "]";
                if (m == null) {
                    continue;
                }
                if (m.getPath() != null && "RegularExpression".equals(m.getPath().getType())) {
                    regex(mp + ".path.value", m.getPath().getValue(), sink);
                }
                List<HTTPHeaderMatch> headers = m.getHeaders() == null ? List.of() : m.getHeaders();
                for (int k = 0; k < headers.size(); k++) {
                    if (headers.get(k) != null && "RegularExpression".equals(headers.get(k).getType())) {
                        regex(mp + ".headers[" + k + "].value", headers.get(k).getValue(), sink);
                    }
                }
                List<HTTPQueryParamMatch> query = m.getQueryParams() == null ? List.of() : m.getQueryParams();
                for (int k = 0; k < query.size(); k++) {
                    if (query.get(k) != null && "RegularExpression".equals(query.get(k).getType())) {
                        regex(mp + ".queryParams[" + k + "].value", query.get(k).getValue(), sink);
                    }
                }
            }
            var filters = rule.getFilters() == null
                    ? List.<io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRouteFilter>of() : rule.getFilters();
            for (int k = 0; k < filters.size(); k++) {
                var f = filters.get(k);
                String fp = p + ".filters[" + k + "]";
                if (f == null || f.getType() == null) {
                    sink.add(fp + ".type", "missing (expected: a filter type)");
                    continue;
                }
                Object config = switch (f.getType()) {
                    case "RequestHeaderModifier" -> f.getRequestHeaderModifier();
                    case "ResponseHeaderModifier" -> f.getResponseHeaderModifier();
                    case "RequestRedirect" -> f.getRequestRedirect();
                    case "URLRewrite" -> f.getUrlRewrite();
                    case "RequestMirror" -> f.getRequestMirror() == null ? null : f.getRequestMirror().getBackendRef();
                    default -> Boolean.TRUE; // other types are reported by the translator
                };
                if (config == null) {
                    String field = Character.toLowerCase(f.getType().charAt(0)) + f.getType().substring(1);
                    sink.add(fp, "type " + f.getType() + " without its "
                            + (f.getType().equals("URLRewrite") ? "urlRewrite" : field)
                            + (f.getType().equals("RequestMirror") ? ".backendRef" : "") + " (expected: both)");
                }
            }
            List<HTTPBackendRef> backends = rule.getBackendRefs() == null ? List.of() : rule.getBackendRefs();
            for (int k = 0; k < backends.size(); k++) {
                if (backends.get(k) != null && backends.get(k).getWeight() != null && backends.get(k).getWeight() < 0) {
                    sink.add(p + ".backendRefs[" + k + "].weight", "negative weight " + backends.get(k).getWeight()
                            + " (expected: 0 or more)");
                }
            }
            if (rule.getTimeouts() != null) {
                duration(p + ".timeouts.request", rule.getTimeouts().getRequest(), sink);
                duration(p + ".timeouts.backendRequest", rule.getTimeouts().getBackendRequest(), sink);
            }
        }
    }

    private static void regexes(String path, Map<String, StringMatch> matches, Sink sink) {
        if (matches != null) {
            matches.forEach((k, v) -> regex(path + "." + k, v, sink));
        }
    }

    private static void regex(String path, StringMatch m, Sink sink) {
        if (m != null && m.getMatchType() instanceof StringMatchRegex r) {
            regex(path + ".regex", r.getRegex(), sink);
        }
    }

    /** Compiles with RE2's grammar (Envoy's safe_regex); Java-only constructs such as lookaheads fail. */
    static void regex(String path, String regex, Sink sink) {
        if (regex == null) {
            sink.add(path, "missing regex");
            return;
        }
        try {
            com.google.re2j.Pattern.compile(regex);
        } catch (PatternSyntaxException e) {
            sink.add(path, "invalid RE2 regex \"" + regex + "\": " + e.getDescription());
        }
    }

    private static void duration(String path, String value, Sink sink) {
        if (value != null && !Envoy.isDuration(value)) {
            sink.add(path, "\"" + value + "\" is not a duration (expected: like 1.5s, 300ms or 1m)");
        }
    }

    private static void percent(String path, Percent pct, Sink sink) {
        if (pct != null && pct.getValue() != null && (pct.getValue() < 0 || pct.getValue() > 100)) {
            sink.add(path, pct.getValue() + " (expected: a percentage 0-100)");
        }
    }
}
