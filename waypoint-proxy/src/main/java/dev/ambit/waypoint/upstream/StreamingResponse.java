package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.EmptyHttpHeaders;

/**
 * A response whose headers are here and whose body follows in {@link #body()} (Envoy's
 * {@code encodeHeaders} before {@code encodeData}): its own {@code content()} is always
 * empty. It goes through the filters as any {@code FullHttpResponse} (they read and change
 * headers only); whoever writes it downstream subscribes to the body. Releasing it before
 * anyone subscribed cancels the body (a retried or dropped response aborts its upstream).
 */
public final class StreamingResponse extends DefaultFullHttpResponse {

    private final BodyStream body;

    public StreamingResponse(HttpResponseStatus status, HttpHeaders headers, BodyStream body) {
        super(HttpVersion.HTTP_1_1, status, Unpooled.buffer(0), headers, EmptyHttpHeaders.INSTANCE);
        this.body = requireNonNull(body, "body");
    }

    /** The body, to {@link BodyStream#subscribe} once. */
    public BodyStream body() {
        return body;
    }

    @Override
    public boolean release() {
        return body.onMessageReleased(super.release());
    }

    @Override
    public boolean release(int decrement) {
        return body.onMessageReleased(super.release(decrement));
    }

    @Override
    public StreamingResponse retain() {
        super.retain();
        return this;
    }
}
