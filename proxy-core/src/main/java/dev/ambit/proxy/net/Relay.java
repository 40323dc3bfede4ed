package dev.ambit.proxy.net;

import static java.util.Objects.requireNonNull;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Relays bytes between a TCP connection and an HBONE stream, both ways, with Netty-style
 * manual backpressure and TCP semantics carried across the tunnel.
 *
 * <ul>
 *   <li><b>Backpressure.</b> {@code AUTO_READ} is off on both channels. One side is read
 *       again while at most {@value #READ_AHEAD} write of its bytes is still pending on the
 *       other side and the other side is writable; otherwise reading resumes when a write
 *       completes or the other side becomes writable again. So at most two reads per
 *       direction are in flight. On the stream side that also holds back HTTP/2
 *       WINDOW_UPDATEs, so a slow TCP peer slows the HBONE sender down instead of filling
 *       memory.</li>
 *   <li><b>Half-close.</b> A FIN from TCP ({@link ChannelInputShutdownEvent}) becomes an empty
 *       DATA frame with END_STREAM; END_STREAM from the stream becomes
 *       {@link DuplexChannel#shutdownOutput()} once the bytes before it are written. When
 *       both directions have finished, both channels are closed: {@link RelayResult.Termination#COMPLETED}.</li>
 *   <li><b>Abort.</b> A TCP reset, error or early close resets the stream with
 *       {@code CONNECT_ERROR} (RFC 9113 §8.5); an RST_STREAM, error or early close of the
 *       stream (its HTTP/2 connection gone without END_STREAM, a drain deadline) closes TCP
 *       with {@code SO_LINGER 0}, i.e. a TCP RST, never a FIN.</li>
 *   <li><b>Process death.</b> The caller arms the TCP socket with {@link Linger#resetOnClose}
 *       when it is accepted or connected, so a dying agent resets it too; the relay restores
 *       the normal linger only as it shuts the TCP output down after END_STREAM
 *       ({@link Linger}).</li>
 * </ul>
 *
 * <p>Both channels must be registered on the same event loop and {@link #start} must be
 * called from it: the relay keeps its state in plain fields. For the server side that
 * means the caller (see {@link dev.ambit.proxy.hbone.UpstreamConnector}) registers the upstream TCP channel on
 * the HBONE stream's event loop; for the client side, the HTTP/2 connection is opened on
 * the event loop of the captured TCP connection.
 *
 * <p>Ownership: every buffer read from one side is handed to the write on the other side
 * (which releases it); anything read after the relay ended is released here.
 */
public final class Relay {

    private static final Logger log = LoggerFactory.getLogger(Relay.class);

    /**
     * Writes of one side's bytes that may still be pending on the other side when that side
     * is read again. One, not zero: a write that completes a little later (its flush
     * consolidated to the end of the event-loop pass, see {@code dev.ambit.proxy.hbone.ConnectionFlushes}, or a
     * full socket buffer) would otherwise leave no read requested when the read event ends,
     * and epoll then disarms the socket and arms it again when the write completes: two
     * {@code epoll_ctl} calls per chunk, which were about a fifth of an agent's CPU per
     * request under {@code wrk -c1} (L4 bench).
     */
    static final int READ_AHEAD = 1;

    /**
     * The stream channel's write-buffer water marks. Netty's default high mark (64 KiB) is one
     * full TCP read: after writing it the stream reported itself unwritable until the
     * connection's flush at the end of the event-loop pass, so the TCP side was never read
     * ahead and epoll disarmed and re-armed it for every 64 KiB chunk (two {@code epoll_ctl}
     * per chunk on the sending agent under one iperf3 stream). {@link #READ_AHEAD} bounds what
     * this relay queues; the stream's writability then only says what it should: the HTTP/2
     * flow-control window, or the connection itself, is full.
     */
    static final WriteBufferWaterMark STREAM_WATER_MARK = new WriteBufferWaterMark(
            (READ_AHEAD + 1) * 64 * 1024, 2 * (READ_AHEAD + 1) * 64 * 1024 + 1024);

    private final DuplexChannel tcp;
    private final Channel stream;
    private final RelayListener listener;
    private final long startNanos = System.nanoTime();

    private long tcpToStream;
    private long streamToTcp;

    private boolean tcpReadRequested;
    private boolean streamReadRequested;
    private int streamWritesPending;
    private int tcpWritesPending;
    private ChannelFuture lastTcpWrite;

    private boolean tcpEof;          // FIN read from TCP
    private boolean streamEndSent;   // END_STREAM written to the stream
    private boolean streamEof;       // END_STREAM read from the stream
    private boolean tcpOutputShut;   // TCP output shut down after the last byte
    private boolean streamResetByPeer;
    private boolean done;

    private Relay(DuplexChannel tcp, Channel stream, RelayListener listener) {
        this.tcp = tcp;
        this.stream = stream;
        this.listener = listener;
    }

    /**
     * Starts relaying between {@code tcp} and {@code stream} and returns at once; the relay
     * owns both channels from now on and closes both when it ends, then calls
     * {@code listener} once.
     *
     * @param tcp a connected TCP channel; its pipeline must not consume inbound bytes
     * @param stream an HBONE stream whose {@code CONNECT} already succeeded: it reads and
     *        writes {@link io.netty.handler.codec.http2.Http2StreamFrame}s (normally an
     *        {@link io.netty.handler.codec.http2.Http2StreamChannel})
     * @throws IllegalStateException if not called from the event loop of both channels
     */
    public static void start(DuplexChannel tcp, Channel stream, RelayListener listener) {
        requireNonNull(tcp, "tcp");
        requireNonNull(stream, "stream");
        requireNonNull(listener, "listener");
        if (!tcp.eventLoop().inEventLoop() || !stream.eventLoop().inEventLoop()) {
            throw new IllegalStateException("tcp and stream must be registered on the same event loop, "
                    + "and Relay.start called from it: " + tcp + ", " + stream);
        }
        Relay relay = new Relay(tcp, stream, listener);
        // After the TCP peer's FIN its socket is still written to: see EpollHalfClose.
        EpollHalfClose.keepRegistered(tcp);
        tcp.config().setAutoRead(false);
        tcp.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
        // Normally armed when accepted or connected already; a relay never ends its TCP side with a
        // FIN by accident, not even when this process dies.
        Linger.resetOnClose(tcp);
        stream.config().setAutoRead(false);
        stream.config().setWriteBufferWaterMark(STREAM_WATER_MARK);
        BulkReads.apply(tcp);
        tcp.pipeline().addLast("hbone-relay-tcp", relay.new TcpSide());
        stream.pipeline().addLast("hbone-relay-stream", relay.new StreamSide());
        if (!tcp.isActive()) {
            relay.abort(RelayResult.Termination.TCP_ABORTED, new ClosedChannelException());
        } else if (!stream.isActive()) {
            relay.abort(RelayResult.Termination.STREAM_ABORTED, new ClosedChannelException());
        } else {
            relay.maybeReadTcp();
            relay.maybeReadStream();
        }
    }

    private void maybeReadTcp() {
        if (!done && !tcpEof && !tcpReadRequested && streamWritesPending <= READ_AHEAD && stream.isWritable()) {
            tcpReadRequested = true;
            tcp.read();
        }
    }

    private void maybeReadStream() {
        if (!done && !streamEof && !streamReadRequested && tcpWritesPending <= READ_AHEAD && tcp.isWritable()) {
            streamReadRequested = true;
            stream.read();
        }
    }

    // TCP → stream

    private void onTcpData(ByteBuf data) {
        int n = data.readableBytes();
        if (n == 0) {
            data.release();
            return;
        }
        tcpToStream += n;
        streamWritesPending++;
        // The frame takes ownership of data; the stream channel releases it once written.
        stream.writeAndFlush(new DefaultHttp2DataFrame(data)).addListener((ChannelFuture f) -> {
            streamWritesPending--;
            if (f.isSuccess()) {
                maybeReadTcp();
            } else {
                abort(RelayResult.Termination.STREAM_ABORTED, f.cause());
            }
        });
    }

    private void onTcpEof() {
        if (tcpEof || done) {
            return;
        }
        tcpEof = true;
        // Written after every DATA frame before it: the stream keeps write order.
        stream.writeAndFlush(new DefaultHttp2DataFrame(true)).addListener((ChannelFuture f) -> {
            if (f.isSuccess()) {
                streamEndSent = true;
                maybeComplete();
            } else {
                abort(RelayResult.Termination.STREAM_ABORTED, f.cause());
            }
        });
    }

    // stream → TCP

    private void onStreamData(ByteBuf data, boolean endStream) {
        int n = data.readableBytes();
        if (n == 0) {
            data.release();
        } else {
            streamToTcp += n;
            tcpWritesPending++;
            ChannelFuture write = tcp.writeAndFlush(data);
            lastTcpWrite = write;
            write.addListener((ChannelFuture f) -> {
                tcpWritesPending--;
                if (f.isSuccess()) {
                    maybeReadStream();
                } else {
                    abort(RelayResult.Termination.TCP_ABORTED, f.cause());
                }
            });
        }
        if (endStream) {
            onStreamEof();
        }
    }

    private void onStreamEof() {
        if (streamEof || done) {
            return;
        }
        streamEof = true;
        // shutdownOutput fails writes still queued, so it waits for the last one.
        ChannelFuture last = lastTcpWrite;
        if (last == null || last.isDone()) {
            shutdownTcpOutput();
        } else {
            last.addListener((ChannelFuture f) -> {
                if (f.isSuccess()) {
                    shutdownTcpOutput();
                }
            });
        }
    }

    private void shutdownTcpOutput() {
        if (done) {
            return;
        }
        // The graceful close of the TCP socket begins: its FIN and the bytes before it must be
        // delivered even if this process dies now, so the linger is normal from here (Linger).
        Linger.shutdownGracefully(tcp).addListener((ChannelFuture f) -> {
            if (f.isSuccess()) {
                tcpOutputShut = true;
                maybeComplete();
            } else {
                abort(RelayResult.Termination.TCP_ABORTED, f.cause());
            }
        });
    }

    // endings

    private void maybeComplete() {
        if (done || !streamEndSent || !tcpOutputShut) {
            return;
        }
        done = true;
        // Both END_STREAMs are exchanged, so closing the stream sends no RST_STREAM.
        tcp.close();
        stream.close();
        report(RelayResult.Termination.COMPLETED, null);
    }

    private void abort(RelayResult.Termination termination, Throwable cause) {
        if (done) {
            return;
        }
        done = true;
        if (termination == RelayResult.Termination.TCP_ABORTED) {
            Linger.reset(tcp);
            if (stream.isActive()) {
                stream.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.CONNECT_ERROR))
                        .addListener((ChannelFuture f) -> stream.close());
            }
        } else {
            // A RST, never a FIN: the application must not take the lost rest for a clean end.
            Linger.reset(tcp);
            if (streamResetByPeer) {
                // The RST_STREAM event comes before the codec closes the stream; closing now would
                // answer a reset with a reset (RFC 9113 §5.4.2 forbids it). Closing once the codec
                // is done sends nothing and releases DATA still queued in the stream.
                stream.eventLoop().execute(() -> stream.close());
            } else {
                // Sends RST_STREAM(CANCEL) unless the peer already ended the stream.
                stream.close();
            }
        }
        report(termination, cause);
    }

    private void report(RelayResult.Termination termination, Throwable cause) {
        RelayResult result = new RelayResult(tcpToStream, streamToTcp,
                Duration.ofNanos(System.nanoTime() - startNanos), termination, cause);
        try {
            listener.relayEnded(result);
        } catch (RuntimeException e) {
            // Telemetry must not disturb the channels, which are already being closed.
            log.warn("RelayListener failed for {} <-> {}: {}", tcp, stream, result, e);
        }
    }

    /** The relay's handler in the TCP channel's pipeline; always last. */
    private final class TcpSide extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            tcpReadRequested = false;
            if (done || !(msg instanceof ByteBuf data)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            onTcpData(data);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            // A read that produced nothing (or whose write already finished) asks again.
            tcpReadRequested = false;
            maybeReadTcp();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                onTcpEof();
            }
            ReferenceCountUtil.release(evt);
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (ctx.channel().isWritable()) {
                maybeReadStream();
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            // A socket shut down both ways may be closed by the transport: not an abort.
            if (!done && !(tcpEof && tcpOutputShut)) {
                abort(RelayResult.Termination.TCP_ABORTED,
                        new IOException("TCP connection closed before both directions finished"));
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // Typically "Connection reset by peer".
            abort(RelayResult.Termination.TCP_ABORTED, cause);
        }
    }

    /** The relay's handler in the stream channel's pipeline; always last. */
    private final class StreamSide extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            streamReadRequested = false;
            if (done) {
                ReferenceCountUtil.release(msg);
            } else if (msg instanceof Http2DataFrame frame) {
                // The frame's content is the frame's reference count: handing content on hands the frame on.
                onStreamData(frame.content(), frame.isEndStream());
            } else if (msg instanceof Http2HeadersFrame headers) {
                // Trailers are meaningless to a byte stream; only their END_STREAM counts.
                if (headers.isEndStream()) {
                    onStreamEof();
                }
            } else {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            streamReadRequested = false;
            maybeReadStream();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof Http2ResetFrame reset) {
                streamResetByPeer = true;
                abort(RelayResult.Termination.STREAM_ABORTED,
                        new IOException("stream reset by peer: " + Http2Error.valueOf(reset.errorCode())
                                + " (" + reset.errorCode() + ")"));
            }
            ReferenceCountUtil.release(evt);
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (ctx.channel().isWritable()) {
                maybeReadTcp();
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            // After END_STREAM both ways the HTTP/2 stream closes by itself, possibly before
            // the TCP output is shut down: that is not an abort.
            if (!done && !(streamEof && streamEndSent)) {
                abort(RelayResult.Termination.STREAM_ABORTED,
                        new IOException("stream closed before both directions finished"));
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            abort(RelayResult.Termination.STREAM_ABORTED, cause);
        }
    }
}
