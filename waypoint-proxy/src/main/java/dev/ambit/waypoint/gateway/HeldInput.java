package dev.ambit.waypoint.gateway;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayDeque;

/**
 * Keeps what a downstream connection sends (a peeked ClientHello, bytes decrypted early) and
 * its FIN while the upstream of a relay is being opened, then hands them over: written to the
 * upstream first, the FIN replayed once the relay is in place. Owns the bytes it keeps until
 * the hand-over; releases them if the connection ends first.
 */
final class HeldInput extends ChannelInboundHandlerAdapter {

    static final String NAME = "held-input";

    private final ArrayDeque<ByteBuf> kept = new ArrayDeque<>();
    private boolean eof;

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof ByteBuf b) {
            kept.add(b);
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        // Not read on: the relay asks once the upstream is there (AUTO_READ is off).
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            eof = true;
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        release();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        release();
        ctx.fireChannelInactive();
    }

    /** Writes what was kept to {@code upstream} (flushed); returns whether the downstream had sent its FIN. */
    boolean handOver(Channel upstream) {
        for (ByteBuf b; (b = kept.poll()) != null; ) {
            upstream.write(b);
        }
        upstream.flush();
        return eof;
    }

    private void release() {
        for (ByteBuf b; (b = kept.poll()) != null; ) {
            b.release();
        }
    }
}
