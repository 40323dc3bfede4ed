package dev.ambit.agent.proxy;

import static java.util.Objects.requireNonNull;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Relays bytes between two TCP connections (the plaintext client and the app), with the
 * same rules as {@link dev.ambit.common.hbone.Relay} has for TCP and HBONE streams:
 *
 * <ul>
 *   <li><b>Backpressure.</b> {@code AUTO_READ} is off on both channels; a side is read again
 *       only once what was read from it is written to the other side and the other side is
 *       writable (else when it becomes writable). Memory per connection stays at one read.</li>
 *   <li><b>Half-close.</b> A FIN from one side becomes {@link DuplexChannel#shutdownOutput()}
 *       on the other, after the bytes before it; once both directions have finished, both
 *       channels are closed and the relay {@linkplain Result#completed() completed}.</li>
 *   <li><b>Abort.</b> A reset, error or early close of either side closes both with
 *       {@code SO_LINGER 0} (a TCP RST), so neither peer mistakes it for a clean end.</li>
 * </ul>
 *
 * <p>Both channels must be registered on one event loop and {@link #start} called from it.
 * Ownership: each buffer read is handed to the write on the other side, which releases it;
 * anything read after the end is released here.
 */
public final class InboundTcpRelay {

    private static final Logger log = LoggerFactory.getLogger(InboundTcpRelay.class);

    /**
     * How a relay ended.
     *
     * @param clientToServer bytes read from the client and written to the server
     * @param serverToClient bytes read from the server and written to the client
     * @param duration from {@link #start} to the end
     * @param completed both directions ended with a FIN; otherwise it was aborted
     * @param cause the error behind an abort, if any
     */
    public record Result(long clientToServer, long serverToClient, Duration duration, boolean completed,
                         Throwable cause) {}

    /** Told once how the relay ended, on its event loop. */
    @FunctionalInterface
    public interface Listener {
        void relayEnded(Result result);
    }

    private final Direction up;    // client → server
    private final Direction down;  // server → client
    private final Listener listener;
    private final long startNanos = System.nanoTime();
    private boolean done;

    private InboundTcpRelay(DuplexChannel client, DuplexChannel server, Listener listener) {
        up = new Direction(client, server);
        down = new Direction(server, client);
        this.listener = listener;
    }

    /**
     * Starts relaying and returns at once; the relay owns both channels from now on and
     * closes both when it ends, then calls {@code listener} once.
     *
     * @throws IllegalStateException if not called from the event loop of both channels
     */
    public static void start(DuplexChannel client, DuplexChannel server, Listener listener) {
        requireNonNull(client, "client");
        requireNonNull(server, "server");
        requireNonNull(listener, "listener");
        if (!client.eventLoop().inEventLoop() || !server.eventLoop().inEventLoop()) {
            throw new IllegalStateException("client and server must be registered on the same event loop, "
                    + "and start called from it: " + client + ", " + server);
        }
        InboundTcpRelay relay = new InboundTcpRelay(client, server, listener);
        for (DuplexChannel ch : new DuplexChannel[] {client, server}) {
            ch.config().setAutoRead(false);
            ch.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
        }
        client.pipeline().addLast("tcp-relay", relay.new Side(relay.up, relay.down));
        server.pipeline().addLast("tcp-relay", relay.new Side(relay.down, relay.up));
        if (!client.isActive() || !server.isActive()) {
            relay.abort(new ClosedChannelException());
        } else {
            relay.maybeRead(relay.up);
            relay.maybeRead(relay.down);
        }
    }

    /** One direction's state: bytes read from {@code from} and written to {@code to}. */
    private static final class Direction {
        final DuplexChannel from;
        final DuplexChannel to;
        long bytes;
        boolean readRequested;
        int writesPending;
        ChannelFuture lastWrite;
        boolean eof;        // FIN read from `from`
        boolean outputShut; // `to`'s output shut down after the last byte

        Direction(DuplexChannel from, DuplexChannel to) {
            this.from = from;
            this.to = to;
        }
    }

    private void maybeRead(Direction d) {
        if (!done && !d.eof && !d.readRequested && d.writesPending == 0 && d.to.isWritable()) {
            d.readRequested = true;
            d.from.read();
        }
    }

    private void onData(Direction d, ByteBuf data) {
        int n = data.readableBytes();
        if (n == 0) {
            data.release();
            return;
        }
        d.bytes += n;
        d.writesPending++;
        ChannelFuture write = d.to.writeAndFlush(data); // the write owns data now
        d.lastWrite = write;
        write.addListener((ChannelFuture f) -> {
            d.writesPending--;
            if (f.isSuccess()) {
                maybeRead(d);
            } else {
                abort(f.cause());
            }
        });
    }

    private void onEof(Direction d) {
        if (d.eof || done) {
            return;
        }
        d.eof = true;
        // shutdownOutput fails writes still queued, so it waits for the last one.
        ChannelFuture last = d.lastWrite;
        if (last == null || last.isDone()) {
            shutdownOutput(d);
        } else {
            last.addListener((ChannelFuture f) -> {
                if (f.isSuccess()) {
                    shutdownOutput(d);
                }
            });
        }
    }

    private void shutdownOutput(Direction d) {
        if (done) {
            return;
        }
        d.to.shutdownOutput().addListener((ChannelFuture f) -> {
            if (f.isSuccess()) {
                d.outputShut = true;
                maybeComplete();
            } else {
                abort(f.cause());
            }
        });
    }

    private void maybeComplete() {
        if (done || !up.outputShut || !down.outputShut) {
            return;
        }
        done = true;
        up.from.close();
        down.from.close();
        report(true, null);
    }

    private void abort(Throwable cause) {
        if (done) {
            return;
        }
        done = true;
        for (DuplexChannel ch : new DuplexChannel[] {up.from, down.from}) {
            try {
                ch.config().setOption(ChannelOption.SO_LINGER, 0); // close() sends a RST
            } catch (RuntimeException ignored) {
                // The socket is already gone; close() is all that is left to do.
            }
            ch.close();
        }
        report(false, cause);
    }

    private void report(boolean completed, Throwable cause) {
        Result result = new Result(up.bytes, down.bytes, Duration.ofNanos(System.nanoTime() - startNanos),
                completed, cause);
        try {
            listener.relayEnded(result);
        } catch (RuntimeException e) {
            log.warn("relay listener failed for {} <-> {}: {}", up.from, down.from, result, e);
        }
    }

    /** The relay's handler in one channel's pipeline; always last. */
    private final class Side extends ChannelInboundHandlerAdapter {
        private final Direction reading; // read from this channel
        private final Direction writing; // written to this channel

        Side(Direction reading, Direction writing) {
            this.reading = reading;
            this.writing = writing;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            reading.readRequested = false;
            if (done || !(msg instanceof ByteBuf data)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            onData(reading, data);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            // A read that produced nothing (or whose write already finished) asks again.
            reading.readRequested = false;
            maybeRead(reading);
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                onEof(reading);
            }
            ReferenceCountUtil.release(evt);
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (ctx.channel().isWritable()) {
                maybeRead(writing); // the direction that writes here was waiting for room
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            // A socket shut down both ways may be closed by the transport: not an abort.
            if (!done && !(reading.eof && writing.outputShut)) {
                abort(new IOException("connection closed before both directions finished: " + ctx.channel()));
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            abort(cause); // typically "Connection reset by peer"
        }
    }
}
