package dev.ambit.proxy.authz;

import static dev.ambit.proxy.authz.Policies.MTLS_FRONTEND;
import static dev.ambit.proxy.authz.Policies.exact;
import static dev.ambit.proxy.authz.Policies.match;
import static dev.ambit.proxy.authz.Policies.mtls;
import static dev.ambit.proxy.authz.Policies.plaintext;
import static dev.ambit.proxy.authz.Policies.policy;
import static dev.ambit.proxy.authz.Policies.rule;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.api.security.Action;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Scope;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.json.JsonWriter;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The mesh view's denial ring: what it keeps of a denial (policy, rule), its bound, its JSON. */
class RecentDenialsTest {

    private static final Clock CLOCK = Clock.fixed(Instant.parse("2026-12-07T14:00:00Z"), ZoneOffset.UTC);

    /** DENY with two rules; only the second matches the frontend. */
    private static final Authorization DENY_FRONTEND = policy("shop", "deny-frontend", Scope.NAMESPACE, Action.DENY)
            .addRules(rule(match().addPrincipals(exact("cluster.local/ns/shop/sa/other"))))
            .addRules(rule(match().addPrincipals(exact(MTLS_FRONTEND)))).build();

    private static final Authorization ALLOW_OTHER = policy("shop", "allow-other", Scope.NAMESPACE, Action.ALLOW)
            .addRules(rule(match().addPrincipals(exact("cluster.local/ns/shop/sa/other")))).build();

    private static final Workload BACKEND = Workload.newBuilder().setUid("Kubernetes//Pod/shop/backend-1")
            .setName("backend-1").setWorkloadName("backend").setNamespace("shop").build();

    @Test
    void keepsThePolicyAndTheRuleThatDenied() {
        PolicySet set = PolicySet.of(DENY_FRONTEND);
        RecentDenials ring = RecentDenials.of(set, 4, CLOCK);
        ConnectionAttributes c = mtls(MTLS_FRONTEND);
        Decision d = Authorizer.of(set).authorize(c, BACKEND);
        assertThat(d.allowed()).isFalse();

        ring.record(d, c, BACKEND, "frontend", "shop");

        RecentDenials.Denial denial = ring.snapshot().getFirst();
        assertThat(denial.reason()).isEqualTo("policy_denied");
        assertThat(denial.policy()).isEqualTo("shop/deny-frontend");
        assertThat(denial.rule()).isEqualTo(1);
        assertThat(denial.ruleText()).contains(MTLS_FRONTEND);
        assertThat(denial.sourceWorkload()).isEqualTo("frontend");
        assertThat(denial.destinationWorkload()).isEqualTo("backend");
        assertThat(denial.destinationNamespace()).isEqualTo("shop");
        assertThat(denial.sourcePrincipal()).isEqualTo(MTLS_FRONTEND);
        assertThat(denial.at()).isEqualTo(CLOCK.instant());
    }

    @Test
    void noAllowMatchNamesTheAllowPoliciesThatApplied() {
        PolicySet set = PolicySet.of(ALLOW_OTHER);
        RecentDenials ring = RecentDenials.of(set, 4, CLOCK);
        ConnectionAttributes c = plaintext();
        Decision d = Authorizer.of(set).authorize(c, BACKEND);

        ring.record(d, c, BACKEND, null, null);

        RecentDenials.Denial denial = ring.snapshot().getFirst();
        assertThat(denial.reason()).isEqualTo("no_allow_match");
        assertThat(denial.policy()).isNull();
        assertThat(denial.rule()).isEqualTo(-1);
        assertThat(denial.allowPolicies()).containsExactly("shop/allow-other");
        assertThat(denial.sourceWorkload()).isEqualTo("unknown");
        assertThat(denial.sourcePrincipal()).isNull();
    }

    @Test
    void allowedDecisionsAreNotRecordedAndTheRingIsBounded() {
        PolicySet set = PolicySet.of(DENY_FRONTEND);
        RecentDenials ring = RecentDenials.of(set, 2, CLOCK);
        ConnectionAttributes allowed = mtls("cluster.local/ns/shop/sa/third");
        ring.record(Authorizer.of(set).authorize(allowed, BACKEND), allowed, BACKEND, "third", "shop");
        assertThat(ring.snapshot()).isEmpty();

        ConnectionAttributes c = mtls(MTLS_FRONTEND);
        Decision d = Authorizer.of(set).authorize(c, BACKEND);
        for (String source : List.of("a", "b", "c")) {
            ring.record(d, c, BACKEND, source, "shop");
        }
        assertThat(ring.snapshot()).extracting(RecentDenials.Denial::sourceWorkload).containsExactly("b", "c");
        assertThat(ring.total()).isEqualTo(3);

        JsonWriter json = new JsonWriter();
        ring.write(json);
        assertThat(json.toString()).contains("\"capacity\":2", "\"total\":3", "\"policy\":\"shop/deny-frontend\"",
                "\"rule\":1", "\"sourceWorkload\":\"c\"", "\"at\":\"2026-12-07T14:00:00Z\"");
    }

    @Test
    void capacityIsChecked() {
        assertThatThrownBy(() -> RecentDenials.of(PolicySet.of(), 0))
                .hasMessage("capacity: 0 (expected: 1-100000)");
    }
}
