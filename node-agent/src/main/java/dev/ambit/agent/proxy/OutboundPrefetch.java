package dev.ambit.agent.proxy;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayDeque;

/**
 * Reads a captured connection while its route is decided and its upstream opened, holding
 * up to {@link #LIMIT} bytes and the client's FIN, and hands them to the relay when it asks
 * for its first read.
 *
 * <p>Why: with {@code AUTO_READ} off, Netty 4.2.18's epoll transport loses a socket whose
 * peer half-closes while no read is pending. The FIN clears {@code EPOLLRDHUP}, the
 * interest set becomes empty, {@code EpollIoHandler} removes the fd from epoll
 * ({@code EPOLL_CTL_DEL}) but keeps its registration "added", and the next {@code read()}
 * fails with {@code epoll_ctl(MOD): ENOENT}. Clients that write a request and shut down
 * their output at once (common with short-lived tools) hit it between accept and relay
 * start. Keeping a read pending until the FIN is read avoids it; after the FIN nothing asks
 * the transport to read again (this handler swallows later reads), so the dead
 * registration is never touched.
 *
 * <p>Ownership: buffers read here are held, then passed on exactly once by the replay, or
 * released when the handler is removed (the connection failed or closed first).
 */
final class OutboundPrefetch extends ChannelDuplexHandler {

    /** Most bytes held before reading pauses; a request's first flight fits. */
    static final int LIMIT = 64 * 1024;

    private final ArrayDeque<ByteBuf> held = new ArrayDeque<>();
    private int heldBytes;
    private boolean eof;
    private boolean handedOver;
    private boolean replaying;
    private boolean readWanted;

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        if (ctx.channel().isRegistered()) {
            ctx.read();
        }
    }

    @Override
    public void channelRegistered(ChannelHandlerContext ctx) {
        ctx.read();
        ctx.fireChannelRegistered();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (handedOver && held.isEmpty()) {
            ctx.fireChannelRead(msg); // only reached if a read slipped through; keep order
            return;
        }
        if (msg instanceof ByteBuf data && data.isReadable()) {
            held.add(data);
            heldBytes += data.readableBytes();
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (!handedOver && !eof && heldBytes < LIMIT) {
            ctx.read();
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            eof = true; // replayed after the held bytes
            return;
        }
        if (evt instanceof ChannelInputShutdownReadComplete) {
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void read(ChannelHandlerContext ctx) {
        if (replaying) {
            readWanted = true; // answered when the replay is done
            return;
        }
        if (handedOver && eof) {
            return; // input finished: reading again would touch the broken registration
        }
        handedOver = true;
        if (held.isEmpty() && !eof) {
            ctx.pipeline().remove(this);
            ctx.read();
            return;
        }
        // Later, not from inside this call: the relay asks from inside its own start.
        replaying = true;
        ctx.executor().execute(() -> replay(ctx));
    }

    private void replay(ChannelHandlerContext ctx) {
        if (ctx.isRemoved()) {
            return; // the connection closed meanwhile; handlerRemoved released the bytes
        }
        boolean any = !held.isEmpty();
        for (ByteBuf b; (b = held.poll()) != null; ) {
            ctx.fireChannelRead(b);
        }
        heldBytes = 0;
        if (any) {
            ctx.fireChannelReadComplete(); // the relay asks for more here: recorded in readWanted
        }
        replaying = false;
        if (eof) {
            ctx.fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        } else if (!ctx.isRemoved()) {
            ctx.pipeline().remove(this);
            if (readWanted) {
                ctx.read();
            }
        }
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        for (ByteBuf b; (b = held.poll()) != null; ) {
            b.release();
        }
    }
}
