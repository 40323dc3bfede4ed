package dev.ambit.waypoint.upstream;

import io.netty.channel.EventLoop;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * An HTTP/1.1 pool's requests waiting for a connection, each with the event loop it wants its
 * connection on, and the connections being opened per loop. Envoy keeps one connection pool
 * per worker thread, so a request never changes threads on its way upstream; {@link Http1Pool}
 * does the same with one pool per endpoint: a waiting request gets a connection of its own
 * loop first, and a connection is opened on the loop whose requests outnumber the
 * connections being opened for it. (With one shared queue, a request from one loop and the
 * connection of another handed it on through the other loop's task queue: two thread
 * wake-ups, or four with the response's body, per request.) Not thread-safe: the pool's lock
 * guards it. A {@code null} loop means any.
 */
final class PendingRequests {

    /** A waiting request and the loop it would like its connection on. */
    record Waiting(Exchange exchange, EventLoop loop) {}

    private final ArrayDeque<Waiting> queue = new ArrayDeque<>();
    // Requests waiting per loop, kept as the queue changes: needingConnection runs for every
    // request queued, and counting the queue each time made a burst of n requests cost n².
    private final Map<EventLoop, Integer> waiting = new HashMap<>();
    private final Map<EventLoop, Integer> connecting = new HashMap<>();
    private int connectingTotal;

    void add(Exchange exchange, EventLoop loop) {
        queue.addLast(new Waiting(exchange, loop));
        waiting.merge(loop, 1, Integer::sum);
    }

    /** Removes {@code exchange} (its timeout); whether it was waiting. */
    boolean remove(Exchange exchange) {
        for (Iterator<Waiting> it = queue.iterator(); it.hasNext(); ) {
            Waiting w = it.next();
            if (w.exchange() == exchange) {
                it.remove();
                left(w);
                return true;
            }
        }
        return false;
    }

    int size() {
        return queue.size();
    }

    /** The oldest request that wants {@code loop}, else the oldest of all (nobody is left waiting); null if none. */
    Waiting pollFor(EventLoop loop) {
        for (Iterator<Waiting> it = queue.iterator(); it.hasNext(); ) {
            Waiting w = it.next();
            if (w.loop() == loop) {
                it.remove();
                left(w);
                return w;
            }
        }
        Waiting w = queue.pollFirst();
        if (w != null) {
            left(w);
        }
        return w;
    }

    private void left(Waiting w) {
        waiting.computeIfPresent(w.loop(), (l, n) -> n > 1 ? n - 1 : null);
    }

    /**
     * The oldest request whose loop has more requests waiting than connections being opened
     * for it: the next connection is needed on its loop. Null if every request has one coming.
     */
    Waiting needingConnection() {
        boolean any = false;
        for (Map.Entry<EventLoop, Integer> e : waiting.entrySet()) {
            if (e.getValue() > connecting.getOrDefault(e.getKey(), 0)) {
                any = true;
                break;
            }
        }
        if (!any) {
            return null; // the common case once connections are coming for everyone: no scan
        }
        for (Waiting w : queue) {
            if (waiting.get(w.loop()) > connecting.getOrDefault(w.loop(), 0)) {
                return w;
            }
        }
        return null;
    }

    /** A connection is being opened on {@code loop}. */
    void connecting(EventLoop loop) {
        connecting.merge(loop, 1, Integer::sum);
        connectingTotal++;
    }

    /** A connection being opened on {@code loop} is open or failed. */
    void connected(EventLoop loop) {
        connecting.computeIfPresent(loop, (l, n) -> n > 1 ? n - 1 : null);
        connectingTotal--;
    }

    int connectingTotal() {
        return connectingTotal;
    }

    /** Takes every waiting request out (the pool closes). */
    List<Waiting> drain() {
        List<Waiting> all = List.copyOf(queue);
        queue.clear();
        waiting.clear();
        return all;
    }
}
