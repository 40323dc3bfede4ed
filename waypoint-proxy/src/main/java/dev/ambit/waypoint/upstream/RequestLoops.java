package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * Which of the group's event loops carries a request's new upstream connection and timer:
 * the one with the fewest requests in flight, the caller's on a tie. One loop while the load
 * is light (no hand-off between threads), every loop once one downstream connection carries
 * many concurrent streams (all streams of one HBONE connection arrive on one loop; without
 * this their upstream work stayed there too: istio/istio #43443, #55463). Thread-safe.
 */
final class RequestLoops {

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
     * Picks the loop for a request and counts it there until {@link #finished}: the one with
     * the fewest requests in flight, the caller's when it is among the fewest (or the group's
     * next loop's when the caller is not one of them).
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
        int least = inFlight.get(best);
        for (int i = 0; i < loops.length && least > 0; i++) {
            int n = inFlight.get(i);
            if (n < least) {
                least = n;
                best = i;
            }
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
