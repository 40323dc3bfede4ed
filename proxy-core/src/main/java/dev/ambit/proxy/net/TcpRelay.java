package dev.ambit.proxy.net;

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
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Relays bytes between two TCP connections, both ways: the outbound proxy's path to
 * destinations outside the mesh, and the plaintext inbound path from a client to the app.
 * The TCP twin of the HBONE {@link Relay}, with its rules:
 *
 * <ul>
 *   <li><b>Backpressure.</b> {@code AUTO_READ} is off on both; a side is read again only
 *       once everything read from it was written to the other side and that side is
 *       writable (else when it becomes writable), so a slow reader slows the writer's TCP
 *       window instead of filling memory. Memory per direction stays at one read.</li>
 *   <li><b>Half-close.</b> A FIN read from one side becomes {@code shutdownOutput()} on the
 *       other once the bytes before it are written; the side that sent it is still written
 *       to, however long the other direction goes on (on epoll thanks to
 *       {@link EpollHalfClose}). When both directions finished, both are closed:
 *       {@link Result#completed()}.</li>
 *   <li><b>Abort.</b> An error, reset or early close of one side closes both with
 *       {@code SO_LINGER 0}, i.e. a TCP RST, so neither peer mistakes it for a clean end.</li>
 *   <li><b>Process death.</b> Both sockets carry {@code SO_LINGER 0} (armed when accepted or
 *       connected, and again here) until the relay shuts one's output down after the other's
 *       FIN: a dying agent resets them rather than closing them with a FIN
 *       ({@link Linger}).</li>
 * </ul>
 *
 * <p>Both channels must be registered on one event loop and {@link #start} called from it
 * (so they are of one {@link Transport}, epoll or io_uring). Bytes (and a FIN) that arrived
 * before the relay was in place are kept by {@link EarlyInput} and replayed on the relay's
 * first read. Every buffer read from one side is handed to the write on the other (which
 * releases it); anything read after the end is released here.
 */
public final class TcpRelay {

    private static final Logger log = LoggerFactory.getLogger(TcpRelay.class);

    /**
     * How a relay ended.
     *
     * @param clientToServer bytes read from the client (the side that connected to us) and
     *     written to the server
     * @param serverToClient bytes read from the server and written to the client
     * @param duration from {@link #start} to the end
     * @param completed both directions finished with a FIN; otherwise it was aborted
     * @param cause the error behind an abort, or {@code null}
     */
    public record Result(long clientToServer, long serverToClient, Duration duration, boolean completed,
                         Throwable cause) {}

    private final Consumer<Result> listener;
    private final long startNanos = System.nanoTime();
    private final Side client;
    private final Side server;
    private boolean done;

    private TcpRelay(DuplexChannel client, DuplexChannel server, Consumer<Result> listener) {
        this.listener = listener;
        this.client = new Side(client);
        this.server = new Side(server);
        this.client.other = this.server;
        this.server.other = this.client;
    }

    /**
     * Starts relaying and returns at once; the relay owns both channels from now on, closes
     * both when it ends and then calls {@code listener} once (on the event loop). A channel
     * that is no longer active aborts the relay at once.
     *
     * @throws IllegalStateException if not called from the event loop of both channels
     */
    public static void start(DuplexChannel client, DuplexChannel server, Consumer<Result> listener) {
        requireNonNull(client, "client");
        requireNonNull(server, "server");
        requireNonNull(listener, "listener");
        if (!client.eventLoop().inEventLoop() || !server.eventLoop().inEventLoop()) {
            throw new IllegalStateException("both channels must be on one event loop, and start called from it: "
                    + client + ", " + server);
        }
        TcpRelay relay = new TcpRelay(client, server, listener);
        for (Side s : new Side[] {relay.client, relay.server}) {
            // A side whose peer sent its FIN is still written to: see EpollHalfClose (epoll
            // channels only; io_uring keeps half-closed sockets writable by itself).
            EpollHalfClose.keepRegistered(s.channel);
            s.channel.config().setAutoRead(false);
            s.channel.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
            // Normally armed when accepted or connected already: see Linger.
            Linger.resetOnClose(s.channel);
            s.channel.pipeline().addLast("tcp-relay", s);
        }
        if (!client.isActive() || !server.isActive()) {
            relay.abort(new ClosedChannelException());
        } else {
            relay.client.maybeRead();
            relay.server.maybeRead();
        }
    }

    private void maybeComplete() {
        if (!done && client.outputShut && server.outputShut) {
            done = true;
            client.channel.close();
            server.channel.close();
            report(true, null);
        }
    }

    private void abort(Throwable cause) {
        if (done) {
            return;
        }
        done = true;
        for (Side s : new Side[] {client, server}) {
            Linger.reset(s.channel); // also a side whose graceful close had begun
        }
        report(false, cause);
    }

    private void report(boolean completed, Throwable cause) {
        Result r = new Result(client.bytesRead, server.bytesRead, Duration.ofNanos(System.nanoTime() - startNanos),
                completed, cause);
        try {
            listener.accept(r);
        } catch (RuntimeException e) {
            log.warn("relay listener failed for {} <-> {}: {}", client.channel, server.channel, r, e);
        }
    }

    /** One connection, and the relay's handler in its pipeline: what is read from it goes to {@link #other}. */
    private final class Side extends ChannelInboundHandlerAdapter {
        final DuplexChannel channel;
        Side other;
        long bytesRead;
        boolean readRequested;
        int writesPending;      // writes of this side's bytes still pending on the other side
        boolean eof;            // FIN read from this side
        boolean outputShut;     // this side's output shut after the other side's FIN
        ChannelFuture lastWrite; // last write into this channel

        Side(DuplexChannel channel) {
            this.channel = channel;
        }

        void maybeRead() {
            if (!done && !eof && !readRequested && writesPending == 0 && other.channel.isWritable()) {
                readRequested = true;
                channel.read();
            }
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            readRequested = false;
            if (done || !(msg instanceof ByteBuf data)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            int n = data.readableBytes();
            if (n == 0) {
                data.release();
                return;
            }
            bytesRead += n;
            writesPending++;
            ChannelFuture w = other.channel.writeAndFlush(data); // ownership passes to the write
            other.lastWrite = w;
            w.addListener((ChannelFuture f) -> {
                writesPending--;
                if (f.isSuccess()) {
                    maybeRead();
                } else {
                    abort(f.cause());
                }
            });
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            // A read that produced nothing (or whose write already finished) asks again.
            readRequested = false;
            maybeRead();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent && !eof && !done) {
                eof = true;
                // shutdownOutput would fail writes still queued, so it follows the last one.
                ChannelFuture last = other.lastWrite;
                if (last == null || last.isDone()) {
                    other.shutdownOutput();
                } else {
                    last.addListener((ChannelFuture f) -> {
                        if (f.isSuccess()) {
                            other.shutdownOutput();
                        }
                    });
                }
            }
            ReferenceCountUtil.release(evt);
        }

        void shutdownOutput() {
            if (done) {
                return;
            }
            // This socket's graceful close begins: its FIN and the bytes before it are the kernel's
            // to deliver from now on, even if this process dies (Linger).
            Linger.shutdownGracefully(channel).addListener((ChannelFuture f) -> {
                if (f.isSuccess()) {
                    outputShut = true;
                    maybeComplete();
                } else {
                    abort(f.cause());
                }
            });
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (channel.isWritable()) {
                other.maybeRead();
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            // A socket shut down both ways may be closed by the transport: not an abort.
            if (!done && !(eof && outputShut)) {
                abort(new IOException("connection " + channel + " closed before both directions finished"));
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            abort(cause); // typically "Connection reset by peer"
        }
    }
}
