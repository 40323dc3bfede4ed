package dev.ambit.proxy.state;

import static dev.ambit.testing.MeshFixture.policy;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.api.security.Action;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Clause;
import dev.ambit.api.security.Match;
import dev.ambit.api.security.Rule;
import dev.ambit.api.security.Scope;
import dev.ambit.api.security.StringMatch;
import dev.ambit.proxy.authz.Authorizer;
import dev.ambit.proxy.authz.CompiledPolicy;
import dev.ambit.proxy.authz.ConnectionAttributes;
import dev.ambit.testing.MeshFixture;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@link ProxyState} as the {@link Authorizer}'s {@link dev.ambit.proxy.authz.PolicyLookup}. */
class ProxyStatePolicyLookupTest {

    ProxyState state;

    @BeforeEach
    void fill() {
        state = ProxyState.create();
        state.applyAddresses(MeshFixture.addresses(), List.of());
        state.applyAuthorizations(MeshFixture.authorizations(), List.of());
    }

    @Test
    void indexesCompiledPoliciesByScope() {
        assertThat(state.global()).extracting(CompiledPolicy::key).containsExactly("istio-system/global-deny");
        assertThat(state.namespaced("shop")).extracting(CompiledPolicy::key).containsExactly("shop/ns-allow");
        assertThat(state.namespaced("nowhere")).isEmpty();
        assertThat(state.get("shop/backend-allow").action()).isEqualTo(
                dev.ambit.api.security.Action.ALLOW);
        assertThat(state.get("shop/missing")).isNull();
    }

    @Test
    void updatesAndRemovalsReachTheCompiledIndexes() {
        state.applyAuthorizations(Map.of("shop/ns-allow",
                policy("shop", "ns-allow", Scope.NAMESPACE, Action.DENY, "evil")), List.of("istio-system/global-deny"));

        assertThat(state.global()).isEmpty();
        assertThat(state.namespaced("shop")).singleElement()
                .satisfies(p -> assertThat(p.action()).isEqualTo(Action.DENY));
        assertThat(state.get("istio-system/global-deny")).isNull();

        state.applyAuthorizations(Map.of(), List.of("shop/ns-allow"));
        assertThat(state.namespaced("shop")).isEmpty();
    }

    @Test
    void authorizerDecidesFromTheState() {
        Authorizer authorizer = Authorizer.of(state);
        var backend = state.workload(MeshFixture.uid("backend-1"));
        var fromShop = ConnectionAttributes.mtls("cluster.local/ns/shop/sa/frontend",
                MeshFixture.ip("10.0.0.1"), MeshFixture.ip("10.0.0.2"), 8080);
        var fromEvil = ConnectionAttributes.mtls("cluster.local/ns/evil/sa/x",
                MeshFixture.ip("10.0.0.9"), MeshFixture.ip("10.0.0.2"), 8080);

        assertThat(authorizer.authorize(fromShop, backend).allowed()).isTrue();
        assertThat(authorizer.authorize(fromEvil, backend).policy()).isEqualTo("istio-system/global-deny");
    }

    @Test
    void policyThatDoesNotCompileRejectsTheWholeUpdate() {
        long generation = state.generation();
        Authorization untyped = Authorization.newBuilder().setNamespace("shop").setName("broken")
                .setScope(Scope.NAMESPACE).setAction(Action.DENY)
                .addRules(Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(
                        Match.newBuilder().addPrincipals(StringMatch.getDefaultInstance()))))
                .build();

        assertThatThrownBy(() -> state.applyAuthorizations(Map.of(
                "shop/broken", untyped,
                "shop/fine", policy("shop", "fine", Scope.NAMESPACE, Action.ALLOW, "shop")), List.of()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("shop/broken");

        assertThat(state.generation()).isEqualTo(generation);
        assertThat(state.get("shop/fine")).isNull();
        assertThat(state.policy("shop/fine")).isNull();
        assertThat(state.namespaced("shop")).extracting(CompiledPolicy::key).containsExactly("shop/ns-allow");
    }
}
