package dev.ambit.waypoint.http;

import dev.ambit.waypoint.ResponseFlag;
import dev.ambit.waypoint.upstream.UpstreamTunnel;
import dev.ambit.waypoint.upstream.BodyWriter;
import dev.ambit.waypoint.upstream.RequestBody;
import dev.ambit.waypoint.upstream.BodyStream;
import dev.ambit.waypoint.upstream.StreamingResponse;
import dev.ambit.waypoint.upstream.Upstreams;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequestEncoder;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayDeque;
import java.util.Queue;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * HTTP/1.1 on one terminated tunnel (after {@link HttpServerCodec}, {@code AUTO_READ} off):
 * keep-alive, and pipelined requests answered one at a time, in order (the next is processed
 * only once the previous response was written; on a socket at most one read is made ahead
 * of it). A request is routed at its headers and its
 * body streams on ({@link RequestBody}, read as the upstream takes it); the response is
 * written as it comes ({@link StreamedReply}). With a request body limit configured an
 * {@link HttpObjectAggregator} comes first and requests arrive whole. A request with {@code Upgrade: websocket} that routes to a cluster is passed
 * through: a tunnel to an endpoint is opened, the request written to it, and from then on
 * the two carry raw bytes ({@link ByteRelay}).
 */
final class Http1Handler extends ChannelInboundHandlerAdapter {

    private static final Logger log = LoggerFactory.getLogger(Http1Handler.class);
    static final String CODEC = "http1-codec";
    static final String AGGREGATOR = "http1-aggregator";

    private final Downstream downstream;
    private final RequestProcessor processor;
    private final Upstreams upstreams;
    /** Read and not yet handled: a pipelined request (and its body) waiting for the previous response. */
    private final Queue<Object> pending = new ArrayDeque<>();
    /** Between a request's headers and its end (its body is being read). */
    private boolean receiving;
    /** The body of the request being received, when it has one. */
    private RequestBody receivingBody;
    /** Routing of a request whose headers the current read brought (run at its end). */
    private Runnable deferred;
    private FullHttpRequest deferredRequest;
    private ChannelHandlerContext ctx;
    private boolean busy;
    private boolean inputClosed;
    private boolean upgraded;
    /** The response being streamed, if any. */
    private BodyWriter reply;
    /** Whether to keep a read asked for while a request is answered (see {@link #channelReadComplete}). */
    private boolean readsAhead;

    Http1Handler(Downstream downstream, RequestProcessor processor, Upstreams upstreams) {
        this.downstream = downstream;
        this.processor = processor;
        this.upstreams = upstreams;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        readsAhead = !(ctx.channel() instanceof io.netty.handler.codec.http2.Http2StreamChannel);
        // On the next pass: whoever installs this may still be handing bytes over.
        ctx.channel().eventLoop().execute(() -> {
            if (!busy && pending.isEmpty() && ctx.channel().isActive()) {
                ctx.read();
            }
        });
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (upgraded) {
            ReferenceCountUtil.release(msg);
            return;
        }
        pending.add(msg);
        drainPending();
    }

    /**
     * Handles what was read, in order: the current request's body as it comes; a pipelined
     * request only once the previous response was written (it waits in {@link #pending},
     * and nothing more is read meanwhile).
     */
    private void drainPending() {
        for (Object m; (!busy || receiving) && (m = pending.poll()) != null; ) {
            handle(m);
        }
    }

