package dev.ambit.istiod.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.common.backoff.Backoff;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class ReconcileLoopTest {

    private static final Backoff FAST = Backoff.of(Duration.ofMillis(20), Duration.ofMillis(20));

    @Test
    void requestsWhileAPassIsQueuedCoalesceAndTheFirstPassIsTimed() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        List<Boolean> passes = new CopyOnWriteArrayList<>();
        try (ReconcileLoop loop = ReconcileLoop.start("loop-test", Duration.ofHours(1), FAST, timed -> {
            passes.add(timed);
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return true;
        })) {
            await(() -> passes.size() == 1);
            for (int i = 0; i < 50; i++) {
                loop.request(); // the first is queued behind the running pass, the rest join it
            }
            release.countDown();
            await(() -> passes.size() == 2);
            Thread.sleep(100);
            assertThat(passes).containsExactly(true, false);
        }
    }

    @Test
    void aPassNotDoneRunsAgainTimedUntilItIsDone() throws Exception {
        AtomicInteger runs = new AtomicInteger();
        List<Boolean> passes = new CopyOnWriteArrayList<>();
        try (ReconcileLoop loop = ReconcileLoop.start("loop-test", Duration.ofHours(1), FAST, timed -> {
            passes.add(timed);
            return runs.incrementAndGet() >= 3;
        })) {
            await(() -> runs.get() == 3);
            Thread.sleep(150);
            assertThat(runs).as("done: no more retries").hasValue(3);
            assertThat(passes).containsExactly(true, true, true);
            loop.request();
            await(() -> runs.get() == 4);
            assertThat(passes.get(3)).isFalse();
        }
    }

    @Test
    void aThrowingPassIsRetriedAndTheResyncRunsPeriodically() throws Exception {
        AtomicInteger runs = new AtomicInteger();
        try (ReconcileLoop loop = ReconcileLoop.start("loop-test", Duration.ofMillis(30), FAST, timed -> {
            if (runs.incrementAndGet() == 1) {
                throw new IllegalStateException("API server refused");
            }
            return true;
        })) {
            await(() -> runs.get() >= 4);
        }
        int after = runs.get();
        Thread.sleep(100);
        assertThat(runs).as("closed: nothing runs").hasValue(after);
    }

    @Test
    void aResyncMustBePositive() {
        assertThatThrownBy(() -> ReconcileLoop.start("loop-test", Duration.ZERO, FAST, timed -> true))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("resync: PT0S (expected: > 0)");
    }

    private static void await(java.util.function.BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("not within 10 s").isLessThan(deadline);
            Thread.sleep(5);
        }
    }
}
