package dev.ambit.istiod.xds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DebouncerTest {

    private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
    private final BlockingQueue<Integer> delivered = new LinkedBlockingQueue<>();

    @AfterEach
    void stop() throws InterruptedException {
        scheduler.shutdownNow();
        assertThat(scheduler.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
    }

    @Test
    void aBurstIsDeliveredOnceWithTheLatestValue() throws InterruptedException {
        Debouncer<Integer> debouncer = new Debouncer<>(Duration.ofMillis(50), Duration.ofSeconds(5), scheduler,
                (value, first) -> delivered.add(value));
        for (int i = 1; i <= 100; i++) {
            debouncer.submit(i);
        }
        assertThat(delivered.poll(5, TimeUnit.SECONDS)).isEqualTo(100);
        assertThat(delivered.poll(300, TimeUnit.MILLISECONDS)).as("a second delivery").isNull();

        // The next burst is delivered on its own.
        debouncer.submit(101);
        assertThat(delivered.poll(5, TimeUnit.SECONDS)).isEqualTo(101);
    }

    @Test
    void theMaxDelayBoundsTheWaitUnderSteadyUpdates() throws InterruptedException {
        AtomicLongHolder firstSubmitted = new AtomicLongHolder();
        Debouncer<Integer> debouncer = new Debouncer<>(Duration.ofMillis(200), Duration.ofMillis(400), scheduler,
                (value, first) -> {
                    firstSubmitted.value = first;
                    delivered.add(value);
                });
        AtomicBoolean submitting = new AtomicBoolean(true);
        AtomicInteger submitted = new AtomicInteger();
        CountDownLatch started = new CountDownLatch(1);
        long start = System.nanoTime();
        Thread updates = Thread.ofPlatform().start(() -> {
            // Every 10 ms: the quiet period alone would never elapse.
            while (submitting.get() && submitted.get() < 1000) {
                debouncer.submit(submitted.incrementAndGet());
                started.countDown();
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        try {
            assertThat(started.await(5, TimeUnit.SECONDS)).isTrue();
            Integer value = delivered.poll(5, TimeUnit.SECONDS);
            long elapsedMillis = (System.nanoTime() - start) / 1_000_000;
            assertThat(value).as("delivered while updates kept coming").isNotNull();
            assertThat(submitting.get()).isTrue();
            // At least the quiet period; the max delay (400 ms) unless the updating thread stalled.
            assertThat(elapsedMillis).as("waited before delivering").isGreaterThanOrEqualTo(190);
            assertThat(firstSubmitted.value - start).as("measured from the first update").isGreaterThanOrEqualTo(0)
                    .isLessThan(TimeUnit.MILLISECONDS.toNanos(200));
        } finally {
            submitting.set(false);
            updates.join(5000);
            debouncer.close();
        }
    }

    @Test
    void zeroDelaysDeliverPromptly() throws InterruptedException {
        Debouncer<Integer> debouncer = new Debouncer<>(Duration.ZERO, Duration.ZERO, scheduler,
                (value, first) -> delivered.add(value));
        debouncer.submit(7);
        assertThat(delivered.poll(5, TimeUnit.SECONDS)).isEqualTo(7);
    }

    @Test
    void closeDropsThePendingValue() throws InterruptedException {
        Debouncer<Integer> debouncer = new Debouncer<>(Duration.ofMillis(100), Duration.ofSeconds(1), scheduler,
                (value, first) -> delivered.add(value));
        debouncer.submit(1);
        debouncer.close();
        debouncer.submit(2);
        assertThat(delivered.poll(400, TimeUnit.MILLISECONDS)).isNull();
    }

    @Test
    void aFailingSinkDoesNotStopLaterDeliveries() throws InterruptedException {
        Debouncer<Integer> debouncer = new Debouncer<>(Duration.ZERO, Duration.ZERO, scheduler, (value, first) -> {
            delivered.add(value);
            if (value == 1) {
                throw new IllegalStateException("bad model");
            }
        });
        debouncer.submit(1);
        assertThat(delivered.poll(5, TimeUnit.SECONDS)).isEqualTo(1);
        debouncer.submit(2);
        assertThat(delivered.poll(5, TimeUnit.SECONDS)).isEqualTo(2);
    }

    @Test
    void invalidDelaysAreRejectedWithTheFix() {
        assertThatThrownBy(() -> Debouncer.checkTimes(Duration.ofSeconds(-1), Duration.ofSeconds(1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("debounce quiet period: PT-1S (expected: >= 0)");
        assertThatThrownBy(() -> Debouncer.checkTimes(Duration.ofSeconds(2), Duration.ofSeconds(1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("debounce max delay: PT1S (expected: >= the quiet period PT2S)");
        assertThatThrownBy(() -> Debouncer.checkTimes(null, Duration.ofSeconds(1)))
                .isInstanceOf(NullPointerException.class)
                .hasMessage("quietPeriod");
    }

    private static final class AtomicLongHolder {
        volatile long value;
    }
}
