package dev.ambit.agent.proxy;

import static java.util.Objects.requireNonNull;

import dev.ambit.ffi.NetNs;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import java.nio.file.Path;

/**
 * Where the agent's sockets for one pod live. The in-pod listeners (15001, 15006, 15008)
 * and the connections the agent opens on the pod's behalf (HBONE out from the pod's
 * address, inbound to the app) must be created inside the pod's network namespace; a
 * Linux socket belongs to the namespace of the thread that created it, and keeps it
 * after the thread leaves. So channels are constructed here, on a platform thread that
 * has entered the namespace, and registered with any event loop afterwards.
 *
 * <p>Socket creation is behind this interface (as in ztunnel) so the proxy can be tested
 * in the test's own namespace with {@link #host(String)}.
 */
public interface PodNetwork {

    /** The pod's uid, for logs. */
    String podUid();

    /** A new, unregistered server socket channel inside the pod's network namespace. */
    EpollServerSocketChannel newServerChannel();

    /** A new, unregistered TCP channel inside the pod's network namespace. */
    EpollSocketChannel newChannel();

    /** Sockets in the caller's own namespace: tests, and host-network pods. */
    static PodNetwork host(String podUid) {
        requireNonNull(podUid, "podUid");
        return new PodNetwork() {
            @Override
            public String podUid() {
                return podUid;
            }

            @Override
            public EpollServerSocketChannel newServerChannel() {
                return new EpollServerSocketChannel();
            }

            @Override
            public EpollSocketChannel newChannel() {
                return new EpollSocketChannel();
            }
        };
    }

    /**
     * Sockets inside the network namespace at {@code netns} ({@code /proc/<pid>/ns/net} or a
     * bind mount). Each call enters the namespace briefly on the calling platform thread.
     *
     * @throws IllegalStateException naming the pod and namespace when entering it fails
     */
    static PodNetwork namespace(String podUid, Path netns) {
        requireNonNull(podUid, "podUid");
        requireNonNull(netns, "netns");
        return new PodNetwork() {
            @Override
            public String podUid() {
                return podUid;
            }

            @Override
            public EpollServerSocketChannel newServerChannel() {
                return in(EpollServerSocketChannel::new);
            }

            @Override
            public EpollSocketChannel newChannel() {
                return in(EpollSocketChannel::new);
            }

            private <T> T in(java.util.function.Supplier<T> create) {
                try {
                    return NetNs.callIn(netns, create::get);
                } catch (Exception e) {
                    throw new IllegalStateException("cannot create a socket in pod " + podUid + "'s network namespace "
                            + netns + ": " + e.getMessage() + " (is the pod still running?)", e);
                }
            }
        };
    }
}
