package dev.ambit.proxy.authz;

import static dev.ambit.proxy.authz.Policies.MTLS_FRONTEND;
import static dev.ambit.proxy.authz.Policies.exact;
import static dev.ambit.proxy.authz.Policies.ip;
import static dev.ambit.proxy.authz.Policies.match;
import static dev.ambit.proxy.authz.Policies.mtls;
import static dev.ambit.proxy.authz.Policies.plaintext;
import static dev.ambit.proxy.authz.Policies.policy;
import static dev.ambit.proxy.authz.Policies.presence;
import static dev.ambit.proxy.authz.Policies.rule;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.api.security.Action;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Rule;
import dev.ambit.api.security.Scope;
import dev.ambit.api.workload.Workload;
import dev.ambit.proxy.authz.Decision.Reason;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Istio's L4 authorization semantics, case by case. */
class AuthorizerTest {

    private static final String BACKEND = "cluster.local/ns/shop/sa/backend";
    private static final String ROOT = "istio-system";

    /** What istiod-lite emits for STRICT PeerAuthentication: DENY requests without identity. */
    private static final Authorization STATIC_STRICT =
            policy(ROOT, "istio_converted_static_strict", Scope.WORKLOAD_SELECTOR, Action.DENY)
                    .addRules(rule(match().addNotPrincipals(presence()))).build();

    /** AuthorizationPolicy {from: principals [cluster.local/ns/shop/sa/frontend]} in shop. */
    private static final Authorization ALLOW_FRONTEND =
            policy("shop", "allow-frontend", Scope.NAMESPACE, Action.ALLOW)
                    .addRules(rule(match().addPrincipals(exact(MTLS_FRONTEND)))).build();

    private static Decision decide(ConnectionAttributes c, List<String> named, Authorization... policies) {
        return Authorizer.of(PolicySet.of(policies)).authorize(c, "shop", named);
    }

    private static Decision decide(ConnectionAttributes c, Authorization... policies) {
        return decide(c, List.of(), policies);
    }

    private static Authorization allowAll(String namespace, String name, Scope scope) {
        return policy(namespace, name, scope, Action.ALLOW).addRules(Rule.getDefaultInstance()).build();
    }

    private static Authorization denyAll(String namespace, String name, Scope scope) {
        return policy(namespace, name, scope, Action.DENY).addRules(Rule.getDefaultInstance()).build();
    }

    // Decision order

    @Test
    void noPoliciesAllows() {
        Decision d = decide(plaintext());
        assertThat(d.allowed()).isTrue();
        assertThat(d.reason()).isEqualTo(Reason.NO_POLICY);
        assertThat(d.policy()).isNull();
        assertThat(d.dryRunMatches()).isEmpty();
        assertThat(d.dryRunDiffers()).isFalse();
    }

    @Test
    void denyBeforeAllow() {
        Decision d = decide(mtls(MTLS_FRONTEND), allowAll("shop", "allow-all", Scope.NAMESPACE),
                            denyAll("shop", "deny-all", Scope.NAMESPACE));
        assertThat(d.allowed()).isFalse();
        assertThat(d.reason()).isEqualTo(Reason.POLICY_DENIED);
        assertThat(d.reason().code()).isEqualTo("policy_denied");
        assertThat(d.policy()).isEqualTo("shop/deny-all");
        assertThat(d).hasToString("deny policy_denied shop/deny-all");
    }

    @Test
    void unmatchedDenyWithoutAllowPoliciesAllows() {
        Authorization denyBackend = policy("shop", "deny-backend", Scope.NAMESPACE, Action.DENY)
                .addRules(rule(match().addPrincipals(exact(BACKEND)))).build();
        assertThat(decide(mtls(MTLS_FRONTEND), denyBackend).reason()).isEqualTo(Reason.NO_POLICY);
        assertThat(decide(mtls(BACKEND), denyBackend).policy()).isEqualTo("shop/deny-backend");
    }

