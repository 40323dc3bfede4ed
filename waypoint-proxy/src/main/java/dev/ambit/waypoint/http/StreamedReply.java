package dev.ambit.waypoint.http;

import static java.util.Objects.requireNonNull;

import dev.ambit.waypoint.upstream.BodyWriter;
import dev.ambit.waypoint.upstream.StreamingResponse;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpVersion;
import java.util.function.BiConsumer;

/**
 * Writes a {@link StreamingResponse} downstream as it arrives (Envoy's encoder path): the
 * headers in this event-loop pass (with the body's first chunk when it is already here), then
 * each body chunk flushed as it comes (a slow upstream's first bytes
 * reach the client before it finished), then the end with its trailers (HTTP/2; HTTP/1.1
 * chunked), paced by the downstream's writability ({@link BodyWriter}).
 */
final class StreamedReply {

    private StreamedReply() {}

    /**
     * Writes {@code response}'s headers (as {@code version}) and starts its body. {@code done}
     * gets the body bytes and null, or the failure that broke the body off (the caller then
     * resets the stream or closes the connection: the client must not take a truncated body
     * for a whole one). {@code trailers}: whether the framing carries trailers.
     */
    static BodyWriter start(ChannelHandlerContext ctx, StreamingResponse response, HttpVersion version,
                            boolean trailers, BiConsumer<Long, Throwable> done) {
        requireNonNull(done, "done");
        HttpResponse head = new DefaultHttpResponse(version, response.status(), response.headers());
        BodyWriter writer = BodyWriter.start(ctx.channel(), response.body(), trailers, done);
        response.release(); // its headers went into the head; the body is subscribed
        ctx.write(head).addListener(f -> {
            if (!f.isSuccess()) {
                writer.cancel(f.cause());
            }
        });
        // Not flushed at once: when the body's first bytes are already here (a small response
        // read in one go), the writer's delivery, queued on this loop by the subscription above,
        // flushes the headers with them: one TLS record and one send instead of two. Otherwise
        // this flush, queued behind it, sends the headers alone in the same pass.
        ctx.executor().execute(ctx::flush);
        return writer;
    }
}
