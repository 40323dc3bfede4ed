package dev.ambit.proxy.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.api.workload.Workload;
import dev.ambit.common.identity.SpiffeId;
import org.junit.jupiter.api.Test;

class WorkloadIdentityTest {

    @Test
    void namesTheWorkloadsTrustDomainNamespaceAndServiceAccount() {
        Workload w = Workload.newBuilder().setTrustDomain("example.org").setNamespace("shop")
                .setServiceAccount("frontend").build();
        assertThat(WorkloadIdentity.of(w).uri()).isEqualTo("spiffe://example.org/ns/shop/sa/frontend");
    }

    @Test
    void emptyTrustDomainAndServiceAccountTakeKubernetesDefaults() {
        Workload w = Workload.newBuilder().setNamespace("shop").build();
        assertThat(WorkloadIdentity.of(w)).isEqualTo(SpiffeId.of("cluster.local", "shop", "default"));
    }

    @Test
    void invalidFieldsAreNamed() {
        Workload w = Workload.newBuilder().setNamespace("Shop").build();
        assertThatThrownBy(() -> WorkloadIdentity.of(w))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("namespace: Shop (expected: a Kubernetes name)");
    }

    @Test
    void isComparesWithoutThrowing() {
        Workload w = Workload.newBuilder().setNamespace("shop").setServiceAccount("web").build();
        assertThat(WorkloadIdentity.is(w, SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/web"))).isTrue();
        assertThat(WorkloadIdentity.is(w, SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/default"))).isFalse();
        assertThat(WorkloadIdentity.is(w, SpiffeId.parse("spiffe://other.org/ns/shop/sa/web"))).isFalse();
        Workload unnamed = Workload.newBuilder().setNamespace("shop").build();
        assertThat(WorkloadIdentity.is(unnamed, SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/default")))
                .isTrue();
        Workload invalid = Workload.newBuilder().setNamespace("Not Valid").build();
        assertThat(WorkloadIdentity.is(invalid, SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/default")))
                .isFalse();
    }
}
