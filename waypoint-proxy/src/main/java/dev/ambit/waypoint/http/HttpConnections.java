package dev.ambit.waypoint.http;

import dev.ambit.proxy.hbone.StreamBytes;
import dev.ambit.waypoint.config.FilterChain;
import dev.ambit.waypoint.upstream.Upstreams;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http2.Http2ConnectionAdapter;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2Stream;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.util.ReferenceCountUtil;
import java.util.List;

/**
 * Sets up HTTP on a terminated HBONE stream: {@link StreamBytes}, then the codec the
 * HttpConnectionManager asks for: HTTP/1.1 ({@link Http1Handler}), HTTP/2 with prior
 * knowledge (an h2c connection nested in the tunnel, one {@link Http2Handler} per stream),
 * or AUTO: HTTP/2 if the first bytes are its connection preface, else HTTP/1.1 (Envoy's
 * {@code codec_type: AUTO} without TLS). Requests are aggregated up to
 * {@code maxRequestBytes} (Envoy's default connection buffer limit, 1 MiB, which is also what
 * it buffers for retries); a larger request is answered {@code 413}.
 */
final class HttpConnections {

    private HttpConnections() {}

    static void install(Http2StreamChannel stream, FilterChain.Codec codec, Downstream downstream,
                        RequestProcessor processor, Upstreams upstreams, int maxRequestBytes) {
        StreamBytes.install(stream);
        switch (codec) {
            case HTTP1 -> http1(stream.pipeline(), downstream, processor, upstreams, maxRequestBytes);
            case HTTP2 -> http2(stream, downstream, processor, maxRequestBytes);
            default -> {
                stream.pipeline().addLast("codec-sniffer", new Sniffer(downstream, processor, upstreams, maxRequestBytes));
                stream.read();
            }
        }
    }

    static void http1(ChannelPipeline p, Downstream downstream, RequestProcessor processor, Upstreams upstreams,
                      int maxRequestBytes) {
        p.channel().config().setAutoRead(false);
        p.addLast(Http1Handler.CODEC, new HttpServerCodec());
        p.addLast(Http1Handler.AGGREGATOR, new HttpObjectAggregator(maxRequestBytes));
        p.addLast("http1", new Http1Handler(downstream, processor, upstreams));
    }

    static void http2(Channel stream, Downstream downstream, RequestProcessor processor, int maxRequestBytes) {
        // Http2MultiplexCodec, not Http2FrameCodec + Http2MultiplexHandler: the handler decides
        // "server" by its channel's parent being a ServerChannel, and this connection is nested
        // in an HBONE stream channel (whose parent is the TLS connection), so it would take a
        // client's stream 1 for an h2c upgrade's stream, make no child channel for it and fail
        // the first request of every connection (curl and Node start at stream 1). The codec
        // asks its Http2Connection, which is the server's (WaypointEndToEndTest, h2c tests).
        @SuppressWarnings("deprecation")
        var codec = io.netty.handler.codec.http2.Http2MultiplexCodecBuilder.forServer(
                        new ChannelInitializer<Http2StreamChannel>() {
                            @Override
                            protected void initChannel(Http2StreamChannel ch) {
                                ch.pipeline().addLast(new Http2StreamFrameToHttpObjectCodec(true),
                                        new HttpObjectAggregator(maxRequestBytes),
                                        new Http2Handler(downstream, processor));
                            }
                        })
                .initialSettings(new Http2Settings().maxConcurrentStreams(1000).maxHeaderListSize(64 * 1024))
                .build();
        stream.pipeline().addLast("h2c", codec);
        stream.pipeline().addLast("h2c-goaway", new GoAwayClose(codec));
        // The nested connection's own flow control paces the client; its codec must read
        // freely. On the next pass: a sniffer may still be handing over its bytes.
        stream.eventLoop().execute(() -> stream.config().setAutoRead(true));
    }

    /**
     * Closes the nested connection once the client sent GOAWAY (RFC 9113 6.8: it is done with
     * it) and its last stream ended, as Envoy does: some clients (Node's {@code
     * session.close()}) wait for the server to close.
     */
    private static final class GoAwayClose extends ChannelInboundHandlerAdapter {
        private final Http2ConnectionHandler codec;
        private boolean goAway;

        GoAwayClose(Http2ConnectionHandler codec) {
            this.codec = codec;
        }

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            codec.connection().addListener(new Http2ConnectionAdapter() {
                @Override
                public void onStreamClosed(Http2Stream stream) {
                    closeIfDone(ctx);
                }
            });
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Http2GoAwayFrame) {
                ReferenceCountUtil.release(msg);
                goAway = true;
                closeIfDone(ctx);
                return;
            }
            ctx.fireChannelRead(msg);
        }

        private void closeIfDone(ChannelHandlerContext ctx) {
            if (goAway && codec.connection().numActiveStreams() == 0) {
                ctx.channel().close();
            }
        }
    }

    /** Envoy's codec AUTO: HTTP/2 when the connection starts with its preface. */
    private static final class Sniffer extends ByteToMessageDecoder {
        private static final ByteBuf PREFACE = io.netty.buffer.Unpooled.unreleasableBuffer(
                io.netty.buffer.Unpooled.copiedBuffer("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                        java.nio.charset.StandardCharsets.US_ASCII));
        private final Downstream downstream;
        private final RequestProcessor processor;
        private final Upstreams upstreams;
        private final int maxRequestBytes;

        Sniffer(Downstream downstream, RequestProcessor processor, Upstreams upstreams, int maxRequestBytes) {
            this.downstream = downstream;
            this.processor = processor;
            this.upstreams = upstreams;
            this.maxRequestBytes = maxRequestBytes;
        }

        @Override
        protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
            int n = Math.min(in.readableBytes(), PREFACE.readableBytes());
            boolean prefix = ByteBufUtil.equals(in, in.readerIndex(), PREFACE, PREFACE.readerIndex(), n);
            if (prefix && n < PREFACE.readableBytes()) {
                return; // undecided: more bytes
            }
            ChannelPipeline p = ctx.pipeline();
            if (prefix) {
                http2(ctx.channel(), downstream, processor, maxRequestBytes);
            } else {
                http1(p, downstream, processor, upstreams, maxRequestBytes);
            }
            // Removing hands the bytes read so far to the codec now after it.
            p.remove(this);
        }
    }
}
