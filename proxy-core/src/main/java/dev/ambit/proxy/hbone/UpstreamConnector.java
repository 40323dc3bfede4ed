package dev.ambit.proxy.hbone;

import dev.ambit.proxy.net.Relay;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.socket.DuplexChannel;

/**
 * Opens the upstream TCP connection of an accepted tunnel.
 *
 * <p>Contract, because {@link Relay} depends on it:
 * <ul>
 *   <li>the channel is registered on {@code eventLoop} (the tunnel's): the relay touches
 *       both channels without locks;</li>
 *   <li>it is a {@link DuplexChannel} (any TCP channel is) with
 *       {@link ChannelOption#AUTO_READ} {@code false}, so no byte is read before the relay
 *       is in place, and {@link ChannelOption#ALLOW_HALF_CLOSURE} {@code true}, so a FIN
 *       from upstream is a half-close and not a close;</li>
 *   <li>its pipeline has no handler that consumes inbound bytes.</li>
 * </ul>
 * For example: {@code new Bootstrap().group(eventLoop).channel(NioSocketChannel.class)
 * .option(AUTO_READ, false).option(ALLOW_HALF_CLOSURE, true).handler(new ChannelInboundHandlerAdapter())
 * .connect(request.destination())}.
 */
@FunctionalInterface
public interface UpstreamConnector {

    /** Starts connecting; the returned future's channel is the upstream. */
    ChannelFuture connect(HboneRequest request, EventLoop eventLoop);
}
