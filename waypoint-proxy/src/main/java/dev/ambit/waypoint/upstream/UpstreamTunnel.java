package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import io.netty.channel.Channel;
import java.net.InetSocketAddress;

/**
 * An open byte tunnel to an endpoint: a channel that reads and writes {@code ByteBuf}s
 * (a TCP socket, or an HBONE stream behind proxy-core's {@code StreamBytes}), AUTO_READ off.
 */
public record UpstreamTunnel(Channel channel, InetSocketAddress endpoint) {
    public UpstreamTunnel {
        requireNonNull(channel, "channel");
        requireNonNull(endpoint, "endpoint");
    }
}
