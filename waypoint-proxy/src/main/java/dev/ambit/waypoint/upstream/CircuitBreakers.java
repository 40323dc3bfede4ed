package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.json.JsonWriter;
import dev.ambit.waypoint.ResponseFlag;
import java.net.InetSocketAddress;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One cluster's circuit breakers (Envoy's resource manager of priority DEFAULT): counts of
 * its connections (connecting or open, over all endpoints), pending requests (waiting for a
 * connection), requests in flight and retries in flight, each against its
 * {@link Resilience.Thresholds} limit. A caller that finds a resource at its limit does not
 * wait: the request is refused at once ({@link #overflow}: {@link ResponseFlag#UO}, 503
 * {@code upstream connect error or disconnect/reset before headers. reset reason: overflow})
 * and the refusal is counted by limit. Limits follow configuration updates; counts carry over.
 * Thread-safe, lock-free.
 */
final class CircuitBreakers {

    /** The four resources, by Envoy's threshold field name. */
    enum Resource {
        CONNECTIONS("max_connections"),
        PENDING_REQUESTS("max_pending_requests"),
        REQUESTS("max_requests"),
        RETRIES("max_retries");

        final String field;

        Resource(String field) {
            this.field = field;
        }
    }

    private final String cluster;
    private final UpstreamMetrics metrics;
    private final AtomicLong[] counts = {new AtomicLong(), new AtomicLong(), new AtomicLong(), new AtomicLong()};
    private volatile Resilience.Thresholds limits;

    CircuitBreakers(String cluster, Resilience.Thresholds limits, UpstreamMetrics metrics) {
        this.cluster = requireNonNull(cluster, "cluster");
        this.limits = requireNonNull(limits, "limits");
        this.metrics = requireNonNull(metrics, "metrics");
        metrics.trackRemaining(this);
    }

    String cluster() {
        return cluster;
    }

    /** The thresholds of the cluster's current configuration. */
    void limits(Resilience.Thresholds limits) {
        this.limits = requireNonNull(limits, "limits");
    }

    Resilience.Thresholds limits() {
        return limits;
    }

    long limit(Resource r) {
        Resilience.Thresholds t = limits;
        return switch (r) {
            case CONNECTIONS -> t.maxConnections();
            case PENDING_REQUESTS -> t.maxPendingRequests();
            case REQUESTS -> t.maxRequests();
            case RETRIES -> t.maxRetries();
        };
    }

    /** In use now. */
    long count(Resource r) {
        return counts[r.ordinal()].get();
    }

    /** Room left under the limit (Envoy's {@code remaining_*} with track_remaining). */
    long remaining(Resource r) {
        return Math.max(0, limit(r) - count(r));
    }

    /**
     * Takes one unit of {@code r} if that stays within its limit; otherwise counts the
     * overflow ({@code ambit_waypoint_upstream_overflow_total{limit}}) and returns false.
     */
    boolean tryAcquire(Resource r) {
        AtomicLong n = counts[r.ordinal()];
        long max = limit(r);
        for (long c = n.get(); ; c = n.get()) {
            if (c >= max) {
                metrics.overflow(cluster, r.field);
                return false;
            }
            if (n.compareAndSet(c, c + 1)) {
                return true;
            }
        }
    }

    /**
     * Takes one unit of {@code r} even over its limit (Envoy opens a connection to an endpoint
     * whose pool has none even at {@code max_connections}, counting the overflow, so pending
     * requests there are never stranded).
     */
    void acquireOver(Resource r) {
        if (counts[r.ordinal()].incrementAndGet() > limit(r)) {
            metrics.overflow(cluster, r.field);
        }
    }

    /** Gives back one unit taken by {@link #tryAcquire} or {@link #acquireOver}. */
    void release(Resource r) {
        counts[r.ordinal()].decrementAndGet();
    }

    /** The refusal of a request over {@code r}'s limit, in Envoy's words. */
    UpstreamException overflow(Resource r, InetSocketAddress endpoint) {
        return new UpstreamException(ResponseFlag.UO, endpoint, Failures.BEFORE_HEADERS + "reset reason: overflow"
                + " (cluster " + cluster + ": " + r.field + " " + limit(r) + " reached)", false, null);
    }

    void dump(JsonWriter json) {
        json.open('{');
        for (Resource r : Resource.values()) {
            json.key(r.field).open('{').key("limit").value(limit(r)).key("in_use").value(count(r))
                    .key("remaining").value(remaining(r)).close('}');
        }
        json.close('}');
    }
}
