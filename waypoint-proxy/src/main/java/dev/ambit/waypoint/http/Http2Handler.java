package dev.ambit.waypoint.http;

import dev.ambit.waypoint.upstream.BodyWriter;
import dev.ambit.waypoint.upstream.RequestBody;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.LastHttpContent;
import dev.ambit.waypoint.upstream.BodyStream;
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
 * {@code Http2StreamFrameToHttpObjectCodec}; {@code AUTO_READ} off, so the stream's window
 * follows what the upstream took): one request, routed at its headers with its body
 * streaming on, one response written as it comes, trailers included (gRPC streaming both
 * ways). With a request body limit configured an {@code HttpObjectAggregator} comes first.
 */
final class Http2Handler extends ChannelInboundHandlerAdapter {

    private static final Logger log = LoggerFactory.getLogger(Http2Handler.class);

    private final Downstream downstream;
    private final RequestProcessor processor;
    private final DownstreamRejections rejections;
    private boolean started;
    /** Routing of the request whose headers the current read brought (run at its end). */
    private Runnable deferred;
    private FullHttpRequest deferredRequest;
    /** The request's body while it is received (it streams: no body limit is configured). */
    private RequestBody receiving;
    /** The response being streamed on this stream, if any. */
    private BodyWriter reply;

    Http2Handler(Downstream downstream, RequestProcessor processor, DownstreamRejections rejections) {
        this.downstream = downstream;
        this.processor = processor;
        this.rejections = rejections;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        if (!ctx.channel().config().isAutoRead()) {
            ctx.read(); // the request's headers (its body is then read as it is sent on)
        }
        ctx.fireChannelActive();
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        if (ctx.channel().isActive() && !ctx.channel().config().isAutoRead()) {
            ctx.read();
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof HttpRequest head && !started) {
            started = true;
            if (head.decoderResult().isFailure()) {
                ReferenceCountUtil.release(msg);
                rejections.reject(DownstreamRejections.CODEC_ERROR);
                FullHttpResponse bad = LocalReplies.reply(400, "Bad Request");
                bad.headers().remove(LocalReplies.MARKER);
                ctx.writeAndFlush(bad);
                return;
            }
            FullHttpRequest request;
            RequestBody body = null;
            if (msg instanceof FullHttpRequest whole) {
                request = whole; // END_STREAM on the headers, or aggregated (a body limit is configured)
            } else {
                request = new DefaultFullHttpRequest(head.protocolVersion(), head.method(), head.uri(),
                        Unpooled.buffer(0), head.headers(), new DefaultHttpHeaders());
                body = new RequestBody(RequestBody.DEFAULT_BUFFER_LIMIT);
                Channel ch = ctx.channel();
                body.onDemand(ch::read);
                receiving = body;
            }
            RequestBody b = body;
            Runnable start = () -> {
                HttpExchange exchange = processor.exchange(request, downstream, ctx.channel().eventLoop(), "HTTP/2");
                exchange.body(b);
                processor.process(exchange).thenAccept(response -> respond(ctx, exchange, response));
            };
            if (b == null) {
                start.run();
            } else {
                // Routed once this read is handled: a stream reset in the same bytes (rapid reset)
                // never reaches an upstream.
                deferred = start;
                deferredRequest = request;
                ctx.executor().execute(() -> runDeferred(ctx));
            }
            return;
        }
        RequestBody body = receiving;
        if (msg instanceof HttpContent content && body != null) {
            body.push(content.content().retain());
            if (content instanceof LastHttpContent last) {
                receiving = null;
                body.end(last.trailingHeaders());
            }
        }
        ReferenceCountUtil.release(msg);
    }

    /** Routes the request once the bytes that brought its headers were all handled (and it is still open). */
    private void runDeferred(ChannelHandlerContext ctx) {
        Runnable d = deferred;
        if (d == null || !ctx.channel().isActive()) {
            return; // reset meanwhile: channelInactive let it go
        }
        deferred = null;
        deferredRequest = null;
        d.run();
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        RequestBody body = receiving;
        if (!ctx.channel().config().isAutoRead() && (!started || (body != null && body.wantsMore()))) {
            ctx.read();
        }
        ctx.fireChannelReadComplete();
    }

    private void respond(ChannelHandlerContext ctx, HttpExchange exchange, FullHttpResponse response) {
        if (!ctx.channel().isActive()) {
            response.release();
            processor.completed(exchange, new RequestProcessor.Sent(0, null, 0));
            return;
        }
        response.headers().remove(LocalReplies.MARKER);
        exchange.responseHeaders(response.headers()); // access log: %RESP(X)%
        RequestProcessor.Sent sent = RequestProcessor.Sent.of(response);
        HopByHop.strip(response.headers());
        if (response instanceof StreamingResponse streaming) {
            BodyStream body = streaming.body(); // its trailers carry gRPC's status
            reply = StreamedReply.start(ctx, streaming, HttpVersion.HTTP_1_1, true, (bytes, failure) -> {
                reply = null;
                processor.completed(exchange, sent.withBody(failure == null ? bytes : 0, body.trailers()));
                if (failure != null || receiving != null) {
                    // RST_STREAM: a broken-off body must not pass for a whole one; a request body
                    // still coming after its whole response is not wanted (Envoy resets it too).
                    ctx.close();
                }
            });
            return;
        }
        if (!response.headers().contains(io.netty.handler.codec.http.HttpHeaderNames.CONTENT_LENGTH)) {
            HttpUtil.setContentLength(response, response.content().readableBytes());
        }
        ctx.writeAndFlush(response).addListener(f -> {
            processor.completed(exchange,
                    f.isSuccess() ? sent : new RequestProcessor.Sent(sent.status(), sent.grpcStatus(), 0));
            if (receiving != null) {
                ctx.close(); // answered before the request's end: the rest of its body is not wanted
            }
        });
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
        if (receiving != null) {
            receiving.fail(new java.nio.channels.ClosedChannelException()); // reset by the client
            if (deferred != null) {
                receiving.release();
            }
            receiving = null;
        }
        if (deferred != null) {
            deferred = null;
            deferredRequest.release();
            deferredRequest = null;
        }
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
