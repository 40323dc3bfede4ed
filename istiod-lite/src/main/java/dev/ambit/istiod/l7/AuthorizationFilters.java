package dev.ambit.istiod.l7;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import com.google.protobuf.Message;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.FailClosed;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.model.MeshConfig;
import io.envoyproxy.envoy.config.core.v3.ApiVersion;
import io.envoyproxy.envoy.config.core.v3.HttpUri;
import io.envoyproxy.envoy.config.rbac.v3.Permission;
import io.envoyproxy.envoy.config.rbac.v3.Policy;
import io.envoyproxy.envoy.config.rbac.v3.Principal;
import io.envoyproxy.envoy.config.rbac.v3.RBAC;
import io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.AuthorizationRequest;
import io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.AuthorizationResponse;
import io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.ExtAuthz;
import io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.HttpService;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.type.matcher.v3.ListStringMatcher;
import io.envoyproxy.envoy.type.matcher.v3.MetadataMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.envoyproxy.envoy.type.matcher.v3.ValueMatcher;
import io.envoyproxy.envoy.type.v3.HttpStatus;
import io.envoyproxy.envoy.type.v3.StatusCode;
import io.fabric8.istio.api.api.security.v1beta1.AuthorizationPolicyAction;
import io.fabric8.istio.api.api.security.v1beta1.AuthorizationPolicyProvider;
import io.fabric8.istio.api.api.security.v1beta1.Rule;
import io.fabric8.istio.api.api.type.v1beta1.PolicyTargetReference;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * L7 AuthorizationPolicies of a waypoint → the HttpConnectionManager's authorization filters,
 * as Istio builds them for a waypoint.
 *
 * <p><b>Which policies</b> (Istio's {@code WorkloadPolicyMatcher.ShouldAttachPolicy} for a
 * waypoint): a policy whose {@code targetRef(s)} name the waypoint's Gateway
 * ({@code gateway.networking.k8s.io} Gateway, same namespace) applies to every chain of the
 * waypoint; one naming a Service (core Service, the policy in the Service's namespace) only
 * to that service's chains; one in the root namespace naming the GatewayClass
 * {@code istio-waypoint} to every waypoint. Policies without targetRefs (selector-less
 * namespace and root policies included) are never attached to a waypoint: "waypoints never
 * use selector" in Istio's code; the node agents enforce them at L4 as before.
 *
 * <p><b>Filters</b>, Istio's order: CUSTOM (an {@code envoy.filters.http.rbac} whose
 * {@code shadow_rules} mark the requests a CUSTOM rule matches, then
 * {@code envoy.filters.http.ext_authz} for the provider, enabled by that mark), AUDIT (RBAC
 * {@code LOG}), DENY, ALLOW; each RBAC policy named {@code ns[NS]-policy[NAME]-rule[I]}.
 * A policy annotated {@code istio.io/dry-run} is not enforced (reported).
 *
 * <p><b>Failing closed</b>: a rule that cannot be translated is dropped from an ALLOW policy
 * (less is allowed) and replaced by a deny-all rule in DENY and CUSTOM policies; a CUSTOM
 * policy whose provider is not an {@code envoyExtAuthzHttp} extension provider denies what
 * it would have sent; a rejected AuthorizationPolicy (a {@link FailClosed} stand-in) of the
 * waypoint's namespace or the root namespace denies all (DENY) or allows nothing (ALLOW) on
 * the waypoint, as on the node agents.
 */
final class AuthorizationFilters {

    static final String RBAC_FILTER = "envoy.filters.http.rbac";
    static final String EXT_AUTHZ_FILTER = "envoy.filters.http.ext_authz";
    static final String EXT_AUTHZ_PREFIX = "istio-ext-authz";
    static final String EXT_AUTHZ_STAT_PREFIX = "istio_ext_authz_";
    private static final String GATEWAY_GROUP = "gateway.networking.k8s.io";
    private static final String WAYPOINT_CLASS = "istio-waypoint";
    private static final long DEFAULT_TIMEOUT_SECONDS = 600;

    private final MeshConfig mesh;
    private final Problems problems;
    private final List<AuthorizationPolicy> policies;
    private final List<FailClosed> failClosed;

