package dev.ambit.proxy.hbone;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import java.util.ArrayDeque;
import java.util.Queue;

/**
 * Test pipeline head: counts read() requests and, while closed, holds writes back
 * (their promises stay incomplete) until {@link #open()}.
 */
final class Gate extends ChannelDuplexHandler {

    private record Held(Object msg, ChannelPromise promise) {}

    private final Queue<Held> held = new ArrayDeque<>();
    private ChannelHandlerContext ctx;
    private boolean closed;
    int reads;

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void read(ChannelHandlerContext ctx) {
        reads++;
        ctx.read();
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (closed) {
            held.add(new Held(msg, promise));
        } else {
            ctx.write(msg, promise);
        }
    }

    @Override
    public void flush(ChannelHandlerContext ctx) {
        if (!closed) {
            ctx.flush();
        }
    }

    void close() {
        closed = true;
    }

    int heldWrites() {
        return held.size();
    }

    /** Lets held writes through, in order. */
    void open() {
        closed = false;
        for (Held h; (h = held.poll()) != null; ) {
            ctx.write(h.msg(), h.promise());
        }
        ctx.flush();
    }
}
