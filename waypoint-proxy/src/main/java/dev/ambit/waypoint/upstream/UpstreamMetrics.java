package dev.ambit.waypoint.upstream;

import dev.ambit.common.metrics.Counter;
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
 *       carried one (an idle HTTP/1.1 connection, or an open HTTP/2 connection).</li>
 * </ul>
 */
final class UpstreamMetrics {

    static final String REQUESTS = "ambit_waypoint_upstream_requests_total";
    static final String TUNNELS = "ambit_waypoint_upstream_tunnels_total";
    static final String CONNECTIONS = "ambit_waypoint_upstream_connections_opened_total";
    static final String REUSED = "ambit_waypoint_upstream_requests_reused_connection_total";

    private final Counter.Family requests;
    private final Counter.Family tunnels;
    private final Counter.Family connections;
    private final Counter.Family reused;

    UpstreamMetrics(MetricsRegistry registry) {
        requests = registry.counter(REQUESTS, "Upstream request attempts of the waypoint by cluster and response flag.",
                "cluster", "response_flags");
        tunnels = registry.counter(TUNNELS, "Upstream byte tunnels of the waypoint by cluster and response flag.",
                "cluster", "response_flags");
        connections = registry.counter(CONNECTIONS, "Upstream connections opened by the waypoint.",
                "cluster", "protocol", "tunnel");
        reused = registry.counter(REUSED, "Upstream requests sent on an already open connection.", "cluster");
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