    AuthorizationFilters(ConfigSnapshot config, MeshConfig mesh, Problems problems) {
        this.mesh = requireNonNull(mesh, "mesh");
        this.problems = requireNonNull(problems, "problems");
        this.policies = config.list(Kind.AUTHORIZATION_POLICY, AuthorizationPolicy.class).stream()
                .sorted(Comparator.comparing((AuthorizationPolicy p) -> p.getMetadata().getNamespace())
                        .thenComparing(p -> p.getMetadata().getName()))
                .toList();
        this.failClosed = config.failClosed().stream()
                .filter(f -> f.ref().kind() == Kind.AUTHORIZATION_POLICY && f.selector() == null && !f.dryRun())
                .toList();
    }

    /** Istio's RBAC policy name of a rule. */
    static String policyName(String ns, String name, int rule) {
        return "ns[" + ns + "]-policy[" + name + "]-rule[" + rule + "]";
    }

    /** Whether {@code p} applies to {@code waypoint}'s chains of {@code svc}. */
    boolean applies(AuthorizationPolicy p, Gateway waypoint, Service svc) {
        var spec = p.getSpec();
        if (spec == null) {
            return false;
        }
        List<PolicyTargetReference> refs = spec.getTargetRefs() != null && !spec.getTargetRefs().isEmpty()
                ? spec.getTargetRefs() : spec.getTargetRef() != null ? List.of(spec.getTargetRef()) : List.of();
        String ns = p.getMetadata().getNamespace();
        String wpNs = waypoint.getMetadata().getNamespace();
        for (PolicyTargetReference ref : refs) {
            String group = ref.getGroup() == null ? "" : ref.getGroup();
            String kind = ref.getKind() == null ? "" : ref.getKind();
            String name = ref.getName() == null ? "" : ref.getName();
            if (group.isEmpty() && kind.equals("Service") && name.equals(svc.getMetadata().getName())
                    && ns.equals(svc.getMetadata().getNamespace())) {
                return true;
            }
            if (ns.equals(mesh.rootNamespace()) && group.equals(GATEWAY_GROUP) && kind.equals("GatewayClass")
                    && name.equals(WAYPOINT_CLASS)) {
                return true;
            }
            boolean sameNs = ref.getNamespace() == null || ref.getNamespace().isEmpty()
                    || ref.getNamespace().equals(wpNs);
            if (ns.equals(wpNs) && sameNs && group.equals(GATEWAY_GROUP) && kind.equals("Gateway")
                    && name.equals(waypoint.getMetadata().getName())) {
                return true;
            }
        }
        return false;
    }

