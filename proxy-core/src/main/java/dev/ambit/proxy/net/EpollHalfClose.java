package dev.ambit.proxy.net;

import io.netty.channel.Channel;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps a half-closed epoll socket usable for writing, working around Netty 4.2.18's epoll
 * transport.
 *
 * <p>The problem: when a channel's epoll interest set becomes empty, {@code EpollIoHandler}
 * removes its fd from epoll ({@code EPOLL_CTL_DEL}) but keeps the registration marked as
 * added, so the next interest change is an {@code EPOLL_CTL_MOD} that fails with
 * {@code ENOENT}. The set is {@code EPOLLRDHUP} plus {@code EPOLLIN} while a read is pending
 * plus {@code EPOLLOUT} while a write waits for room. The peer's FIN clears
 * {@code EPOLLRDHUP} for good, so on a half-closed socket the set empties as soon as no read
 * is pending (a relay paused for backpressure, or done reading after the FIN) and no write is
 * waiting; the next write that has to wait for room (a reply bigger than the socket buffers)
 * then fails, the channel's output is shut and the relay aborts with a reset. Bytes sent by
 * the peer are not lost (epoll reads up to the FIN on {@code EPOLLRDHUP}); the other direction
 * is.
 *
 * <p>The fix: {@link #keepRegistered} adds {@code EPOLLERR} to the channel's interest set for
 * the rest of its life, so the set is never empty and the fd never leaves epoll. The kernel
 * reports {@code EPOLLERR} (and {@code EPOLLHUP}) whether asked or not, so this changes which
 * events arrive only in one respect: a socket shut down both ways keeps reporting
 * {@code EPOLLHUP} until it is closed, which relays do as soon as both directions finished.
 * Netty has no public way to do this, so it is done reflectively; on a Netty without these
 * internals it does nothing (and says so once).
 */
public final class EpollHalfClose {

    private static final Logger log = LoggerFactory.getLogger(EpollHalfClose.class);

    private static final Class<?> EPOLL_CHANNEL;
    private static final Field OPS;
    private static final Method WITH;
    private static final Object EPOLLERR;

    static {
        Class<?> channel = null;
        Field ops = null;
        Method with = null;
        Object err = null;
        try {
            ClassLoader loader = EpollHalfClose.class.getClassLoader();
            channel = Class.forName("io.netty.channel.epoll.AbstractEpollChannel", false, loader);
            Class<?> ioOps = Class.forName("io.netty.channel.epoll.EpollIoOps", false, loader);
            ops = channel.getDeclaredField("ops");
            ops.setAccessible(true);
            with = ioOps.getMethod("with", ioOps);
            err = ioOps.getField("EPOLLERR").get(null);
        } catch (ClassNotFoundException e) {
            channel = null; // no epoll transport: nothing to work around
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            channel = null;
            log.warn("cannot keep half-closed epoll sockets registered (Netty internals changed); "
                    + "writes after a peer's FIN may fail", e);
        }
        EPOLL_CHANNEL = channel;
        OPS = ops;
        WITH = with;
        EPOLLERR = err;
    }

    private EpollHalfClose() {
    }

    /**
     * Makes sure {@code channel}'s fd stays in epoll for the rest of its life, whatever its
     * read and write interest. Call it on the channel's event loop once the channel is active
     * and before its peer's FIN can have been processed (when it is accepted or connected);
     * calling it again does nothing. Channels of other transports are left alone.
     */
    public static void keepRegistered(Channel channel) {
        if (EPOLL_CHANNEL == null || !EPOLL_CHANNEL.isInstance(channel)) {
            return;
        }
        try {
            // Takes effect with the transport's next interest change: until then the set is
            // not empty (EPOLLRDHUP is only cleared by such a change).
            OPS.set(channel, WITH.invoke(OPS.get(channel), EPOLLERR));
        } catch (ReflectiveOperationException | RuntimeException e) {
            log.debug("cannot keep {} registered with epoll", channel, e);
        }
    }
}
