package dev.ambit.istiod.deploy;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.backoff.Backoff;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The thread of a writer to the API server ({@link WaypointDeployer}, {@link RootCertPublisher}):
 * a work queue with one key, as a Kubernetes controller's. {@link #request()}s made while a pass
 * is queued coalesce into it (a burst of snapshots costs one pass); a pass that answers "not
 * done" runs again after the {@link Backoff}'s next delay (reset by a pass that is done); the
 * resync runs one periodically. Passes run one at a time on the loop's thread; a pass started by
 * the resync or a retry is told so ({@link Pass#run(boolean)}: {@code true}), one started by a
 * request only if a timed one was due meanwhile.
 */
final class ReconcileLoop implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ReconcileLoop.class);

    /** One reconcile pass. */
    @FunctionalInterface
    interface Pass {
        /**
         * Runs on the loop's thread.
         *
         * @param timed whether the resync or a retry asked for this pass (else only requests did)
         * @return whether the pass is done; false: run again after the backoff's delay
         */
        boolean run(boolean timed);
    }

    private final ScheduledExecutorService executor;
    private final Pass pass;
    private final Backoff retry;
    private final AtomicBoolean queued = new AtomicBoolean();
    private final AtomicBoolean timedDue = new AtomicBoolean();
    // Confined to the loop's thread.
    private ScheduledFuture<?> retryRun;
    private int retryAttempt;

    private ReconcileLoop(String threadName, Duration resync, Backoff retry, Pass pass) {
        this.pass = pass;
        this.retry = retry;
        executor = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().name(threadName).daemon().factory());
        long every = resync.toNanos();
        executor.scheduleWithFixedDelay(this::requestTimed, every, every, TimeUnit.NANOSECONDS);
    }

    /**
     * Starts the loop's thread named {@code threadName} and queues a first (timed) pass.
     *
     * @throws IllegalArgumentException if {@code resync} is not positive
     */
    static ReconcileLoop start(String threadName, Duration resync, Backoff retry, Pass pass) {
        requireNonNull(threadName, "threadName");
        requireNonNull(resync, "resync");
        if (resync.isNegative() || resync.isZero()) {
            throw new IllegalArgumentException("resync: " + resync + " (expected: > 0)");
        }
        ReconcileLoop loop = new ReconcileLoop(threadName, resync, requireNonNull(retry, "retry"),
                requireNonNull(pass, "pass"));
        loop.requestTimed();
        return loop;
    }

    /** Queues a pass unless one is queued already. */
    void request() {
        if (!executor.isShutdown() && queued.compareAndSet(false, true)) {
            try {
                executor.execute(this::runPass);
            } catch (RejectedExecutionException closed) {
                queued.set(false);
            }
        }
    }

    /** Queues a pass told it is timed (the resync's, a retry's, or a caller's "look at everything"). */
    void requestTimed() {
        timedDue.set(true);
        request();
    }

    /** Runs {@code check} on the loop's thread every {@code period} (for example to notice a new root). */
    void every(Duration period, Runnable check) {
        requireNonNull(check, "check");
        long nanos = requireNonNull(period, "period").toNanos();
        executor.scheduleWithFixedDelay(check, nanos, nanos, TimeUnit.NANOSECONDS);
    }

    private void runPass() {
        queued.set(false);
        boolean done;
        try {
            done = pass.run(timedDue.getAndSet(false));
        } catch (RuntimeException e) {
            done = false;
            log.error("{}: pass failed; retrying", Thread.currentThread().getName(), e);
        }
        if (retryRun != null) {
            retryRun.cancel(false);
            retryRun = null;
        }
        if (done) {
            retryAttempt = 0;
        } else {
            Duration delay = retry.delay(retryAttempt++);
            try {
                retryRun = executor.schedule(this::requestTimed, delay.toNanos(), TimeUnit.NANOSECONDS);
            } catch (RejectedExecutionException closed) {
                // closing: no retry
            }
        }
    }

    /** Stops the thread (a running pass is interrupted) and waits up to 5 s for it to end. */
    @Override
    public void close() {
        executor.shutdownNow();
        try {
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
