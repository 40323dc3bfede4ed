package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.json.JsonWriter;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.HttpConversionUtil;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * HTTP/1.1 keep-alive connections to one endpoint (a TCP socket or an HBONE stream), as
 * Envoy's HTTP/1 connection pool: one request at a time per connection, a finished
 * connection goes back to the idle list (most recently used first) unless the response or
 * request said {@code Connection: close}, the response was framed by the close, or it failed;
 * at most {@code maxIdle} idle connections are kept, each for at most {@code idleTimeout}.
 * A request finding no idle connection opens a new one (no limit here: circuit breaking
 * is issue 15's). Thread-safe; a connection's I/O runs on its channel's event loop.
 */
final class Http1Pool {

    private final UpstreamEndpoint endpoint;
    private final Connector connector;
    private final UpstreamMetrics metrics;
    private final int maxIdle;
    private final Duration idleTimeout;
    private final int maxResponseBytes;
    private final ArrayDeque<Connection> idle = new ArrayDeque<>();
    private boolean closed;
    private int open;
    private long opened;
    private long reused;

    Http1Pool(UpstreamEndpoint endpoint, Connector connector, UpstreamMetrics metrics, int maxIdle,
              Duration idleTimeout, int maxResponseBytes) {
        this.endpoint = requireNonNull(endpoint, "endpoint");
        this.connector = requireNonNull(connector, "connector");
        this.metrics = requireNonNull(metrics, "metrics");
        this.maxIdle = maxIdle;
        this.idleTimeout = requireNonNull(idleTimeout, "idleTimeout");
        this.maxResponseBytes = maxResponseBytes;
    }

    /** Sends {@code exchange} on an idle connection, else on a new one connected within {@code connectTimeout}. */
    void send(Exchange exchange, Duration connectTimeout, EventLoop loop) {
        Connection c = takeIdle();
        if (c != null) {
            metrics.reused(exchange.cluster);
            // An idle connection the server closed meanwhile carried nothing: a new one takes the request.
            c.channel.eventLoop().execute(() -> c.start(exchange, () -> connect(exchange, connectTimeout, loop)));
            return;
        }
        connect(exchange, connectTimeout, loop);
    }

    private void connect(Exchange exchange, Duration connectTimeout, EventLoop loop) {
        connector.connect(endpoint, connectTimeout, loop, false).whenComplete((ch, error) -> {
            if (error != null) {
                exchange.fail(UpstreamMetrics.asUpstream(endpoint.address(), error));
                return;
            }
            metrics.connectionOpened(exchange.cluster, "http1", endpoint.hbone());
            Connection conn = attach(ch);
            if (exchange.isDone()) {
                release(conn); // timed out while connecting: the connection serves the next request
            } else {
                conn.start(exchange, null);
            }
        });
    }

    /**
     * Makes {@code ch} (connected, bytes in and out, on its event loop) one of this pool's
     * connections: the HTTP/1.1 client codec, the response aggregator, the exchange handler.
     */
    Connection attach(Channel ch) {
        Connection conn = new Connection(ch);
        synchronized (this) {
            open++;
            opened++;
        }
        ch.closeFuture().addListener(f -> gone(conn));
        ch.pipeline().addLast("http1-codec", new HttpClientCodec());
        ch.pipeline().addLast("http1-aggregator", new HttpObjectAggregator(maxResponseBytes));
        ch.pipeline().addLast("http1-exchange", conn);
        ch.config().setAutoRead(true); // an idle connection notices the server's close
        return conn;
    }

    private synchronized Connection takeIdle() {
        for (Connection c; (c = idle.pollFirst()) != null; ) {
            c.cancelIdleTimer();
            if (c.channel.isActive()) {
                reused++;
                return c;
            }
        }
        return null;
    }

    /** A connection whose exchange ended cleanly: idle again, or closed when the idle list is full. */
    private void release(Connection c) {
        boolean keep;
        synchronized (this) {
            keep = !closed && c.channel.isActive() && idle.size() < maxIdle;
            if (keep) {
                idle.addFirst(c);
                c.idleTimer = c.channel.eventLoop().schedule(() -> expire(c), idleTimeout.toNanos(),
                        TimeUnit.NANOSECONDS);
            }
        }
        if (!keep) {
            c.channel.close();
        }
    }

    private void expire(Connection c) {
        boolean removed;
        synchronized (this) {
            removed = idle.remove(c);
        }
        if (removed) {
            c.channel.close();
        }
    }

    private void gone(Connection c) {
        synchronized (this) {
            open--;
            idle.remove(c);
        }
        c.cancelIdleTimer();
    }

    /** Connections open (idle or busy). */
    synchronized int openConnections() {
        return open;
    }

    /** Idle connections. */
    synchronized int idleConnections() {
        return idle.size();
    }

    /** Closes the idle connections; busy ones close when their exchange ends (they are not taken back). */
    void close() {
        List<Connection> all;
        synchronized (this) {
            closed = true;
            all = List.copyOf(idle);
            idle.clear();
        }
        all.forEach(c -> c.channel.close());
    }

    synchronized void dump(JsonWriter json) {
        json.open('{');
        json.key("endpoint").value(endpoint.toString());
        json.key("protocol").value("http1");
        json.key("open").value(open);
        json.key("idle").value(idle.size());
        json.key("opened").value(opened);
        json.key("reused").value(reused);
        json.close('}');
    }

    /**
     * Prepares a request for an HTTP/1.1 upstream, as Envoy's codec does: HTTP/1.1, no
     * connection-specific headers (the waypoint manages its upstream connections), no
     * HTTP/2 conversion headers, and framing by Content-Length unless it is chunked.
     */
    static void toHttp1(FullHttpRequest request) {
        request.setProtocolVersion(HttpVersion.HTTP_1_1);
        HttpHeaders h = request.headers();
        for (HttpConversionUtil.ExtensionHeaderNames name : HttpConversionUtil.ExtensionHeaderNames.values()) {
            h.remove(name.text());
        }
        for (String token : h.getAll(HttpHeaderNames.CONNECTION)) {
            for (String t : token.split(",")) {
                String n = t.strip();
                if (!n.isEmpty() && !n.equalsIgnoreCase("close") && !n.equalsIgnoreCase("keep-alive")) {
                    h.remove(n);
                }
            }
        }
        h.remove(HttpHeaderNames.CONNECTION);
        h.remove(HttpHeaderNames.KEEP_ALIVE);
        h.remove(HttpHeaderNames.PROXY_CONNECTION);
        if (!HttpUtil.isTransferEncodingChunked(request)) {
            int length = request.content().readableBytes();
            if (length > 0 || h.contains(HttpHeaderNames.CONTENT_LENGTH) || expectsBody(request.method())) {
                HttpUtil.setContentLength(request, length);
            }
        }
    }

    private static boolean expectsBody(HttpMethod method) {
        return method.equals(HttpMethod.POST) || method.equals(HttpMethod.PUT) || method.equals(HttpMethod.PATCH);
    }

    /** Removes the hop-by-hop headers of an upstream HTTP/1.1 response. */
    static void stripHopByHop(HttpHeaders h) {
        for (String token : h.getAll(HttpHeaderNames.CONNECTION)) {
            for (String t : token.split(",")) {
                String n = t.strip();
                if (!n.isEmpty()) {
                    h.remove(n);
                }
            }
        }
        h.remove(HttpHeaderNames.CONNECTION);
        h.remove(HttpHeaderNames.KEEP_ALIVE);
        h.remove(HttpHeaderNames.PROXY_CONNECTION);
    }

    /** One connection and its current exchange; runs on the channel's event loop. */
    final class Connection extends ChannelInboundHandlerAdapter {
        final Channel channel;
        volatile ScheduledFuture<?> idleTimer;
        private Exchange current;

        Connection(Channel channel) {
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
                release(this); // the exchange ended meanwhile (timeout); nothing was sent here
                return;
            }
            if (!channel.isActive()) {
                ReferenceCountUtil.release(request);
                exchange.fail(Failures.closed(endpoint.address(), "connection closed before the request was sent",
                        null));
                return;
            }
            current = exchange;
            exchange.onAbandon(() -> Connector.abort(channel));
            // The downstream's Connection header is about the downstream connection; this one is ours.
            toHttp1(request);
            channel.writeAndFlush(request).addListener((ChannelFuture w) -> {
                if (!w.isSuccess() && current == exchange) {
                    current = null;
                    exchange.fail(Failures.io(endpoint.address(), w.cause()));
                    Connector.abort(channel);
                }
            });
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!(msg instanceof FullHttpResponse response)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            Exchange exchange = current;
            if (exchange == null) {
                response.release();
                ctx.close(); // a response nobody asked for: the connection is out of step
                return;
            }
            if (response.decoderResult().isFailure()) {
                current = null;
                response.release();
                exchange.fail(Failures.closed(endpoint.address(), "incomplete response: "
                        + response.decoderResult().cause(), response.decoderResult().cause()));
                ctx.close();
                return;
            }
            HttpResponseStatus status = response.status();
            if (status.codeClass() == HttpStatusClass.INFORMATIONAL
                    && status.code() != HttpResponseStatus.SWITCHING_PROTOCOLS.code()) {
                response.release(); // 100 Continue and the like: the final response follows
                return;
            }
            current = null;
            boolean keepAlive = HttpUtil.isKeepAlive(response)
                    && status.code() != HttpResponseStatus.SWITCHING_PROTOCOLS.code();
            stripHopByHop(response.headers());
            exchange.onAbandon(null); // its timeout must not close the connection the next request gets
            if (exchange.isDone()) {
                response.release(); // timed out just now: its abandon is closing this connection
                ctx.close();
                return;
            }
            // Back in the pool before the caller hears of the response: its next request finds it idle.
            if (keepAlive) {
                release(this);
            } else {
                ctx.close();
            }
            exchange.succeed(response);
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof Http2ResetFrame reset) {
                failCurrent(Failures.reset(endpoint.address(), "HBONE stream reset (" + reset.errorCode() + ")", null));
            } else if (evt instanceof ChannelInputShutdownEvent) {
                // The HBONE peer ended its stream (the app closed): as a TCP close.
                failCurrent(Failures.closed(endpoint.address(), "upstream closed the connection", null));
                ctx.close();
            }
            ReferenceCountUtil.release(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            failCurrent(Failures.closed(endpoint.address(), "upstream closed the connection", null));
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (cause instanceof TooLongFrameException) {
                failCurrent(Failures.closed(endpoint.address(), "response larger than " + maxResponseBytes
                        + " bytes", cause));
            } else {
                failCurrent(Failures.io(endpoint.address(), cause));
            }
            Connector.abort(ctx.channel());
        }

        private void failCurrent(UpstreamException e) {
            Exchange exchange = current;
            current = null;
            if (exchange != null) {
                exchange.fail(e);
            }
        }
    }
}
