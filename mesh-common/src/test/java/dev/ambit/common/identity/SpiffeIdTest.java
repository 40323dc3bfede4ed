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

    @Test
    void namesAreCheckedAsTheGrammarSays() {
        // The grammar as a regex, the oracle for the hand-written check.
        java.util.regex.Pattern trustDomain = java.util.regex.Pattern.compile("[a-z0-9]([a-z0-9._-]{0,253}[a-z0-9])?");
        java.util.regex.Pattern k8sName = java.util.regex.Pattern.compile("[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?");
        java.util.List<String> samples = new java.util.ArrayList<>(java.util.List.of("", "a", "0", "-", ".", "_",
                "a-", "-a", "a.b", "a_b", "a..b", "A", "aB", "a b", "é", "cluster.local", "td_1.example",
                "a".repeat(253), "a".repeat(254), "a".repeat(255), "a".repeat(256), "a" + "-".repeat(251) + "z"));
        java.util.Random random = new java.util.Random(7);
        String alphabet = "az09.-_A/ é";
        for (int i = 0; i < 5_000; i++) {
            StringBuilder b = new StringBuilder();
            for (int n = random.nextInt(6); n > 0; n--) {
                b.append(alphabet.charAt(random.nextInt(alphabet.length())));
            }
            samples.add(b.toString());
        }
        for (String s : samples) {
            assertThat(SpiffeId.isName(s, 255, true)).as("trust domain %s", s)
                    .isEqualTo(trustDomain.matcher(s).matches());
            assertThat(SpiffeId.isName(s, 253, false)).as("name %s", s).isEqualTo(k8sName.matcher(s).matches());
        }
        assertThatThrownBy(() -> SpiffeId.of("cluster.local", "shop", "Frontend"))
                .hasMessageContaining("serviceAccount: Frontend");
        assertThatThrownBy(() -> SpiffeId.of("Cluster", "shop", "frontend")).hasMessageContaining("trustDomain");
    }
}
