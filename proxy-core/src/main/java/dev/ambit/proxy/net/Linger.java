package dev.ambit.proxy.net;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.DuplexChannel;

/**
 * How the proxy's sockets that face applications end: a reset unless the relay ended that
 * socket's direction gracefully. An application that does not frame its data (HTTP/1.0
 * without a length, a raw stream) learns it lost bytes only from a reset, never from a FIN.
 *
 * <p>The rules, for a socket {@code S} between the agent and an application:
 * <ul>
 *   <li>{@link #resetOnClose} ({@code SO_LINGER 0}) from the moment {@code S} exists (accepted,
 *       or connected by the agent): any close, including the kernel's when the agent process
 *       dies or is killed, sends an RST and drops unsent bytes.</li>
 *   <li>The graceful close of {@code S} begins when the relay shuts down {@code S}'s output
 *       after the other side's FIN or END_STREAM, once every byte before it was written:
 *       {@link #shutdownGracefully} restores the normal linger first. From then on all the
 *       bytes and the FIN are the kernel's to deliver, even if the agent dies; the
 *       application's own later writes reach a dead agent's orphaned socket and are reset by
 *       the kernel.</li>
 *   <li>The application's FIN does not begin a graceful close of {@code S}: the agent still
 *       owes it the other direction, so {@code S} stays armed.</li>
 *   <li>Every abort (the other side failed, an error, a drain deadline) arms {@code S} again and
 *       closes it: {@link #reset}.</li>
 * </ul>
 *
 * <p>Both native transports (epoll and io_uring) apply {@code SO_LINGER}; io_uring's
 * asynchronous close honours it, as the socket is closed by the kernel's last reference.
 * Channels without the option (embedded channels in tests) ignore it.
 */
public final class Linger {

    private Linger() {
    }

    /**
     * Sets {@code SO_LINGER 0}: closing {@code channel}, or the process dying, sends a TCP RST.
     * Does nothing to a channel that is gone or has no such option.
     */
    public static void resetOnClose(Channel channel) {
        set(channel, 0);
    }

    /**
     * Restores the normal linger (off) and shuts down {@code channel}'s output: a FIN after every
     * byte already written, delivered by the kernel whatever happens to this process.
     */
    public static ChannelFuture shutdownGracefully(DuplexChannel channel) {
        set(channel, -1);
        return channel.shutdownOutput();
    }

    /** Closes {@code channel} with a TCP RST ({@code SO_LINGER 0}, then close). */
    public static void reset(Channel channel) {
        set(channel, 0);
        channel.close();
    }

    private static void set(Channel channel, int seconds) {
        try {
            channel.config().setOption(ChannelOption.SO_LINGER, seconds);
        } catch (RuntimeException ignored) {
            // The socket is already closed: nothing is left to configure.
        }
    }
}
