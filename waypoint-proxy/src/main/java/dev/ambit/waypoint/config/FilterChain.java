package dev.ambit.waypoint.config;

import static java.util.Objects.requireNonNull;

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
 */
public record FilterChain(String name, Kind kind, String routeName, Codec codec, String cluster, String statPrefix) {

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
    }
}
