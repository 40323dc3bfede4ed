package dev.ambit.waypoint.upstream;

import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.Gauge;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.waypoint.ResponseFlag;
import java.net.InetSocketAddress;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;

/**
 * The cluster manager's metrics, Envoy's upstream stats under Ambit names:
 * <ul>
 *   <li>{@value #REQUESTS}{@code {cluster, response_flags}}: request attempts by outcome
 *       ({@code -} when a response came back, whatever its status);</li>
 *   <li>{@value #TUNNELS}{@code {cluster, response_flags}}: byte tunnels opened or failed;</li>
 *   <li>{@value #CONNECTIONS}{@code {cluster, protocol, tunnel}}: upstream connections
 *       opened ({@code http1}, {@code http2}, {@code tcp}; {@code hbone} or {@code none});</li>
 *   <li>{@value #REUSED}{@code {cluster}}: requests sent on a connection that already
 *       carried one (an idle HTTP/1.1 connection, or an open HTTP/2 connection);</li>
 *   <li>{@value #OVERFLOW}{@code {cluster, limit}}: circuit-breaker overflows by threshold
 *       ({@code max_connections}: a connection not opened, or opened anyway for an endpoint
 *       without one; {@code max_pending_requests}, {@code max_requests}: a request refused
 *       with UO; {@code max_retries}: a retry not made), Envoy's {@code upstream_cx_overflow},
 *       {@code upstream_rq_pending_overflow}, {@code upstream_rq_overflow}, {@code upstream_rq_retry_overflow};</li>
 *   <li>{@value #REMAINING}{@code {cluster, resource}}: room left under each threshold of a
 *       cluster whose thresholds say {@code track_remaining} (Envoy's {@code remaining_*});</li>
 *   <li>{@value #EJECTIONS_ACTIVE}{@code {cluster}}: endpoints ejected by outlier detection now;</li>
 *   <li>{@value #EJECTIONS}{@code {cluster, type}}: ejections by detector
 *       ({@code consecutive_5xx}, {@code consecutive_gateway_failure},
 *       {@code consecutive_local_origin_failure}), Envoy's {@code ejections_enforced_*};</li>
 *   <li>{@value #EJECTIONS_OVERFLOW}{@code {cluster}}: ejections not made because of
 *       {@code max_ejection_percent} (Envoy's {@code ejections_overflow}).</li>
 * </ul>
 */
final class UpstreamMetrics {

    static final String REQUESTS = "ambit_waypoint_upstream_requests_total";
    static final String TUNNELS = "ambit_waypoint_upstream_tunnels_total";
    static final String CONNECTIONS = "ambit_waypoint_upstream_connections_opened_total";
    static final String REUSED = "ambit_waypoint_upstream_requests_reused_connection_total";
    static final String OVERFLOW = "ambit_waypoint_upstream_overflow_total";
    static final String REMAINING = "ambit_waypoint_upstream_circuit_breaker_remaining";
    static final String EJECTIONS_ACTIVE = "ambit_waypoint_outlier_ejections_active";
    static final String EJECTIONS = "ambit_waypoint_outlier_ejections_total";
    static final String EJECTIONS_OVERFLOW = "ambit_waypoint_outlier_ejections_overflow_total";

    private final Counter.Family requests;
    private final Counter.Family tunnels;
    private final Counter.Family connections;
    private final Counter.Family reused;
    private final Counter.Family overflow;
    private final Gauge.Family remaining;
    private final Gauge.Family ejectionsActive;
    private final Counter.Family ejections;
    private final Counter.Family ejectionsOverflow;

    UpstreamMetrics(MetricsRegistry registry) {
        requests = registry.counter(REQUESTS, "Upstream request attempts of the waypoint by cluster and response flag.",
                "cluster", "response_flags");
        tunnels = registry.counter(TUNNELS, "Upstream byte tunnels of the waypoint by cluster and response flag.",
                "cluster", "response_flags");
        connections = registry.counter(CONNECTIONS, "Upstream connections opened by the waypoint.",
                "cluster", "protocol", "tunnel");
        reused = registry.counter(REUSED, "Upstream requests sent on an already open connection.", "cluster");
        overflow = registry.counter(OVERFLOW, "Circuit-breaker overflows of the waypoint's clusters by threshold.",
                "cluster", "limit");
        remaining = registry.gauge(REMAINING, "Room left under each circuit-breaker threshold (track_remaining).",
                "cluster", "resource");
        ejectionsActive = registry.gauge(EJECTIONS_ACTIVE, "Endpoints ejected by outlier detection now.", "cluster");
        ejections = registry.counter(EJECTIONS, "Outlier-detection ejections by detector.", "cluster", "type");
        ejectionsOverflow = registry.counter(EJECTIONS_OVERFLOW,
                "Ejections not made because max_ejection_percent was reached.", "cluster");
    }

    void overflow(String cluster, String limit) {
        overflow.labels(cluster, limit).inc();
    }

    /** Publishes the room left under each of {@code breakers}' thresholds when they ask for it. */
    void trackRemaining(CircuitBreakers breakers) {
        for (CircuitBreakers.Resource r : CircuitBreakers.Resource.values()) {
            remaining.labels(breakers.cluster(), r.field).bind(() -> breakers.limits().trackRemaining()
                    ? breakers.remaining(r) : 0);
        }
    }

    /** A cluster gone from the configuration: its gauges go too. */
    void forget(String cluster) {
        for (CircuitBreakers.Resource r : CircuitBreakers.Resource.values()) {
            remaining.remove(cluster, r.field);
        }
        ejectionsActive.remove(cluster);
    }

    void ejectionsActive(String cluster, int n) {
        ejectionsActive.labels(cluster).set(n);
    }

    void ejected(String cluster, String type) {
        ejections.labels(cluster, type).inc();
    }

    void ejectionOverflow(String cluster) {
        ejectionsOverflow.labels(cluster).inc();
    }

    void request(String cluster, ResponseFlag flag) {
        requests.labels(cluster, flag == null ? "-" : flag.code()).inc();
    }

    void tunnel(String cluster, ResponseFlag flag) {
        tunnels.labels(cluster, flag == null ? "-" : flag.code()).inc();
    }

    void connectionOpened(String cluster, String protocol, boolean hbone) {
        connections.labels(cluster, protocol, hbone ? "hbone" : "none").inc();
    }

    void reused(String cluster) {
        reused.labels(cluster).inc();
    }

    /** {@code error} as an {@link UpstreamException} (unwrapped; anything else is a connect failure). */
    static UpstreamException asUpstream(InetSocketAddress endpoint, Throwable error) {
        Throwable e = error;
        while ((e instanceof CompletionException) && e.getCause() != null) {
            e = e.getCause();
        }
        if (e instanceof UpstreamException u) {
            return u;
        }
        if (e instanceof CancellationException) {
            return Failures.closed(endpoint, "cancelled", e);
        }
        return Failures.connect(endpoint, e);
    }
}
