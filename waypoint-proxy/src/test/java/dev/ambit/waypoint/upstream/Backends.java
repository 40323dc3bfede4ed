package dev.ambit.waypoint.upstream;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/** Real HTTP/1.1 and h2c servers on loopback for the cluster manager's tests. */
final class Backends {

    private Backends() {}

    /** What a backend does with one request (it owns and must not release the request). */
    @FunctionalInterface
    interface Behaviour {
        void handle(ChannelHandlerContext ctx, FullHttpRequest request);
    }

    /** Answers 200 with the body {@code name path}. */
    static Behaviour ok(String name) {
        return (ctx, request) -> ctx.writeAndFlush(text(name + " " + request.uri()));
    }

    static FullHttpResponse text(String body) {
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
                Unpooled.copiedBuffer(body, StandardCharsets.UTF_8));
        r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
        return r;
    }

    /** A server: HTTP/1.1 ({@code h2 == false}) or h2c with prior knowledge. */
    static final class Server implements AutoCloseable {
        final AtomicInteger accepts = new AtomicInteger();
        final AtomicInteger open = new AtomicInteger();
        final Queue<FullHttpRequest> seen = new ConcurrentLinkedQueue<>();
        final Channel channel;

        Server(EventLoopGroup group, String host, boolean h2, Behaviour behaviour) {
            this(group, host, h2, 100, behaviour);
        }

        Server(EventLoopGroup group, String host, boolean h2, int maxStreams, Behaviour behaviour) {
            channel = new ServerBootstrap().group(group).channel(EpollServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            accepts.incrementAndGet();
                            open.incrementAndGet();
                            ch.closeFuture().addListener(f -> open.decrementAndGet());
                            if (h2) {
                                ch.pipeline().addLast(Http2FrameCodecBuilder.forServer()
                                                .initialSettings(Http2Settings.defaultSettings()
                                                        .maxConcurrentStreams(maxStreams)).build(),
                                        new Http2MultiplexHandler(new ChannelInitializer<>() {
                                            @Override
                                            protected void initChannel(Channel stream) {
                                                stream.pipeline().addLast(new Http2StreamFrameToHttpObjectCodec(true),
                                                        new HttpObjectAggregator(1 << 20), new Handler(behaviour));
                                            }
                                        }));
                            } else {
                                ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(1 << 20),
                                        new Handler(behaviour));
                            }
                        }
                    })
                    .bind(new InetSocketAddress(host, 0)).syncUninterruptibly().channel();
        }

        InetSocketAddress address() {
            return (InetSocketAddress) channel.localAddress();
        }

        @Override
        public void close() {
            channel.close().syncUninterruptibly();
            seen.forEach(FullHttpRequest::release);
            seen.clear();
        }

        private final class Handler extends SimpleChannelInboundHandler<FullHttpRequest> {
            private final Behaviour behaviour;

            Handler(Behaviour behaviour) {
                this.behaviour = behaviour;
            }

            @Override
            protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
                seen.add(request.retainedDuplicate());
                behaviour.handle(ctx, request);
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                ctx.close();
            }
        }
    }
}