    private void handle(Object msg) {
        if (msg instanceof HttpRequest head && !receiving) {
            if (head.decoderResult().isFailure()) {
                ReferenceCountUtil.release(msg);
                downstream(400, "Bad Request");
                return;
            }
            if (msg instanceof FullHttpRequest whole) {
                start(whole, null); // aggregated: a request body limit is configured
                return;
            }
            if (HttpUtil.is100ContinueExpected(head)) {
                // As Envoy without proxy_100_continue: the waypoint answers it and drops the expectation.
                ctx.writeAndFlush(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.CONTINUE,
                        Unpooled.EMPTY_BUFFER));
                head.headers().remove(HttpHeaderNames.EXPECT);
            }
            FullHttpRequest request = new DefaultFullHttpRequest(head.protocolVersion(), head.method(), head.uri(),
                    Unpooled.buffer(0), head.headers(), new DefaultHttpHeaders());
            receiving = true;
            boolean hasBody = HttpUtil.isTransferEncodingChunked(head) || HttpUtil.getContentLength(head, 0L) > 0;
            RequestBody body = null;
            if (hasBody) {
                body = new RequestBody(RequestBody.DEFAULT_BUFFER_LIMIT);
                body.onDemand(() -> ctx.channel().eventLoop().execute(this::readBody));
            }
            receivingBody = body;
            busy = true;
            // Routed once this read is handled: a body that breaks in the same bytes is a 400, not a
            // request sent upstream and then reset.
            RequestBody b = body;
            deferred = () -> start(request, b);
            deferredRequest = request;
            return;
        }
        if (!(msg instanceof HttpContent content) || !receiving) {
            ReferenceCountUtil.release(msg);
            return;
        }
        RequestBody body = receivingBody;
        if (content.decoderResult().isFailure()) {
            content.release();
            receiving = false;
            receivingBody = null;
            if (body != null) {
                body.fail(new IllegalStateException("request body: " + content.decoderResult().cause()));
                body.release();
            }
            if (deferred != null) {
                deferred = null;
                deferredRequest.release();
                deferredRequest = null;
                downstream(400, "Bad Request"); // not routed yet: refused as a whole
            } else {
                ctx.close();
            }
            return;
        }
        if (body != null) {
            body.push(content.content().retain());
        }
        boolean last = content instanceof LastHttpContent;
        if (last) {
            receiving = false;
            receivingBody = null;
            if (body != null) {
                body.end(((LastHttpContent) content).trailingHeaders());
            }
        }
        content.release();
        if (last && !busy) {
            next(); // its response was written already (answered before its end)
        }
    }

    /** Reads more of the current request's body once it wants more (read-after-write). */
    private void readBody() {
        if (receiving && ctx.channel().isActive()) {
            ctx.read();
        }
    }

    /** Routes the request whose headers this read brought. */
    private void runDeferred() {
        Runnable d = deferred;
        deferred = null;
        deferredRequest = null;
        if (d != null) {
            d.run();
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        runDeferred();
        if (receiving) {
            RequestBody body = receivingBody;
            if (body == null || body.wantsMore()) {
                ctx.read();
            }
        } else if (!inputClosed && pending.isEmpty() && (!busy || readsAhead)) {
            // The decoders ask for more while a message is incomplete; a connection whose request
            // is complete asks here. On a socket (the gateway) also while that request is being
            // answered: one read ahead. A client that does not pipeline sends nothing until its
            // response, so the read costs nothing, and the socket's read interest is not dropped
            // and re-armed (two epoll_ctl calls per request, 4 % of a gateway's CPU at c16). A
            // client that does gets one read into `pending` and nothing more until its turn; a
            // close or reset is seen at once, as Envoy detects an early close while reading is
            // disabled. An HTTP/2 stream (a waypoint's tunnel) has no read interest to toggle,
            // and its read request flushes the connection when nothing is queued: not there.
            ctx.read();
        }
        ctx.fireChannelReadComplete();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            inputClosed = true;
            if (receiving && receivingBody != null) {
                receivingBody.fail(new java.io.IOException("client closed before the end of the request body"));
            }
            if (!busy && pending.isEmpty()) {
                ctx.close();
            }
        }
        ReferenceCountUtil.release(evt);
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
        for (Object m; (m = pending.poll()) != null; ) {
            ReferenceCountUtil.release(m);
        }
        if (receivingBody != null) {
            receivingBody.fail(new java.nio.channels.ClosedChannelException());
            if (deferred != null) {
                receivingBody.release();
            }
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
        log.debug("{} HTTP/1.1 downstream failed", ctx.channel(), cause);
        ctx.close();
    }

    private void downstream(int status, String body) {
        FullHttpResponse r = LocalReplies.reply(status, body);
        r.headers().remove(LocalReplies.MARKER);
        r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        ctx.writeAndFlush(r).addListener(ChannelFutureListener.CLOSE);
    }

    /** The previous response was written: the next request read, or more is read. */
    private void next() {
        busy = false;
        drainPending();
        runDeferred();
        if (busy || receiving) {
            return;
        }
        if (inputClosed) {
            ctx.close();
        } else {
            ctx.read();
        }
    }

    /** Routes one request (its body, if it streams, in {@code body}). */
    private void start(FullHttpRequest request, RequestBody body) {
        busy = true;
        boolean keepAlive = HttpUtil.isKeepAlive(request) && !inputClosed;
        HttpVersion version = request.protocolVersion();
        boolean websocket = isWebSocketUpgrade(request);
        HttpExchange exchange = processor.exchange(request, downstream, ctx.channel().eventLoop(), "HTTP/1.1");
        exchange.body(body);
        if (websocket && exchange.route() != null
                && exchange.route().entry().proto().getActionCase() == Route.ActionCase.ROUTE) {
            upgrade(exchange);
            return;
        }
        processor.process(exchange).thenAccept(response -> respond(exchange, response, keepAlive, version));
    }

    private void respond(HttpExchange exchange, FullHttpResponse response, boolean keepAlive, HttpVersion version) {
        if (!ctx.channel().isActive()) {
            response.release();
            processor.completed(exchange, new RequestProcessor.Sent(0, null, 0));
            return;
        }
        response.headers().remove(LocalReplies.MARKER);
        exchange.responseHeaders(response.headers()); // access log: %RESP(X)%
        RequestProcessor.Sent sent = RequestProcessor.Sent.of(response);
        response.setProtocolVersion(HttpVersion.HTTP_1_1);
        if (receiving) {
            keepAlive = false; // answered before the request's end (Envoy closes such a connection too)
        }
        boolean streaming = response instanceof StreamingResponse;
        if (streaming) {
            int code = response.status().code();
            boolean bodiless = code == 204 || code == 304 || code < 200 || exchange.method().equals("HEAD");
            if (!bodiless && !response.headers().contains(HttpHeaderNames.CONTENT_LENGTH)) {
                if (version.equals(HttpVersion.HTTP_1_0)) {
                    keepAlive = false; // no chunked encoding: the close ends the body
                } else {
                    HttpUtil.setTransferEncodingChunked(response, true);
                }
            }
        } else if (!response.trailingHeaders().isEmpty()) {
            // Only chunked encoding carries trailers in HTTP/1.1.
            response.headers().remove(HttpHeaderNames.CONTENT_LENGTH);
            HttpUtil.setTransferEncodingChunked(response, true);
        } else {
            HttpUtil.setContentLength(response, response.content().readableBytes());
        }
        if (!keepAlive) {
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        } else if (version.equals(HttpVersion.HTTP_1_0)) {
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
        }
        // Drained like Envoy does: each HTTP/1.1 connection closes after its current response.
        keepAlive &= !processor.draining();
        if (!keepAlive) {
            response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        }
        boolean keep = keepAlive;
        if (streaming) {
            BodyStream body = ((StreamingResponse) response).body(); // its trailers carry gRPC's status
            reply = StreamedReply.start(ctx, (StreamingResponse) response, HttpVersion.HTTP_1_1,
                    HttpUtil.isTransferEncodingChunked(response), (bytes, failure) -> {
                reply = null;
                processor.completed(exchange, sent.withBody(failure == null ? bytes : 0, body.trailers()));
                if (failure != null || !keep) {
                    ctx.close(); // a body broken off: closing is how HTTP/1.1 says it is incomplete
                    return;
                }
                next();
            });
            return;
        }
        ctx.writeAndFlush(response).addListener(f -> {
            processor.completed(exchange, f.isSuccess() ? sent : new RequestProcessor.Sent(sent.status(),
                    sent.grpcStatus(), 0));
            if (!f.isSuccess() || !keep) {
                ctx.close();
                return;
            }
            next();
        });
    }

    static boolean isWebSocketUpgrade(FullHttpRequest r) {
        String upgrade = r.headers().get(HttpHeaderNames.UPGRADE);
        return upgrade != null && upgrade.equalsIgnoreCase("websocket")
                && r.headers().containsValue(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE, true);
    }

    /** Passes a WebSocket upgrade through to an endpoint of the route's cluster, then relays raw bytes. */
    private void upgrade(HttpExchange exchange) {
        var action = exchange.route().entry().proto().getRoute();
        String cluster = Router.cluster(action);
        FullHttpRequest request = exchange.request();
        String upgradeValue = request.headers().get(HttpHeaderNames.UPGRADE);
        if (cluster == null || exchange.config().cluster(cluster).isEmpty()) {
            exchange.addFlag(ResponseFlag.NC);
            exchange.upstreamCluster(cluster);
            exchange.release();
            respond(exchange, Router.clusterNotFound(action), false, HttpVersion.HTTP_1_1);
            return;
        }
        exchange.upstreamCluster(cluster);
        Router.prepareRequest(exchange.route(), action, request);
        request.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE);
        request.headers().set(HttpHeaderNames.UPGRADE, upgradeValue);
        exchange.attempted();
        upstreams.open(cluster, downstream.destination(), Set.of()).whenCompleteAsync((tunnel, failure) -> {
            if (failure != null) {
                var e = Router.upstreamFailure(failure);
                exchange.addFlag(e.flag());
                if (e.endpoint() != null) {
                    exchange.upstreamHost(e.endpoint());
                }
                exchange.release();
                FullHttpResponse r = Router.failureReply(e.flag());
                Router.applyResponseHeaders(exchange.route(), r.headers());
                respond(exchange, r, false, HttpVersion.HTTP_1_1);
                return;
            }
            relay(exchange, tunnel);
        }, ctx.channel().eventLoop());
    }

    private void relay(HttpExchange exchange, UpstreamTunnel tunnel) {
        exchange.upstreamHost(tunnel.endpoint());
        if (!ctx.channel().isActive()) {
            exchange.release();
            tunnel.channel().close();
            return;
        }
        upgraded = true;
        // The request as HTTP/1.1 bytes, first on the tunnel.
        EmbeddedChannel encoder = new EmbeddedChannel(new HttpRequestEncoder());
        encoder.writeOutbound(exchange.request().retain());
        exchange.release();
        for (ByteBuf b; (b = encoder.readOutbound()) != null; ) {
            tunnel.channel().write(b);
        }
        encoder.finishAndReleaseAll();
        tunnel.channel().flush();
        var pipeline = ctx.pipeline();
        var channel = ctx.channel();
        // The relay's handler first, so bytes the codec still holds (removed last) reach it.
        ByteRelay.start(channel, tunnel.channel(), (up, down) ->
                processor.completed(exchange, new RequestProcessor.Sent(101, null, down)));
        if (pipeline.get(AGGREGATOR) != null) {
            pipeline.remove(AGGREGATOR);
        }
        pipeline.remove(this);
        if (pipeline.get(Http1Guard.NAME) != null) {
            pipeline.remove(Http1Guard.NAME); // its timers are for HTTP requests, not relayed bytes
            pipeline.remove(Http1Guard.WATCH);
        }
        pipeline.remove(CODEC);
    }
}
