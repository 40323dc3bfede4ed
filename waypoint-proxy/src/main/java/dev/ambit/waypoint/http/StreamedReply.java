package dev.ambit.waypoint.http;

import static java.util.Objects.requireNonNull;

import dev.ambit.waypoint.upstream.BodyStream;
import dev.ambit.waypoint.upstream.StreamingResponse;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.util.function.BiConsumer;

/**
 * Writes a {@link StreamingResponse} downstream as it arrives (Envoy's encoder path): the
 * headers at once, then each body chunk flushed as it comes (a slow upstream's first bytes
 * reach the client before it finished), then the end with its trailers (HTTP/2; HTTP/1.1
 * chunked). Backpressure: while the downstream channel is not writable the body is paused,
 * which stops the upstream from reading (see {@link BodyStream}); the handler owning the
 * channel calls {@link #writabilityChanged}. Runs on the channel's event loop.
 */
final class StreamedReply implements BodyStream.Subscriber {

    private final ChannelHandlerContext ctx;
    private final BodyStream body;
    private final boolean trailers;
    private final BiConsumer<Long, Throwable> done;
    private boolean over;

    private StreamedReply(ChannelHandlerContext ctx, BodyStream body, boolean trailers,
                          BiConsumer<Long, Throwable> done) {
        this.ctx = ctx;
        this.body = body;
        this.trailers = trailers;
        this.done = done;
    }

    /**
     * Writes {@code response}'s headers (as {@code version}) and starts its body. {@code done}
     * gets the body bytes written and null, or the failure that broke the body off (the
     * caller then resets the stream or closes the connection: the client must not take a
     * truncated body for a whole one). {@code trailers}: whether trailers can be sent.
     */
    static StreamedReply start(ChannelHandlerContext ctx, StreamingResponse response, HttpVersion version,
                               boolean trailers, BiConsumer<Long, Throwable> done) {
        requireNonNull(done, "done");
        HttpResponse head = new DefaultHttpResponse(version, response.status(), response.headers());
        BodyStream body = response.body();
        StreamedReply reply = new StreamedReply(ctx, body, trailers, done);
        body.subscribe(reply, ctx.executor());
        response.release(); // its headers went into the head; the body is subscribed
        ctx.writeAndFlush(head).addListener(f -> {
            if (!f.isSuccess()) {
                reply.cancel(f.cause());
            }
        });
        return reply;
    }

    @Override
    public void onData(ByteBuf data) {
        if (over) {
            data.release();
            return;
        }
        ctx.writeAndFlush(new DefaultHttpContent(data)).addListener(f -> {
            if (!f.isSuccess()) {
                cancel(f.cause());
            }
        });
        if (!ctx.channel().isWritable()) {
            body.pause(); // read-after-write: the upstream waits until the client took these bytes
        }
    }

    @Override
    public void onEnd(HttpHeaders trailing) {
        if (over) {
            return;
        }
        LastHttpContent last = trailers && !trailing.isEmpty()
                ? new DefaultLastHttpContent(Unpooled.EMPTY_BUFFER, trailing) : LastHttpContent.EMPTY_LAST_CONTENT;
        ctx.writeAndFlush(last).addListener(f -> finish(f.isSuccess() ? null : f.cause()));
    }

    @Override
    public void onError(Throwable cause) {
        finish(cause);
    }

    /** The downstream channel's writability changed: the body goes on once it is writable. */
    void writabilityChanged() {
        if (ctx.channel().isWritable()) {
            body.resume();
        }
    }

    /** The downstream went away (or a write failed): the rest of the body is not wanted. */
    void cancel(Throwable cause) {
        body.cancel();
        finish(cause);
    }

    private void finish(Throwable cause) {
        if (over) {
            return;
        }
        over = true;
        done.accept(body.bytes(), cause);
    }
}
