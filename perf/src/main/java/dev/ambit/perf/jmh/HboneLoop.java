package dev.ambit.perf.jmh;

import dev.ambit.proxy.hbone.HboneClient;
import dev.ambit.proxy.hbone.HboneRequest;
import dev.ambit.proxy.hbone.HboneServer;
import dev.ambit.proxy.hbone.HboneTarget;
import dev.ambit.proxy.net.Relay;
import dev.ambit.testing.EchoHandler;
import dev.ambit.testing.InProcessCa;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.concurrent.Future;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Both ends of Ambit's HBONE data path in one JVM, over loopback: an outbound listener
 * whose accepted connections each become a tunnel ({@link HboneClient} stream on one
 * pooled HTTP/2 connection, mutual TLS 1.3 with the agent's {@code TlsContexts} and
 * CA-issued certificates, {@link Relay}) to an {@link HboneServer}, which connects to an
 * echo server and relays. Client side on one epoll event loop, server side (and the echo
 * server) on another, as two agents with one worker each.
 */
final class HboneLoop implements AutoCloseable {

    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    final InetSocketAddress outbound;
    /** Tunnels whose client-side relay has ended (both directions finished, or aborted). */
    final AtomicLong clientRelaysEnded = new AtomicLong();
    final AtomicLong serverRelaysEnded = new AtomicLong();
    private final Certificates certs;
    private final EventLoopGroup clientLoop = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    private final EventLoopGroup serverLoop = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    private final List<Channel> channels = new ArrayList<>();
    private final Channel h2;

    HboneLoop() throws Exception {
        certs = new Certificates();
        InetSocketAddress echo = bind(new ServerBootstrap().group(serverLoop).channel(EpollServerSocketChannel.class)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(EchoHandler.INSTANCE));
        HboneServer hbone = HboneServer.builder((request, stream) -> CompletableFuture.completedFuture(
                HboneTarget.accept((req, loop) -> new Bootstrap().group(loop).channel(EpollSocketChannel.class)
                        .option(ChannelOption.AUTO_READ, false)
                        .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                        .option(ChannelOption.TCP_NODELAY, true)
                        .handler(new ChannelInboundHandlerAdapter())
                        .connect(req.destination()), r -> serverRelaysEnded.incrementAndGet()))).build();
        InetSocketAddress hboneAddress = bind(new ServerBootstrap().group(serverLoop)
                .channel(EpollServerSocketChannel.class)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) throws Exception {
                        ch.pipeline().addLast(certs.tls.server(certs.backend).newHandler(ch.alloc()),
                                hbone.newConnectionHandler());
                    }
                }));
        h2 = new Bootstrap().group(clientLoop).channel(EpollSocketChannel.class)
                .option(ChannelOption.TCP_NODELAY, true)
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) throws Exception {
                        ch.pipeline().addLast(certs.tls.client(certs.frontend, InProcessCa.BACKEND).newHandler(ch.alloc()),
                                HboneClient.newConnectionHandler());
                    }
                })
                .connect(hboneAddress).sync().channel();
        channels.add(h2);
        h2.pipeline().get(SslHandler.class).handshakeFuture().sync();
        HboneRequest request = HboneRequest.builder(echo).forwardedFor(LOOPBACK).baggage("k8s.pod.name=bench")
                .traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").build();
        outbound = bind(new ServerBootstrap().group(clientLoop).channel(EpollServerSocketChannel.class)
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new Outbound(request)));
    }

    /** The agent's outbound side in miniature: every accepted connection becomes a tunnel. */
    @ChannelHandler.Sharable
    private final class Outbound extends ChannelInboundHandlerAdapter {
        private final HboneRequest request;

        Outbound(HboneRequest request) {
            this.request = request;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            DuplexChannel tcp = (DuplexChannel) ctx.channel();
            HboneClient.connect(h2, request).addListener((Future<Http2StreamChannel> f) -> {
                if (f.isSuccess()) {
                    ctx.pipeline().remove(this);
                    Relay.start(tcp, f.getNow(), r -> clientRelaysEnded.incrementAndGet());
                } else {
                    tcp.close();
                }
            });
        }
    }

    private InetSocketAddress bind(ServerBootstrap b) throws InterruptedException {
        Channel ch = b.bind(LOOPBACK, 0).sync().channel();
        channels.add(ch);
        return (InetSocketAddress) ch.localAddress();
    }

    @Override
    public void close() throws InterruptedException {
        for (Channel ch : channels) {
            ch.close().sync();
        }
        clientLoop.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        serverLoop.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        certs.close();
    }
}
