package dev.ambit.proxy.net;

import dev.ambit.proxy.hbone.HboneClient;
import dev.ambit.proxy.identity.TlsContexts;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2SettingsFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One HTTP/2 connection of an {@link HbonePool} and its {@code CONNECT} streams, owned by a
 * {@link LoopPool} and touched only from its event loop.
 *
 * <p>Life: {@link State#CONNECTING} (TCP, TLS, the server's first SETTINGS; tunnels asked
 * meanwhile wait here) → {@link State#READY} (takes streams up to the server's
 * {@code SETTINGS_MAX_CONCURRENT_STREAMS}; closed after the pool's idle timeout without
 * streams) → {@link State#DRAINING} (after a GOAWAY, a {@link #shutdown}: no new stream,
 * closed after its last) → {@link State#CLOSED}. A failure while connecting fails the waiting
 * tunnels with {@link HbonePool.ConnectionFailedException} and counts the reason.
 */
final class PooledConnection {

    enum State { CONNECTING, READY, DRAINING, CLOSED }

    private static final Logger log = LoggerFactory.getLogger(HbonePool.class);

    private final PoolContext context;
    private final LoopPool pool;
    private final HbonePool.Key key;
    private final ArrayDeque<Waiter> waiting = new ArrayDeque<>();
    private State state = State.CONNECTING;
    private Channel channel;
    private int maxStreams = Integer.MAX_VALUE;
    private int active;
    private boolean counted;
    private ScheduledFuture<?> idleTimer;

    PooledConnection(PoolContext context, LoopPool pool, HbonePool.Key key) {
        this.context = context;
        this.pool = pool;
        this.key = key;
    }

    HbonePool.Key key() {
        return key;
    }

    State state() {
        return state;
    }

    /** The connection's channel; {@code null} before it was created. */
    Channel channel() {
        return channel;
    }

    /** Streams open or being opened on it. */
    int activeStreams() {
        return active;
    }

    /** The server's {@code SETTINGS_MAX_CONCURRENT_STREAMS} ({@link Integer#MAX_VALUE} until known). */
    int maxStreams() {
        return maxStreams;
    }

    /** Takes {@code waiter} if this connection can: connecting, or ready with a free stream. */
    boolean offer(Waiter waiter) {
        if (state == State.CONNECTING) {
            waiting.add(waiter);
            return true;
        }
        if (state == State.READY && active < maxStreams) {
            openStream(waiter);
            return true;
        }
        return false;
    }

    /**
     * The {@link PoolContext.Dialer} of a real pool: a socket from the {@code first} waiter's
     * network, TLS presenting its certificate, then HTTP/2 ({@link #established}).
     */
    void connect(Waiter first) {
        SslContext ssl;
        try {
            ssl = context.tls.client(first.certificate(), key.destination());
        } catch (Exception e) {
            failed("handshake", e);
            pool.gone(this);
            return;
        }
        SocketChannel ch;
        try {
            ch = first.network().newChannel();
        } catch (RuntimeException e) {
            failed("connect", e);
            pool.gone(this);
            return;
        }
        channel = ch;
        ch.config().setOption(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) context.connectTimeout.toMillis());
        ch.config().setOption(ChannelOption.TCP_NODELAY, true);
        SslHandler sslHandler = ssl.newHandler(ch.alloc());
        ch.pipeline().addLast("tls", sslHandler);
        ch.pipeline().addLast("hbone-setup", new Setup());
        pool.loop().register(ch).addListener((ChannelFuture r) -> {
            if (!r.isSuccess()) {
                failed("connect", r.cause());
                ch.unsafe().closeForcibly(); // not registered: there is no pipeline to close through
                pool.gone(this);
                return;
            }
            ch.closeFuture().addListener(f -> closed());
            ch.connect(key.address()).addListener((ChannelFuture c) -> {
                if (!c.isSuccess()) {
                    failed("connect", c.cause());
                    ch.close();
                }
            });
        });
    }

    /**
     * Uses {@code ch}, registered on the pool's loop, connected and trusted, as this
     * connection's channel: HTTP/2 starts on it now. For dialers other than {@link #connect}
     * (tests, with an {@link io.netty.channel.embedded.EmbeddedChannel}).
     */
    void attach(Channel ch) {
        channel = ch;
        ch.closeFuture().addListener(f -> closed());
        established(ch.pipeline());
    }

    /** The server is who it must be: the HTTP/2 client, and this connection's view of its frames. */
    private void established(ChannelPipeline p) {
        // Added synchronously: records decoded in the same read (the server's SETTINGS) reach
        // the codec, not the pipeline's tail.
        p.addLast("hbone-client", HboneClient.newConnectionHandler());
        p.addLast("hbone-pool", new ConnectionEvents());
    }

    /** After the handshake: the server's identity was verified, negotiation is checked here. */
    private final class Setup extends ChannelInboundHandlerAdapter {
        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof SslHandshakeCompletionEvent done) {
                if (!done.isSuccess()) {
                    failed("handshake", done.cause());
                    ctx.close();
                    return;
                }
                try {
                    TlsContexts.checkNegotiated(ctx.pipeline().get(SslHandler.class));
                } catch (IOException e) {
                    failed("negotiation", e);
                    ctx.close();
                    return;
                }
                established(ctx.pipeline());
                ctx.pipeline().remove(this);
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            failed("handshake", cause);
            ctx.close();
        }
    }

    /** Connection-level frames the multiplexer passes on: SETTINGS and GOAWAY. */
    private final class ConnectionEvents extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof Http2SettingsFrame settings) {
                    Long max = settings.settings().maxConcurrentStreams();
                    maxStreams = max == null ? Integer.MAX_VALUE : (int) Math.min(max, Integer.MAX_VALUE);
                    if (state == State.CONNECTING) {
                        ready();
                    }
                } else if (msg instanceof Http2GoAwayFrame) {
                    drain();
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.debug("HBONE connection {} to {} failed", ctx.channel(), key.address(), cause);
            ctx.close();
        }
    }

    private void ready() {
        state = State.READY;
        counted = true;
        context.opened.inc();
        context.open.inc();
        // Those beyond the server's limit are placed again: another connection takes them.
        List<Waiter> overflow = new ArrayList<>();
        for (Waiter w; (w = waiting.poll()) != null; ) {
            if (active < maxStreams) {
                openStream(w);
            } else {
                overflow.add(w);
            }
        }
        for (Waiter w : overflow) {
            pool.acquire(key, w);
        }
        maybeIdle();
    }

    private void openStream(Waiter waiter) {
        if (waiter.promise().isDone()) {
            return;
        }
        active++;
        cancelIdle();
        context.streams.inc();
        Future<Http2StreamChannel> f = HboneClient.connect(channel, waiter.request());
        waiter.promise().addListener(p -> {
            if (p.isCancelled()) {
                f.cancel(false);
            }
        });
        f.addListener((Future<Http2StreamChannel> r) -> {
            if (r.isSuccess()) {
                Http2StreamChannel stream = r.getNow();
                stream.closeFuture().addListener(c -> release());
                if (!waiter.promise().trySuccess(stream)) {
                    stream.close();
                }
            } else {
                release();
                waiter.promise().tryFailure(r.cause());
            }
        });
    }

    private void release() {
        active--;
        maybeIdle();
    }

    private void maybeIdle() {
        if (state == State.DRAINING && active == 0) {
            close(); // drained: nothing left to wait for
        } else if (state == State.READY && active == 0 && idleTimer == null) {
            idleTimer = pool.loop().schedule(() -> {
                idleTimer = null;
                if (active == 0 && state == State.READY) {
                    close();
                }
            }, context.idleTimeout.toNanos(), TimeUnit.NANOSECONDS);
        }
    }

    private void cancelIdle() {
        if (idleTimer != null) {
            idleTimer.cancel(false);
            idleTimer = null;
        }
    }

    /** A GOAWAY or a shutdown: no new stream; those waiting go elsewhere; closed after the last. */
    private void drain() {
        if (state == State.READY || state == State.CONNECTING) {
            state = State.DRAINING;
            pool.remove(this);
            cancelIdle();
            for (Waiter w; (w = waiting.poll()) != null; ) {
                pool.acquire(key, w);
            }
            maybeIdle();
        }
    }

    /** Closes the channel through its pipeline (the HTTP/2 codec sends GOAWAY first). */
    void close() {
        if (channel != null) {
            channel.close();
        } else {
            closed();
        }
    }

    /** A failure before the connection became usable: counted, and its waiters fail. */
    private void failed(String reason, Throwable cause) {
        if (state != State.CONNECTING) {
            return;
        }
        context.failures.labels(reason).inc();
        state = State.CLOSED;
        pool.remove(this);
        Throwable root = cause;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause(); // "server identity mismatch: ..." rather than the engine's wrapper
        }
        IOException e = new HbonePool.ConnectionFailedException(reason, "HBONE connection to " + key.address()
                + " (expected server identity " + key.destination() + ") failed: " + reason + ": " + root, cause);
        for (Waiter w; (w = waiting.poll()) != null; ) {
            w.promise().tryFailure(e);
        }
    }

    /** Its channel closed, whatever the state: the connection is gone. */
    private void closed() {
        try {
            if (state == State.CONNECTING) {
                failed("closed", new ClosedChannelException());
                return;
            }
            if (state == State.CLOSED) {
                return;
            }
            state = State.CLOSED;
            cancelIdle();
            pool.remove(this);
            if (counted) {
                context.open.dec();
            }
        } finally {
            pool.gone(this);
        }
    }

    /** The pool drains: no new stream here; closed now if it carries none, else after its last. */
    void shutdown() {
        switch (state) {
            case CONNECTING -> close(); // its waiters fail as it closes
            case READY -> drain(); // closes at once if it carries no stream
            case DRAINING, CLOSED -> { } // DRAINING closes after its last stream
        }
    }

    /** The drain's deadline: reset now, with its streams. */
    void force() {
        if (channel == null || !channel.isOpen()) {
            return;
        }
        context.forced.incrementAndGet();
        try {
            channel.config().setOption(ChannelOption.SO_LINGER, 0);
        } catch (RuntimeException ignored) {
            // already gone; the close is all that is left
        }
        // Not through the pipeline: the HTTP/2 codec would wait for the streams again.
        channel.unsafe().close(channel.unsafe().voidPromise());
    }
}
