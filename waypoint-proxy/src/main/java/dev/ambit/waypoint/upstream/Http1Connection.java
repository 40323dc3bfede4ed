package dev.ambit.waypoint.upstream;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;

/** One connection of an {@link Http1Pool} and its current exchange; runs on the channel's event loop. */
final class Http1Connection extends ChannelInboundHandlerAdapter {
    private final Http1Pool pool;
    final Channel channel;
    volatile ScheduledFuture<?> idleTimer;
    /** Whether it holds one of the cluster's max_connections (pools' own connections do). */
    volatile boolean counted;
    /** Requests written on it (max_requests_per_connection). */
    int requests;
    private Exchange current;
    /** The current request's streaming body, while it is written. */
    private BodyWriter requestWriter;
    /** The current response's body, from its headers to its end. */
    private BodyStream body;
    private boolean keepAlive;
    /** Inside an informational response (its end is not the exchange's). */
    private boolean skipping;

    Http1Connection(Http1Pool pool, Channel channel) {
        this.pool = pool;
        this.channel = channel;
    }

    void cancelIdleTimer() {
        ScheduledFuture<?> t = idleTimer;
        idleTimer = null;
        if (t != null) {
            t.cancel(false);
        }
    }

    /**
     * Sends {@code exchange}'s request (on the loop); when the connection turns out closed
     * before anything was written, {@code stale} (if given) sends it elsewhere.
     */
    void start(Exchange exchange, Runnable stale) {
        if (!channel.isActive() && stale != null && !exchange.isDone()) {
            stale.run();
            return;
        }
        FullHttpRequest request = exchange.takeRequest();
        if (request == null) {
            pool.release(this); // the exchange ended meanwhile (timeout); nothing was sent here
            return;
        }
        if (!channel.isActive()) {
            ReferenceCountUtil.release(request);
            exchange.fail(Failures.closed(pool.endpoint.address(), "connection closed before the request was sent",
                    null));
            return;
        }
        current = exchange;
        requests++;
        exchange.onAbandon(() -> Connector.abort(channel));
        // The downstream's Connection header is about the downstream connection; this one is ours.
        Http1Messages.toHttp1(request);
        if (request instanceof StreamingRequest streaming) {
            writeStreaming(exchange, streaming);
            return;
        }
        channel.writeAndFlush(request).addListener((ChannelFuture w) -> {
            if (!w.isSuccess() && current == exchange) {
                current = null;
                exchange.fail(Failures.io(pool.endpoint.address(), w.cause()));
                Connector.abort(channel);
            }
        });
    }

