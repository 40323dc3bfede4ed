package dev.ambit.istiod.xds;

import static java.util.Objects.requireNonNull;

import java.time.Duration;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import dev.ambit.common.config.Checks;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Coalesces bursts of values: the sink receives the latest value once no new one arrived
 * for the quiet period, or once the oldest unsent value has waited the maximum delay,
 * whichever comes first. The sink runs on the scheduler, one call at a time, so what it
 * publishes is published in order.
 *
 * @param <T> the value type
 */
final class Debouncer<T> {

    /** Receives the latest value and the {@link System#nanoTime()} of the oldest value it replaces. */
    interface Sink<T> {
        void accept(T latest, long firstSubmittedNanos);
    }

    private static final Logger log = LoggerFactory.getLogger(Debouncer.class);

    private final long quietNanos;
    private final long maxDelayNanos;
    private final ScheduledExecutorService scheduler;
    private final Sink<T> sink;

    // Guarded by this.
    private T pending;
    private long firstSubmittedNanos;
    private long lastSubmittedNanos;
    private ScheduledFuture<?> timer;
    private boolean closed;

    Debouncer(Duration quietPeriod, Duration maxDelay, ScheduledExecutorService scheduler, Sink<T> sink) {
        checkTimes(quietPeriod, maxDelay);
        this.quietNanos = quietPeriod.toNanos();
        this.maxDelayNanos = maxDelay.toNanos();
        this.scheduler = requireNonNull(scheduler, "scheduler");
        this.sink = requireNonNull(sink, "sink");
    }

    /** Validates a quiet period and maximum delay; shared with the builders that take them. */
    static void checkTimes(Duration quietPeriod, Duration maxDelay) {
        requireNonNull(quietPeriod, "quietPeriod");
        requireNonNull(maxDelay, "maxDelay");
        Checks.notNegative(quietPeriod, "debounce quiet period");
        if (maxDelay.compareTo(quietPeriod) < 0) {
            throw new IllegalArgumentException("debounce max delay: " + maxDelay
                    + " (expected: >= the quiet period " + quietPeriod + ")");
        }
    }

    /** Replaces the pending value; the sink will see it (or a later one) after the delays. */
    synchronized void submit(T value) {
        requireNonNull(value, "value");
        if (closed) {
            return;
        }
        long now = System.nanoTime();
        if (pending == null) {
            firstSubmittedNanos = now;
        }
        pending = value;
        lastSubmittedNanos = now;
        if (timer == null) {
            arm(quietNanos);
        }
    }

    /** Drops any pending value; later submissions are ignored. */
    synchronized void close() {
        closed = true;
        pending = null;
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
    }

    private void arm(long delayNanos) {
        try {
            timer = scheduler.schedule(this::fire, delayNanos, TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            // The scheduler is shut down only by the owner closing us; nothing to deliver.
            timer = null;
            closed = true;
            pending = null;
        }
    }

    private void fire() {
        T value;
        long first;
        synchronized (this) {
            timer = null;
            if (closed || pending == null) {
                return;
            }
            long now = System.nanoTime();
            // The quiet period restarts with every submission; the max delay does not, so a
            // steady stream of updates still gets pushed.
            long due = Math.min(lastSubmittedNanos + quietNanos, firstSubmittedNanos + maxDelayNanos);
            if (now - due < 0) {
                arm(due - now);
                return;
            }
            value = pending;
            first = firstSubmittedNanos;
            pending = null;
        }
        try {
            sink.accept(value, first);
        } catch (RuntimeException e) {
            log.error("Publishing a debounced update failed; the previous state stays in force", e);
        }
    }
}