    /**
     * The authorization {@code http_filters} of {@code waypoint}'s chains for {@code svc}, in
     * Istio's order; adds the ext_authz clusters they use to {@code referenced}.
     */
    List<HttpFilter> forChain(Gateway waypoint, Service svc, Set<String> referenced) {
        Map<String, Policy> custom = new TreeMap<>();
        Map<String, Policy> audit = new TreeMap<>();
        Map<String, Policy> deny = new TreeMap<>();
        Map<String, Policy> allow = new TreeMap<>();
        boolean hasAudit = false;
        boolean hasDeny = false;
        boolean hasAllow = false;
        MeshConfig.ExtAuthzHttpProvider provider = null;
        for (AuthorizationPolicy p : policies) {
            if (!applies(p, waypoint, svc)) {
                continue;
            }
            String ns = p.getMetadata().getNamespace();
            String name = p.getMetadata().getName();
            if (dryRun(p)) {
                problems.object(Kind.AUTHORIZATION_POLICY, p, "istio.io/dry-run: not enforced by the waypoint");
                continue;
            }
            AuthorizationPolicyAction action = p.getSpec().getAction() == null ? AuthorizationPolicyAction.ALLOW
                    : p.getSpec().getAction();
            List<Rule> rules = p.getSpec().getRules() == null ? List.of() : p.getSpec().getRules();
            Map<String, Policy> target = switch (action) {
                case AUDIT -> audit;
                case DENY -> deny;
                case CUSTOM -> custom;
                default -> allow;
            };
            switch (action) {
                case AUDIT -> hasAudit = true;
                case DENY -> hasDeny = true;
                case CUSTOM -> { }
                default -> hasAllow = true;
            }
            if (action == AuthorizationPolicyAction.CUSTOM) {
                MeshConfig.ExtAuthzHttpProvider named = provider(p);
                if (named == null || (provider != null && !provider.name().equals(named.name()))) {
                    problems.object(Kind.AUTHORIZATION_POLICY, p, named == null
                            ? "CUSTOM provider is not an envoyExtAuthzHttp extension provider of the mesh config; "
                            + "what it would check is denied (fail closed)"
                            : "a second CUSTOM provider on one waypoint (Istio allows one); what it would check "
                            + "is denied (fail closed)");
                    for (int i = 0; i < rules.size(); i++) {
                        putRule(deny, rules.get(i), ns, name, i, p, true);
                    }
                    hasDeny = true;
                    continue;
                }
                provider = named;
            }
            for (int i = 0; i < rules.size(); i++) {
                putRule(target, rules.get(i), ns, name, i, p, action != AuthorizationPolicyAction.ALLOW
                        && action != AuthorizationPolicyAction.AUDIT);
            }
        }
        String wpNs = waypoint.getMetadata().getNamespace();
        for (FailClosed f : failClosed) {
            String ns = f.ref().namespace();
            if (!ns.equals(wpNs) && !ns.equals(mesh.rootNamespace())) {
                continue;
            }
            problems.note("waypoint " + wpNs + "/" + waypoint.getMetadata().getName() + ": rejected "
                    + "AuthorizationPolicy " + ns + "/" + f.ref().name() + " fails closed ("
                    + f.effect() + ")");
            if (f.effect() == FailClosed.Effect.DENY_ALL) {
                deny.put(policyName(ns, f.ref().name(), 0), denyAll());
                hasDeny = true;
            } else if (f.effect() == FailClosed.Effect.ALLOW_NOTHING) {
                hasAllow = true;
            }
        }
        List<HttpFilter> out = new ArrayList<>();
        if (provider != null) {
            Map<String, Policy> marked = new TreeMap<>();
            custom.forEach((n, pol) -> marked.put(EXT_AUTHZ_PREFIX + "-" + n, pol));
            out.add(filter(RBAC_FILTER, io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.newBuilder()
                    .setShadowRules(RBAC.newBuilder().setAction(RBAC.Action.DENY).putAllPolicies(marked))
                    .setShadowRulesStatPrefix(EXT_AUTHZ_STAT_PREFIX).build()));
            out.add(filter(EXT_AUTHZ_FILTER, extAuthz(provider, referenced)));
        }
        if (hasAudit) {
            out.add(rbac(RBAC.Action.LOG, audit));
        }
        if (hasDeny) {
            out.add(rbac(RBAC.Action.DENY, deny));
        }
        if (hasAllow) {
            out.add(rbac(RBAC.Action.ALLOW, allow));
        }
        return out;
    }

    private void putRule(Map<String, Policy> target, Rule rule, String ns, String name, int i, AuthorizationPolicy p,
                         boolean denyOnError) {
        String key = policyName(ns, name, i);
        try {
            target.put(key, AuthorizationRules.policy(rule == null ? new Rule() : rule, ns));
        } catch (IllegalArgumentException e) {
            problems.field(Kind.AUTHORIZATION_POLICY, p, "rules[" + i + "]", e.getMessage() + "; "
                    + (denyOnError ? "the rule denies every request instead (fail closed)"
                    : "the rule is left out (less is allowed)"));
            if (denyOnError) {
                target.put(key, denyAll());
            }
        }
    }

    private static Policy denyAll() {
        return Policy.newBuilder().addPermissions(Permission.newBuilder().setAny(true))
                .addPrincipals(Principal.newBuilder().setAny(true)).build();
    }

    private MeshConfig.ExtAuthzHttpProvider provider(AuthorizationPolicy p) {
        if (!(p.getSpec().getActionDetail() instanceof AuthorizationPolicyProvider d) || d.getProvider() == null
                || d.getProvider().getName() == null) {
            return null;
        }
        return mesh.extensionProvider(d.getProvider().getName()).orElse(null);
    }

