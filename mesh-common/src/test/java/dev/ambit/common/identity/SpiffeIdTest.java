package dev.ambit.common.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class SpiffeIdTest {

    @Test
    void roundTrips() {
        SpiffeId id = SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/frontend");
        assertThat(id).isEqualTo(SpiffeId.of("cluster.local", "shop", "frontend"));
        assertThat(id.uri()).isEqualTo("spiffe://cluster.local/ns/shop/sa/frontend");
        assertThat(id.principal()).isEqualTo("cluster.local/ns/shop/sa/frontend");
    }

    @Test
    void rejectsOtherShapesNamingTheInput() {
        assertThatThrownBy(() -> SpiffeId.parse("https://cluster.local/ns/a/sa/b"))
                .hasMessageContaining("https://cluster.local/ns/a/sa/b");
        assertThatThrownBy(() -> SpiffeId.parse("spiffe://cluster.local/ns/a/sa/b/c"))
                .hasMessageContaining("expected");
        assertThatThrownBy(() -> SpiffeId.parse("spiffe://cluster.local/ns/A_B/sa/b"))
                .hasMessageContaining("namespace: A_B");
        assertThatThrownBy(() -> SpiffeId.parse("spiffe://cluster.local/ns//sa/b"))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
