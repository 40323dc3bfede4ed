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
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * HTTP/1.1 keep-alive connections to one endpoint of one cluster (a TCP socket or an HBONE
 * stream), as Envoy's HTTP/1 connection pool: one request at a time per connection, a
 * finished connection serves the next pending request or goes back to the idle list (most
 * recently used first) unless the response or request said {@code Connection: close}, the
 * response was framed by the close, it failed, or it carried the cluster's
 * {@code max_requests_per_connection}; at most {@code maxIdle} idle connections are kept,
 * each for at most the cluster's idle timeout. The response is handed over at its headers
 * ({@link StreamingResponse}) and its body read as it is taken; the connection goes back to
 * the pool at the body's end. A streaming request's body is written as it comes.
 *
 * <p><b>Circuit breaking</b> (the cluster's {@link CircuitBreakers}): a request finding no idle
 * connection is pending until a connection takes it; it is refused at once with {@code UO}
 * when the cluster's {@code max_pending_requests} are already waiting. A connection is opened
 * for pending requests while the cluster is under {@code max_connections}, or when this pool
 * has none at all (Envoy's rule, so a pending request is never stranded); otherwise they wait
 * for a connection of this pool to finish its request. A pending request that times out
 * leaves the queue. Thread-safe; a connection's I/O runs on its channel's event loop.
 *
 * <p><b>Event loops</b> (Envoy's per-worker pools): a request is sent on an idle connection
 * of the event loop it asks for, else waits for one opened on that loop ({@link PendingRequests});
 * a connection that finishes serves a waiting request of its own loop first. So a request, its
 * response and its body stay on one thread. Only when {@code max_connections} stops a new
 * connection does an idle connection of another loop take the request.
 */
final class Http1Pool {

    final UpstreamEndpoint endpoint;
    private final Connector connector;
    private final UpstreamMetrics metrics;
    private final CircuitBreakers breakers;
    private final int maxIdle;
    final int maxResponseBytes;
    private final ArrayDeque<Http1Connection> idle = new ArrayDeque<>();
    private final PendingRequests pending = new PendingRequests();
    private volatile PoolSettings settings;
    private volatile EventLoop lastLoop;
    private boolean closed;
    private int open;
    private long opened;
    private long reused;

    Http1Pool(UpstreamEndpoint endpoint, Connector connector, UpstreamMetrics metrics, CircuitBreakers breakers,
              int maxIdle, PoolSettings settings, int maxResponseBytes) {
        this.endpoint = requireNonNull(endpoint, "endpoint");
        this.connector = requireNonNull(connector, "connector");
        this.metrics = requireNonNull(metrics, "metrics");
        this.breakers = requireNonNull(breakers, "breakers");
        this.maxIdle = maxIdle;
        this.settings = requireNonNull(settings, "settings");
        this.maxResponseBytes = maxResponseBytes;
    }

    /** A pool with Envoy's default circuit breakers, idle connections kept {@code idleTimeout}. */
    Http1Pool(UpstreamEndpoint endpoint, Connector connector, UpstreamMetrics metrics, int maxIdle,
              Duration idleTimeout, int maxResponseBytes) {
        this(endpoint, connector, metrics, new CircuitBreakers("-", Resilience.Thresholds.ENVOY_DEFAULT, metrics),
                maxIdle, new PoolSettings(ClusterInfo.DEFAULT_CONNECT_TIMEOUT, idleTimeout, 0, null), maxResponseBytes);
    }

    /** {@link #send(Exchange, PoolSettings, EventLoop)} with this pool's settings and {@code connectTimeout}. */
    void send(Exchange exchange, Duration connectTimeout, EventLoop loop) {
        PoolSettings s = settings;
        send(exchange, new PoolSettings(connectTimeout, s.idleTimeout(), s.maxRequestsPerConnection(), s.keepalive()),
                loop);
    }

    /**
     * Sends {@code exchange} on an idle connection, else queues it as pending (or refuses it
     * with {@code UO} over {@code max_pending_requests}) and opens a connection for it when
     * the circuit breakers allow. {@code settings} are the cluster's current ones.
     */
    void send(Exchange exchange, PoolSettings settings, EventLoop loop) {
        this.settings = requireNonNull(settings, "settings");
        if (loop != null) {
            lastLoop = loop;
        }
        // A caller on none of the loops (a test, a timer thread) has no thread to stay on: any connection serves it.
        EventLoop affinity = loop != null && RequestLoops.callerOn(loop.parent()) ? loop : null;
        Http1Connection c;
        boolean refused = false;
        synchronized (this) {
            c = takeIdle(affinity);
            if (c == null) {
                refused = !breakers.tryAcquire(CircuitBreakers.Resource.PENDING_REQUESTS);
                if (!refused) {
                    pending.add(exchange, affinity);
                }
            }
        }
        if (refused) {
            exchange.fail(breakers.overflow(CircuitBreakers.Resource.PENDING_REQUESTS, endpoint.address()));
            return;
        }
        if (c != null) {
            metrics.reused(exchange.cluster);
            start(c, exchange, loop);
            return;
        }
        exchange.onAbandon(() -> leavePending(exchange)); // its timeout takes it out of the queue
        maybeConnect();
    }

    private void leavePending(Exchange exchange) {
        boolean removed;
        synchronized (this) {
            removed = pending.remove(exchange);
        }
        if (removed) {
            breakers.release(CircuitBreakers.Resource.PENDING_REQUESTS);
        }
    }

    /**
     * Opens connections, each on the loop of requests that outnumber the connections being
     * opened for it, while the breakers allow; over {@code max_connections}, an idle connection
     * of another loop takes a waiting request.
     */
    private void maybeConnect() {
        while (true) {
            EventLoop loop;
            String traceparent = null;
            Http1Connection other = null;
            PendingRequests.Waiting next = null;
            synchronized (this) {
                PendingRequests.Waiting needs = closed ? null : pending.needingConnection();
                if (needs == null) {
                    return;
                }
                loop = needs.loop();
                if (!breakers.tryAcquire(CircuitBreakers.Resource.CONNECTIONS)) {
                    if (open == 0 && pending.connectingTotal() == 0) {
                        breakers.acquireOver(CircuitBreakers.Resource.CONNECTIONS);
                    } else if ((other = takeIdle(null)) != null) {
                        next = pending.pollFor(other.channel.eventLoop());
                    } else {
                        return; // they wait for one of this pool's connections to finish
                    }
                }
                if (other == null) {
                    pending.connecting(loop);
                    // The oldest request of that loop: the one the new connection most likely carries first.
                    traceparent = needs.exchange().traceparent();
                }
            }
            if (other != null) {
                handOver(other, next);
                continue;
            }
            connect(loop, traceparent);
        }
    }

    /** Opens a connection on {@code wanted}; an HBONE tunnel's CONNECT carries {@code traceparent} (null: none). */
    private void connect(EventLoop wanted, String traceparent) {
        PoolSettings s = settings;
        EventLoop loop = wanted != null ? wanted : lastLoop;
        connector.connect(endpoint, s.connectTimeout(), loop, false, s.keepalive(), traceparent)
                .whenComplete((ch, error) -> {
            if (error != null) {
                PendingRequests.Waiting w;
                synchronized (this) {
                    pending.connected(wanted);
                    w = pending.pollFor(wanted);
                }
                Exchange first = w == null ? null : w.exchange();
                breakers.release(CircuitBreakers.Resource.CONNECTIONS);
                if (first != null) {
                    breakers.release(CircuitBreakers.Resource.PENDING_REQUESTS);
                    first.fail(UpstreamMetrics.asUpstream(endpoint.address(), error));
                }
                maybeConnect();
                return;
            }
            metrics.connectionOpened(breakers.cluster(), "http1", endpoint.hbone());
            Http1Connection conn = attach(ch);
            conn.counted = true;
            // No longer "being opened" and already taking a request, in one step: between the two,
            // another loop's maybeConnect would count that request as without a connection and open one more.
            release(conn, true, wanted); // the first pending request of its loop, or idle
        });
    }

    /**
     * Makes {@code ch} (connected, bytes in and out, on its event loop) one of this pool's
     * connections: the HTTP/1.1 client codec, the response aggregator, the exchange handler.
     */
    Http1Connection attach(Channel ch) {
        Http1Connection conn = new Http1Connection(this, ch);
        synchronized (this) {
            open++;
            opened++;
        }
        ch.closeFuture().addListener(f -> gone(conn));
        ch.pipeline().addLast("http1-codec", new HttpClientCodec());
        ch.pipeline().addLast("http1-exchange", conn);
        ch.config().setAutoRead(true); // an idle connection notices the server's close
        return conn;
    }

    /** The most recently used idle connection on {@code loop} (any loop: null); closed ones are dropped. */
    private Http1Connection takeIdle(EventLoop loop) {
        for (Iterator<Http1Connection> it = idle.iterator(); it.hasNext(); ) {
            Http1Connection c = it.next();
            if (!c.channel.isActive()) {
                it.remove();
                c.cancelIdleTimer();
            } else if (loop == null || c.channel.eventLoop() == loop) {
                it.remove();
                c.cancelIdleTimer();
                reused++;
                return c;
            }
        }
        return null;
    }

    /**
     * A connection whose exchange ended cleanly (or a new one): it takes the first pending
     * request, else it is idle again, or closed when it is spent
     * ({@code max_requests_per_connection}) or the idle list is full.
     */
    void release(Http1Connection c) {
        release(c, false, null);
    }

    /**
     * {@link #release(Http1Connection)}; {@code fresh}: {@code c} was just opened for a request
     * of {@code openedFor} (null: any loop) and leaves the connections being opened.
     */
    private void release(Http1Connection c, boolean fresh, EventLoop openedFor) {
        boolean keep;
        PendingRequests.Waiting next = null;
        PoolSettings s = settings;
        synchronized (this) {
            if (fresh) {
                pending.connected(openedFor);
            }
            boolean usable = !closed && c.channel.isActive()
                    && (s.maxRequestsPerConnection() == 0 || c.requests < s.maxRequestsPerConnection());
            if (usable) {
                next = pending.pollFor(c.channel.eventLoop());
            }
            keep = usable && next == null && idle.size() < maxIdle;
            if (keep) {
                idle.addFirst(c);
                if (!s.idleTimeout().isZero()) {
                    c.idleTimer = c.channel.eventLoop().schedule(() -> expire(c), s.idleTimeout().toNanos(),
                            TimeUnit.NANOSECONDS);
                }
            }
        }
        if (next != null) {
            handOver(c, next);
            return;
        }
        if (!keep) {
            c.channel.close();
        }
    }

    /** {@code next} leaves the queue for {@code c}. */
    private void handOver(Http1Connection c, PendingRequests.Waiting next) {
        breakers.release(CircuitBreakers.Resource.PENDING_REQUESTS);
        start(c, next.exchange(), next.loop());
    }

    /**
     * Sends {@code x} on {@code c} from {@code c}'s loop (at once when already on it: no trip
     * through the task queue); an idle connection the server closed meanwhile carried
     * nothing, so then the request goes round again.
     */
    private void start(Http1Connection c, Exchange x, EventLoop loop) {
        Runnable start = () -> c.start(x, () -> send(x, settings, loop));
        if (c.channel.eventLoop().inEventLoop()) {
            start.run();
        } else {
            c.channel.eventLoop().execute(start);
        }
    }

    private void expire(Http1Connection c) {
        boolean removed;
        synchronized (this) {
            removed = idle.remove(c);
        }
        if (removed) {
            c.channel.close();
        }
    }

    private void gone(Http1Connection c) {
        synchronized (this) {
            open--;
            idle.remove(c);
        }
        c.cancelIdleTimer();
        if (c.counted) {
            breakers.release(CircuitBreakers.Resource.CONNECTIONS);
        }
        maybeConnect(); // a pending request may open the connection this one made room for
    }

    /** Connections open (idle or busy). */
    synchronized int openConnections() {
        return open;
    }

    /** Idle connections. */
    synchronized int idleConnections() {
        return idle.size();
    }

    /** Requests waiting for a connection. */
    synchronized int pendingRequests() {
        return pending.size();
    }

    /**
     * Closes the idle connections and fails the pending requests; busy connections close
     * when their exchange ends (they are not taken back).
     */
    void close() {
        List<Http1Connection> all;
        List<PendingRequests.Waiting> waiting;
        synchronized (this) {
            closed = true;
            all = List.copyOf(idle);
            idle.clear();
            waiting = pending.drain();
        }
        all.forEach(c -> c.channel.close());
        for (PendingRequests.Waiting w : waiting) {
            breakers.release(CircuitBreakers.Resource.PENDING_REQUESTS);
            w.exchange().fail(Failures.closed(endpoint.address(), "connection pool closed (endpoint or cluster removed)", null));
        }
    }

    synchronized void dump(JsonWriter json) {
        json.open('{');
        json.key("cluster").value(breakers.cluster());
        json.key("endpoint").value(endpoint.toString());
        json.key("protocol").value("http1");
        json.key("open").value(open);
        json.key("connecting").value(pending.connectingTotal());
        json.key("idle").value(idle.size());
        json.key("pending").value(pending.size());
        json.key("opened").value(opened);
        json.key("reused").value(reused);
        json.close('}');
    }
}
