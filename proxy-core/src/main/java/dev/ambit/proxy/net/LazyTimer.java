package dev.ambit.proxy.net;

import static java.util.Objects.requireNonNull;

import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * A timeout that is re-armed far more often than it fires: a connection's idle timeout, a
 * stream's idle timeout, a pooled connection's keep-alive. Re-arming moves a deadline
 * (one clock read and a field write); the executor holds at most one task for it, which,
 * when it runs before the deadline, schedules itself again for the rest. A Netty timer
 * cancelled and scheduled anew on every request costs a task object and two heap
 * operations on the executor's queue each time: on the waypoint, with a stream idle, an
 * idle and a pooled connection's timer moved twice per request, about 3 % of its CPU in
 * an async-profiler run of the L7 bench.
 *
 * <p>Not thread-safe: use it from {@code executor}'s thread, as a handler uses its own
 * timers. The clock is the executor's ({@link EventExecutor#ticker()}), so tests that move
 * an {@code EmbeddedChannel}'s time move this one's too.
 */
public final class LazyTimer {

    private final EventExecutor executor;
    private final Runnable task;
    /** When the task is due, on the executor's clock; {@link #OFF} when disarmed. */
    private long deadline = OFF;
    private ScheduledFuture<?> pending;
    private long pendingAt;
    private boolean closed;

    private static final long OFF = Long.MIN_VALUE;

    private LazyTimer(EventExecutor executor, Runnable task) {
        this.executor = executor;
        this.task = task;
    }

    /** A disarmed timer that runs {@code task} on {@code executor} when a deadline passes. */
    public static LazyTimer of(EventExecutor executor, Runnable task) {
        return new LazyTimer(requireNonNull(executor, "executor"), requireNonNull(task, "task"));
    }

    /** Runs the task {@code delay} from now unless re-armed or disarmed before; replaces any earlier deadline. */
    public void arm(Duration delay) {
        requireNonNull(delay, "delay");
        arm(delay.toNanos());
    }

    /** As {@link #arm(Duration)}, in nanoseconds. */
    public void arm(long delayNanos) {
        if (delayNanos < 0) {
            throw new IllegalArgumentException("delayNanos: " + delayNanos + " (expected: >= 0)");
        }
        if (closed) {
            return;
        }
        long now = executor.ticker().nanoTime();
        deadline = now + delayNanos;
        if (pending != null && pendingAt > deadline) {
            // An earlier deadline than the task's: this is rare (a shorter timeout after a
            // longer one), so the task is replaced rather than kept waiting too long.
            pending.cancel(false);
            pending = null;
        }
        if (pending == null) {
            schedule(now);
        }
    }

    /** The task will not run unless armed again. Leaves the executor's task in place (it will find nothing due). */
    public void disarm() {
        deadline = OFF;
    }

    /** Whether a deadline is set. */
    public boolean armed() {
        return deadline != OFF;
    }

    /** Disarms for good and removes the executor's task: when the connection or stream is gone. */
    public void close() {
        closed = true;
        deadline = OFF;
        if (pending != null) {
            pending.cancel(false);
            pending = null;
        }
    }

    private void schedule(long now) {
        pendingAt = deadline;
        pending = executor.schedule(this::fire, Math.max(0, deadline - now), TimeUnit.NANOSECONDS);
    }

    private void fire() {
        pending = null;
        if (closed || deadline == OFF) {
            return;
        }
        long now = executor.ticker().nanoTime();
        if (now < deadline) {
            schedule(now); // re-armed since: wait for the rest
            return;
        }
        deadline = OFF;
        task.run();
    }
}
