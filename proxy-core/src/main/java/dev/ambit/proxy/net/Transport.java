package dev.ambit.proxy.net;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.Checks;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoEventLoopGroup;
import io.netty.channel.IoHandler;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;
import io.netty.util.concurrent.FastThreadLocalThread;
import java.util.Locale;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The Linux I/O transport of the proxy's sockets: Netty's epoll (the default) or io_uring.
 *
 * <p>A channel can only be registered with an event loop of its own transport (Netty
 * refuses anything else), so the event loop group given to {@link Outbound},
 * {@link InboundContext} and {@link HbonePool#connect} must come from the same transport as
 * the {@link SocketFactory} whose channels they use: make both from one value, e.g.
 * {@code transport.newEventLoopGroup(n, "ambit-proxy")} and
 * {@code PodNetwork.namespace(uid, netns, transport)} in the node agent. The builders check it
 * ({@link #isCompatible}).
 *
 * <p>Channels of both transports are native ({@link io.netty.channel.unix.UnixChannel}),
 * so {@code SO_ORIGINAL_DST}-style lookups by file descriptor work on either.
 */
public enum Transport {

    /** Netty's epoll transport; available on every Linux the agent supports. */
    EPOLL("epoll") {
        @Override
        IoHandlerFactory ioHandlerFactory() {
            return EpollIoHandler.newFactory();
        }

        @Override
        Class<? extends IoHandler> ioHandlerType() {
            return EpollIoHandler.class;
        }

        @Override
        public ServerSocketChannel newServerChannel() {
            return new EpollServerSocketChannel();
        }

        @Override
        public SocketChannel newChannel() {
            return new EpollSocketChannel();
        }

        @Override
        public boolean isAvailable() {
            return Epoll.isAvailable();
        }

        @Override
        public Throwable unavailabilityCause() {
            return Epoll.unavailabilityCause();
        }
    },

    /**
     * Netty's io_uring transport. Needs Linux 5.14 or later, and io_uring not disabled
     * ({@code kernel.io_uring_disabled} sysctl, seccomp profiles of container runtimes).
     */
    IO_URING("io_uring") {
        @Override
        IoHandlerFactory ioHandlerFactory() {
            return IoUringIoHandler.newFactory();
        }

        @Override
        Class<? extends IoHandler> ioHandlerType() {
            return IoUringIoHandler.class;
        }

        @Override
        public ServerSocketChannel newServerChannel() {
            return new IoUringServerSocketChannel();
        }

        @Override
        public SocketChannel newChannel() {
            return new IoUringSocketChannel();
        }

        @Override
        public boolean isAvailable() {
            return IoUring.isAvailable();
        }

        @Override
        public Throwable unavailabilityCause() {
            return IoUring.unavailabilityCause();
        }
    };

    private final String configName;

    Transport(String configName) {
        this.configName = configName;
    }

    abstract IoHandlerFactory ioHandlerFactory();

    abstract Class<? extends IoHandler> ioHandlerType();

    /**
     * A new, unregistered server socket channel of this transport, in the calling thread's
     * network namespace. Register it with a group of this transport.
     */
    public abstract ServerSocketChannel newServerChannel();

    /**
     * A new, unregistered TCP channel of this transport, in the calling thread's network
     * namespace. Register it with a group of this transport.
     */
    public abstract SocketChannel newChannel();

    /** Whether this transport's native library loaded and the kernel supports it. */
    public abstract boolean isAvailable();

    /** Why {@link #isAvailable()} is {@code false}; {@code null} when it is available. */
    public abstract Throwable unavailabilityCause();

    /**
     * A new event loop group of this transport with {@code threads} threads named
     * {@code <threadNamePrefix>-<n>}. The caller shuts it down.
     *
     * @throws IllegalArgumentException if {@code threads} is not positive
     * @throws IllegalStateException if this transport is not available here (with the cause)
     */
    public MultiThreadIoEventLoopGroup newEventLoopGroup(int threads, String threadNamePrefix) {
        requireNonNull(threadNamePrefix, "threadNamePrefix");
        Checks.positive(threads, "threads");
        if (!isAvailable()) {
            Throwable cause = unavailabilityCause();
            throw new IllegalStateException(configName + " is not available on this host: " + cause
                    + (this == IO_URING ? " (io_uring needs Linux 5.14+ and may be disabled by the"
                            + " kernel.io_uring_disabled sysctl or a seccomp profile; use epoll)" : ""), cause);
        }
        return new MultiThreadIoEventLoopGroup(threads, new NamedThreads(threadNamePrefix), ioHandlerFactory());
    }

    /**
     * Whether channels of this transport can be registered with {@code group}'s event loops,
     * i.e. {@code group} was made with this transport's I/O handler (as by
     * {@link #newEventLoopGroup}).
     */
    public boolean isCompatible(EventLoopGroup group) {
        requireNonNull(group, "group");
        return group instanceof IoEventLoopGroup io && io.isIoType(ioHandlerType());
    }

    /** The name used in configuration and by {@link #parse}: {@code epoll} or {@code io_uring}. */
    public String configName() {
        return configName;
    }

    @Override
    public String toString() {
        return configName;
    }

    /**
     * The transport named {@code name}: {@code epoll}, or {@code io_uring} (also spelled
     * {@code io-uring} or {@code iouring}); case and surrounding blanks are ignored.
     *
     * @throws IllegalArgumentException naming the accepted values for anything else
     */
    public static Transport parse(String name) {
        requireNonNull(name, "name");
        return switch (name.strip().toLowerCase(Locale.ROOT)) {
            case "epoll" -> EPOLL;
            case "io_uring", "io-uring", "iouring" -> IO_URING;
            default -> throw new IllegalArgumentException("transport: \"" + name + "\" (expected: epoll or io_uring)");
        };
    }

    /** Event loop threads named {@code <prefix>-<n>}; Netty's thread type for fast thread-locals. */
    private static final class NamedThreads implements ThreadFactory {
        private final String prefix;
        private final AtomicInteger next = new AtomicInteger(1);

        NamedThreads(String prefix) {
            this.prefix = prefix;
        }

        @Override
        public Thread newThread(Runnable task) {
            return new FastThreadLocalThread(task, prefix + "-" + next.getAndIncrement());
        }
    }
}
