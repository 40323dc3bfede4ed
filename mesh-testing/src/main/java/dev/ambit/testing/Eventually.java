package dev.ambit.testing;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/** Bounded polling for tests: what happens on another thread, within 10 s. */
public final class Eventually {

    private static final long TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(10);

    private Eventually() {}

    /** Retries {@code assertion} every 20 ms until it passes; rethrows its last failure after 10 s. */
    public static void eventually(Runnable assertion) throws InterruptedException {
        eventually(Duration.ofNanos(TIMEOUT_NANOS), assertion);
    }

    /**
     * Retries {@code assertion} every 20 ms until it passes; rethrows its last failure after
     * {@code timeout} (for what a process does at start, which a busy machine slows down).
     */
    public static void eventually(Duration timeout, Runnable assertion) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try {
                assertion.run();
                return;
            } catch (AssertionError e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(20);
            }
        }
    }

    /** Waits until {@code condition} holds; fails after 10 s. */
    public static void eventually(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TIMEOUT_NANOS;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not met within 10 s");
            }
            Thread.sleep(20);
        }
    }
}