    @Test
    void allowMatched() {
        Decision d = decide(mtls(MTLS_FRONTEND), ALLOW_FRONTEND);
        assertThat(d.allowed()).isTrue();
        assertThat(d.reason()).isEqualTo(Reason.ALLOW_MATCHED);
        assertThat(d.policy()).isEqualTo("shop/allow-frontend");
    }

    @Test
    void allowPresentButUnmatchedDenies() {
        Decision d = decide(mtls(BACKEND), ALLOW_FRONTEND);
        assertThat(d.allowed()).isFalse();
        assertThat(d.reason()).isEqualTo(Reason.NO_ALLOW_MATCH);
        assertThat(d.reason().code()).isEqualTo("no_allow_match");
        assertThat(d.reason().description()).isEqualTo("no ALLOW policy matched");
        assertThat(d.policy()).isNull();
    }

    @Test
    void anyMatchingAllowSuffices() {
        Authorization allowBackend = policy("shop", "allow-backend", Scope.NAMESPACE, Action.ALLOW)
                .addRules(rule(match().addPrincipals(exact(BACKEND)))).build();
        Decision d = decide(mtls(BACKEND), ALLOW_FRONTEND, allowBackend);
        assertThat(d.allowed()).isTrue();
        assertThat(d.policy()).isEqualTo("shop/allow-backend");
    }

    @Test
    void allowWithoutRulesDeniesEverything() {
        Authorization allowNothing = policy("shop", "allow-nothing", Scope.NAMESPACE, Action.ALLOW).build();
        assertThat(decide(mtls(MTLS_FRONTEND), allowNothing).reason()).isEqualTo(Reason.NO_ALLOW_MATCH);
        assertThat(decide(plaintext(), allowNothing).reason()).isEqualTo(Reason.NO_ALLOW_MATCH);
        // It still counts as "an ALLOW policy applies" next to a matching one.
        assertThat(decide(mtls(MTLS_FRONTEND), allowNothing, ALLOW_FRONTEND).allowed()).isTrue();
    }

    @Test
    void denyWithoutRulesDeniesNothing() {
        Authorization denyNothing = policy("shop", "deny-nothing", Scope.NAMESPACE, Action.DENY).build();
        assertThat(decide(plaintext(), denyNothing).reason()).isEqualTo(Reason.NO_POLICY);
    }

    // Scope selection

    @Test
    void globalPolicyFromAnotherNamespaceApplies() {
        Decision d = decide(mtls(MTLS_FRONTEND), denyAll(ROOT, "deny-everything", Scope.GLOBAL));
        assertThat(d.allowed()).isFalse();
        assertThat(d.policy()).isEqualTo(ROOT + "/deny-everything");
        // A global ALLOW makes ALLOW policies applicable everywhere.
        Authorization globalAllowFrontend = policy(ROOT, "allow-frontend", Scope.GLOBAL, Action.ALLOW)
                .addRules(rule(match().addPrincipals(exact(MTLS_FRONTEND)))).build();
        assertThat(decide(mtls(BACKEND), globalAllowFrontend).reason()).isEqualTo(Reason.NO_ALLOW_MATCH);
    }

    @Test
    void namespacePolicyOfAnotherNamespaceDoesNotApply() {
        assertThat(decide(mtls(MTLS_FRONTEND), denyAll("web", "deny-all", Scope.NAMESPACE)).allowed()).isTrue();
        Authorization otherAllow = policy("web", "allow-nobody", Scope.NAMESPACE, Action.ALLOW).build();
        assertThat(decide(mtls(MTLS_FRONTEND), otherAllow).reason()).isEqualTo(Reason.NO_POLICY);
    }

    @Test
    void selectorPolicyAppliesOnlyWhenNamed() {
        Authorization selected = denyAll("shop", "deny-selected", Scope.WORKLOAD_SELECTOR);
        assertThat(decide(mtls(MTLS_FRONTEND), selected).allowed()).isTrue();
        assertThat(decide(mtls(MTLS_FRONTEND), List.of("shop/deny-selected"), selected).allowed()).isFalse();
        // Named by the wrong key: not this policy.
        assertThat(decide(mtls(MTLS_FRONTEND), List.of("web/deny-selected"), selected).allowed()).isTrue();
    }

