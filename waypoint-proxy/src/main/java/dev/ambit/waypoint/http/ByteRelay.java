package dev.ambit.waypoint.http;

import static java.util.Objects.requireNonNull;

import dev.ambit.proxy.hbone.StreamBytes;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.util.ReferenceCountUtil;
import java.util.function.BiConsumer;

/**
 * Relays bytes both ways between two byte channels (an HBONE stream behind
 * {@link StreamBytes}, a TCP socket, an upstream tunnel), possibly on different event loops:
 * {@code AUTO_READ} off, a side is read again once its previous chunk was written to the
 * other side (so a slow reader holds back the sender); a half-close (FIN, END_STREAM) is
 * passed on as one ({@code shutdownOutput}, END_STREAM); once both directions ended both
 * channels are closed; an error, a reset or an early close of one side aborts the other
 * (RST_STREAM for a stream, a close for a socket).
 */
public final class ByteRelay {

    private final Channel a;
    private final Channel b;
    private final BiConsumer<Long, Long> onEnd;
    private long aToB;
    private long bToA;
    private boolean aEnded;
    private boolean bEnded;
    private boolean done;

    private ByteRelay(Channel a, Channel b, BiConsumer<Long, Long> onEnd) {
        this.a = a;
        this.b = b;
        this.onEnd = onEnd;
    }

    /**
     * Starts relaying between {@code a} and {@code b}, which belong to the relay from now on;
     * {@code onEnd} gets the bytes a → b and b → a once, when it ended.
     */
    public static void start(Channel a, Channel b, BiConsumer<Long, Long> onEnd) {
        requireNonNull(a, "a");
        requireNonNull(b, "b");
        requireNonNull(onEnd, "onEnd");
        ByteRelay relay = new ByteRelay(a, b, onEnd);
        for (Channel c : new Channel[] {a, b}) {
            c.config().setAutoRead(false);
            if (c instanceof DuplexChannel) {
                c.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
            }
        }
        a.pipeline().addLast("byte-relay", relay.new Side(a, b, true));
        b.pipeline().addLast("byte-relay", relay.new Side(b, a, false));
        if (!a.isActive() || !b.isActive()) {
            relay.abort();
            return;
        }
        // On the next pass: the caller may still be rearranging a pipeline (removing a codec
        // whose leftover bytes must reach the relay) when this returns.
        a.eventLoop().execute(a::read);
        b.eventLoop().execute(b::read);
    }

    private synchronized boolean isDone() {
        return done;
    }

    private synchronized void count(boolean fromA, int n) {
        if (fromA) {
            aToB += n;
        } else {
            bToA += n;
        }
    }

    /** Input of one side ended; returns whether both have. */
    private synchronized boolean ended(boolean fromA) {
        if (fromA) {
            aEnded = true;
        } else {
            bEnded = true;
        }
        return aEnded && bEnded;
    }

    private void finish() {
        long x;
        long y;
        synchronized (this) {
            if (done) {
                return;
            }
            done = true;
            x = aToB;
            y = bToA;
        }
        a.close();
        b.close();
        onEnd.accept(x, y);
    }

    private void abort() {
        long x;
        long y;
        synchronized (this) {
            if (done) {
                return;
            }
            done = true;
            x = aToB;
            y = bToA;
        }
        abortChannel(a);
        abortChannel(b);
        onEnd.accept(x, y);
    }

    private static void abortChannel(Channel c) {
        if (c.pipeline().get(StreamBytes.class) != null) {
            StreamBytes.reset(c, Http2Error.CANCEL);
        } else {
            c.close();
        }
    }

    private static ChannelFuture shutdownOutput(Channel c) {
        if (c instanceof DuplexChannel d) {
            return d.shutdownOutput();
        }
        if (c.pipeline().get(StreamBytes.class) != null) {
            return StreamBytes.endStream(c);
        }
        return c.close();
    }

    /** One side's handler: what it reads goes to {@code other}. */
    private final class Side extends ChannelInboundHandlerAdapter {
        private final Channel self;
        private final Channel other;
        private final boolean isA;
        private boolean gotData;
        private boolean inputEnded;

        Side(Channel self, Channel other, boolean isA) {
            this.self = self;
            this.other = other;
            this.isA = isA;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (isDone() || !(msg instanceof ByteBuf data)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            gotData = true;
            count(isA, data.readableBytes());
            other.writeAndFlush(data).addListener((ChannelFuture f) -> {
                if (f.isSuccess()) {
                    self.read();
                } else {
                    abort();
                }
            });
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            // Nothing read (an empty frame): ask again; otherwise the write's completion asks.
            if (!gotData && !inputEnded && !isDone()) {
                self.read();
            }
            gotData = false;
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                inputEnded = true;
                // After the bytes before it: the other channel keeps write order.
                shutdownOutput(other).addListener((ChannelFuture f) -> {
                    if (!f.isSuccess()) {
                        abort();
                    } else if (ended(isA)) {
                        finish();
                    }
                });
            } else if (evt instanceof Http2ResetFrame) {
                abort();
            }
            ReferenceCountUtil.release(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            abort(); // no-op once finished
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            abort();
        }
    }
}
