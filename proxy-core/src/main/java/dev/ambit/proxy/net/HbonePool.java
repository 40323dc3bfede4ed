package dev.ambit.proxy.net;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.Checks;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.hbone.HboneRequest;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.identity.WorkloadCertificate;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.io.IOException;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Predicate;

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
 * <p><b>Event loops.</b> {@link Relay} needs the captured TCP
 * connection and the stream on one event loop, so there is one pool per event loop (as in
 * Armeria): a connection is registered on, and only touched from, the loop that asked for
 * it, and its state needs no locks ({@link LoopPool}, holding {@link PooledConnection}s). With N
 * loops a destination may have up to N connections.
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
    public static final int DEFAULT_PORT = IstioPorts.HBONE;

    public static final String OPENED = "ambit_hbone_pool_connections_opened_total";
    public static final String FAILURES = "ambit_hbone_pool_connection_failures_total";
    public static final String OPEN = "ambit_hbone_pool_connections";
    public static final String STREAMS = "ambit_hbone_pool_streams_total";

    private final PoolContext context;
    private final Map<EventLoop, LoopPool> pools = new ConcurrentHashMap<>();
    private final AtomicBoolean draining = new AtomicBoolean();
    private final CompletableFuture<Integer> drained = new CompletableFuture<>();

    private HbonePool(Builder b) {
        context = new PoolContext(b.tls, b.idleTimeout, b.connectTimeout, b.metrics, PooledConnection::connect);
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
     * for {@link Relay#start}. It fails with the connection's cause
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
        if (context.closed) {
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
        return (int) context.open.get();
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
        Checks.notNegative(deadline, "deadline");
        if (!draining.compareAndSet(false, true)) {
            return drained;
        }
        // Before the snapshot: a pool created later sees it in acquire, and never connects.
        context.closed = true;
        List<CompletableFuture<Void>> loops = new ArrayList<>();
        for (Map.Entry<EventLoop, LoopPool> e : pools.entrySet()) {
            LoopPool p = e.getValue();
            loops.add(p.drained());
            e.getKey().execute(p::drainAll);
        }
        CompletableFuture.allOf(loops.toArray(CompletableFuture[]::new))
                .whenComplete((v, t) -> drained.complete(context.forced.get()));
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
        context.closed = true;
        for (Map.Entry<EventLoop, LoopPool> e : pools.entrySet()) {
            LoopPool p = e.getValue();
            e.getKey().execute(p::closeAll);
        }
    }

    private LoopPool pool(EventLoop loop) {
        return pools.computeIfAbsent(loop, l -> new LoopPool(context, l));
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
            Checks.positive(d, name);
            return d;
        }
    }
}
