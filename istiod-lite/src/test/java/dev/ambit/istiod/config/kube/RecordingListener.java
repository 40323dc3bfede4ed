package dev.ambit.istiod.config.kube;

import static org.assertj.core.api.Assertions.fail;

import dev.ambit.istiod.config.ConfigError;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.ConfigSource;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

/**
 * Records what a source delivers, in order, and checks that deliveries never overlap.
 * Waits are bounded and fail with what was seen last.
 */
final class RecordingListener implements ConfigSource.Listener {

    static final Duration WAIT = Duration.ofSeconds(10);

    /** Either a {@link ConfigSnapshot} or a {@code List<ConfigError>}, in delivery order. */
    private final BlockingQueue<Object> events = new LinkedBlockingQueue<>();
    private final AtomicInteger inFlight = new AtomicInteger();
    final AtomicInteger overlaps = new AtomicInteger();
    final AtomicInteger snapshotCount = new AtomicInteger();
    final Set<String> threads = ConcurrentHashMap.newKeySet();
    volatile ConfigSnapshot lastSnapshot;
    volatile List<ConfigError> lastErrors;

    @Override
    public void onSnapshot(ConfigSnapshot snapshot) {
        enter();
        try {
            lastSnapshot = snapshot;
            snapshotCount.incrementAndGet();
            events.add(snapshot);
        } finally {
            exit();
        }
    }

    @Override
    public void onRejected(List<ConfigError> errors) {
        enter();
        try {
            lastErrors = errors;
            events.add(errors);
        } finally {
            exit();
        }
    }

    private void enter() {
        threads.add(Thread.currentThread().getName());
        if (inFlight.incrementAndGet() > 1) {
            overlaps.incrementAndGet();
        }
        // Widen the window in which an overlapping delivery would be caught.
        try {
            Thread.sleep(2);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void exit() {
        inFlight.decrementAndGet();
    }

    /** Consumes deliveries until a snapshot matches. */
    ConfigSnapshot awaitSnapshot(String what, Predicate<ConfigSnapshot> matches) throws InterruptedException {
        return await(what, ConfigSnapshot.class, matches);
    }

    /** Consumes deliveries until a rejection list matches. */
    @SuppressWarnings("unchecked")
    List<ConfigError> awaitRejected(String what, Predicate<List<ConfigError>> matches) throws InterruptedException {
        return await(what, List.class, l -> matches.test((List<ConfigError>) l));
    }

    /** The snapshot delivered right after the last consumed delivery (onRejected comes before its snapshot). */
    ConfigSnapshot nextSnapshot() throws InterruptedException {
        return awaitSnapshot("the next snapshot", s -> true);
    }

    private <T> T await(String what, Class<T> type, Predicate<? super T> matches) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (true) {
            long left = deadline - System.nanoTime();
            Object event = left <= 0 ? null : events.poll(left, TimeUnit.NANOSECONDS);
            if (event == null) {
                return fail("no delivery with " + what + " within " + WAIT + "; last snapshot: "
                        + describe(lastSnapshot) + ", last rejections: " + lastErrors);
            }
            if (type.isInstance(event) && matches.test(type.cast(event))) {
                return type.cast(event);
            }
        }
    }

    static String describe(ConfigSnapshot snapshot) {
        return snapshot == null ? "none" : snapshot.objects().keySet().toString();
    }
}
