package dev.ambit.proxy.state;

import static dev.ambit.testing.MeshFixture.policy;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.api.security.Action;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Scope;
import dev.ambit.api.workload.Workload;
import dev.ambit.proxy.authz.CompiledPolicy;
import dev.ambit.testing.MeshFixture;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class PolicyStoreTest {

    private final PolicyStore store = new PolicyStore();

    private void apply(Map<String, Authorization> upserted, List<String> removed) {
        Map<String, CompiledPolicy> prepared = new LinkedHashMap<>();
        upserted.forEach((name, p) -> prepared.put(name, PolicyStore.prepare(name, p)));
        store.apply(upserted, prepared, removed);
    }

    private static List<String> names(List<Authorization> policies) {
        return policies.stream().map(p -> p.getNamespace() + "/" + p.getName()).toList();
    }

    @BeforeEach
    void fill() {
        apply(MeshFixture.authorizations(), List.of());
    }

    @Test
    void looksUpCompiledPoliciesByScopeAndKey() {
        assertThat(store.global()).extracting(CompiledPolicy::key).containsExactly("istio-system/global-deny");
        assertThat(store.namespaced("shop")).extracting(CompiledPolicy::key).containsExactly("shop/ns-allow");
        assertThat(store.namespaced("other")).extracting(CompiledPolicy::key).containsExactly("other/ns-allow");
        assertThat(store.get("shop/backend-allow").scope()).isEqualTo(Scope.WORKLOAD_SELECTOR);
        assertThat(store.policy("shop/backend-allow").getName()).isEqualTo("backend-allow");
        assertThat(store.size()).isEqualTo(4);
    }

    @Test
    void anUpdatePublishesTheWholeNewSet() {
        List<CompiledPolicy> before = store.namespaced("shop");
        apply(Map.of("shop/ns-allow", policy("shop", "ns-allow", Scope.GLOBAL, Action.DENY, "evil")),
                List.of("istio-system/global-deny"));

        assertThat(before).extracting(CompiledPolicy::key).as("a list handed out is never edited")
                .containsExactly("shop/ns-allow");
        assertThat(store.namespaced("shop")).isEmpty();
        assertThat(store.global()).extracting(CompiledPolicy::key).containsExactly("shop/ns-allow");
        assertThat(store.get("istio-system/global-deny")).isNull();
        assertThat(store.policy("istio-system/global-deny")).isNull();
        assertThat(store.size()).isEqualTo(3);
    }

    @Test
    void policiesForAreWhatTheAuthorizerConsiders() {
        // Names a selector policy twice, a namespace policy of another namespace, and an unknown one.
        Workload w = Workload.newBuilder().setUid("u").setNamespace("shop")
                .addAuthorizationPolicies("shop/backend-allow").addAuthorizationPolicies("other/ns-allow")
                .addAuthorizationPolicies("shop/backend-allow").addAuthorizationPolicies("shop/unknown").build();

        assertThat(names(store.policiesFor(w)))
                .containsExactly("istio-system/global-deny", "shop/ns-allow", "shop/backend-allow");
    }

    @Test
    void prepareNamesTheResourceThatDoesNotCompile() {
        Authorization unknownAction = policy("shop", "x", Scope.NAMESPACE, Action.DENY, "evil").toBuilder()
                .setActionValue(7).build();
        assertThatThrownBy(() -> PolicyStore.prepare("shop/x", unknownAction))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("authorization shop/x: unknown scope or action (1, 7)");
        assertThatThrownBy(() -> PolicyStore.prepare("shop/y", Authorization.getDefaultInstance()))
                .hasMessage("authorization shop/y: name: empty");
    }
}