    private static boolean dryRun(AuthorizationPolicy p) {
        Map<String, String> a = p.getMetadata().getAnnotations();
        return a != null && "true".equalsIgnoreCase(a.get("istio.io/dry-run"));
    }

    private static HttpFilter rbac(RBAC.Action action, Map<String, Policy> policies) {
        return filter(RBAC_FILTER, io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.newBuilder()
                .setRules(RBAC.newBuilder().setAction(action).putAllPolicies(policies)).build());
    }

    /** Istio's ext_authz filter for an {@code envoyExtAuthzHttp} provider. */
    static ExtAuthz extAuthz(MeshConfig.ExtAuthzHttpProvider provider, Set<String> referenced) {
        String service = provider.service();
        String host = service.contains("/") ? service.substring(service.indexOf('/') + 1) : service;
        String cluster = ClusterTranslator.name(provider.port(), "", host);
        referenced.add(cluster);
        HttpService.Builder http = HttpService.newBuilder()
                .setServerUri(HttpUri.newBuilder().setUri("http://" + host).setCluster(cluster)
                        .setTimeout(com.google.protobuf.Duration.newBuilder()
                                .setSeconds(provider.timeout().isZero() ? DEFAULT_TIMEOUT_SECONDS
                                        : provider.timeout().getSeconds())
                                .setNanos(provider.timeout().getNano())))
                .setPathPrefix(provider.pathPrefix());
        if (!provider.includeRequestHeadersInCheck().isEmpty()) {
            http.setAuthorizationRequest(AuthorizationRequest.newBuilder()
                    .setAllowedHeaders(headers(provider.includeRequestHeadersInCheck())));
        }
        AuthorizationResponse.Builder response = AuthorizationResponse.newBuilder();
        if (!provider.headersToUpstreamOnAllow().isEmpty()) {
            response.setAllowedUpstreamHeaders(headers(provider.headersToUpstreamOnAllow()));
        }
        if (!provider.headersToDownstreamOnDeny().isEmpty()) {
            response.setAllowedClientHeaders(headers(provider.headersToDownstreamOnDeny()));
        }
        if (response.hasAllowedUpstreamHeaders() || response.hasAllowedClientHeaders()) {
            http.setAuthorizationResponse(response);
        }
        ExtAuthz.Builder out = ExtAuthz.newBuilder().setHttpService(http)
                .setFailureModeAllow(provider.failOpen())
                .setTransportApiVersion(ApiVersion.V3)
                .setFilterEnabledMetadata(MetadataMatcher.newBuilder().setFilter(RBAC_FILTER)
                        .addPath(MetadataMatcher.PathSegment.newBuilder()
                                .setKey(EXT_AUTHZ_STAT_PREFIX + "shadow_effective_policy_id"))
                        .setValue(ValueMatcher.newBuilder().setStringMatch(StringMatcher.newBuilder()
                                .setPrefix(EXT_AUTHZ_PREFIX))));
        if (provider.statusOnError() != 0) {
            out.setStatusOnError(HttpStatus.newBuilder().setCode(StatusCode.forNumber(provider.statusOnError()) == null
                    ? StatusCode.Forbidden : StatusCode.forNumber(provider.statusOnError())));
        }
        return out.build();
    }

    /** Istio's {@code generateHeaders}: case-insensitive, {@code *x} suffix, {@code x*} prefix, else exact. */
    private static ListStringMatcher headers(List<String> names) {
        ListStringMatcher.Builder b = ListStringMatcher.newBuilder();
        for (String h : names) {
            StringMatcher.Builder m = StringMatcher.newBuilder().setIgnoreCase(true);
            if (h.startsWith("*")) {
                m.setSuffix(h.substring(1));
            } else if (h.endsWith("*")) {
                m.setPrefix(h.substring(0, h.length() - 1));
            } else {
                m.setExact(h);
            }
            b.addPatterns(m);
        }
        return b.build();
    }

    private static HttpFilter filter(String name, Message config) {
        return HttpFilter.newBuilder().setName(name).setTypedConfig(Any.pack(config)).build();
    }
}
