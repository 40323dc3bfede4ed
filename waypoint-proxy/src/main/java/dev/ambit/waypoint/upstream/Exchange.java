package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.CompletableFuture;

/**
 * One request attempt in flight to a picked endpoint: owns the request until a connection
 * takes it ({@link #takeRequest}), completes {@link #result} once (response, or an
 * {@link UpstreamException}), and knows how to abandon whatever carries it (close the
 * HTTP/1.1 connection, reset the HTTP/2 stream, cancel the connect) when it fails from the
 * outside, as on its timeout. Thread-safe.
 */
final class Exchange {

    final String cluster;
    final UpstreamEndpoint endpoint;
    final CompletableFuture<UpstreamResponse> result = new CompletableFuture<>();
    private FullHttpRequest request;
    private Runnable abandon;

    Exchange(String cluster, UpstreamEndpoint endpoint, FullHttpRequest request) {
        this.cluster = requireNonNull(cluster, "cluster");
        this.endpoint = requireNonNull(endpoint, "endpoint");
        this.request = requireNonNull(request, "request");
    }

    /** The request, once: the caller writes it (and the write releases it); null if already failed. */
    synchronized FullHttpRequest takeRequest() {
        FullHttpRequest r = request;
        request = null;
        return result.isDone() ? release(r) : r;
    }

    /** A peek at the request while still owned here (its headers choose the protocol); null once taken. */
    synchronized FullHttpRequest request() {
        return request;
    }

    /**
     * What to do if the exchange fails from outside (timeout) while {@code abandon}'s carrier
     * holds it; run at once if it already failed. {@code null}: the carrier let go of it.
     */
    void onAbandon(Runnable abandon) {
        boolean run;
        synchronized (this) {
            this.abandon = abandon;
            run = abandon != null && result.isDone() && !succeeded();
        }
        if (run) {
            abandon.run();
        }
    }

    /** Completes with {@code response}; releases it when the exchange was already over. */
    boolean succeed(FullHttpResponse response) {
        if (result.complete(new UpstreamResponse(response, endpoint.address()))) {
            return true;
        }
        ReferenceCountUtil.release(response);
        return false;
    }

    /** Fails with {@code e}; returns false when it was already over. Releases a request not yet taken. */
    boolean fail(UpstreamException e) {
        if (!result.completeExceptionally(e)) {
            return false;
        }
        Runnable a;
        FullHttpRequest r;
        synchronized (this) {
            a = abandon;
            r = request;
            request = null;
        }
        release(r);
        if (a != null) {
            a.run();
        }
        return true;
    }

    boolean isDone() {
        return result.isDone();
    }

    private boolean succeeded() {
        return result.isDone() && !result.isCompletedExceptionally();
    }

    private static FullHttpRequest release(FullHttpRequest r) {
        if (r != null) {
            ReferenceCountUtil.release(r);
        }
        return null;
    }
}
