package dev.ambit.istiod.l7;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import com.google.protobuf.Empty;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.config.ObjectRef;
import dev.ambit.istiod.model.MeshConfig;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtClaimToHeader;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtHeader;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtProvider;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtRequirement;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtRequirementAndList;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtRequirementOrList;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.RequirementRule;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.fabric8.istio.api.api.security.v1beta1.ClaimToHeader;
import io.fabric8.istio.api.api.security.v1beta1.JWTHeader;
import io.fabric8.istio.api.api.security.v1beta1.JWTRule;
import io.fabric8.istio.api.api.type.v1beta1.PolicyTargetReference;
import io.fabric8.istio.api.security.v1.RequestAuthentication;
import io.fabric8.kubernetes.api.model.Service;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * RequestAuthentication → the waypoint's {@code envoy.filters.http.jwt_authn} filter, in the
 * shape Istio's {@code convertToEnvoyJwtConfig} gives it (pilot/pkg/security/authn): the JWT
 * rules of every policy that applies, sorted by issuer, become providers {@code origins-0..n}
 * (payload in metadata {@code payload}; {@code scope} and {@code permission} plus the rule's
 * {@code spaceDelimitedClaims} normalized), one rule on prefix {@code /} requiring
 * {@code provider OR allow_missing} (one provider) or
 * {@code P0 OR P1 ... OR AND(P0 OR allow_missing, P1 OR allow_missing, ...)} (several): a request
 * without a token passes, a request with an invalid one is refused (401), and authorization
 * decides on the principal. CORS preflights bypass it. Keys are always inline
 * ({@code local_jwks}): {@code jwks} as written, {@code jwksUri} fetched here by {@link JwksFetcher}.
 *
 * <p><b>Which policies apply</b> to a waypoint's chain for a Service (Istio's
 * {@code WorkloadPolicyMatcher} for waypoints): {@code targetRefs} naming the waypoint's Gateway
 * (same namespace), the Service (policy in the Service's namespace), or GatewayClass
 * {@code istio-waypoint} (policy in the root namespace). Beyond Istio, as issue 15 asks for
 * authorization, a policy with neither selector nor targetRefs in the Service's namespace or the
 * root namespace applies too (Istio leaves those to sidecars). Policies with a selector never
 * apply to a waypoint (Istio: "waypoints never use selector").
 */
public final class JwtFilters {

    public static final String NAME = "envoy.filters.http.jwt_authn";
    /** Istio's {@code filters.EnvoyJwtFilterPayload}. */
    static final String PAYLOAD_IN_METADATA = "payload";
    static final List<String> DEFAULT_SPACE_DELIMITED = List.of("permission", "scope");
    private static final String GATEWAY_API = "gateway.networking.k8s.io";
    private static final Pattern HEADER_NAME = Pattern.compile("[a-zA-Z0-9!#$%&'*+\\-.^_`|~]+");

    private final List<RequestAuthentication> policies;
    private final MeshConfig mesh;
    private final JwksFetcher fetcher;
    private final Problems problems;
    private final Map<List<ObjectRef>, HttpFilter> memo = new HashMap<>();

    JwtFilters(ConfigSnapshot config, MeshConfig mesh, JwksFetcher fetcher, Problems problems) {
        this.policies = config.list(Kind.REQUEST_AUTHENTICATION, RequestAuthentication.class);
        this.mesh = requireNonNull(mesh, "mesh");
        this.fetcher = requireNonNull(fetcher, "fetcher");
        this.problems = requireNonNull(problems, "problems");
    }

    /** The filters to put first in the chain of {@code svc} on waypoint {@code gwNamespace/gwName}: jwt_authn or none. */
    List<HttpFilter> forChain(String gwNamespace, String gwName, Service svc) {
        List<RequestAuthentication> applied = new ArrayList<>();
        for (RequestAuthentication ra : policies) {
            if (ra.getSpec() != null && applies(ra, gwNamespace, gwName, svc, mesh.rootNamespace())) {
                applied.add(ra);
            }
        }
        if (applied.isEmpty()) {
            return List.of();
        }
        List<ObjectRef> key = applied.stream().map(ra -> ConfigSnapshot.refOf(Kind.REQUEST_AUTHENTICATION, ra)).toList();
        HttpFilter f = memo.computeIfAbsent(key, k -> filter(applied));
        return f == null ? List.of() : List.of(f);
    }

    /** Whether {@code ra} applies to the chain of {@code svc} on the waypoint {@code gwNamespace/gwName}. */
    static boolean applies(RequestAuthentication ra, String gwNamespace, String gwName, Service svc, String rootNs) {
        var spec = ra.getSpec();
        String ns = ra.getMetadata().getNamespace();
        String svcNs = svc.getMetadata().getNamespace();
        List<PolicyTargetReference> refs = targetRefs(spec);
        if (refs.isEmpty()) {
            boolean selectorless = spec.getSelector() == null || spec.getSelector().getMatchLabels() == null
                    || spec.getSelector().getMatchLabels().isEmpty();
            return selectorless && (ns.equals(svcNs) || ns.equals(rootNs));
        }
        for (PolicyTargetReference r : refs) {
            String group = r.getGroup() == null ? "" : r.getGroup();
            String kind = r.getKind() == null ? "" : r.getKind();
            String name = r.getName() == null ? "" : r.getName();
            boolean sameNs = r.getNamespace() == null || r.getNamespace().isEmpty() || r.getNamespace().equals(ns);
            if (kind.equals("Service") && (group.isEmpty() || group.equals("core")) && sameNs
                    && ns.equals(svcNs) && name.equals(svc.getMetadata().getName())) {
                return true;
            }
            if (kind.equals("GatewayClass") && group.equals(GATEWAY_API) && ns.equals(rootNs)
                    && name.equals("istio-waypoint")) {
                return true;
            }
            if (kind.equals("Gateway") && group.equals(GATEWAY_API) && sameNs && ns.equals(gwNamespace)
                    && name.equals(gwName)) {
                return true;
            }
        }
        return false;
    }

    static List<PolicyTargetReference> targetRefs(io.fabric8.istio.api.api.security.v1beta1.RequestAuthentication s) {
        if (s.getTargetRefs() != null && !s.getTargetRefs().isEmpty()) {
            return s.getTargetRefs();
        }
        return s.getTargetRef() == null ? List.of() : List.of(s.getTargetRef());
    }

    private HttpFilter filter(List<RequestAuthentication> applied) {
        record Owned(RequestAuthentication owner, JWTRule rule) {}
        List<Owned> rules = new ArrayList<>();
        for (RequestAuthentication ra : applied) {
            if (ra.getSpec().getJwtRules() != null) {
                for (JWTRule r : ra.getSpec().getJwtRules()) {
                    if (r != null) {
                        rules.add(new Owned(ra, r));
                    }
                }
            }
        }
        if (rules.isEmpty()) {
            return null;
        }
        // Istio sorts by issuer (stable) so the config is deterministic.
        rules.sort(Comparator.comparing(o -> o.rule().getIssuer() == null ? "" : o.rule().getIssuer()));
        JwtAuthentication.Builder config = JwtAuthentication.newBuilder().setBypassCorsPreflight(true);
        List<JwtRequirement> inner = new ArrayList<>();
        List<JwtRequirement> outer = new ArrayList<>();
        for (int i = 0; i < rules.size(); i++) {
            String name = "origins-" + i;
            config.putProviders(name, provider(rules.get(i).owner(), rules.get(i).rule()));
            JwtRequirement p = JwtRequirement.newBuilder().setProviderName(name).build();
            inner.add(JwtRequirement.newBuilder().setRequiresAny(JwtRequirementOrList.newBuilder().addRequirements(p)
                    .addRequirements(JwtRequirement.newBuilder().setAllowMissing(Empty.getDefaultInstance()))).build());
            outer.add(p);
        }
        JwtRequirement requires;
        if (inner.size() == 1) {
            requires = inner.get(0);
        } else {
            outer.add(JwtRequirement.newBuilder().setRequiresAll(JwtRequirementAndList.newBuilder()
                    .addAllRequirements(inner)).build());
            requires = JwtRequirement.newBuilder().setRequiresAny(JwtRequirementOrList.newBuilder()
                    .addAllRequirements(outer)).build();
        }
        config.addRules(RequirementRule.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/")).setRequires(requires));
        return HttpFilter.newBuilder().setName(NAME).setTypedConfig(Any.pack(config.build())).build();
    }

    private JwtProvider provider(RequestAuthentication owner, JWTRule r) {
        String issuer = r.getIssuer() == null ? "" : r.getIssuer();
        JwtProvider.Builder p = JwtProvider.newBuilder().setIssuer(issuer)
                .setPayloadInMetadata(PAYLOAD_IN_METADATA);
        if (r.getAudiences() != null) {
            p.addAllAudiences(r.getAudiences());
        }
        if (Boolean.TRUE.equals(r.getForwardOriginalToken())) {
            p.setForward(true);
        }
        if (r.getOutputPayloadToHeader() != null && !r.getOutputPayloadToHeader().isEmpty()) {
            p.setForwardPayloadHeader(r.getOutputPayloadToHeader());
        }
        TreeSet<String> spaceDelimited = new TreeSet<>(DEFAULT_SPACE_DELIMITED);
        if (r.getSpaceDelimitedClaims() != null) {
            spaceDelimited.addAll(r.getSpaceDelimitedClaims());
        }
        p.setNormalizePayloadInMetadata(JwtProvider.NormalizePayload.newBuilder()
                .addAllSpaceDelimitedClaims(spaceDelimited));
        if (r.getOutputClaimToHeaders() != null) {
            for (ClaimToHeader c : r.getOutputClaimToHeaders()) {
                p.addClaimToHeaders(JwtClaimToHeader.newBuilder().setHeaderName(c.getHeader()).setClaimName(c.getClaim()));
            }
        }
        if (r.getFromHeaders() != null) {
            for (JWTHeader h : r.getFromHeaders()) {
                JwtHeader.Builder jh = JwtHeader.newBuilder().setName(h.getName());
                if (h.getPrefix() != null) {
                    jh.setValuePrefix(h.getPrefix());
                }
                p.addFromHeaders(jh);
            }
        }
        if (r.getFromParams() != null) {
            p.addAllFromParams(r.getFromParams());
        }
        if (r.getFromCookies() != null) {
            p.addAllFromCookies(r.getFromCookies());
        }
        String jwks = r.getJwks();
        if (jwks == null || jwks.isEmpty()) {
            Duration timeout = JwksFetcher.DEFAULT_TIMEOUT;
            if (r.getTimeout() != null && Envoy.duration(r.getTimeout()) != null) {
                var d = Envoy.duration(r.getTimeout());
                timeout = Duration.ofSeconds(d.getSeconds(), d.getNanos());
            }
            JwksFetcher.Result fetched = fetcher.jwks(issuer, r.getJwksUri() == null ? "" : r.getJwksUri(), timeout);
            if (fetched.failed()) {
                problems.object(Kind.REQUEST_AUTHENTICATION, owner, fetched.problem());
            }
            jwks = fetched.jwks();
        }
        p.setLocalJwks(DataSource.newBuilder().setInlineString(jwks));
        return p.build();
    }

    // ---------------------------------------------------------------- validation (the webhook's too)

    /** Istio's RequestAuthentication validation (pkg/config/validation validateJwtRule and the target checks). */
    public static void validate(io.fabric8.istio.api.api.security.v1beta1.RequestAuthentication spec,
                                L7Validation.Sink sink) {
        boolean targeted = !targetRefs(spec).isEmpty();
        if (targeted && spec.getSelector() != null) {
            sink.add("spec.selector", "selector and targetRef(s) are mutually exclusive (expected: one of them)");
        }
        if (spec.getTargetRef() != null && spec.getTargetRefs() != null && !spec.getTargetRefs().isEmpty()) {
            sink.add("spec.targetRef", "targetRef and targetRefs are mutually exclusive (expected: targetRefs)");
        }
        List<PolicyTargetReference> refs = targetRefs(spec);
        String refsPath = spec.getTargetRefs() != null && !spec.getTargetRefs().isEmpty() ? "spec.targetRefs" : "spec.targetRef";
        for (int i = 0; i < refs.size(); i++) {
            PolicyTargetReference r = refs.get(i);
            String path = refs.size() == 1 && refsPath.equals("spec.targetRef") ? refsPath : refsPath + "[" + i + "]";
            String group = r.getGroup() == null ? "" : r.getGroup();
            String kind = r.getKind() == null ? "" : r.getKind();
            boolean known = (GATEWAY_API.equals(group) && (kind.equals("Gateway") || kind.equals("GatewayClass")))
                    || ((group.isEmpty() || group.equals("core")) && kind.equals("Service"))
                    || ("networking.istio.io".equals(group) && kind.equals("ServiceEntry"));
            if (!known) {
                sink.add(path, "targetRef to " + kind + (group.isEmpty() ? "" : "." + group) + " (expected: Gateway or "
                        + "GatewayClass of gateway.networking.k8s.io, Service, or ServiceEntry of networking.istio.io)");
            }
            if (r.getName() == null || r.getName().isEmpty()) {
                sink.add(path + ".name", "empty (expected: the target's name)");
            }
        }
        if (spec.getAdditionalProperties() != null) {
            spec.getAdditionalProperties().keySet().forEach(k -> sink.add("spec." + k, "unknown field (expected: "
                    + "selector, targetRef, targetRefs, jwtRules)"));
        }
        List<JWTRule> rules = spec.getJwtRules() == null ? List.of() : spec.getJwtRules();
        for (int i = 0; i < rules.size(); i++) {
            rule(rules.get(i), "spec.jwtRules[" + i + "]", sink);
        }
    }

    private static void rule(JWTRule r, String path, L7Validation.Sink sink) {
        if (r == null) {
            sink.add(path, "empty rule (expected: an issuer with its keys)");
            return;
        }
        if (r.getAdditionalProperties() != null) {
            r.getAdditionalProperties().keySet().forEach(k -> sink.add(path + "." + k, "unknown field (expected one "
                    + "of: issuer, audiences, jwksUri, jwks, fromHeaders, fromParams, fromCookies, outputPayloadToHeader, "
                    + "forwardOriginalToken, outputClaimToHeaders, spaceDelimitedClaims, timeout)"));
        }
        boolean noIssuer = r.getIssuer() == null || r.getIssuer().isEmpty();
        boolean noUri = r.getJwksUri() == null || r.getJwksUri().isEmpty();
        if (noIssuer && noUri) {
            sink.add(path + ".issuer", "issuer or jwksUri must be non-empty string");
        }
        list(r.getAudiences(), path + ".audiences", "audience must be non-empty string", sink);
        if (!noUri) {
            String problem = jwksUriProblem(r.getJwksUri());
            if (problem != null) {
                sink.add(path + ".jwksUri", problem);
            }
        }
        if (r.getJwks() != null && !r.getJwks().isEmpty()) {
            String problem = jwksProblem(r.getJwks());
            if (problem != null) {
                sink.add(path + ".jwks", "jwks parse error: " + problem);
            }
        }
        List<JWTHeader> headers = r.getFromHeaders() == null ? List.of() : r.getFromHeaders();
        for (int j = 0; j < headers.size(); j++) {
            JWTHeader h = headers.get(j);
            if (h == null || h.getName() == null || h.getName().isEmpty()) {
                sink.add(path + ".fromHeaders[" + j + "].name", "location header name must be non-empty string");
            } else if (!HEADER_NAME.matcher(h.getName()).matches()) {
                sink.add(path + ".fromHeaders[" + j + "].name", "\"" + h.getName() + "\" is not a valid header name");
            }
        }
        list(r.getFromParams(), path + ".fromParams", "location query must be non-empty string", sink);
        list(r.getFromCookies(), path + ".fromCookies", "cookie name must be non-empty string", sink);
        String payloadHeader = r.getOutputPayloadToHeader();
        if (payloadHeader != null && !payloadHeader.isEmpty() && !HEADER_NAME.matcher(payloadHeader).matches()) {
            sink.add(path + ".outputPayloadToHeader", "\"" + payloadHeader + "\" is not a valid header name");
        }
        List<ClaimToHeader> claims = r.getOutputClaimToHeaders() == null ? List.of() : r.getOutputClaimToHeaders();
        for (int j = 0; j < claims.size(); j++) {
            ClaimToHeader c = claims.get(j);
            String cp = path + ".outputClaimToHeaders[" + j + "]";
            if (c == null || c.getClaim() == null || c.getClaim().isEmpty() || c.getHeader() == null
                    || c.getHeader().isEmpty()) {
                sink.add(cp, "outputClaimToHeaders header and claim value must be non-empty string");
            } else if (!HEADER_NAME.matcher(c.getHeader()).matches()) {
                sink.add(cp + ".header", "\"" + c.getHeader() + "\" is not a valid header name");
            }
        }
        list(r.getSpaceDelimitedClaims(), path + ".spaceDelimitedClaims", "claim name must be non-empty string", sink);
        if (r.getTimeout() != null) {
            var d = Envoy.duration(r.getTimeout());
            if (d == null || (d.getSeconds() == 0 && d.getNanos() < 1_000_000)) {
                sink.add(path + ".timeout", "\"" + r.getTimeout() + "\" is not a duration of at least 1ms (expected: "
                        + "like 5s or 500ms)");
            }
        }
    }

    private static void list(List<String> values, String path, String reason, L7Validation.Sink sink) {
        if (values == null) {
            return;
        }
        for (int i = 0; i < values.size(); i++) {
            if (values.get(i) == null || values.get(i).isEmpty()) {
                sink.add(path + "[" + i + "]", reason);
            }
        }
    }

    /** Istio's ParseJwksURI: an absolute http or https URL with a host. */
    static String jwksUriProblem(String uri) {
        try {
            URI u = new URI(uri);
            if (!"http".equals(u.getScheme()) && !"https".equals(u.getScheme())) {
                return "\"" + uri + "\": invalid scheme " + u.getScheme() + " (expected: http or https)";
            }
            if (u.getHost() == null || u.getHost().isEmpty()) {
                return "\"" + uri + "\": no host (expected: like https://issuer.example/.well-known/jwks.json)";
            }
            return null;
        } catch (java.net.URISyntaxException e) {
            return "\"" + uri + "\" is not a URL: " + e.getMessage();
        }
    }

    /** Whether {@code jwks} is a JWKS: a JSON object whose {@code keys} is an array of objects with a {@code kty}. */
    static String jwksProblem(String jwks) {
        try {
            var node = new com.fasterxml.jackson.databind.ObjectMapper().readTree(jwks);
            if (node == null || !node.isObject()) {
                return "not a JSON object";
            }
            var keys = node.get("keys");
            if (keys == null || !keys.isArray()) {
                return "no keys array";
            }
            for (int i = 0; i < keys.size(); i++) {
                var k = keys.get(i);
                if (!k.isObject() || !k.has("kty") || !k.get("kty").isTextual()) {
                    return "keys[" + i + "] has no kty";
                }
            }
            return null;
        } catch (java.io.IOException e) {
            return "invalid JSON (" + e.getMessage().lines().findFirst().orElse("") + ")";
        }
    }
}
