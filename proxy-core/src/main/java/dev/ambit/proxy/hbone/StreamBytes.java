package dev.ambit.proxy.hbone;

import static java.util.Objects.requireNonNull;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamFrame;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Makes an HTTP/2 stream channel of an established HBONE tunnel (either end, after the
 * {@code CONNECT} and its {@code 200}) carry plain {@link ByteBuf}s, so byte-oriented
 * handlers (HTTP/1.1 codecs, a nested HTTP/2 codec, TLS) run on it as on a TCP socket.
 *
 * <ul>
 *   <li><b>Inbound.</b> Each DATA frame becomes its content (empty ones are dropped). The
 *       peer's END_STREAM (on DATA or trailers) becomes {@link ChannelInputShutdownEvent},
 *       then {@link ChannelInputShutdownReadComplete}, as a TCP FIN does, so decoders see the
 *       end of input. A peer's RST_STREAM is passed on as the stream channel's
 *       {@link Http2ResetFrame} user event; the channel then closes.</li>
 *   <li><b>Outbound.</b> Each {@link ByteBuf} is written as one DATA frame (empty ones
 *       complete at once); {@link Http2StreamFrame}s pass through unchanged.
 *       {@link #endStream} half-closes (an empty DATA frame with END_STREAM, as
 *       {@code shutdownOutput} on a socket); {@link #reset} aborts with RST_STREAM.</li>
 *   <li><b>Close.</b> {@code close()} is graceful: END_STREAM is sent (unless it already was),
 *       then the channel stays open, reading and dropping what the peer still sends, until
 *       the peer's END_STREAM or the linger time, and only then closes; closing an HTTP/2
 *       stream the peer has not ended would reset it (CANCEL), and a relay at the peer
 *       answers a reset by resetting its TCP side, losing bytes not yet delivered.</li>
 *   <li><b>Flow control.</b> None of its own: the stream channel returns window for a DATA
 *       frame when the frame is read from it, so with {@code AUTO_READ} off the reader's
 *       {@code read()} calls pace the sender; writability is the stream channel's.</li>
 * </ul>
 *
 * <p>Install it with {@link #install} as the first handler of the stream's pipeline. Must
 * be used from the stream's event loop (as any Netty handler).
 */
public final class StreamBytes extends ChannelDuplexHandler {

    /** How long a graceful close waits for the peer's END_STREAM by default. */
    public static final Duration DEFAULT_LINGER = Duration.ofSeconds(10);

    /** The handler's name in the pipeline. */
    public static final String NAME = "hbone-stream-bytes";

    private final long lingerNanos;

    private ChannelHandlerContext ctx;
    private boolean inputEnded;
    private boolean endSent;
    private boolean closing;
    private boolean aborted;
    private ChannelPromise closePromise;
    private ScheduledFuture<?> lingerTimer;

    private StreamBytes(Duration linger) {
        requireNonNull(linger, "linger");
        if (linger.isNegative()) {
            throw new IllegalArgumentException("linger: " + linger + " (expected: >= 0)");
        }
        this.lingerNanos = linger.toNanos();
    }

    /** Adds a {@link StreamBytes} with {@link #DEFAULT_LINGER} first in {@code stream}'s pipeline. */
    public static StreamBytes install(Channel stream) {
        return install(stream, DEFAULT_LINGER);
    }

    /** Adds a {@link StreamBytes} first in {@code stream}'s pipeline; a graceful close waits at most {@code linger}. */
    public static StreamBytes install(Channel stream, Duration linger) {
        requireNonNull(stream, "stream");
        StreamBytes handler = new StreamBytes(linger);
        stream.pipeline().addFirst(NAME, handler);
        return handler;
    }

    /**
     * Half-closes {@code stream} (END_STREAM after the bytes written before), as
     * {@code shutdownOutput()} on a socket. Only once: later calls complete at once.
     */
    public static ChannelFuture endStream(Channel stream) {
        requireNonNull(stream, "stream");
        return stream.writeAndFlush(new DefaultHttp2DataFrame(true));
    }

    /** Aborts {@code stream} with RST_STREAM({@code error}), then closes it. */
    public static ChannelFuture reset(Channel stream, Http2Error error) {
        requireNonNull(stream, "stream");
        requireNonNull(error, "error");
        StreamBytes handler = stream.pipeline().get(StreamBytes.class);
        if (handler != null) {
            handler.aborted = true; // nothing graceful any more
            handler.cancelLinger();
        }
        if (!stream.isActive()) {
            return stream.close();
        }
        return stream.writeAndFlush(new DefaultHttp2ResetFrame(error))
                .addListener((ChannelFutureListener) f -> f.channel().close());
    }

    /** Whether the peer's END_STREAM was read. */
    public boolean inputEnded() {
        return inputEnded;
    }

    /** Whether END_STREAM was written (or the stream reset). */
    public boolean outputEnded() {
        return endSent || aborted;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    // inbound

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof Http2DataFrame frame) {
            boolean end = frame.isEndStream();
            ByteBuf content = frame.content();
            if (closing || inputEnded || !content.isReadable()) {
                frame.release();
            } else {
                // The frame's reference count is its content's: handing content on hands the frame on.
                ctx.fireChannelRead(content);
            }
            if (end) {
                onInputEnd(ctx);
            }
        } else if (msg instanceof Http2HeadersFrame headers) {
            // Trailers mean nothing to a byte stream; only their END_STREAM counts.
            if (headers.isEndStream()) {
                onInputEnd(ctx);
            }
        } else if (closing) {
            ReferenceCountUtil.release(msg);
        } else {
            ctx.fireChannelRead(msg);
        }
    }

    private void onInputEnd(ChannelHandlerContext ctx) {
        if (inputEnded) {
            return;
        }
        inputEnded = true;
        if (closing) {
            finishClose();
            return;
        }
        ctx.fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        ctx.fireUserEventTriggered(ChannelInputShutdownReadComplete.INSTANCE);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (closing) {
            // Keep draining until the peer's END_STREAM (AUTO_READ may be off).
            if (!inputEnded && ctx.channel().isActive()) {
                ctx.read();
            }
            return;
        }
        ctx.fireChannelReadComplete();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        cancelLinger();
        ChannelPromise p = closePromise;
        closePromise = null;
        if (p != null) {
            p.trySuccess();
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof Http2ResetFrame) {
            inputEnded = true;
            aborted = true;
            cancelLinger();
        }
        ctx.fireUserEventTriggered(evt);
    }

    // outbound

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (msg instanceof ByteBuf buf) {
            if (endSent || aborted) {
                buf.release();
                promise.tryFailure(new IllegalStateException("stream output already ended: " + ctx.channel()));
            } else if (!buf.isReadable()) {
                buf.release();
                promise.trySuccess();
            } else {
                ctx.write(new DefaultHttp2DataFrame(buf), promise);
            }
            return;
        }
        if (msg instanceof Http2DataFrame data && data.isEndStream()) {
            if (endSent) {
                data.release();
                promise.trySuccess();
                return;
            }
            endSent = true;
        } else if (msg instanceof Http2HeadersFrame headers && headers.isEndStream()) {
            endSent = true;
        } else if (msg instanceof Http2ResetFrame) {
            endSent = true;
            aborted = true;
        }
        ctx.write(msg, promise);
    }

    @Override
    public void close(ChannelHandlerContext ctx, ChannelPromise promise) {
        Channel ch = ctx.channel();
        if (closing || !ch.isActive()) {
            if (closePromise != null && closePromise != promise) {
                closePromise.addListener(f -> promise.trySuccess());
            } else {
                ctx.close(promise);
            }
            return;
        }
        if (aborted) {
            ctx.close(promise);
            return;
        }
        closing = true;
        closePromise = promise;
        if (!endSent) {
            endSent = true;
            ctx.writeAndFlush(new DefaultHttp2DataFrame(true));
        }
        if (inputEnded) {
            finishClose();
            return;
        }
        if (lingerNanos == 0) {
            finishClose();
            return;
        }
        lingerTimer = ch.eventLoop().schedule(this::finishClose, lingerNanos, TimeUnit.NANOSECONDS);
        ctx.read();
    }

    private void finishClose() {
        cancelLinger();
        ChannelPromise p = closePromise;
        closePromise = null;
        if (p == null) {
            return;
        }
        // Both ends done: closing sends nothing. Otherwise (linger over) it resets with CANCEL.
        ctx.close(p);
    }

    private void cancelLinger() {
        if (lingerTimer != null) {
            lingerTimer.cancel(false);
            lingerTimer = null;
        }
    }
}
