package dev.ambit.proxy.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.channel.embedded.EmbeddedChannel;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class LazyTimerTest {

    private final EmbeddedChannel ch = new EmbeddedChannel();
    private final AtomicInteger fired = new AtomicInteger();
    private final LazyTimer timer = LazyTimer.of(ch.eventLoop(), fired::incrementAndGet);

    @AfterEach
    void close() {
        ch.finishAndReleaseAll();
    }

    private void advance(long seconds) {
        ch.advanceTimeBy(seconds, TimeUnit.SECONDS);
        ch.runScheduledPendingTasks();
    }

    @Test
    void firesOnceWhenTheDeadlinePasses() {
        timer.arm(Duration.ofSeconds(10));
        advance(9);
        assertThat(fired).hasValue(0);
        assertThat(timer.armed()).isTrue();
        advance(1);
        assertThat(fired).hasValue(1);
        assertThat(timer.armed()).isFalse();
        advance(60);
        assertThat(fired).hasValue(1);
    }

    @Test
    void reArmingMovesTheDeadlineWithoutANewTaskEachTime() {
        timer.arm(Duration.ofSeconds(10));
        for (int i = 0; i < 5; i++) {
            advance(6);
            timer.arm(Duration.ofSeconds(10)); // activity: 10 s from now again
        }
        assertThat(fired).hasValue(0);
        advance(9);
        assertThat(fired).hasValue(0);
        advance(1);
        assertThat(fired).hasValue(1);
    }

    @Test
    void aDisarmedTimerDoesNotFireAndCanBeArmedAgain() {
        timer.arm(Duration.ofSeconds(10));
        timer.disarm();
        advance(20);
        assertThat(fired).hasValue(0);
        timer.arm(Duration.ofSeconds(5));
        advance(5);
        assertThat(fired).hasValue(1);
    }

    @Test
    void aShorterDeadlineThanThePendingTaskIsStillOnTime() {
        timer.arm(Duration.ofSeconds(60));
        timer.arm(Duration.ofSeconds(2));
        advance(2);
        assertThat(fired).hasValue(1);
    }

    @Test
    void closedIsForGood() {
        timer.arm(Duration.ofSeconds(1));
        timer.close();
        timer.arm(Duration.ofSeconds(1));
        advance(5);
        assertThat(fired).hasValue(0);
        assertThat(timer.armed()).isFalse();
    }

    @Test
    void rejectsANegativeDelay() {
        assertThatThrownBy(() -> timer.arm(-1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("delayNanos: -1 (expected: >= 0)");
    }
}
