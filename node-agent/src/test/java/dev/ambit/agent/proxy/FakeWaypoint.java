package dev.ambit.agent.proxy;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.identity.SpiffeId;
import dev.ambit.proxy.hbone.HboneRequest;
import dev.ambit.proxy.hbone.HboneServer;
import dev.ambit.proxy.hbone.HboneTarget;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.identity.WorkloadCertificate;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.handler.ssl.SslContext;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetSocketAddress;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * A waypoint as the node agent sees one, for tests while the real one ({@code waypoint-proxy})
 * is built: an HBONE server (mTLS with the waypoint's certificate, proxy-core's
 * {@link HboneServer}) that records each {@code CONNECT}'s request ({@code :authority},
 * {@code Forwarded}) and the client's proven identity, then relays the tunnel over plain TCP to
 * wherever {@code route} sends that request, as a waypoint's TCP route would. Epoll only.
 * {@link #close} stops it as a killed waypoint stops: the listener and every open connection.
 */
final class FakeWaypoint implements AutoCloseable {

    /** One tunnel as the waypoint saw it. */
    record Seen(HboneRequest request, SpiffeId client) {}

    final AtomicInteger accepts = new AtomicInteger();
    final Queue<Seen> seen = new ConcurrentLinkedQueue<>();
    private final ChannelGroup connections = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
    private final Channel listener;

    FakeWaypoint(EventLoopGroup group, InetSocketAddress bind, TlsContexts tls, WorkloadCertificate certificate,
                 Function<HboneRequest, InetSocketAddress> route) throws Exception {
        requireNonNull(route, "route");
        SslContext ssl = tls.server(certificate);
        HboneServer hbone = HboneServer.builder((request, stream) -> {
            try {
                seen.add(new Seen(request, TlsContexts.peerIdentity(stream.parent())));
            } catch (Exception e) {
                return CompletableFuture.failedFuture(e);
            }
            return CompletableFuture.completedFuture(HboneTarget.accept((r, loop) -> new Bootstrap().group(loop)
                    .channel(EpollSocketChannel.class)
                    .option(ChannelOption.AUTO_READ, false)
                    .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .handler(new ChannelInboundHandlerAdapter())
                    .connect(route.apply(r))));
        }).build();
        listener = new ServerBootstrap().group(group).channel(EpollServerSocketChannel.class)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        accepts.incrementAndGet();
                        connections.add(ch);
                        ch.pipeline().addLast(ssl.newHandler(ch.alloc()), hbone.newConnectionHandler(),
                                new ChannelInboundHandlerAdapter() {
                                    @Override
                                    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                        ctx.close(); // e.g. a client that refused our identity mid-handshake
                                    }
                                });
                    }
                })
                .bind(bind).sync().channel();
    }

    InetSocketAddress address() {
        return (InetSocketAddress) listener.localAddress();
    }

    @Override
    public void close() {
        listener.close().syncUninterruptibly();
        connections.close().awaitUninterruptibly();
    }
}
