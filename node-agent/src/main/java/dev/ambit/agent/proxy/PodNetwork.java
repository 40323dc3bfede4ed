package dev.ambit.agent.proxy;

import static java.util.Objects.requireNonNull;

import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.proxy.net.Transport;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import java.nio.file.Path;
import java.util.function.Supplier;

/**
 * Where the agent's sockets for one pod live. The in-pod listeners (15001, 15006, 15008)
 * and the connections the agent opens on the pod's behalf (HBONE out from the pod's
 * address, inbound to the app) must be created inside the pod's network namespace; a
 * Linux socket belongs to the namespace of the thread that created it, and keeps it
 * after the thread leaves. So channels are constructed here, on a platform thread that
 * has entered the namespace, and registered with any event loop afterwards.
 *
 * <p>Channels are of one {@link Transport} ({@link #transport()}); they are native
 * ({@link io.netty.channel.unix.UnixChannel}) and can only be registered with an event
 * loop group of that transport.
 *
 * <p>Socket creation is behind this interface (as in ztunnel) so the proxy can be tested
 * in the test's own namespace with {@link #host(String)}.
 */
public interface PodNetwork extends SocketFactory {

    /** The pod's uid, for logs. */
    String podUid();

    /** The pod's uid: the pool keeps each pod's connections apart. */
    @Override
    default String owner() {
        return podUid();
    }

    /** Epoll sockets in the caller's own namespace: tests, and host-network pods. */
    static PodNetwork host(String podUid) {
        return host(podUid, Transport.EPOLL);
    }

    /** Sockets of {@code transport} in the caller's own namespace: tests, and host-network pods. */
    static PodNetwork host(String podUid, Transport transport) {
        SocketFactory sockets = SocketFactory.host(podUid, transport);
        return of(podUid, transport, sockets::newServerChannel, sockets::newChannel);
    }

    /** As {@link #namespace(String, Path, Transport)} with {@link Transport#EPOLL}. */
    static PodNetwork namespace(String podUid, Path netns) {
        return namespace(podUid, netns, Transport.EPOLL);
    }

    /**
     * Sockets of {@code transport} inside the network namespace at {@code netns}
     * ({@code /proc/<pid>/ns/net} or a bind mount). Each call enters the namespace briefly on
     * the calling platform thread. The namespace is opened once and held until {@link #close()}
     * (the pod's proxy has drained): opening and checking it again for every connection the
     * agent makes on the pod's behalf cost more than creating the socket.
     *
     * <p>The channel methods throw {@link IllegalStateException} naming the pod and namespace
     * when entering it fails.
     */
    static PodNetwork namespace(String podUid, Path netns, Transport transport) {
        requireNonNull(podUid, "podUid");
        requireNonNull(netns, "netns");
        requireNonNull(transport, "transport");
        return new NamespaceSockets(podUid, netns, transport);
    }

    /**
     * Lets go of what this network holds (a namespace's open descriptor); sockets can still be
     * created afterwards, each entering the namespace by its path. Idempotent.
     */
    default void close() {
    }

    private static PodNetwork of(String podUid, Transport transport, Supplier<ServerSocketChannel> servers,
                                 Supplier<SocketChannel> clients) {
        return new PodNetwork() {
            @Override
            public String podUid() {
                return podUid;
            }

            @Override
            public Transport transport() {
                return transport;
            }

            @Override
            public ServerSocketChannel newServerChannel() {
                return servers.get();
            }

            @Override
            public SocketChannel newChannel() {
                return clients.get();
            }

            @Override
            public String toString() {
                return "PodNetwork(" + podUid + ", " + transport + ")";
            }
        };
    }
}
