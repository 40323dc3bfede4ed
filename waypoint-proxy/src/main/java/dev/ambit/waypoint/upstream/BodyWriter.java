package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.LastHttpContent;
import java.util.function.BiConsumer;

/**
 * Writes a {@link BodyStream} to an HTTP channel (after its headers went): each chunk as an
 * {@code HttpContent}, flushed as it comes, the end as a {@code LastHttpContent} with the
 * trailers when the framing carries them. While the channel is not writable the body is
 * paused, which stops its producer from reading (Netty's read-after-write backpressure);
 * the channel's handler calls {@link #writabilityChanged}. Runs on the channel's event loop.
 */
public final class BodyWriter implements BodyStream.Subscriber {

    private final Channel channel;
    private final BodyStream body;
    private final boolean trailers;
    private final BiConsumer<Long, Throwable> done;
    private boolean over;

    private BodyWriter(Channel channel, BodyStream body, boolean trailers, BiConsumer<Long, Throwable> done) {
        this.channel = channel;
        this.body = body;
        this.trailers = trailers;
        this.done = done;
    }

    /**
     * Starts writing {@code body} to {@code channel}; {@code done} gets the bytes the body
     * carried and null once its end was written, or the failure that broke it off (the body's
     * own, a write's, or the channel's close).
     */
    public static BodyWriter start(Channel channel, BodyStream body, boolean trailers,
                                   BiConsumer<Long, Throwable> done) {
        requireNonNull(channel, "channel");
        requireNonNull(body, "body");
        requireNonNull(done, "done");
        BodyWriter w = new BodyWriter(channel, body, trailers, done);
        body.subscribe(w, channel.eventLoop());
        return w;
    }

    @Override
    public void onData(ByteBuf data) {
        if (over) {
            data.release();
            return;
        }
        channel.writeAndFlush(new DefaultHttpContent(data)).addListener(f -> {
            if (!f.isSuccess()) {
                cancel(f.cause());
            }
        });
        if (!channel.isWritable()) {
            body.pause();
        }
    }

    @Override
    public void onEnd(HttpHeaders trailing) {
        if (over) {
            return;
        }
        LastHttpContent last = trailers && !trailing.isEmpty()
                ? new DefaultLastHttpContent(Unpooled.EMPTY_BUFFER, trailing) : LastHttpContent.EMPTY_LAST_CONTENT;
        channel.writeAndFlush(last).addListener(f -> finish(f.isSuccess() ? null : f.cause()));
    }

    @Override
    public void onError(Throwable cause) {
        finish(cause);
    }

    /** The channel's writability changed: the body goes on once it is writable. */
    public void writabilityChanged() {
        if (channel.isWritable()) {
            body.resume();
        }
    }

    /** The channel went away (or a write failed): the rest of the body is not wanted. */
    public void cancel(Throwable cause) {
        body.cancel();
        finish(cause);
    }

    /** Whether the end was written or the body broke off. */
    public boolean over() {
        return over;
    }

    private void finish(Throwable cause) {
        if (over) {
            return;
        }
        over = true;
        done.accept(body.bytes(), cause);
    }
}
