package dev.ambit.agent.proxy;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayDeque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps what a TCP channel reads before its relay is in place, and hands it to the relay
 * when the relay first asks to read.
 *
 * <p>Why: with {@code AUTO_READ} off, epoll still reads when the peer's FIN arrives
 * ({@code EPOLLRDHUP} drains the socket so no byte is lost). A client that writes and
 * half-closes at once (a request, then FIN) or an app that sends a banner and closes would
 * have those bytes read before the app is connected or the tunnel accepted; without this
 * handler they would reach the pipeline's tail and be dropped. Memory is bounded by the
 * socket's receive buffer: nothing more can arrive after the FIN.
 *
 * <p>Contract: it must be the only inbound handler when added; the relay's handler goes
 * after it. The first {@code read()} (which the relay issues once its handler is in place)
 * replays, in order, the kept buffers, the input shutdown and a read-complete, then removes
 * it; with nothing kept the read goes on to the socket. What is kept when the
 * channel closes unrelayed is released.
 */
final class InboundEarlyInput extends ChannelDuplexHandler {

    private static final Logger log = LoggerFactory.getLogger(InboundEarlyInput.class);

    private final ArrayDeque<Object> kept = new ArrayDeque<>(2);
    private boolean inputShutdown;
    private boolean replaying;
    private boolean readWanted;

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        kept.add(msg);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        // Replayed with the data.
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            inputShutdown = true;
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void read(ChannelHandlerContext ctx) {
        if (replaying) {
            // The reader reacting to replayed data (its write finished at once): answered below.
            readWanted = true;
            return;
        }
        if (kept.isEmpty() && !inputShutdown) {
            ctx.pipeline().remove(this);
            ctx.read();
            return;
        }
        // The reader asked for one read: this is it. The handler stays until the end of the
        // replay so that reads asked for meanwhile are not sent to a socket whose input may be
        // shut down (epoll refuses that), and the reader learns about the FIN first.
        replaying = true;
        Object msg;
        while ((msg = kept.poll()) != null) {
            ctx.fireChannelRead(msg);
        }
        if (inputShutdown) {
            ctx.fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        }
        ctx.fireChannelReadComplete();
        replaying = false;
        ctx.pipeline().remove(this);
        if (readWanted && !inputShutdown) {
            ctx.read();
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // Before the relay, typically a reset of a client refused or still waiting for the
        // app: the transport closes the channel after a read error, and whoever relays it
        // sees it inactive. Not worth more than a debug line.
        log.debug("{} failed before its relay started", ctx.channel(), cause);
        ctx.close();
    }

    @Override
    public void channelUnregistered(ChannelHandlerContext ctx) {
        releaseKept();
        ctx.fireChannelUnregistered();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        releaseKept(); // empty after a replay; otherwise nobody will take what was kept
    }

    private void releaseKept() {
        Object msg;
        while ((msg = kept.poll()) != null) {
            ReferenceCountUtil.release(msg);
        }
    }
}
