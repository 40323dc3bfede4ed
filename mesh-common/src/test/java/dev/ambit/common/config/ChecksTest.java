package dev.ambit.common.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class ChecksTest {

    @Test
    void returnsValidArguments() {
        assertThat(Checks.positive(1, "n")).isEqualTo(1);
        assertThat(Checks.notNegative(0, "n")).isZero();
        assertThat(Checks.port(1, "p")).isEqualTo(1);
        assertThat(Checks.port(65535, "p")).isEqualTo(65535);
        assertThat(Checks.positive(Duration.ofMillis(1), "d")).isEqualTo(Duration.ofMillis(1));
        assertThat(Checks.notNegative(Duration.ZERO, "d")).isEqualTo(Duration.ZERO);
    }

    @Test
    void namesTheArgumentAndWhatWasExpected() {
        assertThatThrownBy(() -> Checks.positive(0, "maxStreams"))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("maxStreams: 0 (expected: > 0)");
        assertThatThrownBy(() -> Checks.notNegative(-1, "max"))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("max: -1 (expected: >= 0)");
        assertThatThrownBy(() -> Checks.port(0, "hbonePort"))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("hbonePort: 0 (expected: 1-65535)");
        assertThatThrownBy(() -> Checks.port(65536, "hbonePort"))
                .hasMessage("hbonePort: 65536 (expected: 1-65535)");
        assertThatThrownBy(() -> Checks.positive(Duration.ZERO, "timeout"))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("timeout: PT0S (expected: positive)");
        assertThatThrownBy(() -> Checks.notNegative(Duration.ofSeconds(-1), "wait"))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("wait: PT-1S (expected: >= 0)");
        assertThatThrownBy(() -> Checks.positive((Duration) null, "timeout"))
                .isInstanceOf(NullPointerException.class).hasMessage("timeout");
    }
}
