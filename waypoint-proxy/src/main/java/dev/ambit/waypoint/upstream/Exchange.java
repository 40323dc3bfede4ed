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
    /** Whether the caller takes the response as it streams ({@link StreamingResponse}), else whole. */
    final boolean streaming;
    private FullHttpRequest request;
    private Runnable abandon;
    private volatile BodyStream body;

    /** An exchange whose caller wants the whole response. */
    Exchange(String cluster, UpstreamEndpoint endpoint, FullHttpRequest request) {
        this(cluster, endpoint, request, false);
    }

    Exchange(String cluster, UpstreamEndpoint endpoint, FullHttpRequest request, boolean streaming) {
        this.cluster = requireNonNull(cluster, "cluster");
        this.endpoint = requireNonNull(endpoint, "endpoint");
        this.request = requireNonNull(request, "request");
        this.streaming = streaming;
    }

    /** The body of the streamed response once its headers arrived, else null. */
    BodyStream body() {
        return body;
    }

    /**
     * Completes with the response whose headers just arrived: as it is for a streaming
     * caller, else once its body is collected (at most {@code maxBytes}, else the exchange
     * fails as a response too large, the connection aborted by the body's cancel action).
     */
    boolean succeed(StreamingResponse response, int maxBytes, io.netty.channel.EventLoop loop) {
        if (streaming) {
            body = response.body();
            return succeed((FullHttpResponse) response);
        }
        BodyStream b = response.body();
        body = b;
        b.aggregate(maxBytes, io.netty.buffer.ByteBufAllocator.DEFAULT, loop).whenComplete((whole, failure) -> {
            if (failure != null) {
                fail(failure instanceof UpstreamException u ? u : Failures.closed(endpoint.address(),
                        failure instanceof IllegalStateException ? "response larger than " + maxBytes + " bytes"
                                : String.valueOf(failure), failure));
                return;
            }
            var full = new io.netty.handler.codec.http.DefaultFullHttpResponse(response.protocolVersion(),
                    response.status(), whole.content(), response.headers(),
                    new io.netty.handler.codec.http.DefaultHttpHeaders().set(whole.trailers()));
            succeed(full);
        });
        response.release(); // its headers live on in the whole response; the body is subscribed
        return true;
    }

    /** The request, once: the caller writes it (and the write releases it); null if already failed. */
    synchronized FullHttpRequest takeRequest() {
        FullHttpRequest r = request;
        request = null;
        return result.isDone() ? release(r) : r;
    }

    /**
     * The request's W3C {@code traceparent} (its upstream attempt's span when traced), or null:
     * an HBONE tunnel opened for this request carries it on its CONNECT (issue 19), so the
     * destination's node agent logs the tunnel (identities, bytes) under the request's trace id.
     */
    synchronized String traceparent() {
        return request == null ? null : request.headers().get("traceparent");
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
