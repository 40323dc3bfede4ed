package dev.ambit.istiod.xds;

import static java.util.Objects.requireNonNull;

import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs tasks one at a time, in submission order, on a shared executor. Each xDS stream
 * has one: its state is then only touched by one task at a time, without holding a
 * lock while responses are serialized, and without a thread per stream.
 */
final class SerialExecutor implements Executor {

    private static final Logger log = LoggerFactory.getLogger(SerialExecutor.class);

    /** Tasks run per turn before yielding the thread, so one busy stream cannot starve others. */
    private static final int BATCH = 64;

    private final Executor delegate;
    private final Queue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean scheduled = new AtomicBoolean();

    SerialExecutor(Executor delegate) {
        this.delegate = requireNonNull(delegate, "delegate");
    }

    /**
     * Queues a task.
     *
     * @throws java.util.concurrent.RejectedExecutionException when the shared executor
     *         has been shut down
     */
    @Override
    public void execute(Runnable task) {
        tasks.add(requireNonNull(task, "task"));
        schedule();
    }

    private void schedule() {
        if (scheduled.compareAndSet(false, true)) {
            try {
                delegate.execute(this::drain);
            } catch (RuntimeException e) {
                scheduled.set(false);
                throw e;
            }
        }
    }

    private void drain() {
        try {
            for (int i = 0; i < BATCH; i++) {
                Runnable task = tasks.poll();
                if (task == null) {
                    break;
                }
                try {
                    task.run();
                } catch (RuntimeException | Error e) {
                    // A failing task must not stop the ones queued after it.
                    log.error("xDS stream task failed", e);
                }
            }
        } finally {
            scheduled.set(false);
            if (!tasks.isEmpty()) {
                try {
                    schedule();
                } catch (RejectedExecutionException e) {
                    // Shutting down: nobody is left to run them.
                    tasks.clear();
                }
            }
        }
    }
}
