package dev.ambit.waypoint.http;

import dev.ambit.waypoint.upstream.BodyWriter;
import dev.ambit.waypoint.upstream.StreamingResponse;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.util.ReferenceCountUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One HTTP/2 stream of a downstream h2c connection (after
 * {@code Http2StreamFrameToHttpObjectCodec} and {@code HttpObjectAggregator}): one request,
 * one response, trailers included (gRPC).
 */
final class Http2Handler extends ChannelInboundHandlerAdapter {

    private static final Logger log = LoggerFactory.getLogger(Http2Handler.class);

    private final Downstream downstream;
    private final RequestProcessor processor;
    private final DownstreamRejections rejections;
    /** The response being streamed on this stream, if any. */
    private BodyWriter reply;

    Http2Handler(Downstream downstream, RequestProcessor processor, DownstreamRejections rejections) {
        this.downstream = downstream;
        this.processor = processor;
        this.rejections = rejections;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof FullHttpRequest request)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (request.decoderResult().isFailure()) {
            request.release();
            rejections.reject(DownstreamRejections.CODEC_ERROR);
            FullHttpResponse bad = LocalReplies.reply(400, "Bad Request");
            bad.headers().remove(LocalReplies.MARKER);
            ctx.writeAndFlush(bad);
            return;
        }
        HttpExchange exchange = processor.exchange(request, downstream, ctx.channel().eventLoop(), "HTTP/2");
        processor.process(exchange).thenAccept(response -> respond(ctx, exchange, response));
    }

    private void respond(ChannelHandlerContext ctx, HttpExchange exchange, FullHttpResponse response) {
        if (!ctx.channel().isActive()) {
            response.release();
            processor.completed(exchange, new RequestProcessor.Sent(0, null, 0));
            return;
        }
        response.headers().remove(LocalReplies.MARKER);
        RequestProcessor.Sent sent = RequestProcessor.Sent.of(response);
        HopByHop.strip(response.headers());
        if (response instanceof StreamingResponse streaming) {
            reply = StreamedReply.start(ctx, streaming, HttpVersion.HTTP_1_1, true, (bytes, failure) -> {
                reply = null;
                processor.completed(exchange, sent.withBytes(failure == null ? bytes : 0));
                if (failure != null) {
                    ctx.close(); // RST_STREAM: the client must not take a broken-off body for a whole one
                }
            });
            return;
        }
        if (!response.headers().contains(io.netty.handler.codec.http.HttpHeaderNames.CONTENT_LENGTH)) {
            HttpUtil.setContentLength(response, response.content().readableBytes());
        }
        ctx.writeAndFlush(response).addListener(f -> processor.completed(exchange,
                f.isSuccess() ? sent : new RequestProcessor.Sent(sent.status(), sent.grpcStatus(), 0)));
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (reply != null) {
            reply.writabilityChanged();
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (reply != null) {
            reply.cancel(new java.nio.channels.ClosedChannelException());
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.debug("{} HTTP/2 downstream stream failed", ctx.channel(), cause);
        ctx.close();
    }
}
