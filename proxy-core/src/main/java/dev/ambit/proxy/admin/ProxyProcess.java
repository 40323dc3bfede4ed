package dev.ambit.proxy.admin;

import static java.util.Objects.requireNonNull;

import io.netty.util.ResourceLeakDetector;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a proxy process (the node agent, the waypoint) owns from start to exit: its resources,
 * closed once in the reverse order they were added, and the latch its main thread waits on.
 * Thread-safe: resources are added while starting, closed from a shutdown hook or a failure.
 */
public final class ProxyProcess {

    private static final Logger log = LoggerFactory.getLogger(ProxyProcess.class);

    private final List<AutoCloseable> resources = new ArrayList<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final CountDownLatch terminated = new CountDownLatch(1);

    /** Adds a resource to close after every resource added later. */
    public synchronized void add(AutoCloseable resource) {
        resources.add(requireNonNull(resource, "resource"));
    }

    /**
     * Closes every resource, the last added first, each failure logged and the rest still
     * closed; then releases {@link #awaitTermination()}. Only the first call does anything.
     *
     * @return false if the process was closed before
     */
    public boolean close() {
        if (!closed.compareAndSet(false, true)) {
            return false;
        }
        List<AutoCloseable> toClose;
        synchronized (this) {
            toClose = new ArrayList<>(resources).reversed();
        }
        for (AutoCloseable r : toClose) {
            try {
                r.close();
            } catch (Exception e) {
                log.warn("closing {}: {}", r, e.toString());
            }
        }
        terminated.countDown();
        return true;
    }

    /** Blocks until {@link #close()} has finished. */
    public void awaitTermination() {
        try {
            terminated.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Netty's default leak detection (SIMPLE) records a stack trace for one buffer in 128:
     * on a proxy's data path, where every relayed chunk is a buffer, that was 6-8% of the
     * event loop's CPU (L4 bench profile). Off in the proxies unless
     * {@code -Dio.netty.leakDetection.level} (or the older {@code leakDetectionLevel}) asks
     * for a level, as the tests do (paranoid).
     */
    public static void leakDetectionOffUnlessAsked() {
        if (System.getProperty("io.netty.leakDetection.level") == null
                && System.getProperty("io.netty.leakDetectionLevel") == null) {
            ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.DISABLED);
        }
    }
}
