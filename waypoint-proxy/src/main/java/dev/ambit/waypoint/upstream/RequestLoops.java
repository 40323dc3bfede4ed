package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * Which of the group's event loops carries a request's upstream connection and timer: the
 * caller's, unless it has clearly more requests in flight than the least busy loop (at least
 * twice as many, plus {@value #MARGIN}); then that one. So requests that arrive spread over
 * the loops (a gateway's client connections, accepted round robin) stay on their own thread,
 * as in Envoy's per-worker pools, while one downstream connection that carries many
 * concurrent streams (all streams of one HBONE connection arrive on one loop; without this
 * their upstream work stayed there too: istio/istio #43443, #55463) still spreads its work
 * over every loop. Each hop costs two thread wake-ups per request (the request there, the
 * response back); on a busy machine each wake-up may wait for a CPU, so a hop taken on a
 * small imbalance cost more than it evened out (perf: ambit-ingress). Thread-safe.
 */
final class RequestLoops {

    /** Requests in flight the caller's loop may have beyond twice the least busy loop's before a request moves. */
    static final int MARGIN = 2;

    private final EventLoopGroup group;
    /** The group's loops and, per loop, the requests started there and not yet finished. */
    private final EventLoop[] loops;
    private final AtomicIntegerArray inFlight;

    RequestLoops(EventLoopGroup group) {
        this.group = requireNonNull(group, "group");
        List<EventLoop> all = new ArrayList<>();
        group.forEach(e -> all.add((EventLoop) e));
        loops = all.toArray(EventLoop[]::new);
        inFlight = new AtomicIntegerArray(loops.length);
    }

    /**
     * Picks the loop for a request and counts it there until {@link #finished}: the caller's
     * (or, when the caller is not one of the group's, the group's next), unless the least busy
     * loop has fewer than half its requests in flight less {@value #MARGIN}; then that one.
     *
     * @return the loop's slot, for {@link #loop} and {@link #finished}
     */
    int start() {
        int best = -1;
        for (int i = 0; i < loops.length; i++) {
            if (loops[i].inEventLoop()) {
                best = i;
                break;
            }
        }
        if (best < 0) {
            EventLoop next = group.next();
            for (int i = 0; i < loops.length && best < 0; i++) {
                best = loops[i] == next ? i : -1;
            }
            best = Math.max(best, 0);
        }
        int own = inFlight.get(best);
        int least = best;
        for (int i = 0; i < loops.length; i++) {
            if (inFlight.get(i) < inFlight.get(least)) {
                least = i;
            }
        }
        if (own >= 2 * inFlight.get(least) + MARGIN) {
            best = least;
        }
        inFlight.incrementAndGet(best);
        return best;
    }

    EventLoop loop(int slot) {
        return loops[slot];
    }

    /** The request started on {@code slot} is complete. */
    void finished(int slot) {
        inFlight.decrementAndGet(slot);
    }

    /** Whether the calling thread is one of {@code group}'s loops (false for null). */
    static boolean callerOn(EventLoopGroup group) {
        if (group != null) {
            for (EventExecutor e : group) {
                if (e.inEventLoop()) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * The caller's loop when it runs on one of the group's (so a tunnel and its downstream
     * stream share a loop), else the group's next.
     */
    EventLoop callerOrNext() {
        for (EventExecutor e : group) {
            if (e.inEventLoop()) {
                return (EventLoop) e;
            }
        }
        return group.next();
    }
}
