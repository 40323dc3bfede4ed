package dev.ambit.proxy.net;

import io.netty.channel.EventLoop;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.Predicate;

/**
 * The {@link HbonePool}'s connections of one event loop: a tunnel goes on the first connection
 * of its {@link HbonePool.Key} that can take it, else on a new one. Touched only from
 * {@link #loop()}, so it needs no locks.
 */
final class LoopPool {

    private final PoolContext context;
    private final EventLoop loop;
    private final Map<HbonePool.Key, List<PooledConnection>> byKey = new HashMap<>();
    /** Every connection whose channel may still be open, also those draining after a GOAWAY. */
    private final Set<PooledConnection> live = new HashSet<>();
    /** Completed when drained and {@link #live} is empty. */
    private final CompletableFuture<Void> drained = new CompletableFuture<>();
    private boolean draining;

    LoopPool(PoolContext context, EventLoop loop) {
        this.context = context;
        this.loop = loop;
    }

    EventLoop loop() {
        return loop;
    }

    /** Completes once {@link #drainAll} was called and every connection is gone. */
    CompletableFuture<Void> drained() {
        return drained;
    }

    /** Connections that may still have an open channel (for tests). */
    int liveCount() {
        return live.size();
    }

    /** Connections of {@code key} that may take new tunnels (for tests). */
    List<PooledConnection> connections(HbonePool.Key key) {
        return List.copyOf(byKey.getOrDefault(key, List.of()));
    }

    /** Places {@code waiter} on a connection of {@code key}, opening one if none can take it. */
    void acquire(HbonePool.Key key, Waiter waiter) {
        if (waiter.promise().isDone()) {
            return; // cancelled while queued
        }
        if (context.closed) {
            waiter.promise().tryFailure(new IllegalStateException("HBONE pool closed"));
            return;
        }
        List<PooledConnection> list = byKey.computeIfAbsent(key, k -> new ArrayList<>(2));
        for (PooledConnection c : list) {
            if (c.offer(waiter)) {
                return;
            }
        }
        PooledConnection c = new PooledConnection(context, this, key);
        list.add(c);
        live.add(c);
        c.offer(waiter);
        context.dialer.dial(c, waiter);
    }

    /** {@code c} takes no new tunnel: off the lookup, though its channel may still be open. */
    void remove(PooledConnection c) {
        List<PooledConnection> list = byKey.get(c.key());
        if (list != null && list.remove(c) && list.isEmpty()) {
            byKey.remove(c.key());
        }
    }

    /** No channel of {@code c} is or will be open: off the books (a drain waits for this). */
    void gone(PooledConnection c) {
        if (live.remove(c)) {
            maybeDrained();
        }
    }

    void drainAll() {
        draining = true;
        for (PooledConnection c : new ArrayList<>(live)) {
            c.shutdown();
        }
        maybeDrained();
    }

    void forceAll() {
        for (PooledConnection c : new ArrayList<>(live)) {
            c.force();
        }
    }

    void release(String podUid) {
        for (PooledConnection c : new ArrayList<>(live)) {
            if (c.key().podUid().equals(podUid)) {
                c.shutdown();
            }
        }
    }

    void retainDestinations(Predicate<String> present) {
        for (PooledConnection c : new ArrayList<>(live)) {
            String uid = c.key().destinationUid();
            if (!uid.isEmpty() && !present.test(uid)) {
                c.shutdown();
            }
        }
    }

    void closeAll() {
        for (List<PooledConnection> list : new ArrayList<>(byKey.values())) {
            for (PooledConnection c : new ArrayList<>(list)) {
                c.close();
            }
        }
    }

    private void maybeDrained() {
        if (draining && live.isEmpty()) {
            drained.complete(null);
        }
    }
}
