package dev.ambit.proxy.net;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.Gauge;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.hbone.HboneClient;
import dev.ambit.proxy.hbone.HboneRequest;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.identity.WorkloadCertificate;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2SettingsFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Pooled HBONE connections (HTTP/2 over mutual TLS 1.3) of the outbound proxy, as
 * ztunnel's connection pool: a tunnel is a {@code CONNECT} stream, and many tunnels to the
 * same destination share one connection.
 *
 * <p><b>Keys.</b> A connection serves one {@link Key}: the source pod (its sockets live in
 * that pod's namespace, so its address is the source), the source identity and the serial of
 * the certificate it presents, the destination identity the server must prove, the
 * destination workload's uid when known, and the destination {@code ip:15008}. A renewed
 * certificate has a new serial, so new tunnels go to new connections and the old ones close
 * once idle. A pod that took over the address of one that went away is another workload, so
 * it never inherits that one's connections: those may be dead (the old pod's network was
 * removed before anything closed them), and a tunnel sent on one would be reset by the new
 * pod's kernel. {@link #retainDestinations} closes them as their workloads leave the mesh's view.
 *
 * <p><b>Capacity.</b> A connection takes streams up to the server's
 * {@code SETTINGS_MAX_CONCURRENT_STREAMS}; beyond that another connection is opened. Until
 * the server's first SETTINGS arrive, requests wait on the connecting connection and
 * those it cannot take are placed again. A connection that receives GOAWAY takes no new
 * stream (its streams finish); one that closes leaves the pool; one without streams for
 * {@link Builder#idleTimeout} is closed.
 *
 * <p><b>Event loops.</b> {@link dev.ambit.proxy.hbone.Relay} needs the captured TCP
 * connection and the stream on one event loop, so there is one pool per event loop (as in
 * Armeria): a connection is registered on, and only touched from, the loop that asked for
 * it, and its state needs no locks. With N loops a destination may have up to N connections.
 * The loops must be of the {@link SocketFactory}'s {@link Transport}, whose channels they register.
 *
 * <p><b>Shutdown.</b> {@link #drain} stops handing out tunnels and closes each connection once
 * its tunnels ended, up to a deadline; {@link #close} closes every connection gracefully
 * (GOAWAY, then the close once its streams ended) without waiting.
 *
 * <p><b>TLS.</b> The client context of {@link TlsContexts#client} verifies the server's
 * SPIFFE identity during the handshake; after it, {@link TlsContexts#checkNegotiated} must
 * pass or the connection is closed before any HTTP/2 byte is sent.
 *
 * <p>Metrics: {@value #OPENED}, {@value #FAILURES}{@code {reason}} (connect, handshake,
 * negotiation, closed), {@value #OPEN} and {@value #STREAMS}. Thread-safe.
 */
public final class HbonePool implements AutoCloseable {

    /** Istio's HBONE port. */
    public static final int DEFAULT_PORT = 15008;

    public static final String OPENED = "ambit_hbone_pool_connections_opened_total";
    public static final String FAILURES = "ambit_hbone_pool_connection_failures_total";
    public static final String OPEN = "ambit_hbone_pool_connections";
    public static final String STREAMS = "ambit_hbone_pool_streams_total";

    private static final Logger log = LoggerFactory.getLogger(HbonePool.class);

    private final TlsContexts tls;
    private final Duration idleTimeout;
    private final Duration connectTimeout;
    private final Counter opened;
    private final Counter.Family failures;
    private final Gauge open;
    private final Counter streams;
    private final Map<EventLoop, LoopPool> pools = new ConcurrentHashMap<>();
    private final AtomicBoolean draining = new AtomicBoolean();
    private final CompletableFuture<Integer> drained = new CompletableFuture<>();
    private final AtomicInteger forced = new AtomicInteger();
    private volatile boolean closed;

    private HbonePool(Builder b) {
        tls = b.tls;
        idleTimeout = b.idleTimeout;
        connectTimeout = b.connectTimeout;
        opened = b.metrics.counter(OPENED, "HBONE connections established by the outbound pool.").labels();
        failures = b.metrics.counter(FAILURES, "HBONE connections that failed before they were usable.", "reason");
        open = b.metrics.gauge(OPEN, "HBONE connections open in the outbound pool.").labels();
        streams = b.metrics.counter(STREAMS, "HBONE CONNECT streams opened by the outbound pool.").labels();
    }

    /** Starts a pool whose connections use {@code tls}. */
    public static Builder builder(TlsContexts tls) {
        return new Builder(tls);
    }

    /**
     * Where a pooled connection goes and as whom.
     *
     * @param podUid the source pod, whose network namespace the sockets are created in
     * @param source the identity presented
     * @param serial the presented certificate's serial: a renewal starts new connections
     * @param destination the identity the server must prove
     * @param address the server's HBONE address ({@code ip:15008})
     * @param destinationUid the destination workload's uid, or "" when not known
     */
    public record Key(String podUid, SpiffeId source, BigInteger serial, SpiffeId destination,
                      InetSocketAddress address, String destinationUid) {
        public Key {
            requireNonNull(podUid, "podUid");
            requireNonNull(source, "source");
            requireNonNull(serial, "serial");
            requireNonNull(destination, "destination");
            requireNonNull(address, "address");
            requireNonNull(destinationUid, "destinationUid");
        }
    }

    /**
     * Opens a tunnel: a {@code CONNECT} stream for {@code request} on a pooled connection from
     * {@code network}'s pod presenting {@code certificate} to the server at {@code address},
     * which must prove {@code destination}.
     *
     * <p>The future completes on {@code eventLoop} and the stream is registered on it, ready
     * for {@link dev.ambit.proxy.hbone.Relay#start}. It fails with the connection's cause
     * ({@link ConnectionFailedException}: connect, TLS handshake, identity mismatch,
     * negotiation) or the CONNECT's
     * ({@link dev.ambit.proxy.hbone.HboneConnectException}). Cancelling it closes the stream.
     *
     * @throws IllegalArgumentException if {@code eventLoop} is not of {@code network}'s transport
     */
    public Future<Http2StreamChannel> connect(SocketFactory network, WorkloadCertificate certificate,
                                              SpiffeId destination, InetSocketAddress address,
                                              HboneRequest request, EventLoop eventLoop) {
        return connect(network, certificate, destination, "", address, request, eventLoop);
    }

    /**
     * {@link #connect(SocketFactory, WorkloadCertificate, SpiffeId, InetSocketAddress, HboneRequest, EventLoop)}
     * to the workload {@code destinationUid} (part of the key; see {@link #retainDestinations}).
     */
    public Future<Http2StreamChannel> connect(SocketFactory network, WorkloadCertificate certificate,
                                              SpiffeId destination, String destinationUid,
                                              InetSocketAddress address, HboneRequest request, EventLoop eventLoop) {
        requireNonNull(network, "network");
        requireNonNull(destinationUid, "destinationUid");
        requireNonNull(certificate, "certificate");
        requireNonNull(request, "request");
        requireNonNull(eventLoop, "eventLoop");
        if (!network.transport().isCompatible(eventLoop)) {
            throw new IllegalArgumentException("eventLoop: " + eventLoop + " (expected: a loop of the "
                    + network.transport() + " transport, as the pod network's channels)");
        }
        Key key = new Key(network.owner(), certificate.identity(), certificate.serialNumber(), destination, address,
                destinationUid);
        Promise<Http2StreamChannel> promise = eventLoop.newPromise();
        if (closed) {
            return promise.setFailure(new IllegalStateException("HBONE pool closed"));
        }
        Waiter waiter = new Waiter(network, certificate, request, promise);
        if (eventLoop.inEventLoop()) {
            pool(eventLoop).acquire(key, waiter);
        } else {
            eventLoop.execute(() -> pool(eventLoop).acquire(key, waiter));
        }
        return promise;
    }

    /** Connections open now, over all event loops (for tests and debugging; not atomic). */
    public int connectionCount() {
        return (int) open.get();
    }

    /**
     * Connections to a workload for which {@code present} is false (its uid left the mesh's
     * view: the pod went away) take no new tunnel and close after their last one (at once
     * when idle), rather than lingering until the idle timeout, possibly dead. Connections
     * whose destination uid is not known are kept. Returns at once; cheap enough to call on
     * every xDS update ({@code present} is called on the event loops).
     */
    public void retainDestinations(Predicate<String> present) {
        requireNonNull(present, "present");
        pools.forEach((loop, p) -> loop.execute(() -> p.retainDestinations(present)));
    }

    /**
     * Drains the pool (SIGTERM): from now on {@link #connect} fails, as after {@link #close};
     * connections without tunnels close at once, connecting ones are closed (their waiting
     * requests fail), and those carrying tunnels take no new one and close after their last
     * tunnel ended. The future completes once every connection is closed; those still open at
     * {@code deadline} are reset, with their tunnels, and counted in the future's value.
     * Calling it again returns the same future (the first deadline holds). Never blocks;
     * completes on an event loop or timer thread. The event loops that asked for connections
     * must run until it completes.
     *
     * @throws IllegalArgumentException if {@code deadline} is negative
     */
    public CompletableFuture<Integer> drain(Duration deadline) {
        requireNonNull(deadline, "deadline");
        if (deadline.isNegative()) {
            throw new IllegalArgumentException("deadline: " + deadline + " (expected: >= 0)");
        }
        if (!draining.compareAndSet(false, true)) {
            return drained;
        }
        // Before the snapshot: a pool created later sees it in acquire, and never connects.
        closed = true;
        List<CompletableFuture<Void>> loops = new ArrayList<>();
        for (Map.Entry<EventLoop, LoopPool> e : pools.entrySet()) {
            LoopPool p = e.getValue();
            loops.add(p.drained);
            e.getKey().execute(p::drainAll);
        }
        CompletableFuture.allOf(loops.toArray(CompletableFuture[]::new))
                .whenComplete((v, t) -> drained.complete(forced.get()));
        if (!drained.isDone()) {
            CompletableFuture.delayedExecutor(deadline.toNanos(), TimeUnit.NANOSECONDS).execute(() -> {
                if (!drained.isDone()) {
                    pools.forEach((loop, p) -> loop.execute(p::forceAll));
                }
            });
        }
        return drained;
    }

    /**
     * The pod {@code podUid} (its {@link SocketFactory#owner()}) left: its pooled connections,
     * whose sockets live in its namespace, take no new tunnel and close after their last
     * one (at once when idle), instead of waiting for the idle timeout. Later connects for
     * the pod open new connections. Returns at once.
     */
    public void release(String podUid) {
        requireNonNull(podUid, "podUid");
        pools.forEach((loop, p) -> loop.execute(() -> p.release(podUid)));
    }

    /**
     * Closes every pooled connection (each sends GOAWAY and closes once its tunnels ended);
     * later {@link #connect} calls fail. See {@link #drain} for a bounded wait.
     */
    @Override
    public void close() {
        closed = true;
        for (Map.Entry<EventLoop, LoopPool> e : pools.entrySet()) {
            LoopPool p = e.getValue();
            e.getKey().execute(p::closeAll);
        }
    }

    private LoopPool pool(EventLoop loop) {
        return pools.computeIfAbsent(loop, LoopPool::new);
    }

    private record Waiter(SocketFactory network, WorkloadCertificate certificate, HboneRequest request,
                          Promise<Http2StreamChannel> promise) {}

    private enum State { CONNECTING, READY, DRAINING, CLOSED }

    /** The connections of one event loop; touched only from it. */
    private final class LoopPool {
        private final EventLoop loop;
        private final Map<Key, List<PooledConnection>> byKey = new HashMap<>();
        /** Every connection whose channel may still be open, also those draining after a GOAWAY. */
        private final Set<PooledConnection> live = new HashSet<>();
        /** Completed when drained and {@link #live} is empty. */
        private final CompletableFuture<Void> drained = new CompletableFuture<>();
        private boolean draining;

        LoopPool(EventLoop loop) {
            this.loop = loop;
        }

        void drainAll() {
            draining = true;
            for (PooledConnection c : new ArrayList<>(live)) {
                c.shutdown();
            }
            maybeDrained();
        }

        void maybeDrained() {
            if (draining && live.isEmpty()) {
                drained.complete(null);
            }
        }

        void release(String podUid) {
            for (PooledConnection c : new ArrayList<>(live)) {
                if (c.key.podUid().equals(podUid)) {
                    c.shutdown();
                }
            }
        }

        void forceAll() {
            for (PooledConnection c : new ArrayList<>(live)) {
                c.force();
            }
        }

        void acquire(Key key, Waiter waiter) {
            if (waiter.promise.isDone()) {
                return; // cancelled while queued
            }
            if (closed) {
                waiter.promise.tryFailure(new IllegalStateException("HBONE pool closed"));
                return;
            }
            List<PooledConnection> list = byKey.computeIfAbsent(key, k -> new ArrayList<>(2));
            for (PooledConnection c : list) {
                if (c.offer(waiter)) {
                    return;
                }
            }
            PooledConnection c = new PooledConnection(this, key);
            list.add(c);
            live.add(c);
            c.offer(waiter);
            c.start(waiter);
        }

        void remove(PooledConnection c) {
            List<PooledConnection> list = byKey.get(c.key);
            if (list != null && list.remove(c) && list.isEmpty()) {
                byKey.remove(c.key);
            }
        }

        void retainDestinations(Predicate<String> present) {
            for (PooledConnection c : new ArrayList<>(live)) {
                String uid = c.key.destinationUid();
                if (!uid.isEmpty() && !present.test(uid)) {
                    c.shutdown();
                }
            }
        }

        void closeAll() {
            for (List<PooledConnection> list : new ArrayList<>(byKey.values())) {
                for (PooledConnection c : new ArrayList<>(list)) {
                    c.close();
                }
            }
        }
    }

    /** One HTTP/2 connection and its streams. */
    private final class PooledConnection {
        private final LoopPool pool;
        private final Key key;
        private final ArrayDeque<Waiter> waiting = new ArrayDeque<>();
        private State state = State.CONNECTING;
        private Channel channel;
        private int maxStreams = Integer.MAX_VALUE;
        private int active;
        private boolean counted;
        private ScheduledFuture<?> idleTimer;

        PooledConnection(LoopPool pool, Key key) {
            this.pool = pool;
            this.key = key;
        }

        /** Takes {@code waiter} if this connection can: connecting, or ready with a free stream. */
        boolean offer(Waiter waiter) {
            if (state == State.CONNECTING) {
                waiting.add(waiter);
                return true;
            }
            if (state == State.READY && active < maxStreams) {
                openStream(waiter);
                return true;
            }
            return false;
        }

        void start(Waiter first) {
            SslContext ssl;
            try {
                ssl = tls.client(first.certificate, key.destination);
            } catch (Exception e) {
                failed("handshake", e);
                gone();
                return;
            }
            SocketChannel ch;
            try {
                ch = first.network.newChannel();
            } catch (RuntimeException e) {
                failed("connect", e);
                gone();
                return;
            }
            channel = ch;
            ch.config().setOption(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) connectTimeout.toMillis());
            ch.config().setOption(ChannelOption.TCP_NODELAY, true);
            SslHandler sslHandler = ssl.newHandler(ch.alloc());
            ch.pipeline().addLast("tls", sslHandler);
            ch.pipeline().addLast("hbone-setup", new Setup());
            pool.loop.register(ch).addListener((ChannelFuture r) -> {
                if (!r.isSuccess()) {
                    failed("connect", r.cause());
                    ch.unsafe().closeForcibly(); // not registered: there is no pipeline to close through
                    gone();
                    return;
                }
                ch.closeFuture().addListener(f -> closed());
                ch.connect(key.address).addListener((ChannelFuture c) -> {
                    if (!c.isSuccess()) {
                        failed("connect", c.cause());
                        ch.close();
                    }
                });
            });
        }

        /** After the handshake: the server's identity was verified, negotiation is checked here. */
        private final class Setup extends ChannelInboundHandlerAdapter {
            @Override
            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                if (evt instanceof SslHandshakeCompletionEvent done) {
                    if (!done.isSuccess()) {
                        failed("handshake", done.cause());
                        ctx.close();
                        return;
                    }
                    try {
                        TlsContexts.checkNegotiated(ctx.pipeline().get(SslHandler.class));
                    } catch (IOException e) {
                        failed("negotiation", e);
                        ctx.close();
                        return;
                    }
                    // Added synchronously: records decoded in the same read (the server's
                    // SETTINGS) reach the codec, not the pipeline's tail.
                    ctx.pipeline().addLast("hbone-client", HboneClient.newConnectionHandler());
                    ctx.pipeline().addLast("hbone-pool", new ConnectionEvents());
                    ctx.pipeline().remove(this);
                }
                ctx.fireUserEventTriggered(evt);
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                failed("handshake", cause);
                ctx.close();
            }
        }

        /** Connection-level frames the multiplexer passes on: SETTINGS and GOAWAY. */
        private final class ConnectionEvents extends ChannelInboundHandlerAdapter {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                try {
                    if (msg instanceof Http2SettingsFrame settings) {
                        Long max = settings.settings().maxConcurrentStreams();
                        maxStreams = max == null ? Integer.MAX_VALUE : (int) Math.min(max, Integer.MAX_VALUE);
                        if (state == State.CONNECTING) {
                            ready();
                        }
                    } else if (msg instanceof Http2GoAwayFrame) {
                        drain();
                    }
                } finally {
                    ReferenceCountUtil.release(msg);
                }
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                log.debug("HBONE connection {} to {} failed", ctx.channel(), key.address, cause);
                ctx.close();
            }
        }

        private void ready() {
            state = State.READY;
            counted = true;
            opened.inc();
            open.inc();
            // Those beyond the server's limit are placed again: another connection takes them.
            List<Waiter> overflow = new ArrayList<>();
            for (Waiter w; (w = waiting.poll()) != null; ) {
                if (active < maxStreams) {
                    openStream(w);
                } else {
                    overflow.add(w);
                }
            }
            for (Waiter w : overflow) {
                pool.acquire(key, w);
            }
            maybeIdle();
        }

        private void openStream(Waiter waiter) {
            if (waiter.promise.isDone()) {
                return;
            }
            active++;
            cancelIdle();
            streams.inc();
            Future<Http2StreamChannel> f = HboneClient.connect(channel, waiter.request);
            waiter.promise.addListener(p -> {
                if (p.isCancelled()) {
                    f.cancel(false);
                }
            });
            f.addListener((Future<Http2StreamChannel> r) -> {
                if (r.isSuccess()) {
                    Http2StreamChannel stream = r.getNow();
                    stream.closeFuture().addListener(c -> release());
                    if (!waiter.promise.trySuccess(stream)) {
                        stream.close();
                    }
                } else {
                    release();
                    waiter.promise.tryFailure(r.cause());
                }
            });
        }

        private void release() {
            active--;
            maybeIdle();
        }

        private void maybeIdle() {
            if (state == State.DRAINING && active == 0) {
                close(); // drained: nothing left to wait for
            } else if (state == State.READY && active == 0 && idleTimer == null) {
                idleTimer = pool.loop.schedule(() -> {
                    idleTimer = null;
                    if (active == 0 && state == State.READY) {
                        close();
                    }
                }, idleTimeout.toNanos(), TimeUnit.NANOSECONDS);
            }
        }

        private void cancelIdle() {
            if (idleTimer != null) {
                idleTimer.cancel(false);
                idleTimer = null;
            }
        }

        private void drain() {
            if (state == State.READY || state == State.CONNECTING) {
                state = State.DRAINING;
                pool.remove(this);
                cancelIdle();
                for (Waiter w; (w = waiting.poll()) != null; ) {
                    pool.acquire(key, w);
                }
                maybeIdle();
            }
        }

        void close() {
            if (channel != null) {
                channel.close();
            } else {
                closed();
            }
        }

        /** A failure before the connection became usable: counted, and its waiters fail. */
        private void failed(String reason, Throwable cause) {
            if (state != State.CONNECTING) {
                return;
            }
            failures.labels(reason).inc();
            state = State.CLOSED;
            pool.remove(this);
            Throwable root = cause;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause(); // "server identity mismatch: ..." rather than the engine's wrapper
            }
            IOException e = new ConnectionFailedException(reason, "HBONE connection to " + key.address
                    + " (expected server identity " + key.destination + ") failed: " + reason + ": " + root, cause);
            for (Waiter w; (w = waiting.poll()) != null; ) {
                w.promise.tryFailure(e);
            }
        }

        /** Its channel closed, whatever the state: the connection is gone. */
        private void closed() {
            try {
                if (state == State.CONNECTING) {
                    failed("closed", new ClosedChannelException());
                    return;
                }
                if (state == State.CLOSED) {
                    return;
                }
                state = State.CLOSED;
                cancelIdle();
                pool.remove(this);
                if (counted) {
                    open.dec();
                }
            } finally {
                gone();
            }
        }

        /** No channel is or will be open: off the pool's books (a drain waits for this). */
        private void gone() {
            if (pool.live.remove(this)) {
                pool.maybeDrained();
            }
        }

        /** The pool drains: no new stream here; closed now if it carries none, else after its last. */
        void shutdown() {
            switch (state) {
                case CONNECTING -> close(); // its waiters fail as it closes
                case READY -> drain(); // closes at once if it carries no stream
                case DRAINING, CLOSED -> { } // DRAINING closes after its last stream
            }
        }

        /** The drain's deadline: reset now, with its streams. */
        void force() {
            if (channel == null || !channel.isOpen()) {
                return;
            }
            forced.incrementAndGet();
            try {
                channel.config().setOption(ChannelOption.SO_LINGER, 0);
            } catch (RuntimeException ignored) {
                // already gone; the close is all that is left
            }
            // Not through the pipeline: the HTTP/2 codec would wait for the streams again.
            channel.unsafe().close(channel.unsafe().voidPromise());
        }
    }

    /**
     * The pooled connection a tunnel was waiting for could not be made usable: nothing was
     * sent to the server. {@link #reason()} is the {@value #FAILURES} label: {@code connect}
     * (refused, timed out, unreachable), {@code handshake} (TLS, including the server's
     * identity), {@code negotiation} (TLS parameters) or {@code closed} (closed before the
     * server's HTTP/2 SETTINGS).
     */
    public static final class ConnectionFailedException extends IOException {
        private final String reason;

        ConnectionFailedException(String reason, String message, Throwable cause) {
            super(message, cause);
            this.reason = requireNonNull(reason, "reason");
        }

        /** {@code connect}, {@code handshake}, {@code negotiation} or {@code closed}. */
        public String reason() {
            return reason;
        }
    }

    /** Configures an {@link HbonePool}. */
    public static final class Builder {
        private final TlsContexts tls;
        private MetricsRegistry metrics = MetricsRegistry.create();
        private Duration idleTimeout = Duration.ofMinutes(1);
        private Duration connectTimeout = Duration.ofSeconds(10);

        private Builder(TlsContexts tls) {
            this.tls = requireNonNull(tls, "tls");
        }

        /** Where the pool's metrics go; a private registry by default. */
        public Builder metrics(MetricsRegistry metrics) {
            this.metrics = requireNonNull(metrics, "metrics");
            return this;
        }

        /** How long a connection without streams stays open; 1 minute by default. */
        public Builder idleTimeout(Duration idleTimeout) {
            this.idleTimeout = positive(idleTimeout, "idleTimeout");
            return this;
        }

        /** TCP connect timeout; 10 seconds by default. */
        public Builder connectTimeout(Duration connectTimeout) {
            this.connectTimeout = positive(connectTimeout, "connectTimeout");
            return this;
        }

        public HbonePool build() {
            return new HbonePool(this);
        }

        private static Duration positive(Duration d, String name) {
            requireNonNull(d, name);
            if (d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(name + ": " + d + " (expected: > 0)");
            }
            return d;
        }
    }
}