    @Test
    void namingANonSelectorPolicyDoesNotWidenIt() {
        Authorization otherNamespace = denyAll("web", "deny-all", Scope.NAMESPACE);
        assertThat(decide(mtls(MTLS_FRONTEND), List.of("web/deny-all"), otherNamespace).allowed()).isTrue();
    }

    @Test
    void unknownNamedPolicyIsSkipped() {
        assertThat(decide(mtls(MTLS_FRONTEND), List.of("shop/not-yet-received")).reason())
                .isEqualTo(Reason.NO_POLICY);
    }

    @Test
    void policyNamedTwiceIsReportedOnce() {
        Authorization dry = policy("shop", "dry", Scope.WORKLOAD_SELECTOR, Action.DENY).setDryRun(true)
                .addRules(Rule.getDefaultInstance()).build();
        Decision d = decide(mtls(MTLS_FRONTEND), List.of("shop/dry", "shop/dry"), dry);
        assertThat(d.dryRunMatches()).containsExactly("shop/dry");
    }

    @Test
    void workloadOverloadReadsNamespaceAndPolicies() {
        Authorizer authorizer = Authorizer.of(PolicySet.of(denyAll("shop", "deny", Scope.WORKLOAD_SELECTOR),
                                                           denyAll("web", "deny-ns", Scope.NAMESPACE)));
        Workload named = Workload.newBuilder().setNamespace("shop").addAuthorizationPolicies("shop/deny").build();
        Workload inWeb = Workload.newBuilder().setNamespace("web").build();
        Workload plain = Workload.newBuilder().setNamespace("shop").build();
        assertThat(authorizer.authorize(mtls(MTLS_FRONTEND), named).policy()).isEqualTo("shop/deny");
        assertThat(authorizer.authorize(mtls(MTLS_FRONTEND), inWeb).policy()).isEqualTo("web/deny-ns");
        assertThat(authorizer.authorize(mtls(MTLS_FRONTEND), plain).allowed()).isTrue();
    }

    @Test
    void evaluateUsesTheGivenPoliciesWhateverTheirScope() {
        CompiledPolicy elsewhere = CompiledPolicy.compile(denyAll("web", "deny", Scope.NAMESPACE));
        assertThat(Authorizer.evaluate(mtls(MTLS_FRONTEND), List.of()).allowed()).isTrue();
        assertThat(Authorizer.evaluate(mtls(MTLS_FRONTEND), List.of(elsewhere)).policy()).isEqualTo("web/deny");
    }

    @Test
    void decisionsWithoutDryRunAreSharedNotAllocated() {
        Authorizer authorizer =
                Authorizer.of(PolicySet.of(ALLOW_FRONTEND, denyAll("shop", "deny", Scope.WORKLOAD_SELECTOR)));
        List<String> none = List.of();
        assertThat(authorizer.authorize(mtls(MTLS_FRONTEND), "shop", none))
                .isSameAs(authorizer.authorize(mtls(MTLS_FRONTEND), "shop", none));
        assertThat(authorizer.authorize(mtls(BACKEND), "shop", none))
                .isSameAs(authorizer.authorize(plaintext(), "shop", none));
        assertThat(authorizer.authorize(plaintext(), "shop", List.of("shop/deny")))
                .isSameAs(authorizer.authorize(mtls(BACKEND), "shop", List.of("shop/deny")));
        assertThat(authorizer.authorize(plaintext(), "web", none))
                .isSameAs(Authorizer.evaluate(plaintext(), List.of()));
    }

    // Dry run

    @Test
    void dryRunDenyDoesNotDenyButIsReported() {
        Authorization dryDeny = policy("shop", "lockdown", Scope.NAMESPACE, Action.DENY).setDryRun(true)
                .addRules(rule(match().addPrincipals(exact(MTLS_FRONTEND)))).build();
        Decision d = decide(mtls(MTLS_FRONTEND), dryDeny);
        assertThat(d.allowed()).isTrue();
        assertThat(d.reason()).isEqualTo(Reason.NO_POLICY);
        assertThat(d.dryRunMatches()).containsExactly("shop/lockdown");
        assertThat(d.dryRunAllowed()).isFalse();
        assertThat(d.dryRunDiffers()).isTrue();
        assertThat(d).hasToString("allow no_policy dry-run [shop/lockdown] would deny");

        Decision other = decide(mtls(BACKEND), dryDeny);
        assertThat(other.dryRunMatches()).isEmpty();
        assertThat(other.dryRunDiffers()).isFalse();
    }

