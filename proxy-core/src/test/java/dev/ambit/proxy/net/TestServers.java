package dev.ambit.proxy.net;

import dev.ambit.common.identity.SpiffeId;
import dev.ambit.proxy.hbone.HboneRequest;
import dev.ambit.proxy.hbone.HboneServer;
import dev.ambit.proxy.hbone.HboneTarget;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.identity.WorkloadCertificate;
import dev.ambit.proxy.net.Transport;
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
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/** Real servers on loopback for the outbound tests: a TCP echo server and an HBONE peer in front of one. */
public final class TestServers {

    private TestServers() {}

    /**
     * The echo of a child channel with {@code ALLOW_HALF_CLOSURE}: writes back each read at
     * once and answers the client's FIN with a FIN. {@link Echo}'s handler, and any test app's.
     */
    public static final class EchoHandler extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ctx.writeAndFlush(msg); // the write owns and releases msg
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                ((DuplexChannel) ctx.channel()).shutdownOutput();
            }
            ReferenceCountUtil.release(evt);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }

    /** A TCP echo server that answers a FIN with a FIN; counts accepted and open connections. */
    public static final class Echo implements AutoCloseable {
        public final AtomicInteger accepts = new AtomicInteger();
        public final AtomicInteger open = new AtomicInteger();
        public final Channel channel;

        public Echo(EventLoopGroup group, InetSocketAddress bind) {
            this(group, Transport.EPOLL, bind);
        }

        public Echo(EventLoopGroup group, Transport transport, InetSocketAddress bind) {
            channel = new ServerBootstrap().group(group).channelFactory(transport::newServerChannel)
                    .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .childHandler(new ChannelInitializer<>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            accepts.incrementAndGet();
                            open.incrementAndGet();
                            ch.closeFuture().addListener(f -> open.decrementAndGet());
                            ch.pipeline().addLast(new EchoHandler());
                        }
                    })
                    .bind(bind).syncUninterruptibly().channel();
        }

        public InetSocketAddress address() {
            return (InetSocketAddress) channel.localAddress();
        }

        /** Connections accepted and not closed yet. */
        public int openConnections() {
            return open.get();
        }

        @Override
        public void close() {
            channel.close().syncUninterruptibly();
        }
    }

    /** What an HBONE peer saw for one tunnel. */
    public record Seen(HboneRequest request, SpiffeId client) {}

    /**
     * An HBONE server presenting {@code certificate} (TLS from {@link TlsContexts#server}, then
     * mesh-common's {@link HboneServer}) that relays every tunnel to {@code echo}; it records
     * the requests and the client identities, and counts TCP accepts.
     */
    public static final class HbonePeer implements AutoCloseable {
        public final AtomicInteger accepts = new AtomicInteger();
        public final Queue<Seen> seen = new ConcurrentLinkedQueue<>();
        public final Channel channel;
        /** Non-zero: every CONNECT is answered with this status (a policy denial is 403). */
        public volatile int refuseWith;

        public HbonePeer(EventLoopGroup group, InetSocketAddress bind, TlsContexts tls, WorkloadCertificate certificate,
                  InetSocketAddress echo, int maxConcurrentStreams) throws Exception {
            SslContext ssl = tls.server(certificate);
            HboneServer hbone = HboneServer.builder((request, stream) -> {
                try {
                    seen.add(new Seen(request, TlsContexts.peerIdentity(stream.parent())));
                } catch (Exception e) {
                    return CompletableFuture.failedFuture(e);
                }
                if (refuseWith != 0) {
                    return CompletableFuture.completedFuture(HboneTarget.reject(refuseWith, "refused by the test"));
                }
                return CompletableFuture.completedFuture(HboneTarget.accept((r, loop) -> new Bootstrap().group(loop)
                        .channel(EpollSocketChannel.class)
                        .option(ChannelOption.AUTO_READ, false)
                        .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                        .handler(new ChannelInboundHandlerAdapter())
                        .connect(echo)));
            }).maxConcurrentStreams(maxConcurrentStreams).build();
            channel = new ServerBootstrap().group(group).channel(EpollServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            accepts.incrementAndGet();
                            // The server's SETTINGS wait in the SslHandler until the handshake is done.
                            ch.pipeline().addLast(ssl.newHandler(ch.alloc()), hbone.newConnectionHandler());
                        }
                    })
                    .bind(bind).syncUninterruptibly().channel();
        }

        @Override
        public void close() {
            channel.close().syncUninterruptibly();
        }
    }
}
