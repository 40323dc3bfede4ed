package dev.ambit.proxy.admin;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.IstioPorts;
import dev.ambit.common.http.HttpEndpoints;
import dev.ambit.common.http.HttpEndpoints.Response;
import dev.ambit.common.metrics.MetricsRegistry;
import java.net.InetSocketAddress;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A proxy's two scrape and probe ports, as ztunnel's (on all interfaces by default: the
 * kubelet and Prometheus reach them from outside the pod):
 *
 * <ul>
 *   <li>{@value #DEFAULT_STATS_PORT} {@code GET /metrics} and {@code GET /stats/prometheus}
 *       (Istio's path on this port): the registry in Prometheus text format.</li>
 *   <li>{@value #DEFAULT_READINESS_PORT} {@code GET /healthz/ready}: 200 {@code ready} when
 *       every {@link Readiness} condition holds, otherwise 503 naming each one that does
 *       not, one per line.</li>
 * </ul>
 *
 * <p>A process may serve more read-only JSON on the stats port ({@link Builder#get}): what
 * may be read from off the host, unlike the loopback-only {@link AdminServer} (the node
 * agent's {@code /mesh_view} for the mesh view in Kubernetes).
 *
 * <p>Separate ports so a slow or large scrape never delays a probe, and so each can be
 * exposed (or not) on its own.
 *
 * <pre>{@code
 * StatsServer stats = StatsServer.builder(registry, Readiness.builder().xdsSynced(xds).build())
 *         .start();
 * }</pre>
 */
public final class StatsServer implements AutoCloseable {

    public static final int DEFAULT_STATS_PORT = IstioPorts.MERGED_METRICS;
    public static final int DEFAULT_READINESS_PORT = IstioPorts.HEALTH;

    public static Builder builder(MetricsRegistry metrics, Readiness readiness) {
        return new Builder(metrics, readiness);
    }

    private final HttpEndpoints stats;
    private final HttpEndpoints ready;

    private StatsServer(Builder b) {
        MetricsRegistry metrics = b.metrics;
        Readiness readiness = b.readiness;
        HttpEndpoints.Builder routes = HttpEndpoints.builder("stats")
                .get("/metrics", req -> Response.prometheus(metrics.scrape()))
                // Istio's merged-metrics path on 15020, which its pod annotations name (issue 19's scraping).
                .get("/stats/prometheus", req -> Response.prometheus(metrics.scrape()));
        b.extra.forEach(routes::get);
        stats = routes.bind(b.statsAddress);
        try {
            ready = HttpEndpoints.builder("readiness")
                    .get("/healthz/ready", req -> {
                        List<String> waiting = readiness.notReadyWithReasons();
                        if (waiting.isEmpty()) {
                            return Response.text("ready\n");
                        }
                        return Response.status(503, "not ready:\n" + String.join("\n", waiting) + "\n");
                    })
                    .bind(b.readinessAddress);
        } catch (RuntimeException e) {
            // Do not leak the first port when the second cannot be bound.
            stats.close();
            throw e;
        }
    }

    /** Where {@code /metrics} is served (the bound port when configured with 0). */
    public InetSocketAddress statsAddress() {
        return stats.localAddress();
    }

    /** Where {@code /healthz/ready} is served (the bound port when configured with 0). */
    public InetSocketAddress readinessAddress() {
        return ready.localAddress();
    }

    @Override
    public void close() {
        try {
            ready.close();
        } finally {
            stats.close();
        }
    }

    /** Configures a {@link StatsServer}. */
    public static final class Builder {
        private final MetricsRegistry metrics;
        private final Readiness readiness;
        private InetSocketAddress statsAddress = new InetSocketAddress(DEFAULT_STATS_PORT);
        private InetSocketAddress readinessAddress = new InetSocketAddress(DEFAULT_READINESS_PORT);
        private final Map<String, HttpEndpoints.Handler> extra = new LinkedHashMap<>();

        private Builder(MetricsRegistry metrics, Readiness readiness) {
            this.metrics = requireNonNull(metrics, "metrics");
            this.readiness = requireNonNull(readiness, "readiness");
        }

        /** Where to serve {@code /metrics}; all interfaces, port {@value StatsServer#DEFAULT_STATS_PORT} by default. */
        public Builder statsAddress(InetSocketAddress address) {
            this.statsAddress = requireNonNull(address, "address");
            return this;
        }

        /**
         * Where to serve {@code /healthz/ready}; all interfaces, port
         * {@value StatsServer#DEFAULT_READINESS_PORT} by default.
         */
        public Builder readinessAddress(InetSocketAddress address) {
            this.readinessAddress = requireNonNull(address, "address");
            return this;
        }

        /**
         * Also serves {@code GET path} on the stats port. Only for what anyone who can reach the
         * port (Prometheus, any pod) may read: it is not loopback-only as the admin port is.
         *
         * @throws IllegalArgumentException if {@code path} is {@code /metrics}, {@code /stats/prometheus}
         *     or already added
         */
        public Builder get(String path, HttpEndpoints.Handler handler) {
            requireNonNull(path, "path");
            requireNonNull(handler, "handler");
            if (path.equals("/metrics") || path.equals("/stats/prometheus") || extra.containsKey(path)) {
                throw new IllegalArgumentException("path: " + path + " (already served on the stats port)");
            }
            extra.put(path, handler);
            return this;
        }

        /**
         * Binds both ports and starts serving.
         *
         * @throws IllegalStateException naming the address when either cannot be bound
         */
        public StatsServer start() {
            return new StatsServer(this);
        }
    }
}
