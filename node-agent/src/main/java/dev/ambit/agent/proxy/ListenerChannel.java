package dev.ambit.agent.proxy;

import io.netty.channel.Channel;
import java.net.InetSocketAddress;
import java.util.function.Supplier;

/**
 * The listening channel of an inbound listener, shared by {@link Hbone15008Listener} and
 * {@link Plaintext15006Listener}: bound at most once, readable from any thread, closed on
 * demand. Thread-safe; every method may be called before the bind and after the close.
 */
final class ListenerChannel {

    private Channel channel; // guarded by this

    /**
     * Binds with {@code bind} (which waits until bound, or throws) unless already bound.
     *
     * @throws IllegalStateException if already bound, or whatever {@code bind} throws
     */
    synchronized void bind(Supplier<Channel> bind) {
        if (channel != null) {
            throw new IllegalStateException("already started: " + channel);
        }
        channel = bind.get();
    }

    /** The listening channel; {@code null} before the bind. */
    synchronized Channel channel() {
        return channel;
    }

    /** The bound address; {@code null} before the bind. */
    synchronized InetSocketAddress localAddress() {
        return channel == null ? null : (InetSocketAddress) channel.localAddress();
    }

    /** Stops accepting and waits until the socket is closed; connections already accepted go on. */
    synchronized void close() {
        if (channel != null) {
            channel.close().awaitUninterruptibly();
        }
    }
}
