package dev.ambit.proxy.net;

import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.Gauge;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.identity.TlsContexts;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What the {@link LoopPool}s and {@link PooledConnection}s of one {@link HbonePool} share: its
 * settings, its metrics, whether it is closed, and how a new connection is dialled. Set up once;
 * {@link #closed} and {@link #forced} are the only mutable parts, and are thread-safe.
 */
final class PoolContext {

    /** Opens the channel of a new connection: {@link PooledConnection#connect} but in tests. */
    @FunctionalInterface
    interface Dialer {
        void dial(PooledConnection connection, Waiter first);
    }

    final TlsContexts tls;
    final Duration idleTimeout;
    final Duration connectTimeout;
    final Dialer dialer;
    final Counter opened;
    final Counter.Family failures;
    final Gauge open;
    final Counter streams;
    /** Connections reset at a drain's deadline. */
    final AtomicInteger forced = new AtomicInteger();
    /** Set by {@link HbonePool#close} and {@link HbonePool#drain}: no new tunnel from then on. */
    volatile boolean closed;

    PoolContext(TlsContexts tls, Duration idleTimeout, Duration connectTimeout, MetricsRegistry metrics,
                Dialer dialer) {
        this.tls = tls;
        this.idleTimeout = idleTimeout;
        this.connectTimeout = connectTimeout;
        this.dialer = dialer;
        opened = metrics.counter(HbonePool.OPENED, "HBONE connections established by the outbound pool.").labels();
        failures = metrics.counter(HbonePool.FAILURES, "HBONE connections that failed before they were usable.",
                "reason");
        open = metrics.gauge(HbonePool.OPEN, "HBONE connections open in the outbound pool.").labels();
        streams = metrics.counter(HbonePool.STREAMS, "HBONE CONNECT streams opened by the outbound pool.").labels();
    }
}
