package dev.ambit.perf;

import static java.util.Objects.requireNonNull;

import dev.ambit.ffi.NetNs;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.unix.UnixChannel;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;

/**
 * An epoll listener whose socket lives in a given network namespace (created the way the
 * node agent creates its in-pod listeners) that answers every connection with one byte
 * and closes it. Closing first puts TIME_WAIT on this side, so the load client's
 * ephemeral ports are free again at once.
 *
 * <p>A capturing listener also looks up each connection's original destination before
 * answering and counts the connections whose destination was not the expected one
 * (or could not be found) as {@link #mismatches()}.
 */
public final class OneByteListener implements AutoCloseable {

    private static final byte ANSWER = '.';

    private final Channel channel;
    private final AtomicLong accepted = new AtomicLong();
    private final AtomicLong mismatches = new AtomicLong();
    private final AtomicReference<String> firstMismatch = new AtomicReference<>();

    private OneByteListener(EventLoopGroup group, Path netns, InetSocketAddress bind, InetSocketAddress expected,
                            Function<Channel, Optional<InetSocketAddress>> originalDestination) throws Exception {
        ServerBootstrap b = new ServerBootstrap().group(group).channel(EpollServerSocketChannel.class)
                // The bench binds the same port again for the next run while this run's
                // connections sit in TIME_WAIT on this side.
                .option(ChannelOption.SO_REUSEADDR, true)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childHandler(new Answer(expected, originalDestination));
        // The socket is created by the calling thread, so inside the namespace.
        channel = NetNs.callIn(netns, () -> b.bind(bind).sync().channel());
    }

    /** A plain server: answers without looking at where the connection was going. */
    public static OneByteListener plain(EventLoopGroup group, Path netns, InetSocketAddress bind) throws Exception {
        return new OneByteListener(requireNonNull(group, "group"), requireNonNull(netns, "netns"),
                requireNonNull(bind, "bind"), null, null);
    }

    /**
     * A capture listener: every accepted connection must have been headed to
     * {@code expected} according to {@code originalDestination}, else it is a mismatch.
     */
    public static OneByteListener capturing(EventLoopGroup group, Path netns, InetSocketAddress bind,
                                            InetSocketAddress expected,
                                            Function<Channel, Optional<InetSocketAddress>> originalDestination)
            throws Exception {
        return new OneByteListener(requireNonNull(group, "group"), requireNonNull(netns, "netns"),
                requireNonNull(bind, "bind"), requireNonNull(expected, "expected"),
                requireNonNull(originalDestination, "originalDestination"));
    }

    /** The listening socket's descriptor (what {@code PodRedirection} wants for inbound). */
    public int fd() {
        return ((UnixChannel) channel).fd().intValue();
    }

    /** Connections accepted so far. */
    public long accepted() {
        return accepted.get();
    }

    /** Connections whose original destination was missing or not the expected one. */
    Mismatches mismatches() {
        return new Mismatches(mismatches.get(), Optional.ofNullable(firstMismatch.get()));
    }

    @Override
    public void close() {
        channel.close().syncUninterruptibly();
    }

    /** The child handler; all state is in the enclosing listener's atomics, so one instance serves all. */
    @ChannelHandler.Sharable
    private final class Answer extends ChannelInboundHandlerAdapter {
        private final InetSocketAddress expected;
        private final Function<Channel, Optional<InetSocketAddress>> originalDestination;

        Answer(InetSocketAddress expected, Function<Channel, Optional<InetSocketAddress>> originalDestination) {
            this.expected = expected;
            this.originalDestination = originalDestination;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            accepted.incrementAndGet();
            if (originalDestination != null) {
                check(ctx.channel());
            }
            ctx.writeAndFlush(ctx.alloc().buffer(1).writeByte(ANSWER)).addListener(ChannelFutureListener.CLOSE);
        }

        private void check(Channel ch) {
            String problem;
            try {
                Optional<InetSocketAddress> found = originalDestination.apply(ch);
                if (found.isPresent() && found.get().equals(expected)) {
                    return;
                }
                problem = "connection from " + ch.remoteAddress() + ": original destination "
                        + found.map(InetSocketAddress::toString).orElse("not found") + " (expected: " + expected + ")";
            } catch (RuntimeException e) {
                problem = "connection from " + ch.remoteAddress() + ": original destination lookup failed: " + e;
            }
            mismatches.incrementAndGet();
            firstMismatch.compareAndSet(null, problem);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // A client reset after the byte went out is not the listener's business: drop it.
            ctx.close();
        }
    }
}
