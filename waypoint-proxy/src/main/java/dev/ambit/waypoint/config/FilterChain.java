package dev.ambit.waypoint.config;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.telemetry.StatsConfig;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;

/**
 * One compiled filter chain of the waypoint's Listener: what to do with a tunnel whose
 * {@code :authority} matched it.
 *
 * @param name the Envoy filter chain name, e.g. {@code inbound-vip|80|http|reviews.default.svc.cluster.local}
 * @param kind HTTP (an HttpConnectionManager) or TCP (a TcpProxy)
 * @param routeName the RDS route configuration name (HTTP only, else empty)
 * @param codec the downstream codec the HttpConnectionManager asks for (HTTP only)
 * @param cluster the TcpProxy's cluster (TCP only, else empty)
 * @param statPrefix the filter's stat_prefix
 * @param hcm the chain's HttpConnectionManager as sent (its {@code http_filters} in order, their
 *        typed configs, limits and path normalization), for the HTTP filters that read their
 *        per-chain config from it; the default instance for a TCP chain
 * @param tcpStats a TCP chain's {@code istio.stats} network filter (issue 19: the Telemetry API's
 *        metric overrides of its TCP metrics); the default instance when it has none, and for HTTP
 *        chains (whose stats filter is among the HCM's HTTP filters)
 */
public record FilterChain(String name, Kind kind, String routeName, Codec codec, String cluster, String statPrefix,
                          HttpConnectionManager hcm, StatsConfig tcpStats) {

    public enum Kind { HTTP, TCP }

    /** Envoy's {@code codec_type}: AUTO detects HTTP/2's preface, else HTTP/1.1. */
    public enum Codec { AUTO, HTTP1, HTTP2 }

    public FilterChain {
        requireNonNull(name, "name");
        requireNonNull(kind, "kind");
        requireNonNull(routeName, "routeName");
        requireNonNull(codec, "codec");
        requireNonNull(cluster, "cluster");
        requireNonNull(statPrefix, "statPrefix");
        requireNonNull(hcm, "hcm");
        requireNonNull(tcpStats, "tcpStats");
    }

    /** A chain without TCP stats overrides. */
    public FilterChain(String name, Kind kind, String routeName, Codec codec, String cluster, String statPrefix,
                       HttpConnectionManager hcm) {
        this(name, kind, routeName, codec, cluster, statPrefix, hcm, StatsConfig.getDefaultInstance());
    }

    /** A chain without HttpConnectionManager settings (TCP chains, tests). */
    public FilterChain(String name, Kind kind, String routeName, Codec codec, String cluster, String statPrefix) {
        this(name, kind, routeName, codec, cluster, statPrefix, HttpConnectionManager.getDefaultInstance());
    }
}
