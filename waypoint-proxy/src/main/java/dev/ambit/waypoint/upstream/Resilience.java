package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.cluster.v3.CircuitBreakers;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.RoutingPriority;
import io.envoyproxy.envoy.config.core.v3.TcpKeepalive;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import java.time.Duration;

/**
 * What keeps a cluster's endpoints from being overrun and routes around bad ones, read from
 * an Envoy {@link Cluster} ({@link ClusterInfo#resilience()}): its circuit-breaker
 * thresholds, the connection settings of its pools and its outlier detection.
 *
 * @param thresholds {@code circuit_breakers.thresholds} of priority DEFAULT (Envoy's defaults
 *        1024 connections, 1024 pending requests, 1024 requests, 3 retries when absent)
 * @param maxRequestsPerConnection {@code common_http_protocol_options.max_requests_per_connection}
 *        of the HttpProtocolOptions; 0: no limit
 * @param idleTimeout {@code common_http_protocol_options.idle_timeout}; null: the cluster
 *        manager's default; zero: none (Envoy's "disabled")
 * @param keepalive {@code upstream_connection_options.tcp_keepalive}; null: no SO_KEEPALIVE
 * @param outlier {@code outlier_detection}; null: none
 */
public record Resilience(Thresholds thresholds, int maxRequestsPerConnection, Duration idleTimeout,
                         Keepalive keepalive, Outlier outlier) {

    /** No circuit breakers configured: Envoy's defaults, no outlier detection. */
    public static final Resilience DEFAULT = new Resilience(Thresholds.ENVOY_DEFAULT, 0, null, null, null);

    public Resilience {
        requireNonNull(thresholds, "thresholds");
    }

    /**
     * Envoy's per-priority circuit-breaker limits, unsigned 32-bit values as longs.
     *
     * @param maxConnections connections (connecting or open) to all endpoints of the cluster
     * @param maxPendingRequests requests waiting for a connection
     * @param maxRequests requests in flight
     * @param maxRetries retries in flight
     * @param trackRemaining whether the remaining room of each is published (gauges)
     */
    public record Thresholds(long maxConnections, long maxPendingRequests, long maxRequests, long maxRetries,
                             boolean trackRemaining) {
        /** Envoy's defaults when a cluster sets no thresholds. */
        public static final Thresholds ENVOY_DEFAULT = new Thresholds(1024, 1024, 1024, 3, false);
    }

    /**
     * TCP keepalive of upstream sockets; a null field keeps the kernel's value.
     *
     * @param probes {@code keepalive_probes}
     * @param timeSeconds {@code keepalive_time}
     * @param intervalSeconds {@code keepalive_interval}
     */
    public record Keepalive(Integer probes, Integer timeSeconds, Integer intervalSeconds) {}

    /**
     * Envoy's consecutive-failure outlier detection, with Envoy's defaults for unset fields.
     *
     * @param consecutive5xx {@code consecutive_5xx} (5)
     * @param enforcing5xx {@code enforcing_consecutive_5xx} in percent (100)
     * @param consecutiveGatewayFailure {@code consecutive_gateway_failure} (5)
     * @param enforcingGatewayFailure {@code enforcing_consecutive_gateway_failure} (0)
     * @param splitExternalLocalOriginErrors {@code split_external_local_origin_errors} (false)
     * @param consecutiveLocalOriginFailure {@code consecutive_local_origin_failure} (5)
     * @param enforcingLocalOriginFailure {@code enforcing_consecutive_local_origin_failure} (100)
     * @param interval {@code interval} (10 s): the un-ejection sweep
     * @param baseEjectionTime {@code base_ejection_time} (30 s)
     * @param maxEjectionTime {@code max_ejection_time} (300 s)
     * @param maxEjectionPercent {@code max_ejection_percent} (10)
     * @param alwaysEjectOneHost {@code always_eject_one_host} (false)
     */
    public record Outlier(int consecutive5xx, int enforcing5xx, int consecutiveGatewayFailure,
                          int enforcingGatewayFailure, boolean splitExternalLocalOriginErrors,
                          int consecutiveLocalOriginFailure, int enforcingLocalOriginFailure, Duration interval,
                          Duration baseEjectionTime, Duration maxEjectionTime, int maxEjectionPercent,
                          boolean alwaysEjectOneHost) {

        static Outlier of(io.envoyproxy.envoy.config.cluster.v3.OutlierDetection o) {
            return new Outlier(
                    uint(o.hasConsecutive5Xx(), o.getConsecutive5Xx(), 5),
                    percent(o.hasEnforcingConsecutive5Xx(), o.getEnforcingConsecutive5Xx(), 100),
                    uint(o.hasConsecutiveGatewayFailure(), o.getConsecutiveGatewayFailure(), 5),
                    percent(o.hasEnforcingConsecutiveGatewayFailure(), o.getEnforcingConsecutiveGatewayFailure(), 0),
                    o.getSplitExternalLocalOriginErrors(),
                    uint(o.hasConsecutiveLocalOriginFailure(), o.getConsecutiveLocalOriginFailure(), 5),
                    percent(o.hasEnforcingConsecutiveLocalOriginFailure(),
                            o.getEnforcingConsecutiveLocalOriginFailure(), 100),
                    duration(o.hasInterval(), o.getInterval(), Duration.ofSeconds(10)),
                    duration(o.hasBaseEjectionTime(), o.getBaseEjectionTime(), Duration.ofSeconds(30)),
                    duration(o.hasMaxEjectionTime(), o.getMaxEjectionTime(), Duration.ofSeconds(300)),
                    percent(o.hasMaxEjectionPercent(), o.getMaxEjectionPercent(), 10),
                    o.hasAlwaysEjectOneHost() && o.getAlwaysEjectOneHost().getValue());
        }
    }

    /** Reads {@code cluster}'s settings; absent ones take Envoy's defaults. */
    static Resilience of(Cluster cluster) {
        Thresholds t = Thresholds.ENVOY_DEFAULT;
        if (cluster.hasCircuitBreakers()) {
            for (CircuitBreakers.Thresholds th : cluster.getCircuitBreakers().getThresholdsList()) {
                if (th.getPriority() == RoutingPriority.DEFAULT) {
                    t = new Thresholds(
                            th.hasMaxConnections() ? unsigned(th.getMaxConnections()) : 1024,
                            th.hasMaxPendingRequests() ? unsigned(th.getMaxPendingRequests()) : 1024,
                            th.hasMaxRequests() ? unsigned(th.getMaxRequests()) : 1024,
                            th.hasMaxRetries() ? unsigned(th.getMaxRetries()) : 3,
                            th.getTrackRemaining());
                    break;
                }
            }
        }
        int perConnection = 0;
        Duration idle = null;
        Any any = cluster.getTypedExtensionProtocolOptionsMap().get(ClusterInfo.HTTP_PROTOCOL_OPTIONS);
        if (any != null && any.is(HttpProtocolOptions.class)) {
            try {
                HttpProtocolOptions options = any.unpack(HttpProtocolOptions.class);
                if (options.hasCommonHttpProtocolOptions()) {
                    var common = options.getCommonHttpProtocolOptions();
                    if (common.hasMaxRequestsPerConnection()) {
                        perConnection = (int) Math.min(Integer.MAX_VALUE, unsigned(common.getMaxRequestsPerConnection()));
                    }
                    if (common.hasIdleTimeout()) {
                        idle = Duration.ofSeconds(common.getIdleTimeout().getSeconds(), common.getIdleTimeout().getNanos());
                    }
                }
            } catch (InvalidProtocolBufferException e) {
                // the config helper validated it; unreadable options count as absent
            }
        }
        Keepalive keepalive = null;
        if (cluster.hasUpstreamConnectionOptions() && cluster.getUpstreamConnectionOptions().hasTcpKeepalive()) {
            TcpKeepalive k = cluster.getUpstreamConnectionOptions().getTcpKeepalive();
            keepalive = new Keepalive(positive(k.hasKeepaliveProbes(), k.getKeepaliveProbes()),
                    positive(k.hasKeepaliveTime(), k.getKeepaliveTime()),
                    positive(k.hasKeepaliveInterval(), k.getKeepaliveInterval()));
        }
        Outlier outlier = cluster.hasOutlierDetection() ? Outlier.of(cluster.getOutlierDetection()) : null;
        return new Resilience(t, perConnection, idle, keepalive, outlier);
    }

    private static long unsigned(UInt32Value v) {
        return Integer.toUnsignedLong(v.getValue());
    }

    private static Integer positive(boolean has, UInt32Value v) {
        return has && v.getValue() > 0 ? v.getValue() : null;
    }

    private static int uint(boolean has, UInt32Value v, int otherwise) {
        return has ? (int) Math.min(Integer.MAX_VALUE, unsigned(v)) : otherwise;
    }

    private static int percent(boolean has, UInt32Value v, int otherwise) {
        return has ? (int) Math.min(100, unsigned(v)) : otherwise;
    }

    private static Duration duration(boolean has, com.google.protobuf.Duration d, Duration otherwise) {
        if (!has) {
            return otherwise;
        }
        Duration v = Duration.ofSeconds(d.getSeconds(), d.getNanos());
        return v.isNegative() || v.isZero() ? otherwise : v;
    }
}