    @Test
    void dryRunAllowDoesNotMakeAllowPoliciesApplicable() {
        Authorization dryAllow = policy("shop", "allow-frontend", Scope.NAMESPACE, Action.ALLOW).setDryRun(true)
                .addRules(rule(match().addPrincipals(exact(MTLS_FRONTEND)))).build();
        Decision backend = decide(mtls(BACKEND), dryAllow);
        assertThat(backend.allowed()).isTrue();
        assertThat(backend.reason()).isEqualTo(Reason.NO_POLICY);
        assertThat(backend.dryRunMatches()).isEmpty();
        assertThat(backend.dryRunAllowed()).as("enforced, it would deny the backend").isFalse();

        Decision frontend = decide(mtls(MTLS_FRONTEND), dryAllow);
        assertThat(frontend.dryRunMatches()).containsExactly("shop/allow-frontend");
        assertThat(frontend.dryRunDiffers()).isFalse();
    }

    @Test
    void dryRunAllowWouldRescueAnUnmatchedConnection() {
        Authorization dryAllowBackend = policy("shop", "allow-backend", Scope.NAMESPACE, Action.ALLOW)
                .setDryRun(true).addRules(rule(match().addPrincipals(exact(BACKEND)))).build();
        Decision d = decide(mtls(BACKEND), ALLOW_FRONTEND, dryAllowBackend);
        assertThat(d.allowed()).isFalse();
        assertThat(d.reason()).isEqualTo(Reason.NO_ALLOW_MATCH);
        assertThat(d.dryRunMatches()).containsExactly("shop/allow-backend");
        assertThat(d.dryRunAllowed()).isTrue();
    }

    @Test
    void enforcedDenyStaysNamedWithDryRunMatches() {
        Authorization dryDeny = policy(ROOT, "audit", Scope.GLOBAL, Action.DENY).setDryRun(true)
                .addRules(Rule.getDefaultInstance()).build();
        Decision d = decide(plaintext(), List.of(ROOT + "/istio_converted_static_strict"), STATIC_STRICT, dryDeny);
        assertThat(d.allowed()).isFalse();
        assertThat(d.policy()).isEqualTo(ROOT + "/istio_converted_static_strict");
        assertThat(d.dryRunMatches()).containsExactly(ROOT + "/audit");
        assertThat(d.dryRunDiffers()).isFalse();
    }

    // PeerAuthentication STRICT and the documented example

    @Test
    void strictDeniesPlaintextAndAllowsMtls() {
        List<String> strict = List.of(ROOT + "/istio_converted_static_strict");
        Decision plain = decide(plaintext(), strict, STATIC_STRICT);
        assertThat(plain.allowed()).isFalse();
        assertThat(plain.reason()).isEqualTo(Reason.POLICY_DENIED);
        assertThat(plain.policy()).isEqualTo(ROOT + "/istio_converted_static_strict");
        assertThat(decide(mtls(BACKEND), strict, STATIC_STRICT).reason()).isEqualTo(Reason.NO_POLICY);
        // Workloads that are not STRICT do not name it.
        assertThat(decide(plaintext(), STATIC_STRICT).allowed()).isTrue();
    }

