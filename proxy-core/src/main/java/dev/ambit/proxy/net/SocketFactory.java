package dev.ambit.proxy.net;

import static java.util.Objects.requireNonNull;

import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;

/**
 * Where a proxy's sockets are made. The node agent makes each pod's sockets inside that pod's
 * network namespace (its {@code PodNetwork}); a waypoint or a gateway, which runs in its own pod,
 * makes them in its own namespace with {@link #host(String, Transport)}.
 *
 * <p>Channels are of one {@link Transport} ({@link #transport()}), unregistered, and can only be
 * registered with an event loop group of that transport.
 */
public interface SocketFactory {

    /**
     * Whose sockets these are: the pod's uid for the node agent, the proxy's own name otherwise.
     * {@link HbonePool} keeps connections apart by it, so two owners never share one.
     */
    String owner();

    /** The transport of the channels made here. */
    Transport transport();

    /** A new, unregistered server socket channel of {@link #transport()}. */
    ServerSocketChannel newServerChannel();

    /** A new, unregistered TCP channel of {@link #transport()}. */
    SocketChannel newChannel();

    /** Sockets of {@code transport} in the caller's own network namespace. */
    static SocketFactory host(String owner, Transport transport) {
        requireNonNull(owner, "owner");
        requireNonNull(transport, "transport");
        return new SocketFactory() {
            @Override
            public String owner() {
                return owner;
            }

            @Override
            public Transport transport() {
                return transport;
            }

            @Override
            public ServerSocketChannel newServerChannel() {
                return transport.newServerChannel();
            }

            @Override
            public SocketChannel newChannel() {
                return transport.newChannel();
            }

            @Override
            public String toString() {
                return "SocketFactory.host(" + owner + ", " + transport + ")";
            }
        };
    }
}
