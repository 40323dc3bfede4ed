package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.EventExecutor;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * The body of one HTTP message flowing through the waypoint, from the connection that reads
 * it (the producer: an upstream connection for a response, the downstream for a request) to
 * the one that writes it (the consumer), chunk by chunk, with Netty's read-after-write flow
 * control: the producer reads more only while fewer than {@code highWater} bytes wait here
 * ({@link #push} and {@link #wantsMore} say so; once it stopped, {@link #onDemand}'s action
 * runs when the queue drained to half), and the consumer {@link #pause pauses} while its
 * channel is not writable. So a body of any size crosses with at most about
 * {@code highWater} bytes queued here plus the consumer's channel buffer.
 *
 * <p>Ends with trailers (possibly empty, gRPC's {@code grpc-status}), with a failure (the
 * producer's connection broke, a timeout), or is cancelled by the consumer (its connection
 * went away; the producer's {@link #onCancel} action then aborts the producing side).
 * Thread-safe; the subscriber is called on its executor, one call at a time. Every chunk
 * handed in is released here or passed on exactly once.
 */
public final class BodyStream {

    /** What a consumer receives; each call on the executor given to {@link #subscribe}. */
    public interface Subscriber {
        /** A chunk of the body; the subscriber owns (releases or writes) it. */
        void onData(ByteBuf data);

        /** The body ended; {@code trailers} may be empty. */
        void onEnd(HttpHeaders trailers);

        /** The body broke off (the producer's failure, or a timeout). */
        void onError(Throwable cause);
    }

    /** Bytes queued before the producer stops reading, by default: Envoy's 64 KiB-ish watermark order. */
    public static final int DEFAULT_HIGH_WATER = 64 * 1024;

    private final int highWater;
    private final ArrayDeque<ByteBuf> queue = new ArrayDeque<>();
    private final CompletableFuture<Void> terminated = new CompletableFuture<>();
    private long queued;
    private long total;
    private long maxQueued;
    private HttpHeaders trailers;
    private Throwable failure;
    private boolean cancelled;
    private boolean delivered;
    private boolean stalled;
    private boolean paused;
    private boolean scheduled;
    private Subscriber subscriber;
    private EventExecutor executor;
    private Runnable demand;
    private Runnable cancel;

    /** An open body whose producer stops at {@code highWater} queued bytes. */
    public BodyStream(int highWater) {
        if (highWater <= 0) {
            throw new IllegalArgumentException("highWater: " + highWater + " (expected: > 0)");
        }
        this.highWater = highWater;
    }

    /** An open body with {@link #DEFAULT_HIGH_WATER}. */
    public BodyStream() {
        this(DEFAULT_HIGH_WATER);
    }

    /** A body that is already complete: {@code content} (owned from now on) then {@code trailers}. */
    public static BodyStream complete(ByteBuf content, HttpHeaders trailers) {
        BodyStream b = new BodyStream(Math.max(1, content.readableBytes() + 1));
        b.push(content);
        b.end(trailers);
        return b;
    }

    // ---- producer side

    /**
     * Queues {@code data} (owned from now on; released at once when the body is over).
     * Returns whether the producer may read more now; false: wait for {@link #onDemand}.
     */
    public boolean push(ByteBuf data) {
        requireNonNull(data, "data");
        synchronized (this) {
            if (over()) {
                ReferenceCountUtil.release(data);
                return false;
            }
            if (!data.isReadable()) {
                data.release();
                return wantsMoreLocked();
            }
            queue.add(data);
            queued += data.readableBytes();
            total += data.readableBytes();
            maxQueued = Math.max(maxQueued, queued);
        }
        schedule();
        return wantsMore();
    }

    /** Whether the producer may read more; when not, {@link #onDemand}'s action runs once room is back. */
    public synchronized boolean wantsMore() {
        return wantsMoreLocked();
    }

    private boolean wantsMoreLocked() {
        if (over()) {
            return false;
        }
        if (queued < highWater) {
            return true;
        }
        stalled = true;
        return false;
    }

    /** The body ended with {@code trailers} (copied; may be empty). */
    public void end(HttpHeaders trailers) {
        HttpHeaders t = trailers == null || trailers.isEmpty() ? EmptyHttpHeaders.INSTANCE
                : new DefaultHttpHeaders().set(trailers);
        synchronized (this) {
            if (over()) {
                return;
            }
            this.trailers = t;
        }
        terminated.complete(null);
        schedule();
    }

    /** The body broke off; the queued chunks are dropped and the consumer hears {@code cause}. */
    public void fail(Throwable cause) {
        requireNonNull(cause, "cause");
        synchronized (this) {
            if (over()) {
                return;
            }
            failure = cause;
            releaseQueue();
        }
        terminated.complete(null);
        schedule();
    }

    /** {@link #fail} and the producing side is aborted ({@link #onCancel}'s action), as on a timeout. */
    public void abort(Throwable cause) {
        boolean first;
        synchronized (this) {
            first = !over();
        }
        fail(cause);
        if (first) {
            runCancel();
        }
    }

    /** What brings the producer back to reading once the queue drained (e.g. {@code channel::read}). */
    public void onDemand(Runnable demand) {
        synchronized (this) {
            this.demand = requireNonNull(demand, "demand");
        }
    }

    /** What aborts the producing side when the consumer cancels; run at once if it already did. */
    public void onCancel(Runnable cancel) {
        requireNonNull(cancel, "cancel");
        boolean now;
        synchronized (this) {
            this.cancel = cancel;
            now = cancelled;
        }
        if (now) {
            runCancel();
        }
    }

    /** Completes once the producer's part is over: ended, failed or cancelled. */
    public CompletionStage<Void> terminated() {
        return terminated;
    }

    // ---- consumer side

    /** Starts delivering to {@code subscriber} on {@code executor}; once per body. */
    public void subscribe(Subscriber subscriber, EventExecutor executor) {
        requireNonNull(subscriber, "subscriber");
        requireNonNull(executor, "executor");
        synchronized (this) {
            if (this.subscriber != null) {
                throw new IllegalStateException("body already has a subscriber");
            }
            this.subscriber = subscriber;
            this.executor = executor;
        }
        schedule();
    }

    /** Whether a consumer took the body ({@link #subscribe}). */
    public synchronized boolean subscribed() {
        return subscriber != null;
    }

    /** Stops delivery until {@link #resume} (the consumer's channel is not writable). */
    public synchronized void pause() {
        paused = true;
    }

    /** Delivers again after {@link #pause}. */
    public void resume() {
        synchronized (this) {
            paused = false;
        }
        schedule();
    }

    /** The consumer gives up: queued chunks are released, the producing side aborted. */
    public void cancel() {
        synchronized (this) {
            if (cancelled || delivered) {
                return;
            }
            cancelled = true;
            releaseQueue();
        }
        terminated.complete(null);
        schedule();
        runCancel();
    }

    /** {@link #cancel} unless a consumer took the body (a response dropped before anyone read it). */
    public void cancelIfUnclaimed() {
        synchronized (this) {
            if (subscriber != null) {
                return;
            }
        }
        cancel();
    }

    /**
     * For the message carrying this body: once it is {@code released} (its last reference
     * gone), {@link #cancelIfUnclaimed}. Returns {@code released}.
     */
    boolean onMessageReleased(boolean released) {
        if (released) {
            cancelIfUnclaimed();
        }
        return released;
    }

    /** The trailers the body ended with (empty headers when none came); null while it has not ended. */
    public synchronized HttpHeaders trailers() {
        return trailers;
    }

    /** Body bytes handed in so far. */
    public synchronized long bytes() {
        return total;
    }

    /** The most bytes ever queued at once (the bound the flow control keeps). */
    public synchronized long maxQueued() {
        return maxQueued;
    }

    /**
     * Collects the whole body (at most {@code maxBytes}, else the stage fails and the body is
     * cancelled) with its trailers; for callers that want a whole message.
     */
    public CompletionStage<Aggregated> aggregate(int maxBytes, io.netty.buffer.ByteBufAllocator alloc,
                                                 EventExecutor executor) {
        CompletableFuture<Aggregated> out = new CompletableFuture<>();
        CompositeByteBuf content = alloc.compositeBuffer(Integer.MAX_VALUE);
        subscribe(new Subscriber() {
            private boolean over;

            @Override
            public void onData(ByteBuf data) {
                if (over) {
                    data.release();
                    return;
                }
                if (content.readableBytes() + (long) data.readableBytes() > maxBytes) {
                    over = true;
                    data.release();
                    content.release();
                    cancel();
                    out.completeExceptionally(new IllegalStateException("body larger than " + maxBytes + " bytes"));
                    return;
                }
                content.addComponent(true, data);
            }

            @Override
            public void onEnd(HttpHeaders trailers) {
                if (!over) {
                    out.complete(new Aggregated(content, trailers));
                }
            }

            @Override
            public void onError(Throwable cause) {
                if (!over) {
                    content.release();
                    out.completeExceptionally(cause);
                }
            }
        }, executor);
        return out;
    }

    /** A whole body: {@code content} (the receiver owns it) and its trailers. */
    public record Aggregated(ByteBuf content, HttpHeaders trailers) {
    }

    // ---- delivery

    private boolean over() {
        return cancelled || failure != null || trailers != null;
    }

    private void releaseQueue() {
        for (ByteBuf b; (b = queue.poll()) != null; ) {
            b.release();
        }
        queued = 0;
    }

    private void schedule() {
        EventExecutor e;
        synchronized (this) {
            if (subscriber == null || scheduled || delivered) {
                return;
            }
            scheduled = true;
            e = executor;
        }
        e.execute(this::drain);
    }

    private void drain() {
        synchronized (this) {
            scheduled = false;
        }
        while (true) {
            ByteBuf next = null;
            HttpHeaders end = null;
            Throwable error = null;
            Runnable wake = null;
            synchronized (this) {
                if (delivered || paused) {
                    return;
                }
                if (failure != null) {
                    error = failure;
                    delivered = true;
                } else if (cancelled) {
                    // The subscriber hears of it too (what it holds is released once, there).
                    error = new java.util.concurrent.CancellationException("body cancelled");
                    delivered = true;
                } else if (!queue.isEmpty()) {
                    next = queue.poll();
                    queued -= next.readableBytes();
                    if (stalled && queued <= highWater / 2) {
                        stalled = false;
                        wake = demand;
                    }
                } else if (trailers != null) {
                    end = trailers;
                    delivered = true;
                } else {
                    return;
                }
            }
            if (wake != null) {
                wake.run();
            }
            if (next != null) {
                subscriber.onData(next);
            } else if (end != null) {
                subscriber.onEnd(end);
                return;
            } else if (error != null) {
                subscriber.onError(error);
                return;
            }
        }
    }

    private void runCancel() {
        Runnable c;
        synchronized (this) {
            c = cancel;
            cancel = null;
        }
        if (c != null) {
            c.run();
        }
    }
}
