package dev.ambit.waypoint.upstream;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * A request body streaming in from the downstream, sent on to each upstream attempt as it
 * arrives and kept for retries only as far as Envoy keeps it: up to the buffer limit
 * ({@code per_connection_buffer_limit_bytes}, 1 MiB by default). Each attempt {@link #open opens}
 * a reader (a {@link BodyStream}) that replays what is kept, then follows the live body.
 * Once more than the limit arrived, nothing is kept and no further attempt can be opened:
 * the request is not retried any more, as Envoy's router does when its retry buffer
 * overflows. Before the first reader, up to the limit is read ahead (filters may still
 * run), then reading waits.
 *
 * <p>Flow control: the downstream reads more while {@link #wantsMore} (the current reader
 * wants more, or, with none, less than the limit is held); {@link #onDemand}'s action
 * brings it back. Thread-safe. {@link #release} frees what is kept once the request is over.
 */
public final class RequestBody {

    /** Envoy's {@code per_connection_buffer_limit_bytes} default: what is kept for retries. */
    public static final int DEFAULT_BUFFER_LIMIT = 1024 * 1024;

    private final int bufferLimit;
    private final List<ByteBuf> kept = new ArrayList<>();
    private final List<CompletableFuture<ByteBuf>> wholeWaiters = new ArrayList<>();
    private final CompletableFuture<Void> ended = new CompletableFuture<>();
    private long total;
    private boolean overflowed;
    private int opened;
    private HttpHeaders trailers;
    private Throwable failure;
    private boolean released;
    private BodyStream reader;
    private Runnable demand;
    private boolean stalled;

    public RequestBody(int bufferLimit) {
        if (bufferLimit <= 0) {
            throw new IllegalArgumentException("bufferLimit: " + bufferLimit + " (expected: > 0)");
        }
        this.bufferLimit = bufferLimit;
    }

    // ---- producer (the downstream connection)

    /** Takes a chunk of the body (owned from now on); returns whether the producer may read more. */
    public boolean push(ByteBuf data) {
        BodyStream to;
        List<CompletableFuture<ByteBuf>> skipped = null;
        synchronized (this) {
            if (released || failure != null || trailers != null || !data.isReadable()) {
                ReferenceCountUtil.release(data);
                return !released && failure == null && trailers == null;
            }
            total += data.readableBytes();
            to = reader;
            if (!overflowed && total > bufferLimit) {
                overflowed = true;
                skipped = takeWholeWaiters();
                if (to != null) {
                    releaseKept(); // the reader has its copies: nothing is kept from now on
                }
            }
            if (to == null) {
                kept.add(data); // read ahead for the first reader (even past the limit: it is owed)
                data = null;
            } else if (!overflowed) {
                kept.add(data.retainedDuplicate());
            }
        }
        completeAll(skipped, null);
        if (to != null) {
            to.push(data);
        }
        return wantsMore();
    }

    /** The body ended with {@code trailers} (may be empty). */
    public void end(HttpHeaders trailers) {
        HttpHeaders t = trailers == null || trailers.isEmpty() ? EmptyHttpHeaders.INSTANCE
                : new DefaultHttpHeaders().set(trailers);
        BodyStream to;
        List<CompletableFuture<ByteBuf>> waiters;
        ByteBuf whole = null;
        synchronized (this) {
            if (released || failure != null || this.trailers != null) {
                return;
            }
            this.trailers = t;
            to = reader;
            waiters = takeWholeWaiters();
            if (!overflowed && !waiters.isEmpty()) {
                CompositeByteBuf c = ByteBufAllocator.DEFAULT.compositeBuffer(Math.max(2, kept.size()));
                for (ByteBuf b : kept) {
                    c.addComponent(true, b.retainedDuplicate());
                }
                whole = c;
            }
        }
        ended.complete(null);
        if (to != null) {
            to.end(t);
        }
        if (whole != null) {
            for (CompletableFuture<ByteBuf> w : waiters) {
                w.complete(whole.retainedDuplicate());
            }
            whole.release();
        } else {
            completeAll(waiters, null);
        }
    }

    /** The downstream broke off: the current attempt's body is aborted with {@code cause}. */
    public void fail(Throwable cause) {
        BodyStream to;
        List<CompletableFuture<ByteBuf>> waiters;
        synchronized (this) {
            if (released || failure != null || trailers != null) {
                return;
            }
            failure = cause;
            to = reader;
            waiters = takeWholeWaiters();
            releaseKept();
        }
        completeAll(waiters, null);
        if (to != null) {
            to.abort(cause);
        }
    }

    /** Whether the producer may read more now; when not, {@link #onDemand}'s action runs later. */
    public boolean wantsMore() {
        BodyStream to;
        synchronized (this) {
            if (released || failure != null || trailers != null) {
                return false;
            }
            to = reader;
            if (to == null) {
                if (total < bufferLimit) {
                    return true;
                }
                stalled = true;
                return false;
            }
        }
        return to.wantsMore();
    }

    /** What brings the producer back to reading (e.g. {@code channel::read}). */
    public synchronized void onDemand(Runnable demand) {
        this.demand = demand;
    }

    // ---- attempts

    /**
     * A reader for a new attempt: what is kept, then the live body. Null when the body can no
     * longer be replayed (more than the buffer limit went to an earlier attempt): no retry.
     * The previous reader, if any, is let go.
     */
    public BodyStream open() {
        BodyStream r = new BodyStream();
        BodyStream previous;
        List<ByteBuf> replay = new ArrayList<>();
        boolean wake;
        synchronized (this) {
            if (released || (overflowed && opened > 0) || (failure != null)) {
                return null;
            }
            opened++;
            previous = reader;
            reader = r;
            if (overflowed) {
                replay.addAll(kept); // the read-ahead past the limit goes to this one reader
                kept.clear();
            } else {
                for (ByteBuf b : kept) {
                    replay.add(b.retainedDuplicate());
                }
            }
            wake = stalled;
            stalled = false;
        }
        if (previous != null) {
            previous.cancel();
        }
        r.onDemand(this::wake);
        for (ByteBuf b : replay) {
            r.push(b);
        }
        HttpHeaders t;
        synchronized (this) {
            t = trailers;
        }
        if (t != null) {
            r.end(t);
        }
        if (wake) {
            wake();
        }
        return r;
    }

    /** Whether another attempt can still be given the whole body. */
    public synchronized boolean replayable() {
        return !overflowed && failure == null && !released;
    }

    /**
     * The whole body (a copy the receiver owns) once it ended within the buffer limit; null
     * when it outgrew the limit or broke off (a mirror then is not sent).
     */
    public CompletionStage<ByteBuf> whole() {
        CompletableFuture<ByteBuf> f = new CompletableFuture<>();
        ByteBuf now = null;
        synchronized (this) {
            if (overflowed || failure != null || released) {
                return CompletableFuture.completedFuture(null);
            }
            if (trailers == null) {
                wholeWaiters.add(f);
                return f;
            }
            CompositeByteBuf c = ByteBufAllocator.DEFAULT.compositeBuffer(Math.max(2, kept.size()));
            for (ByteBuf b : kept) {
                c.addComponent(true, b.retainedDuplicate());
            }
            now = c;
        }
        f.complete(now);
        return f;
    }

    /** Completes when the whole body was received (never when it broke off). */
    public CompletionStage<Void> ended() {
        return ended;
    }

    /** Body bytes received so far. */
    public synchronized long bytes() {
        return total;
    }

    /** The request is over: what is kept is freed; later chunks are dropped. */
    public void release() {
        List<CompletableFuture<ByteBuf>> waiters;
        synchronized (this) {
            if (released) {
                return;
            }
            released = true;
            waiters = takeWholeWaiters();
            releaseKept();
        }
        completeAll(waiters, null);
    }

    private void wake() {
        Runnable d;
        synchronized (this) {
            d = demand;
        }
        if (d != null) {
            d.run();
        }
    }

    private void releaseKept() {
        kept.forEach(ReferenceCountUtil::release);
        kept.clear();
    }

    private List<CompletableFuture<ByteBuf>> takeWholeWaiters() {
        List<CompletableFuture<ByteBuf>> w = List.copyOf(wholeWaiters);
        wholeWaiters.clear();
        return w;
    }

    private static void completeAll(List<CompletableFuture<ByteBuf>> waiters, ByteBuf value) {
        if (waiters != null) {
            waiters.forEach(w -> w.complete(value));
        }
    }
}
