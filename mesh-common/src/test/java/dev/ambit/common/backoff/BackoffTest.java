package dev.ambit.common.backoff;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class BackoffTest {

    @Test
    void doublesFromInitialUpToMaxWithEqualJitter() {
        Backoff b = Backoff.of(Duration.ofMillis(100), Duration.ofSeconds(1));
        for (int i = 0; i < 200; i++) {
            assertThat(b.delay(0).toMillis()).isBetween(50L, 100L);
            assertThat(b.delay(1).toMillis()).isBetween(100L, 200L);
            assertThat(b.delay(3).toMillis()).isBetween(400L, 800L);
            assertThat(b.delay(4).toMillis()).isBetween(500L, 1000L); // 1.6 s capped at 1 s
            assertThat(b.delay(Integer.MAX_VALUE).toMillis()).isBetween(500L, 1000L);
            assertThat(b.delay(-5).toMillis()).isBetween(50L, 100L);
        }
    }

    @Test
    void jitterSpreadsDelaysAndZeroJitterIsExact() {
        Backoff b = Backoff.of(Duration.ofMillis(100), Duration.ofSeconds(10));
        Set<Duration> seen = new HashSet<>();
        for (int i = 0; i < 50; i++) {
            seen.add(b.delay(5));
        }
        assertThat(seen).as("50 jittered delays").hasSizeGreaterThan(1);
        Backoff exact = b.withJitter(0);
        assertThat(exact.delay(0)).isEqualTo(Duration.ofMillis(100));
        assertThat(exact.delay(2)).isEqualTo(Duration.ofMillis(400));
        assertThat(exact.delay(100)).isEqualTo(Duration.ofSeconds(10));
        Backoff fifth = b.withJitter(0.2);
        for (int i = 0; i < 200; i++) {
            assertThat(fifth.delay(1).toMillis()).isBetween(160L, 200L);
        }
    }

    @Test
    void largeValuesDoNotOverflow() {
        Backoff b = Backoff.of(Duration.ofDays(1), Duration.ofDays(3650)).withJitter(0);
        assertThat(b.delay(62)).isEqualTo(Duration.ofDays(3650));
        assertThat(b.delay(3)).isEqualTo(Duration.ofDays(8));
    }

    @Test
    void rejectsBadArguments() {
        assertThatThrownBy(() -> Backoff.of(Duration.ZERO, Duration.ofSeconds(1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("initial: PT0S (expected: > 0)");
        assertThatThrownBy(() -> Backoff.of(Duration.ofSeconds(2), Duration.ofSeconds(1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("max: PT1S (expected: >= initial PT2S)");
        assertThatThrownBy(() -> Backoff.of(Duration.ofSeconds(1), Duration.ofSeconds(1)).withJitter(1))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("jitter: 1.0 (expected: >= 0 and < 1)");
    }
}
