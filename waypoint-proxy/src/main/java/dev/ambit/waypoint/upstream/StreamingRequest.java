package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;

/**
 * One attempt's request whose body follows in {@link #body()} (a reader of the downstream's
 * {@link RequestBody}): the connection carrying it writes the headers, then the body as it
 * comes, with flow control. Its own {@code content()} is always empty. Releasing it before
 * a connection took the body cancels the body.
 */
public final class StreamingRequest extends DefaultFullHttpRequest {

    private final BodyStream body;

    public StreamingRequest(HttpVersion version, HttpMethod method, String uri, HttpHeaders headers, BodyStream body) {
        super(version, method, uri, Unpooled.buffer(0), headers, EmptyHttpHeaders.INSTANCE);
        this.body = requireNonNull(body, "body");
    }

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
}