    @Test
    void frontendBackendExample() {
        assertThat(decide(mtls(MTLS_FRONTEND), ALLOW_FRONTEND).allowed()).isTrue();
        assertThat(decide(mtls("cluster.local/ns/shop/sa/payments"), ALLOW_FRONTEND).allowed()).isFalse();
        assertThat(decide(mtls("cluster.local/ns/web/sa/frontend"), ALLOW_FRONTEND).allowed()).isFalse();
        assertThat(decide(plaintext(), ALLOW_FRONTEND).reason()).isEqualTo(Reason.NO_ALLOW_MATCH);

        List<String> strict = List.of(ROOT + "/istio_converted_static_strict");
        Decision plain = decide(plaintext(), strict, ALLOW_FRONTEND, STATIC_STRICT);
        assertThat(plain.reason()).isEqualTo(Reason.POLICY_DENIED);
        assertThat(plain.policy()).isEqualTo(ROOT + "/istio_converted_static_strict");
        assertThat(decide(mtls(MTLS_FRONTEND), strict, ALLOW_FRONTEND, STATIC_STRICT).policy())
                .isEqualTo("shop/allow-frontend");
        assertThat(decide(mtls(BACKEND), strict, ALLOW_FRONTEND, STATIC_STRICT).reason())
                .isEqualTo(Reason.NO_ALLOW_MATCH);
    }

    @Test
    void portLevelStrict() {
        // PeerAuthentication PERMISSIVE with port 8443 STRICT.
        Authorization portStrict = policy("shop", "converted_peer_authentication_pa", Scope.WORKLOAD_SELECTOR,
                                          Action.DENY)
                .addRules(rule(match().addNotPrincipals(presence()).addDestinationPorts(8443))).build();
        List<String> named = List.of("shop/converted_peer_authentication_pa");
        assertThat(decide(ConnectionAttributes.plaintext(ip("10.0.0.1"), ip("10.0.1.1"), 8443), named, portStrict)
                .allowed()).isFalse();
        assertThat(decide(ConnectionAttributes.plaintext(ip("10.0.0.1"), ip("10.0.1.1"), 8080), named, portStrict)
                .allowed()).isTrue();
        assertThat(decide(ConnectionAttributes.mtls(BACKEND, ip("10.0.0.1"), ip("10.0.1.1"), 8443), named,
                          portStrict).allowed()).isTrue();
    }

    // Inputs

    @Test
    void connectionAttributesFromIdentity() {
        ConnectionAttributes c = ConnectionAttributes.mtls("spiffe://cluster.local/ns/shop/sa/frontend",
                                                           ip("10.0.0.1"), ip("10.0.1.1"), 80);
        assertThat(c.principal()).isEqualTo(MTLS_FRONTEND);
        assertThat(c.sourceNamespace()).isEqualTo("shop");
        assertThat(c.sourceServiceAccount()).isEqualTo("frontend");
        assertThat(c.hasIdentity()).isTrue();
        assertThat(plaintext().hasIdentity()).isFalse();
        for (String bad : List.of("cluster.local/ns/shop", "cluster.local/ns//sa/x", "td/namespace/a/sa/b",
                                  "spiffe://td/ns/a/sa/b/c", "")) {
            assertThatThrownBy(() -> ConnectionAttributes.mtls(bad, ip("10.0.0.1"), ip("10.0.1.1"), 80))
                    .as(bad).isInstanceOf(IllegalArgumentException.class);
        }
        assertThatThrownBy(() -> ConnectionAttributes.plaintext(ip("10.0.0.1"), ip("10.0.1.1"), 65536))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ConnectionAttributes.plaintext(null, ip("10.0.1.1"), 80))
                .isInstanceOf(NullPointerException.class).hasMessage("sourceAddress");
    }

    @Test
    void decisionInvariants() {
        assertThatThrownBy(() -> new Decision(true, Reason.POLICY_DENIED, "a/b", List.of(), true))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new Decision(true, Reason.ALLOW_MATCHED, null, List.of(), true))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void policySetKeepsTheLastOfDuplicateKeys() {
        PolicySet set = PolicySet.of(denyAll("shop", "p", Scope.NAMESPACE), allowAll("shop", "p", Scope.NAMESPACE));
        assertThat(set.size()).isEqualTo(1);
        assertThat(set.namespaced("shop")).singleElement().extracting(CompiledPolicy::action).isEqualTo(Action.ALLOW);
        assertThat(set.get("shop/p")).isNotNull();
        assertThat(set.namespaced("web")).isEmpty();
        assertThat(PolicySet.empty().global()).isEmpty();
    }
}
