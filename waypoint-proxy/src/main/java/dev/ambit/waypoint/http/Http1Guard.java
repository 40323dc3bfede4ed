package dev.ambit.waypoint.http;

import static dev.ambit.waypoint.http.DownstreamRejections.*;

import dev.ambit.proxy.net.LazyTimer;
import io.envoyproxy.envoy.config.core.v3.HttpProtocolOptions.HeadersWithUnderscoresAction;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The HTTP/1.1 downstream's gate, between the codec and the aggregator: refuses what Envoy's
 * HTTP/1.1 codec refuses (Netty's decoder already fails most of it; this classifies those
 * failures and adds what Netty lets through), enforces the {@link Limits} timeouts and the body
 * limit, and counts each refusal ({@link DownstreamRejections}). A refused request is never
 * passed on: it is answered as Envoy answers it ({@code 400 Bad Request}, {@code 431},
 * {@code 413}, {@code 501}, {@code 408}, body the status text, {@code connection: close}) once
 * the responses owed before it were written, and the connection closed.
 *
 * <p>Timeouts, as Envoy's HttpConnectionManager: {@code request_headers_timeout} from a request's
 * first byte to its end of headers, {@code request_timeout} to its last byte, and
 * {@code stream_idle_timeout} between two of its bytes apply while a request is being
 * received (once whole, the route's timeout governs its upstream wait); the connection's
 * {@code idle_timeout} runs while no request is received or answered; at
 * {@code max_connection_duration} the connection is drained (closed now if idle, else after
 * the current response, with {@code connection: close}).
 */
final class Http1Guard extends ChannelDuplexHandler {

    static final String NAME = "http1-guard";
    static final String WATCH = "http1-bytes";

    /** Envoy's (balsa's) request methods: anything else is {@code HPE_INVALID_METHOD}. */
    private static final java.util.Set<String> METHODS = java.util.Set.of("ACL", "BIND", "CHECKOUT", "CONNECT",
            "COPY", "DELETE", "GET", "HEAD", "LINK", "LOCK", "MERGE", "MKACTIVITY", "MKCALENDAR", "MKCOL", "MOVE",
            "MSEARCH", "NOTIFY", "OPTIONS", "PATCH", "POST", "PROPFIND", "PROPPATCH", "PURGE", "PUT", "REBIND",
            "REPORT", "SEARCH", "SOURCE", "SUBSCRIBE", "TRACE", "UNBIND", "UNLINK", "UNLOCK", "UNSUBSCRIBE");
    private static final Map<Integer, String> TEXT = Map.of(400, "Bad Request", 408, "Request Timeout",
            413, "Payload Too Large", 431, "Request Header Fields Too Large", 501, "Not Implemented");

    /** Envoy's {@code delayed_close_timeout} default. */
    static final Duration DELAYED_CLOSE = Duration.ofSeconds(1);

    private final Limits limits;
    private final DownstreamRejections rejections;
    private ChannelHandlerContext ctx;
    private boolean receiving;
    private int owed; // requests received whole whose response is not written yet
    private boolean rejected;
    private Runnable pendingReject;
    private boolean draining;
    private boolean dispatchingLast;
    // Moved on every request: deadlines, not a Netty task each time (LazyTimer).
    private LazyTimer headersTimer;
    private LazyTimer requestTimer;
    private LazyTimer streamIdleTimer;
    private LazyTimer idleTimer;
    private ScheduledFuture<?> durationTimer;

    Http1Guard(Limits limits, DownstreamRejections rejections) {
        this.limits = limits;
        this.rejections = rejections;
    }

    /** Goes before the codec: tells the guard when bytes arrive (timers run from a request's first byte). */
    ChannelInboundHandlerAdapter byteWatch() {
        return new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext c, Object msg) {
                if (msg instanceof ByteBuf b && b.isReadable()) {
                    bytesArrived();
                }
                c.fireChannelRead(msg);
            }
        };
    }

    /** The aggregator, its overflow answered {@code 413 Payload Too Large} as Envoy's buffer limit does. */
    HttpObjectAggregator aggregator() {
        return new HttpObjectAggregator(limits.maxRequestBytes()) {
            @Override
            protected void handleOversizedMessage(ChannelHandlerContext c, HttpMessage oversized) {
                if (dispatchingLast) {
                    owed--; // the request that overflowed is refused, not owed a response
                }
                reject(413, BODY_TOO_LARGE);
            }
        };
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        headersTimer = LazyTimer.of(ctx.executor(), () -> timeout(REQUEST_HEADERS_TIMEOUT, "request header timeout"));
        requestTimer = LazyTimer.of(ctx.executor(), () -> timeout(REQUEST_TIMEOUT, "request timeout"));
        streamIdleTimer = LazyTimer.of(ctx.executor(), () -> timeout(STREAM_IDLE_TIMEOUT, "stream timeout"));
        idleTimer = LazyTimer.of(ctx.executor(), () -> {
            if (!receiving && owed == 0 && ctx.channel().isActive()) {
                rejections.reject(IDLE_TIMEOUT);
                ctx.close();
            }
        });
        armIdle();
        if (Limits.on(limits.maxConnectionDuration())) {
            durationTimer = schedule(limits.maxConnectionDuration(), this::drain);
        }
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        cancelAll(true);
        if (durationTimer != null) {
            durationTimer.cancel(false);
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        cancelAll(true);
        if (durationTimer != null) {
            durationTimer.cancel(false);
        }
        ctx.fireChannelInactive();
    }

    private void bytesArrived() {
        if (rejected) {
            return;
        }
        if (!receiving) {
            receiving = true;
            idleTimer.disarm();
            if (Limits.on(limits.requestHeadersTimeout())) {
                headersTimer.arm(limits.requestHeadersTimeout());
            }
            if (Limits.on(limits.requestTimeout())) {
                requestTimer.arm(limits.requestTimeout());
            }
        }
        if (Limits.on(limits.streamIdleTimeout())) {
            streamIdleTimer.arm(limits.streamIdleTimeout());
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (rejected) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (msg instanceof HttpRequest request) {
            if (!receiving) {
                bytesArrived(); // decoded from bytes read with an earlier request
            }
            String reason = request.decoderResult().isFailure() ? failure(request.decoderResult().cause())
                    : check(request);
            if (reason != null) {
                ReferenceCountUtil.release(msg);
                reject(status(reason), reason);
                return;
            }
            headersTimer.disarm();
        }
        if (msg instanceof HttpContent content && content.decoderResult().isFailure()) {
            String reason = failure(content.decoderResult().cause());
            ReferenceCountUtil.release(msg);
            reject(status(reason), reason);
            return;
        }
        if (msg instanceof LastHttpContent) {
            receiving = false;
            headersTimer.disarm();
            requestTimer.disarm();
            streamIdleTimer.disarm();
            owed++;
            dispatchingLast = true;
            try {
                ctx.fireChannelRead(msg);
            } finally {
                dispatchingLast = false;
            }
            return;
        }
        ctx.fireChannelRead(msg);
    }

    /** Why Netty's decoder failed, as Envoy names it. */
    static String failure(Throwable cause) {
        String type = cause.getClass().getSimpleName();
        String m = String.valueOf(cause.getMessage());
        if (type.startsWith("TooLongHttp") || type.equals("TooLongFrameException")) {
            return HEADERS_TOO_LARGE;
        }
        if (type.equals("InvalidLineSeparatorException")) {
            return BARE_LF;
        }
        if (type.equals("ContentLengthNotAllowedException")) {
            return CONTENT_LENGTH_AND_CHUNKED;
        }
        if (m.contains("Multiple Content-Length")) {
            return MULTIPLE_CONTENT_LENGTH;
        }
        if (m.contains("Content-Length")) {
            return INVALID_CONTENT_LENGTH;
        }
        if (m.contains("transfer coding") || m.contains("Transfer-Encoding") || m.contains("chunked must be")) {
            return INVALID_TRANSFER_ENCODING;
        }
        if (m.contains("header") || m.contains("Header")) {
            return INVALID_HEADER;
        }
        if (cause instanceof NumberFormatException || m.contains("chunk")) {
            return INVALID_CHUNK;
        }
        return CODEC_ERROR;
    }

    /** What Envoy refuses of a request Netty decoded; null if nothing. Drops underscored names when asked to. */
    String check(HttpRequest request) {
        if (!METHODS.contains(request.method().name())) {
            return INVALID_METHOD;
        }
        String target = RequestTarget.normalize(request);
        if (target == null) {
            return INVALID_URL;
        }
        var headers = request.headers();
        // Envoy checks the authority as nghttp2_check_authority (found by HttpFuzzTest: a Host of
        // "GE\\ / HTTews" was routed and logged as the authority).
        for (String host : headers.getAll(HttpHeaderNames.HOST)) {
            if (!validAuthority(host)) {
                return INVALID_AUTHORITY;
            }
        }
        List<String> te = headers.getAll(HttpHeaderNames.TRANSFER_ENCODING);
        // Envoy implements chunked alone: any other coding, or a list, is 501 (RFC 9112 6.1).
        if (!te.isEmpty() && (te.size() > 1 || !te.get(0).trim().equalsIgnoreCase("chunked"))) {
            return INVALID_TRANSFER_ENCODING;
        }
        if (headers.size() > limits.maxHeadersCount()) {
            return TOO_MANY_HEADERS;
        }
        if (limits.underscores() != HeadersWithUnderscoresAction.ALLOW) {
            List<String> underscored = new ArrayList<>();
            for (String name : headers.names()) {
                if (name.indexOf('_') >= 0) {
                    underscored.add(name);
                }
            }
            if (!underscored.isEmpty() && limits.underscores() == HeadersWithUnderscoresAction.REJECT_REQUEST) {
                return HEADER_UNDERSCORES;
            }
            underscored.forEach(headers::remove);
        }
        return null;
    }

    static boolean validAuthority(String host) {
        if (host.isEmpty()) {
            return false;
        }
        for (int i = 0; i < host.length(); i++) {
            char c = host.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || "-._~%!$&'()*+,;=:@[]".indexOf(c) >= 0;
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    private static int status(String reason) {
        return switch (reason) {
            case HEADERS_TOO_LARGE, TOO_MANY_HEADERS -> 431;
            case INVALID_TRANSFER_ENCODING -> 501;
            case BODY_TOO_LARGE -> 413;
            case REQUEST_HEADERS_TIMEOUT, REQUEST_TIMEOUT, STREAM_IDLE_TIMEOUT -> 408;
            default -> 400;
        };
    }

    private void timeout(String reason, String body) {
        if (rejected || !ctx.channel().isActive()) {
            return;
        }
        reject(408, reason, body);
    }

    void reject(int status, String reason) {
        reject(status, reason, TEXT.getOrDefault(status, "Bad Request"));
    }

    /** Counts the refusal, answers it once the responses owed before it are written, and closes. */
    private void reject(int status, String reason, String body) {
        if (rejected) {
            return;
        }
        rejected = true;
        cancelAll(false);
        rejections.reject(reason);
        Runnable send = () -> {
            FullHttpResponse r = LocalReplies.reply(status, body);
            r.setStatus(new HttpResponseStatus(status, TEXT.getOrDefault(status, "Bad Request")));
            r.headers().remove(LocalReplies.MARKER);
            r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            ctx.writeAndFlush(r).addListener(f -> delayedClose());
        };
        if (owed > 0) {
            pendingReject = send;
        } else {
            send.run();
        }
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        boolean end = msg instanceof LastHttpContent || msg instanceof FullHttpResponse;
        if (msg instanceof FullHttpResponse r && r.status().code() == 100) {
            end = false; // 100 Continue (a streamed request's): the request's response is still owed
        }
        if (!end) {
            ctx.write(msg, promise);
            return;
        }
        boolean close = draining || pendingReject != null;
        if (draining && msg instanceof HttpResponse r) {
            r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        }
        ctx.write(msg, promise).addListener(f -> {
            owed = Math.max(0, owed - 1);
            if (pendingReject != null && owed == 0) {
                Runnable send = pendingReject;
                pendingReject = null;
                send.run();
            } else if (close && !rejected) {
                ctx.close();
            } else {
                armIdle();
            }
        });
    }

    /**
     * Envoy's delayed close ({@code delayed_close_timeout}, 1 s): on a socket, the write side is
     * shut and what the client still sends is read and dropped for up to a second, so the
     * refusal is not lost to a reset of unread bytes; then (or on anything else) closed.
     */
    private void delayedClose() {
        if (ctx.channel() instanceof io.netty.channel.socket.DuplexChannel duplex && duplex.isActive()) {
            duplex.shutdownOutput().addListener(f -> {
                if (!f.isSuccess()) {
                    ctx.close();
                    return;
                }
                ctx.channel().config().setAutoRead(true);
                ctx.executor().schedule(() -> { ctx.close(); }, DELAYED_CLOSE.toNanos(), TimeUnit.NANOSECONDS);
            });
            return;
        }
        ctx.close();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (rejected && evt instanceof io.netty.channel.socket.ChannelInputShutdownEvent) {
            ctx.close(); // the client is done too
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    private void drain() {
        draining = true;
        if (!receiving && owed == 0) {
            ctx.close();
        }
    }

    private void armIdle() {
        idleTimer.disarm();
        if (!receiving && owed == 0 && !rejected && Limits.on(limits.idleTimeout())) {
            idleTimer.arm(limits.idleTimeout()); // Envoy closes an idle HTTP/1.1 connection without a response.
        }
    }

    private ScheduledFuture<?> schedule(Duration d, Runnable task) {
        return ctx.executor().schedule(task, d.toNanos(), TimeUnit.NANOSECONDS);
    }

    /** Disarms the request's and connection's timers; {@code close}: for good (the channel is gone). */
    private void cancelAll(boolean close) {
        for (LazyTimer t : new LazyTimer[] {headersTimer, requestTimer, streamIdleTimer, idleTimer}) {
            if (t != null && close) {
                t.close();
            } else if (t != null) {
                t.disarm();
            }
        }
    }
}
