package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.json.JsonWriter;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoop;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2SettingsFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * HTTP/2 (h2c with prior knowledge) connections to one endpoint, over a TCP socket or an
 * HBONE stream: requests are streams multiplexed on one connection, up to the server's
 * {@code SETTINGS_MAX_CONCURRENT_STREAMS}; beyond it, or once a connection received GOAWAY,
 * another connection is opened. Requests asked while a connection is being opened wait for
 * it. A connection without streams for {@code idleTimeout} is closed. The response is handed
 * over at its headers ({@link StreamingResponse}), its DATA read as it is taken (the stream's
 * window follows), gRPC trailers at its end; a streaming request's body is written as it comes. A stream reset by the server is {@code UR}
 * ({@code REFUSED_STREAM} marked retriable as {@code refused-stream}); a stream that ends
 * without a whole response (GOAWAY, connection closed) is {@code UC}. A connection that
 * opened the cluster's {@code max_requests_per_connection} streams takes no more and closes
 * once they end.
 *
 * <p><b>Circuit breaking</b> (the cluster's {@link CircuitBreakers}): a request waiting for a
 * connection being opened is pending, refused at once with {@code UO} over
 * {@code max_pending_requests}; a new connection is opened while the cluster is under
 * {@code max_connections}, or when this pool has none. A request that would need another
 * connection over {@code max_connections} is pending too (within the same limit) until a
 * stream of this pool ends or one of its connections closes. Thread-safe: the pool's
 * bookkeeping is under its monitor, each connection's I/O on its channel's event loop.
 */
final class Http2Pool {

    private final UpstreamEndpoint endpoint;
    private final Connector connector;
    private final UpstreamMetrics metrics;
    private final CircuitBreakers breakers;
    private volatile PoolSettings settings;
    private volatile EventLoop lastLoop;
    private final int maxResponseBytes;
    private final List<Connection> connections = new ArrayList<>();
    /** Pending requests waiting for a stream slot (every connection full, max_connections reached). */
    private final ArrayDeque<Exchange> queued = new ArrayDeque<>();
    private boolean closed;
    private long opened;
    private long streams;

    Http2Pool(UpstreamEndpoint endpoint, Connector connector, UpstreamMetrics metrics, CircuitBreakers breakers,
              PoolSettings settings, int maxResponseBytes) {
        this.endpoint = requireNonNull(endpoint, "endpoint");
        this.connector = requireNonNull(connector, "connector");
        this.metrics = requireNonNull(metrics, "metrics");
        this.breakers = requireNonNull(breakers, "breakers");
        this.settings = requireNonNull(settings, "settings");
        this.maxResponseBytes = maxResponseBytes;
    }

    /**
     * Sends {@code exchange} as a stream on an open connection with room, else waits for one
     * being opened or opens one (see the class comment for the circuit breakers).
     */
    void send(Exchange exchange, PoolSettings settings, EventLoop loop) {
        this.settings = requireNonNull(settings, "settings");
        if (loop != null) {
            lastLoop = loop;
        }
        Connection target = null;
        boolean dial = false;
        boolean reuse = false;
        CircuitBreakers.Resource refusedBy = null;
        boolean queue = false;
        synchronized (this) {
            streams++;
            for (Connection c : connections) {
                if (c.draining) {
                    continue;
                }
                if (!c.ready) {
                    target = c; // still connecting: wait for it rather than opening another
                    break;
                }
                if (c.active < c.maxStreams) {
                    target = c;
                    reuse = true;
                    break;
                }
            }
            if ((target == null || !target.ready) && !breakers.tryAcquire(CircuitBreakers.Resource.PENDING_REQUESTS)) {
                refusedBy = CircuitBreakers.Resource.PENDING_REQUESTS;
            }
            if (refusedBy == null && target == null) {
                if (!breakers.tryAcquire(CircuitBreakers.Resource.CONNECTIONS)) {
                    if (!connections.isEmpty()) {
                        queue = true; // holds its pending slot until a stream slot frees
                        queued.addLast(exchange);
                    } else {
                        breakers.acquireOver(CircuitBreakers.Resource.CONNECTIONS);
                    }
                }
                if (!queue) {
                    target = new Connection();
                    target.draining = closed; // a pool dropped meanwhile: this connection serves this request only
                    connections.add(target);
                    opened++;
                    dial = true;
                }
            }
            if (refusedBy == null && !queue) {
                target.active++;
                target.cancelIdleTimer();
                if (!target.ready) {
                    target.waiting.add(exchange);
                }
            }
        }
        if (refusedBy != null) {
            exchange.fail(breakers.overflow(refusedBy, endpoint.address()));
            return;
        }
        if (queue) {
            exchange.onAbandon(() -> leaveQueue(exchange)); // its timeout takes it out
            return;
        }
        if (reuse) {
            metrics.reused(exchange.cluster);
            Connection c = target;
            c.channel.eventLoop().execute(() -> c.openStream(exchange));
        }
        if (dial) {
            dial(target, exchange.cluster, settings.connectTimeout(), loop, exchange.traceparent());
        }
    }

    private void dial(Connection c, String cluster, Duration connectTimeout, EventLoop loop, String traceparent) {
        c.connectTimeout = connectTimeout;
        if (loop == null) {
            loop = lastLoop;
        }
        c.loop = loop;
        connector.connect(endpoint, connectTimeout, loop, false, settings.keepalive(), traceparent)
                .whenComplete((ch, error) -> {
            List<Exchange> waiting;
            if (error != null) {
                synchronized (this) {
                    connections.remove(c);
                    waiting = List.copyOf(c.waiting);
                    c.waiting.clear();
                }
                breakers.release(CircuitBreakers.Resource.CONNECTIONS);
                UpstreamException e = UpstreamMetrics.asUpstream(endpoint.address(), error);
                waiting.forEach(x -> {
                    breakers.release(CircuitBreakers.Resource.PENDING_REQUESTS);
                    x.fail(e);
                });
                return;
            }
            metrics.connectionOpened(cluster, "http2", endpoint.hbone());
            ch.pipeline().addLast("h2-codec", Http2FrameCodecBuilder.forClient()
                    .initialSettings(Http2Settings.defaultSettings().pushEnabled(false)).build());
            ch.pipeline().addLast("h2-multiplex", new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
            ch.pipeline().addLast("h2-connection", c);
            synchronized (this) {
                c.channel = ch;
            }
            ch.closeFuture().addListener(f -> c.closed());
            // Streams wait for the server's first SETTINGS (its stream limit), within the connect timeout.
            ch.eventLoop().schedule(() -> {
                if (!c.ready) {
                    ch.close();
                }
            }, connectTimeout.toNanos(), TimeUnit.NANOSECONDS);
            ch.config().setAutoRead(true);
        });
    }

    private void leaveQueue(Exchange exchange) {
        boolean removed;
        synchronized (this) {
            removed = queued.remove(exchange);
        }
        if (removed) {
            breakers.release(CircuitBreakers.Resource.PENDING_REQUESTS);
        }
    }

    /** The queued requests go round again (a connection closed: there may be room for a new one). */
    private void resendQueued() {
        List<Exchange> again;
        synchronized (this) {
            again = List.copyOf(queued);
            queued.clear();
        }
        for (Exchange x : again) {
            breakers.release(CircuitBreakers.Resource.PENDING_REQUESTS);
            if (!x.isDone()) {
                send(x, settings, null);
            }
        }
    }

    synchronized int openConnections() {
        int n = 0;
        for (Connection c : connections) {
            if (c.channel != null) {
                n++;
            }
        }
        return n;
    }

    /**
     * Takes no new stream: each connection closes (GOAWAY first, from the codec) once its
     * streams ended, at once when it carries none; a connecting one closes when it is up.
     */
    void close() {
        List<Connection> all;
        List<Exchange> waiting;
        synchronized (this) {
            closed = true;
            all = List.copyOf(connections);
            connections.clear();
            all.forEach(c -> c.draining = true);
            waiting = List.copyOf(queued);
            queued.clear();
        }
        all.forEach(Connection::maybeIdle);
        for (Exchange x : waiting) {
            breakers.release(CircuitBreakers.Resource.PENDING_REQUESTS);
            x.fail(Failures.closed(endpoint.address(), "connection pool closed (endpoint or cluster removed)", null));
        }
    }

    synchronized void dump(JsonWriter json) {
        json.open('{');
        json.key("cluster").value(breakers.cluster());
        json.key("endpoint").value(endpoint.toString());
        json.key("protocol").value("http2");
        json.key("opened").value(opened);
        json.key("streams").value(streams);
        json.key("connections").open('[');
        for (Connection c : connections) {
            json.open('{');
            json.key("state").value(!c.ready ? "connecting" : c.draining ? "draining" : "ready");
            json.key("active_streams").value(c.active);
            json.key("max_streams").value(c.maxStreams == Integer.MAX_VALUE ? -1 : c.maxStreams);
            json.close('}');
        }
        json.close(']');
        json.close('}');
    }

    /** One HTTP/2 connection: the connection-level frames it is told of, and its stream count. */
    private final class Connection extends ChannelInboundHandlerAdapter {
        final ArrayDeque<Exchange> waiting = new ArrayDeque<>();
        volatile Channel channel;
        Duration connectTimeout;
        EventLoop loop;
        /** The server's first SETTINGS arrived: streams may open. */
        boolean ready;
        int active;
        int maxStreams = Integer.MAX_VALUE;
        /** Streams opened on it (max_requests_per_connection). */
        int streamsOpened;
        boolean draining;
        private ScheduledFuture<?> idleTimer;

        /** On the connection's loop: a stream for {@code exchange}, its request written. */
        void openStream(Exchange exchange) {
            if (exchange.isDone() || !channel.isActive()) {
                streamEnded();
                exchange.fail(Failures.closed(endpoint.address(), "HTTP/2 connection closed before the stream opened",
                        null));
                return;
            }
            int perConnection = settings.maxRequestsPerConnection();
            synchronized (Http2Pool.this) {
                if (perConnection > 0 && ++streamsOpened >= perConnection) {
                    draining = true; // spent: its streams finish, new ones go to another connection
                }
            }
            new Http2StreamChannelBootstrap(channel).handler(new ChannelInitializer<Channel>() {
                @Override
                protected void initChannel(Channel ch) {
                    // Read as the response's consumer takes it: the stream's window follows.
                    ch.config().setAutoRead(false);
                    ch.pipeline().addLast(new Http2StreamFrameToHttpObjectCodec(false), new StreamHandler(exchange));
                }
            }).open().addListener((Future<Http2StreamChannel> f) -> {
                if (!f.isSuccess()) {
                    streamEnded();
                    exchange.fail(Failures.closed(endpoint.address(), "cannot open an HTTP/2 stream", f.cause()));
                    return;
                }
                Http2StreamChannel stream = f.getNow();
                stream.closeFuture().addListener(c -> streamEnded());
                FullHttpRequest request = exchange.takeRequest();
                if (request == null) {
                    stream.close();
                    return;
                }
                exchange.onAbandon(() -> stream.close()); // RST_STREAM(CANCEL): the connection stays usable
                if (request instanceof StreamingRequest streaming) {
                    StreamHandler handler = stream.pipeline().get(StreamHandler.class);
                    stream.write(new DefaultHttpRequest(streaming.protocolVersion(), streaming.method(),
                            streaming.uri(), streaming.headers())).addListener((ChannelFuture w) -> {
                        if (!w.isSuccess()) {
                            exchange.fail(writeFailure(w.cause()));
                            stream.close();
                        }
                    });
                    handler.requestWriter = BodyWriter.start(stream, streaming.body(), true, (bytes, failure) -> {
                        if (failure != null) {
                            stream.close(); // the request broke off: RST_STREAM, as Envoy resets the upstream stream
                        }
                    });
                    streaming.release();
                    stream.flush();
                    stream.read(); // the response's headers
                    return;
                }
                stream.writeAndFlush(request).addListener((ChannelFuture w) -> {
                    if (!w.isSuccess()) {
                        exchange.fail(writeFailure(w.cause()));
                        stream.close();
                    }
                });
                stream.read(); // the response's headers
            });
        }

        private UpstreamException writeFailure(Throwable cause) {
            for (Throwable t = cause; t != null; t = t.getCause() == t ? null : t.getCause()) {
                if (t instanceof Http2Exception h && h.error() == Http2Error.REFUSED_STREAM) {
                    return Failures.streamReset(endpoint.address(), Http2Error.REFUSED_STREAM.code());
                }
            }
            return Failures.io(endpoint.address(), cause);
        }

        private void streamEnded() {
            Exchange next = null;
            synchronized (Http2Pool.this) {
                active--;
                if (ready && !draining && channel.isActive() && active < maxStreams) {
                    next = queued.pollFirst();
                    if (next != null) {
                        active++; // the freed slot goes to the oldest queued request
                    }
                }
            }
            if (next != null) {
                breakers.release(CircuitBreakers.Resource.PENDING_REQUESTS);
                Exchange x = next;
                channel.eventLoop().execute(() -> openStream(x));
                return;
            }
            maybeIdle();
        }

        void maybeIdle() {
            Channel ch = channel;
            synchronized (Http2Pool.this) {
                if (active > 0 || idleTimer != null || ch == null) {
                    return;
                }
                if (draining) {
                    ch.close();
                    return;
                }
                Duration idleTimeout = settings.idleTimeout();
                if (idleTimeout.isZero()) {
                    return;
                }
                idleTimer = ch.eventLoop().schedule(() -> {
                    synchronized (Http2Pool.this) {
                        idleTimer = null;
                        if (active > 0) {
                            return;
                        }
                        draining = true; // no new stream: it is closing
                    }
                    ch.close();
                }, idleTimeout.toNanos(), TimeUnit.NANOSECONDS);
            }
        }

        void cancelIdleTimer() {
            if (idleTimer != null) {
                idleTimer.cancel(false);
                idleTimer = null;
            }
        }

        void closed() {
            List<Exchange> stranded;
            synchronized (Http2Pool.this) {
                draining = true;
                connections.remove(this);
                cancelIdleTimer();
                stranded = List.copyOf(waiting);
                waiting.clear();
            }
            breakers.release(CircuitBreakers.Resource.CONNECTIONS);
            UpstreamException e = Failures.connect(endpoint.address(), new IOException(
                    "HTTP/2 connection closed before the server's SETTINGS"));
            stranded.forEach(x -> {
                breakers.release(CircuitBreakers.Resource.PENDING_REQUESTS);
                x.fail(e);
            });
            resendQueued();
        }

        /** The first SETTINGS: the waiting requests open streams up to the limit; the others go elsewhere. */
        private void ready() {
            List<Exchange> now = new ArrayList<>();
            List<Exchange> elsewhere = new ArrayList<>();
            synchronized (Http2Pool.this) {
                ready = true;
                int room = maxStreams - (active - waiting.size());
                for (Exchange x; (x = waiting.poll()) != null; ) {
                    breakers.release(CircuitBreakers.Resource.PENDING_REQUESTS);
                    if (room-- > 0) {
                        now.add(x);
                    } else {
                        active--;
                        elsewhere.add(x);
                    }
                }
            }
            now.forEach(this::openStream);
            elsewhere.forEach(x -> send(x, settings, loop));
            maybeIdle();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof Http2SettingsFrame settings) {
                    Long max = settings.settings().maxConcurrentStreams();
                    boolean first;
                    synchronized (Http2Pool.this) {
                        if (max != null) {
                            maxStreams = (int) Math.min(max, Integer.MAX_VALUE);
                        }
                        first = !ready;
                    }
                    if (first) {
                        ready();
                    }
                } else if (msg instanceof Http2GoAwayFrame) {
                    synchronized (Http2Pool.this) {
                        draining = true; // its streams finish; new ones go to another connection
                        connections.remove(this);
                    }
                    maybeIdle();
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                ctx.close(); // the HBONE peer ended the stream carrying this connection
            }
            ReferenceCountUtil.release(evt);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            Connector.abort(ctx.channel());
        }
    }

    /** One request's stream: the response's headers, then its body as it is taken, or why there is none. */
    private final class StreamHandler extends ChannelInboundHandlerAdapter {
        private final Exchange exchange;
        private BodyStream body;
        private boolean ended;
        /** The request's streaming body, while it is written. */
        BodyWriter requestWriter;

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (requestWriter != null) {
                requestWriter.writabilityChanged();
            }
            ctx.fireChannelWritabilityChanged();
        }

        StreamHandler(Exchange exchange) {
            this.exchange = exchange;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof HttpResponse head && body == null) {
                HttpResponseStatus status = head.status();
                if (status.codeClass() == HttpStatusClass.INFORMATIONAL) {
                    ReferenceCountUtil.release(msg);
                    return;
                }
                BodyStream b = new BodyStream();
                body = b;
                Channel stream = ctx.channel();
                b.onDemand(stream::read);
                b.onCancel(() -> stream.close()); // RST_STREAM(CANCEL): the connection stays usable
                exchange.succeed(new StreamingResponse(status, head.headers(), b), maxResponseBytes,
                        stream.eventLoop());
            }
            if (msg instanceof HttpContent content && body != null && !ended) {
                body.push(content.content().retain());
                if (content instanceof LastHttpContent last) {
                    ended = true;
                    exchange.onAbandon(null);
                    body.end(last.trailingHeaders());
                }
            }
            ReferenceCountUtil.release(msg);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            if (body == null || (!ended && body.wantsMore())) {
                ctx.read();
            }
            ctx.fireChannelReadComplete();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof Http2ResetFrame reset) {
                fail(Failures.streamReset(endpoint.address(), reset.errorCode()));
            }
            ReferenceCountUtil.release(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            fail(Failures.closed(endpoint.address(), "HTTP/2 stream closed before a whole response", null));
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            fail(Failures.io(endpoint.address(), cause));
            ctx.close();
        }

        private void fail(UpstreamException e) {
            exchange.fail(e);
            if (requestWriter != null) {
                requestWriter.cancel(e);
            }
            if (body != null && !ended) {
                ended = true;
                body.fail(e); // broke off after its headers went on
            }
        }
    }
}