    /** The headers now, the body as it comes (paced by this connection's writability). */
    private void writeStreaming(Exchange exchange, StreamingRequest request) {
        HttpRequest head = new DefaultHttpRequest(HttpVersion.HTTP_1_1, request.method(), request.uri(),
                request.headers());
        channel.write(head);
        requestWriter = BodyWriter.start(channel, request.body(), HttpUtil.isTransferEncodingChunked(head),
                (bytes, failure) -> {
                    if (failure != null && current == exchange) {
                        // The request broke off (the client went away, or the write failed).
                        failCurrent(Failures.io(pool.endpoint.address(), failure));
                        Connector.abort(channel);
                    }
                });
        request.release();
        channel.flush();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        BodyWriter w = requestWriter;
        if (w != null) {
            w.writabilityChanged();
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof HttpResponse head) {
            onHead(ctx, head);
        }
        if (msg instanceof HttpContent content) {
            onContent(ctx, content);
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    private void onHead(ChannelHandlerContext ctx, HttpResponse head) {
        Exchange exchange = current;
        if (exchange == null || body != null) {
            ctx.close(); // a response nobody asked for: the connection is out of step
            return;
        }
        if (head.decoderResult().isFailure()) {
            current = null;
            exchange.fail(Failures.closed(pool.endpoint.address(), "incomplete response: "
                    + head.decoderResult().cause(), head.decoderResult().cause()));
            ctx.close();
            return;
        }
        HttpResponseStatus status = head.status();
        if (status.codeClass() == HttpStatusClass.INFORMATIONAL
                && status.code() != HttpResponseStatus.SWITCHING_PROTOCOLS.code()) {
            skipping = true; // 100 Continue and the like: the final response follows
            return;
        }
        keepAlive = HttpUtil.isKeepAlive(head) && status.code() != HttpResponseStatus.SWITCHING_PROTOCOLS.code();
        Http1Messages.stripHopByHop(head.headers());
        if (exchange.isDone()) {
            current = null;
            exchange.onAbandon(null);
            ctx.close(); // timed out just now: its abandon is closing this connection
            return;
        }
        BodyStream b = new BodyStream();
        body = b;
        Channel ch = ctx.channel();
        b.onDemand(ch::read);
        b.onCancel(() -> ch.eventLoop().execute(() -> {
            if (body == b) {
                body = null;
                current = null;
                Connector.abort(ch); // the rest of the body is not wanted: the connection is spent
            }
        }));
        // The body is read as the consumer takes it (read-after-write), not as it arrives.
        ch.config().setAutoRead(false);
        exchange.succeed(new StreamingResponse(status, head.headers(), b), pool.maxResponseBytes, ch.eventLoop());
    }

    private void onContent(ChannelHandlerContext ctx, HttpContent content) {
        if (skipping) {
            skipping = !(content instanceof LastHttpContent);
            content.release();
            return;
        }
        BodyStream b = body;
        if (b == null) {
            content.release();
            return;
        }
        if (content.decoderResult().isFailure()) {
            content.release();
            failCurrent(Failures.closed(pool.endpoint.address(), "incomplete response: "
                    + content.decoderResult().cause(), content.decoderResult().cause()));
            ctx.close();
            return;
        }
        b.push(content.content().retain());
        boolean last = content instanceof LastHttpContent;
        HttpHeaders trailers = last ? ((LastHttpContent) content).trailingHeaders() : null;
        content.release();
        if (!last) {
            return;
        }
        Exchange exchange = current;
        body = null;
        current = null;
        BodyWriter w = requestWriter;
        requestWriter = null;
        if (w != null && !w.over()) {
            // Answered before the request's body was all sent: the rest is not wanted, and the
            // connection is out of step with its framing.
            keepAlive = false;
            w.cancel(new java.io.IOException("response complete before the request body"));
        }
        if (exchange != null) {
            exchange.onAbandon(null); // its timeout must not close the connection the next request gets
        }
        ctx.channel().config().setAutoRead(true); // idle again: notice the server's close
        // Back in the pool before the consumer hears of the end: its next request finds it idle.
        if (keepAlive) {
            pool.release(this);
        } else {
            ctx.close();
        }
        b.end(trailers);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        BodyStream b = body;
        if (b != null && b.wantsMore()) {
            ctx.read();
        }
        ctx.fireChannelReadComplete();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof Http2ResetFrame reset) {
            failCurrent(Failures.reset(pool.endpoint.address(), "HBONE stream reset (" + reset.errorCode() + ")", null));
        } else if (evt instanceof ChannelInputShutdownEvent) {
            // The HBONE peer ended its stream (the app closed): as a TCP close.
            failCurrent(Failures.closed(pool.endpoint.address(), "upstream closed the connection", null));
            ctx.close();
        }
        ReferenceCountUtil.release(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        failCurrent(Failures.closed(pool.endpoint.address(), "upstream closed the connection", null));
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof TooLongFrameException) {
            failCurrent(Failures.closed(pool.endpoint.address(), "response larger than " + pool.maxResponseBytes
                    + " bytes", cause));
        } else {
            failCurrent(Failures.io(pool.endpoint.address(), cause));
        }
        Connector.abort(ctx.channel());
    }

    private void failCurrent(UpstreamException e) {
        Exchange exchange = current;
        BodyStream b = body;
        BodyWriter w = requestWriter;
        requestWriter = null;
        if (w != null) {
            w.cancel(e);
        }
        current = null;
        body = null;
        skipping = false;
        if (exchange != null) {
            exchange.fail(e);
        }
        if (b != null) {
            b.fail(e); // the response broke off after its headers went on
        }
    }
}
