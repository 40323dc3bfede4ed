package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import java.time.Duration;

/**
 * What the cluster manager reads of one Envoy {@link Cluster}, parsed once per configuration
 * version: the upstream HTTP protocol, the load-balancing policy, the connect timeout, the
 * healthy panic threshold and whether it is an {@code ORIGINAL_DST} cluster.
 *
 * @param name the cluster name
 * @param protocol which HTTP protocol requests use upstream
 * @param lbPolicy ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH or MAGLEV (anything else is treated
 *        as ROUND_ROBIN; the config helper NACKs policies the waypoint does not implement)
 * @param connectTimeout Envoy's {@code connect_timeout} (5 s when unset, Envoy's default)
 * @param panicThreshold {@code common_lb_config.healthy_panic_threshold} in percent (50 when unset)
 * @param originalDestination true for {@code type: ORIGINAL_DST} ({@code inbound-passthrough})
 * @param lb the load-balancing settings ({@code lb.policy() == lbPolicy})
 * @param resilience circuit breakers, pool settings and outlier detection ({@link Resilience})
 */
public record ClusterInfo(String name, Protocol protocol, Cluster.LbPolicy lbPolicy, Duration connectTimeout,
                          double panicThreshold, boolean originalDestination, LbSettings lb, Resilience resilience) {

    /** The typed_extension_protocol_options key of the HTTP upstream options. */
    public static final String HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

    /** Envoy's default {@code connect_timeout}. */
    static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(5);

    /** Envoy's default healthy panic threshold, in percent. */
    static final double DEFAULT_PANIC_THRESHOLD = 50.0;

    /** Upstream HTTP protocol of a cluster. */
    public enum Protocol {
        /** HTTP/1.1 (no protocol options: Envoy's default). */
        HTTP1,
        /** {@code explicit_http_config.http2_protocol_options}: h2c with prior knowledge. */
        HTTP2,
        /** {@code use_downstream_protocol_config}: HTTP/2 when the downstream request was, else HTTP/1.1. */
        DOWNSTREAM
    }

    public ClusterInfo {
        requireNonNull(name, "name");
        requireNonNull(protocol, "protocol");
        requireNonNull(lbPolicy, "lbPolicy");
        requireNonNull(connectTimeout, "connectTimeout");
        requireNonNull(lb, "lb");
        if (lb.policy() != lbPolicy) {
            throw new IllegalArgumentException("lb: " + lb.policy() + " (expected: the cluster's " + lbPolicy + ")");
        }
        requireNonNull(resilience, "resilience");
    }

    /** A cluster with Envoy's default settings of {@code lbPolicy}, default circuit breakers and no outlier detection. */
    public ClusterInfo(String name, Protocol protocol, Cluster.LbPolicy lbPolicy, Duration connectTimeout,
                       double panicThreshold, boolean originalDestination) {
        this(name, protocol, lbPolicy, connectTimeout, panicThreshold, originalDestination,
                LbSettings.defaults(lbPolicy), Resilience.DEFAULT);
    }

    /** A cluster with {@code lb}, default circuit breakers and no outlier detection. */
    public ClusterInfo(String name, Protocol protocol, Cluster.LbPolicy lbPolicy, Duration connectTimeout,
                       double panicThreshold, boolean originalDestination, LbSettings lb) {
        this(name, protocol, lbPolicy, connectTimeout, panicThreshold, originalDestination, lb, Resilience.DEFAULT);
    }

    /** A cluster with Envoy's default settings of {@code lbPolicy} and {@code resilience}. */
    public ClusterInfo(String name, Protocol protocol, Cluster.LbPolicy lbPolicy, Duration connectTimeout,
                       double panicThreshold, boolean originalDestination, Resilience resilience) {
        this(name, protocol, lbPolicy, connectTimeout, panicThreshold, originalDestination,
                LbSettings.defaults(lbPolicy), resilience);
    }

    /** Reads {@code cluster}; options it cannot unpack count as absent (the config helper validated them). */
    public static ClusterInfo of(Cluster cluster) {
        requireNonNull(cluster, "cluster");
        Protocol protocol = Protocol.HTTP1;
        Any any = cluster.getTypedExtensionProtocolOptionsMap().get(HTTP_PROTOCOL_OPTIONS);
        if (any != null && any.is(HttpProtocolOptions.class)) {
            try {
                HttpProtocolOptions options = any.unpack(HttpProtocolOptions.class);
                if (options.hasExplicitHttpConfig() && options.getExplicitHttpConfig().hasHttp2ProtocolOptions()) {
                    protocol = Protocol.HTTP2;
                } else if (options.hasUseDownstreamProtocolConfig()) {
                    protocol = options.getUseDownstreamProtocolConfig().hasHttp2ProtocolOptions()
                            ? Protocol.DOWNSTREAM : Protocol.HTTP1;
                }
            } catch (InvalidProtocolBufferException e) {
                protocol = Protocol.HTTP1;
            }
        }
        Duration connectTimeout = DEFAULT_CONNECT_TIMEOUT;
        if (cluster.hasConnectTimeout()) {
            Duration d = Duration.ofSeconds(cluster.getConnectTimeout().getSeconds(), cluster.getConnectTimeout().getNanos());
            if (d.compareTo(Duration.ofMillis(1)) >= 0) {
                connectTimeout = d;
            }
        }
        double panic = DEFAULT_PANIC_THRESHOLD;
        if (cluster.hasCommonLbConfig() && cluster.getCommonLbConfig().hasHealthyPanicThreshold()) {
            panic = Math.max(0, Math.min(100, cluster.getCommonLbConfig().getHealthyPanicThreshold().getValue()));
        }
        boolean originalDst = cluster.hasType() && cluster.getType() == Cluster.DiscoveryType.ORIGINAL_DST;
        LbSettings lb = LbSettings.of(cluster);
        return new ClusterInfo(cluster.getName(), protocol, lb.policy(), connectTimeout, panic, originalDst, lb,
                Resilience.of(cluster));
    }
}
