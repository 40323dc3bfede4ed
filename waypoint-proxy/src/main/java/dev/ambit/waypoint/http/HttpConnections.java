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
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http2.Http2ConnectionAdapter;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
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

    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(HttpConnections.class);

    private HttpConnections() {}

    static void install(Http2StreamChannel stream, FilterChain.Codec codec, Downstream downstream,
                        RequestProcessor processor, Upstreams upstreams, int maxRequestBytes,
                        DownstreamRejections rejections) {
        StreamBytes.install(stream);
        serve(stream, codec, downstream, processor, upstreams, maxRequestBytes, rejections);
    }

    /**
     * Sets up HTTP on a channel of plain bytes (an HBONE stream behind {@link StreamBytes}, or a
     * gateway's downstream connection, after its TLS handler if any).
     */
    static void serve(Channel channel, FilterChain.Codec codec, Downstream downstream, RequestProcessor processor,
                      Upstreams upstreams, int maxRequestBytes, DownstreamRejections rejections) {
        Limits limits = Limits.of(downstream.chain().hcm(), maxRequestBytes);
        switch (codec) {
            case HTTP1 -> http1(channel.pipeline(), downstream, processor, upstreams, limits, rejections);
            case HTTP2 -> http2(channel, downstream, processor, limits, rejections);
            default -> {
                channel.pipeline().addLast("codec-sniffer",
                        new Sniffer(downstream, processor, upstreams, limits, rejections));
                channel.read();
            }
        }
    }

    /** HTTP/1.1 with the chain's limits, refusals not counted (tests of other parts). */
    static void http1(ChannelPipeline p, Downstream downstream, RequestProcessor processor, Upstreams upstreams,
                      int maxRequestBytes) {
        http1(p, downstream, processor, upstreams, Limits.of(downstream.chain().hcm(), maxRequestBytes),
                DownstreamRejections.NONE);
    }

    static void http1(ChannelPipeline p, Downstream downstream, RequestProcessor processor, Upstreams upstreams,
                      Limits limits, DownstreamRejections rejections) {
        p.channel().config().setAutoRead(false);
        Http1Guard guard = new Http1Guard(limits, rejections);
        p.addLast(Http1Guard.WATCH, guard.byteWatch());
        // Strict as Envoy's codec: the request line counts against the header limit (Envoy adds
        // the URL to the headers' size), CRLF only, no duplicate Content-Length, valid names and values.
        p.addLast(Http1Handler.CODEC, new HttpServerCodec(new HttpDecoderConfig()
                .setMaxInitialLineLength(limits.maxRequestHeadersBytes())
                .setMaxHeaderSize(limits.maxRequestHeadersBytes())
                .setStrictLineParsing(true)
                .setValidateHeaders(true)
                .setAllowDuplicateContentLengths(false)));
        p.addLast(Http1Guard.NAME, guard);
        if (limits.maxRequestBytes() > 0) {
            // A body limit is configured: whole requests are buffered, a larger one is 413 (as
            // Envoy's buffer filter's max_request_bytes). Else bodies stream (Http1Handler).
            p.addLast(Http1Handler.AGGREGATOR, guard.aggregator());
        }
        p.addLast("http1", new Http1Handler(downstream, processor, upstreams));
    }

    /** h2c with the chain's limits, refusals not counted (tests of other parts). */
    static void http2(Channel stream, Downstream downstream, RequestProcessor processor, int maxRequestBytes) {
        http2(stream, downstream, processor, Limits.of(downstream.chain().hcm(), maxRequestBytes),
                DownstreamRejections.NONE);
    }

    static void http2(Channel stream, Downstream downstream, RequestProcessor processor, Limits limits,
                      DownstreamRejections rejections) {
        Http2Guard guard = new Http2Guard(limits, rejections);
        // Http2MultiplexCodec, not Http2FrameCodec + Http2MultiplexHandler: the handler decides
        // "server" by its channel's parent being a ServerChannel, and this connection is nested
        // in an HBONE stream channel (whose parent is the TLS connection), so it would take a
        // client's stream 1 for an h2c upgrade's stream, make no child channel for it and fail
        // the first request of every connection (curl and Node start at stream 1). The codec
        // asks its Http2Connection, which is the server's (WaypointEndToEndTest, h2c tests).
        @SuppressWarnings("deprecation")
        var codec = guard.configure(io.netty.handler.codec.http2.Http2MultiplexCodecBuilder.forServer(
                        new ChannelInitializer<Http2StreamChannel>() {
                            @Override
                            protected void initChannel(Http2StreamChannel ch) {
                                ch.pipeline().addLast(guard.streamTimers(),
                                        new Http2StreamFrameToHttpObjectCodec(true));
                                if (limits.maxRequestBytes() > 0) {
                                    // A body limit is configured: whole requests, a larger one 413.
                                    ch.pipeline().addLast(new HttpObjectAggregator(limits.maxRequestBytes()) {
                                        @Override
                                        protected void handleOversizedMessage(ChannelHandlerContext ctx,
                                                io.netty.handler.codec.http.HttpMessage oversized) {
                                            tooLarge(ctx, rejections);
                                        }
                                    });
                                } else {
                                    // Bodies stream: the stream's window opens as its body is sent on.
                                    ch.config().setAutoRead(false);
                                }
                                ch.pipeline().addLast(new Http2Handler(downstream, processor, rejections));
                            }
                        }))
                .build();
        stream.pipeline().addLast("h2c", codec);
        stream.pipeline().addLast("h2c-goaway", new GoAwayClose(codec));
        guard.watch(stream, codec);
        // The nested connection's own flow control paces the client; its codec must read
        // freely. On the next pass: a sniffer may still be handing over its bytes.
        stream.eventLoop().execute(() -> stream.config().setAutoRead(true));
    }

    /** Envoy's answer to a stream whose body overflows the buffer: 413, then the stream is reset. */
    private static void tooLarge(ChannelHandlerContext ctx, DownstreamRejections rejections) {
        rejections.reject(DownstreamRejections.BODY_TOO_LARGE);
        var r = LocalReplies.reply(413, "Payload Too Large");
        r.setStatus(new io.netty.handler.codec.http.HttpResponseStatus(413, "Payload Too Large"));
        r.headers().remove(LocalReplies.MARKER);
        io.netty.handler.codec.http.HttpUtil.setContentLength(r, r.content().readableBytes());
        ctx.writeAndFlush(r).addListener(f -> ctx.channel().close());
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

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // The codec already answered a connection error (GOAWAY, close; counted by Http2Guard).
            // Anything else is the connection's own I/O failing (a client's reset): the last
            // handler of this pipeline, so it ends here, quietly, as Envoy counts it without a log.
            if (!(cause instanceof io.netty.handler.codec.http2.Http2Exception)) {
                log.debug("{} HTTP/2 downstream connection failed: {}", ctx.channel(), cause.toString());
                ctx.close();
            }
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
        private final Limits limits;
        private final DownstreamRejections rejections;

        Sniffer(Downstream downstream, RequestProcessor processor, Upstreams upstreams, Limits limits,
                DownstreamRejections rejections) {
            this.downstream = downstream;
            this.processor = processor;
            this.upstreams = upstreams;
            this.limits = limits;
            this.rejections = rejections;
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
                http2(ctx.channel(), downstream, processor, limits, rejections);
            } else {
                http1(p, downstream, processor, upstreams, limits, rejections);
            }
            // Removing hands the bytes read so far to the codec now after it.
            p.remove(this);
        }
    }
}
