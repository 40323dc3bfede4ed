package dev.ambit.proxy.net;

import static java.util.Objects.requireNonNull;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The base of a proxy's listeners (the node agent's outbound, plaintext and HBONE listeners;
 * a waypoint's or a gateway's): one listening socket made by a {@link SocketFactory}, the
 * connections it accepted, and how it stops. A subclass says what an accepted connection
 * becomes ({@link #initConnection}) and when to bind (its {@code start}, with
 * {@link #bootstrap} or {@link #relayBootstrap} and one of the {@code bind} methods); the rest
 * is here, on a {@link ListenerChannel}.
 *
 * <p>Stopping: {@link #close} stops accepting and leaves accepted connections to end by
 * themselves; {@link #drain} stops accepting, applies the listener's drain step to each
 * accepted connection (nothing for relays; a GOAWAY for HTTP/2), waits for them to end and
 * resets those still open at its deadline. A drained listener cannot be started.
 *
 * <pre>{@code
 * final class EchoListener extends ProxyListener {
 *     ChannelFuture start() {
 *         return bind(relayBootstrap(group, SocketFactory.host("echo", Transport.EPOLL)), address);
 *     }
 *
 *     protected void initConnection(Channel ch) {
 *         ... // on ch's event loop, as it is registered
 *     }
 * }
 * }</pre>
 *
 * <p>Thread-safe: every public method may be called from any thread, before the bind and after
 * the close.
 */
public abstract class ProxyListener implements AutoCloseable {

    private final ListenerChannel server;

    /** A listener whose connections need nothing at a drain's start (relays run until their peers end them). */
    protected ProxyListener() {
        this(ch -> { });
    }

    /**
     * A listener that applies {@code onDrain} to each accepted connection as a drain starts (on
     * the connection's event loop; see {@link ListenerChannel#ListenerChannel(Consumer)}).
     */
    protected ProxyListener(Consumer<Channel> onDrain) {
        server = new ListenerChannel(requireNonNull(onDrain, "onDrain"));
    }

    /**
     * Sets up what is accepted on {@code channel}, registered on its event loop; called once per
     * connection. Must not block: everything of the connection happens on that loop.
     */
    protected abstract void initConnection(Channel channel);

    /**
     * A bootstrap for this listener: {@code group}'s event loops, listening sockets from
     * {@code sockets} with {@code SO_REUSEADDR} (a restarted proxy binds again while the old
     * listener's connections may linger), accepted connections counted and drained by this
     * listener and set up by {@link #initConnection}. Subclasses add their own options.
     */
    protected final ServerBootstrap bootstrap(EventLoopGroup group, SocketFactory sockets) {
        return newBootstrap(group, sockets, false);
    }

    /**
     * {@link #bootstrap} for connections that are relayed ({@link TcpRelay}, {@link Relay}):
     * {@code AUTO_READ} off (reads are the relay's, for backpressure; until it starts, an
     * {@link EarlyInput}'s, added as {@code early-input} before {@link #initConnection}),
     * half-closure allowed, and {@code SO_LINGER 0}: reset, never FIN, unless the relay ends a
     * direction gracefully, also if the process dies ({@link Linger}).
     */
    protected final ServerBootstrap relayBootstrap(EventLoopGroup group, SocketFactory sockets) {
        return newBootstrap(group, sockets, true)
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.SO_LINGER, 0);
    }

    private ServerBootstrap newBootstrap(EventLoopGroup group, SocketFactory sockets, boolean relayed) {
        requireNonNull(group, "group");
        requireNonNull(sockets, "sockets");
        return new ServerBootstrap()
                .group(group)
                .channelFactory(sockets::newServerChannel)
                .option(ChannelOption.SO_REUSEADDR, true)
                .handler(server.acceptHandler())
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        if (relayed) {
                            // A client may write and half-close before the other side is connected.
                            ch.pipeline().addLast("early-input", new EarlyInput());
                        }
                        initConnection(ch);
                    }
                });
    }

    /**
     * Binds {@code bootstrap} to {@code address} without waiting; the future completes when the
     * listener is bound or failed to bind.
     *
     * @throws IllegalStateException if this listener was bound or drained before
     */
    protected final ChannelFuture bind(ServerBootstrap bootstrap, InetSocketAddress address) {
        requireNonNull(bootstrap, "bootstrap");
        requireNonNull(address, "address");
        ChannelFuture[] bound = new ChannelFuture[1];
        server.bind(() -> {
            bound[0] = bootstrap.bind(address);
            return bound[0].channel();
        });
        return bound[0];
    }

    /**
     * Binds with {@code bind}, which returns the listening channel (bound, or being bound) or
     * throws; for a subclass that binds, waits and reports its own way.
     *
     * @throws IllegalStateException if this listener was bound or drained before, or what {@code bind} throws
     */
    protected final void bind(Supplier<Channel> bind) {
        server.bind(requireNonNull(bind, "bind"));
    }

    /** The listening channel (for a redirector that steers connections to it); {@code null} before the bind. */
    public Channel serverChannel() {
        return server.channel();
    }

    /** The bound address; {@code null} before the bind completed. */
    public InetSocketAddress localAddress() {
        return server.localAddress();
    }

    /** Connections this listener accepted that are still open (refused ones close at once). */
    public int activeConnections() {
        return server.activeConnections();
    }

    /** Whether {@link #drain} was called. */
    public boolean isDraining() {
        return server.isDraining();
    }

    /**
     * Drains the listener: stops accepting at once (the listening socket is closed, so new
     * connections are refused), applies the listener's drain step to every accepted connection,
     * and completes once all of them ended. Those still open at {@code deadline} are reset, with
     * what they carry, and counted in the future's value. Calling it again returns the same
     * future (the first deadline holds); a drained listener cannot be started. Returns once the
     * listening socket is closed, without waiting for connections; the future completes on an
     * event loop or a timer thread, whose group must run until then.
     *
     * @throws IllegalArgumentException if {@code deadline} is negative
     */
    public CompletableFuture<Integer> drain(Duration deadline) {
        return server.drain(deadline);
    }

    /**
     * Stops accepting and waits until the listening socket is closed; connections already
     * accepted go on until they end (use {@link #drain} to wait for them, or to end them).
     */
    @Override
    public void close() {
        server.close();
    }
}
