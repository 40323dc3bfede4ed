package dev.ambit.waypoint.gateway;

import static java.nio.charset.StandardCharsets.UTF_8;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.security.cert.X509Certificate;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** One request per connection to a gateway port, HTTP/1.1 or (TLS, ALPN h2) HTTP/2, with an SNI of choice. */
final class GatewayClient {

    /** What came back, and what TLS negotiated (null fields for plaintext). */
    record Reply(int status, HttpHeaders headers, String body, String tlsProtocol, String alpn, BigInteger serverSerial) {}

    private GatewayClient() {}

    /** An HTTP/1.1 request; TLS with {@code tls} and SNI {@code sni} unless {@code tls} is null. */
    static Reply http1(EventLoopGroup loops, InetSocketAddress to, SslContext tls, String sni, String host, String path,
                       Map<String, String> headers) throws Exception {
        CompletableFuture<FullHttpResponse> result = new CompletableFuture<>();
        SslHandler[] ssl = new SslHandler[1];
        Channel ch = new Bootstrap().group(loops).channel(EpollSocketChannel.class)
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        if (tls != null) {
                            ssl[0] = tls.newHandler(ch.alloc(), sni, to.getPort());
                            ch.pipeline().addLast(ssl[0]);
                        }
                        ch.pipeline().addLast(new HttpClientCodec(), new HttpObjectAggregator(1 << 20),
                                new Collector(result));
                    }
                }).connect(to).sync().channel();
        try {
            if (ssl[0] != null) {
                ssl[0].handshakeFuture().sync();
            }
            FullHttpRequest r = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, path);
            r.headers().set(HttpHeaderNames.HOST, host);
            headers.forEach((k, v) -> r.headers().set(k, v));
            ch.writeAndFlush(r);
            return reply(result.get(10, TimeUnit.SECONDS), ssl[0]);
        } finally {
            ch.close().sync();
        }
    }

    /** An HTTP/2 request over TLS with ALPN (the gateway must pick h2). */
    static Reply http2(EventLoopGroup loops, InetSocketAddress to, SslContext tls, String sni, String host, String path)
            throws Exception {
        CompletableFuture<FullHttpResponse> result = new CompletableFuture<>();
        SslHandler[] ssl = new SslHandler[1];
        Channel ch = new Bootstrap().group(loops).channel(EpollSocketChannel.class)
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ssl[0] = tls.newHandler(ch.alloc(), sni, to.getPort());
                        ch.pipeline().addLast(ssl[0], Http2FrameCodecBuilder.forClient().build(),
                                new Http2MultiplexHandler(new ChannelInitializer<>() {
                                    @Override
                                    protected void initChannel(Channel c) {
                                        // No pushed streams expected.
                                    }
                                }));
                    }
                }).connect(to).sync().channel();
        try {
            ssl[0].handshakeFuture().sync();
            Http2StreamChannel stream = new Http2StreamChannelBootstrap(ch).handler(new ChannelInitializer<>() {
                @Override
                protected void initChannel(Channel c) {
                    c.pipeline().addLast(new Http2StreamFrameToHttpObjectCodec(false), new HttpObjectAggregator(1 << 20),
                            new Collector(result));
                }
            }).open().sync().getNow();
            FullHttpRequest r = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, path);
            r.headers().set(HttpHeaderNames.HOST, host);
            r.headers().set("x-http2-scheme", "https");
            stream.writeAndFlush(r);
            return reply(result.get(10, TimeUnit.SECONDS), ssl[0]);
        } finally {
            ch.close().sync();
        }
    }

    private static Reply reply(FullHttpResponse r, SslHandler ssl) throws Exception {
        try {
            HttpHeaders h = new DefaultHttpHeaders().add(r.headers());
            if (ssl == null) {
                return new Reply(r.status().code(), h, r.content().toString(UTF_8), null, null, null);
            }
            var session = ssl.engine().getSession();
            return new Reply(r.status().code(), h, r.content().toString(UTF_8), session.getProtocol(),
                    ssl.applicationProtocol(), ((X509Certificate) session.getPeerCertificates()[0]).getSerialNumber());
        } finally {
            r.release();
        }
    }

    /** Completes {@code result} with the first response (retained), or fails it when the connection ends first. */
    private static final class Collector extends SimpleChannelInboundHandler<Object> {
        private final CompletableFuture<FullHttpResponse> result;

        Collector(CompletableFuture<FullHttpResponse> result) {
            this.result = result;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof FullHttpResponse r && !result.complete(r.retain())) {
                ReferenceCountUtil.release(r);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            result.completeExceptionally(cause);
            ctx.close();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            result.completeExceptionally(new ClosedChannelException());
            ctx.fireChannelInactive();
        }
    }
}
