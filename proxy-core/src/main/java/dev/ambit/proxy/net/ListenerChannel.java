package dev.ambit.proxy.net;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.Checks;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.util.AttributeKey;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The listening channel of one of the proxy's listeners (a {@link ProxyListener}) and the
 * connections it accepted: bound at most once, readable from any thread, closed or drained on demand.
 * Thread-safe; every method may be called before the bind and after the close.
 *
 * <p>Accepted connections are seen by {@link #acceptHandler()}, which goes into the
 * listening channel's pipeline ({@code ServerBootstrap.handler}), ahead of the bootstrap's
 * acceptor: it runs on the listening channel's event loop as each connection is accepted,
 * so once the listening channel is closed no connection can be missing from the count.
 */
public final class ListenerChannel {

    private static final AttributeKey<Boolean> DRAIN_STARTED = AttributeKey.valueOf(ListenerChannel.class, "drain");

    private final Consumer<Channel> onDrain;
    private final Set<Channel> open = ConcurrentHashMap.newKeySet();
    private final CompletableFuture<Integer> drained = new CompletableFuture<>();
    private final AtomicInteger forced = new AtomicInteger();
    private final ChannelHandler acceptHandler = new AcceptHandler();
    private Channel channel; // guarded by this
    private volatile boolean draining;
    private volatile boolean forcing;
    private volatile boolean listenerClosed;

    /**
     * @param onDrain what to do with each accepted connection when the drain starts (or when
     *     it is registered, if accepted after): called on the connection's event loop; the
     *     connection is otherwise left to end by itself until the deadline
     */
    public ListenerChannel(Consumer<Channel> onDrain) {
        this.onDrain = requireNonNull(onDrain, "onDrain");
    }

    /** A listener whose connections need nothing at the drain's start: relays run until their peers end them. */
    public ListenerChannel() {
        this(ch -> { });
    }

    /** For the listening channel's pipeline: tracks every accepted connection. Shared. */
    public ChannelHandler acceptHandler() {
        return acceptHandler;
    }

    /**
     * Binds with {@code bind} unless already bound; {@code bind} returns the listening channel,
     * bound or being bound, or throws.
     *
     * @throws IllegalStateException if already bound or drained, or whatever {@code bind} throws
     */
    public synchronized void bind(Supplier<Channel> bind) {
        if (draining) {
            throw new IllegalStateException("drained: a drained listener cannot be started again");
        }
        if (channel != null) {
            throw new IllegalStateException("already started: " + channel);
        }
        channel = bind.get();
    }

    /** The listening channel; {@code null} before the bind. */
    public synchronized Channel channel() {
        return channel;
    }

    /** The bound address; {@code null} before the bind completed. */
    public synchronized InetSocketAddress localAddress() {
        return channel == null ? null : (InetSocketAddress) channel.localAddress();
    }

    /** Accepted connections still open. */
    public int activeConnections() {
        return open.size();
    }

    /** Whether {@link #drain} was called. */
    public boolean isDraining() {
        return draining;
    }

    /** Stops accepting and waits until the socket is closed; connections already accepted go on. */
    public void close() {
        Channel ch = channel();
        if (ch != null) {
            ch.close().awaitUninterruptibly();
        }
    }

    /**
     * Stops accepting at once, applies {@code onDrain} to every accepted connection, and
     * completes when all of them ended; those still open at {@code deadline} are closed with
     * {@code SO_LINGER 0} (a reset, bypassing the pipeline's own close handling, such as an
     * HTTP/2 graceful shutdown) and counted in the future's value. Later calls return the same
     * future, whatever their deadline. Returns once the listening socket is closed (from its
     * own event loop: at once, the close under way); never waits for connections.
     *
     * <p>Force-closing happens on the connections' event loops: their group must run until the
     * future completes.
     *
     * @throws IllegalArgumentException if {@code deadline} is negative
     */
    public CompletableFuture<Integer> drain(Duration deadline) {
        Checks.notNegative(deadline, "deadline");
        Channel listener;
        synchronized (this) {
            if (draining) {
                return drained;
            }
            draining = true; // before the snapshot: connections registered later see it (ChildHandler)
            listener = channel;
        }
        for (Channel ch : open) {
            if (ch.isRegistered()) {
                ch.eventLoop().execute(() -> drainOne(ch));
            } // else: ChildHandler applies onDrain once it is registered
        }
        if (listener != null && listener.isOpen()) {
            ChannelFuture closed = listener.close().addListener((ChannelFuture f) -> {
                listenerClosed = true; // on the listener's loop, after its last accept
                maybeDrained();
            });
            if (!listener.eventLoop().inEventLoop()) {
                // Only the close of a listening socket: callers then know nothing more is accepted.
                closed.awaitUninterruptibly();
            }
        } else {
            listenerClosed = true; // never bound, or closed already: nothing more can be accepted
            maybeDrained();
        }
        if (!drained.isDone()) {
            // Not an event loop: the deadline holds however the listener's own channel fared.
            CompletableFuture.delayedExecutor(deadline.toNanos(), TimeUnit.NANOSECONDS).execute(() -> {
                if (!drained.isDone()) {
                    forceAll();
                }
            });
        }
        return drained;
    }

    /** On {@code ch}'s loop: {@code onDrain}, once per connection. */
    private void drainOne(Channel ch) {
        if (ch.isOpen() && ch.attr(DRAIN_STARTED).setIfAbsent(Boolean.TRUE) == null) {
            onDrain.accept(ch);
        }
    }

    private void forceAll() {
        forcing = true; // before the snapshot, as above
        for (Channel ch : open) {
            if (ch.isRegistered()) {
                ch.eventLoop().execute(() -> force(ch));
            } else if (!ch.isOpen()) {
                // Its registration failed and the acceptor closed it without completing its close future.
                open.remove(ch);
                maybeDrained();
            } // else: ChildHandler forces it once it is registered
        }
    }

    /** On {@code ch}'s loop: a reset now, whatever the pipeline would do on a close. */
    private void force(Channel ch) {
        if (!ch.isOpen()) {
            return; // ended by itself meanwhile
        }
        forced.incrementAndGet();
        try {
            ch.config().setOption(ChannelOption.SO_LINGER, 0);
        } catch (RuntimeException ignored) {
            // already gone; the close is all that is left
        }
        ch.unsafe().close(ch.unsafe().voidPromise());
    }

    private void maybeDrained() {
        if (listenerClosed && open.isEmpty()) {
            drained.complete(forced.get());
        }
    }

    /** Sees each accepted connection on the listener's loop, before the acceptor registers it. */
    @ChannelHandler.Sharable
    private final class AcceptHandler extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Channel child) {
                open.add(child);
                child.closeFuture().addListener(f -> {
                    open.remove(child);
                    if (draining) {
                        maybeDrained();
                    }
                });
                // First in its pipeline: its handlerAdded runs as the connection is registered.
                child.pipeline().addFirst("drain", new ChildHandler());
            }
            ctx.fireChannelRead(msg);
        }
    }

    /** Catches a connection whose registration raced the drain's start or its deadline. */
    private final class ChildHandler extends ChannelInboundHandlerAdapter {
        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            Channel ch = ctx.channel();
            ctx.pipeline().remove(this);
            if (forcing) {
                ctx.executor().execute(() -> force(ch));
            } else if (draining) {
                // A later task: the listener's initializer has set the connection up by then.
                ctx.executor().execute(() -> drainOne(ch));
            }
        }
    }
}
