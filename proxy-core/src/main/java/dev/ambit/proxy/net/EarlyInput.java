package dev.ambit.proxy.net;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayDeque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads a TCP connection while its relay is not in place yet (the route decided, the
 * upstream or app connected, the tunnel accepted), keeps what it read and the peer's FIN,
 * and hands them to the relay when the relay first asks to read. Used on every TCP
 * connection the proxies relay: the client of the outbound and plaintext inbound
 * listeners, and the app connection of both inbound listeners.
 *
 * <p>Why: with {@code AUTO_READ} off, both native transports still read a connection whose
 * peer sent its FIN while no read is pending: the peer's hang-up ({@code EPOLLRDHUP}, or
 * io_uring's {@code POLLRDHUP} poll) makes them read the socket anyway, and data and FIN reach
 * the pipeline, whose tail would drop them before the relay's handler is there. Clients that
 * write a request and shut down their output at once, and apps that send a banner and close,
 * hit it. Netty 4.2.18's epoll transport then breaks the socket as well: clearing
 * {@code EPOLLRDHUP} leaves the interest set empty, {@code EpollIoHandler} removes the fd from
 * epoll ({@code EPOLL_CTL_DEL}) but keeps its registration "added", and the next
 * {@code read()} fails with {@code epoll_ctl(MOD): ENOENT}. io_uring has no such bug: reads
 * after the FIN do nothing and the half-closed socket stays writable ({@code TransportTest}).
 * This handler therefore (a) keeps a read pending from activation until the FIN or
 * {@link #LIMIT} bytes, (b) keeps whatever the transport delivers, also past the limit, and
 * (c) once the FIN was seen swallows further reads, so epoll's dead registration is never
 * touched. The same epoll bug would later break writes to the half-closed socket;
 * {@link EpollHalfClose#keepRegistered} prevents it and is applied here, as soon as the channel
 * is active (it leaves channels of other transports alone).
 *
 * <p>Contract: add it first (before the relay's handler) on a channel with {@code AUTO_READ}
 * off. The first {@code read()} from behind it hands over: the kept buffers, a
 * read-complete and the input shutdown are replayed in that order, as the transport would
 * fire them, from a later event-loop task (relays ask for their first read from inside their
 * own {@code start}). Reads asked for during the replay are issued after it unless the input
 * had ended. Without anything kept it removes itself and passes the read on. Errors before
 * the hand-over close the channel (whoever relays it sees it inactive); after, they go on
 * to the relay.
 *
 * <p>Ownership: kept buffers are passed on exactly once by the replay, or released when the
 * handler is removed or the channel unregistered first.
 */
public final class EarlyInput extends ChannelDuplexHandler {

    private static final Logger log = LoggerFactory.getLogger(EarlyInput.class);

    /** Most bytes read ahead before reading pauses; a request's first flight fits. */
    static final int LIMIT = 64 * 1024;

    private final ArrayDeque<ByteBuf> kept = new ArrayDeque<>();
    private int keptBytes;
    private boolean eof;
    private boolean handedOver;
    private boolean replaying;
    private boolean readWanted;

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        readAhead(ctx);
    }

    @Override
    public void channelRegistered(ChannelHandlerContext ctx) {
        readAhead(ctx);
        ctx.fireChannelRegistered();
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        readAhead(ctx); // an outgoing connection: reading starts once it is connected
        ctx.fireChannelActive();
    }

    /** Keeps one read pending while not handed over, so a FIN never finds none. */
    private void readAhead(ChannelHandlerContext ctx) {
        if (ctx.channel().isActive()) {
            // Before any FIN is processed: a half-closed socket must stay writable.
            EpollHalfClose.keepRegistered(ctx.channel());
        }
        if (!handedOver && !eof && keptBytes < LIMIT && ctx.channel().isRegistered() && ctx.channel().isActive()) {
            ctx.read();
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (handedOver && kept.isEmpty() && !replaying) {
            ctx.fireChannelRead(msg); // only reached if a read slipped through; order is kept
            return;
        }
        if (msg instanceof ByteBuf data && data.isReadable()) {
            kept.add(data);
            keptBytes += data.readableBytes();
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (handedOver && kept.isEmpty() && !replaying) {
            ctx.fireChannelReadComplete();
            return;
        }
        readAhead(ctx); // replayed with the data otherwise
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            eof = true; // replayed after the kept bytes
            return;
        }
        if (evt instanceof ChannelInputShutdownReadComplete) {
            return; // nothing behind this handler reads past the FIN
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void read(ChannelHandlerContext ctx) {
        if (replaying) {
            readWanted = true; // the relay reacting to replayed data: answered after the replay
            return;
        }
        if (handedOver && eof) {
            return; // input finished: reading again would touch the broken registration
        }
        handedOver = true;
        if (kept.isEmpty() && !eof) {
            ctx.pipeline().remove(this);
            ctx.read();
            return;
        }
        replaying = true;
        ctx.executor().execute(() -> replay(ctx));
    }

    private void replay(ChannelHandlerContext ctx) {
        if (ctx.isRemoved()) {
            return; // the channel closed meanwhile; handlerRemoved released the bytes
        }
        boolean any = !kept.isEmpty();
        for (ByteBuf b; (b = kept.poll()) != null; ) {
            ctx.fireChannelRead(b);
        }
        keptBytes = 0;
        if (any) {
            ctx.fireChannelReadComplete(); // the relay asks for more here: recorded in readWanted
        }
        replaying = false;
        if (eof) {
            // Stays, swallowing reads: the relay learns about the FIN and never reads again.
            ctx.fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        } else if (!ctx.isRemoved()) {
            ctx.pipeline().remove(this);
            if (readWanted) {
                ctx.read();
            }
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (handedOver) {
            ctx.fireExceptionCaught(cause);
            return;
        }
        // Before the relay, typically a reset of a client that gave up: the transport closes
        // the channel, and whoever relays it sees it inactive. Worth a debug line only.
        log.debug("{} failed before its relay started", ctx.channel(), cause);
        ctx.close();
    }

    @Override
    public void channelUnregistered(ChannelHandlerContext ctx) {
        release();
        ctx.fireChannelUnregistered();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        release(); // empty after a replay; otherwise nobody will take what was kept
    }

    private void release() {
        for (ByteBuf b; (b = kept.poll()) != null; ) {
            b.release();
        }
        keptBytes = 0;
    }
}
