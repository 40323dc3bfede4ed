package dev.ambit.ctl.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

class SelectorTest {

    private static final Map<String, String> LABELS = Map.of("app", "backend", "tier", "web");

    @Test
    void supportsEqualityAndExistence() {
        assertThat(Selector.parse("app=backend").matches(LABELS)).isTrue();
        assertThat(Selector.parse("app==backend,tier=web").matches(LABELS)).isTrue();
        assertThat(Selector.parse("app!=backend").matches(LABELS)).isFalse();
        assertThat(Selector.parse("app!=frontend").matches(LABELS)).isTrue();
        assertThat(Selector.parse("tier").matches(LABELS)).isTrue();
        assertThat(Selector.parse("!tier").matches(LABELS)).isFalse();
        assertThat(Selector.parse("!version").matches(LABELS)).isTrue();
        assertThat(Selector.parse(null).matches(Map.of())).isTrue();
    }

    @Test
    void rejectsSetBasedForms() {
        assertThatThrownBy(() -> Selector.parse("app in (a,b)")).hasMessageContaining("set-based selectors are not supported");
        assertThatThrownBy(() -> Selector.parse("a=b,,c")).hasMessageContaining("empty term");
    }

    @Test
    void anEmptyServiceSelectorPicksNothing() {
        assertThat(Selector.serviceSelects(Map.of(), LABELS)).isFalse();
        assertThat(Selector.serviceSelects(Map.of("app", "backend"), LABELS)).isTrue();
    }
}
