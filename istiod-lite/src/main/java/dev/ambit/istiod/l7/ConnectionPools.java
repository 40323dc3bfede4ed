package dev.ambit.istiod.l7;

import com.google.protobuf.Any;
import com.google.protobuf.Duration;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UInt32Value;
import dev.ambit.istiod.config.Kind;
import io.envoyproxy.envoy.config.cluster.v3.CircuitBreakers;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.cluster.v3.UpstreamConnectionOptions;
import io.envoyproxy.envoy.config.core.v3.TcpKeepalive;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.fabric8.istio.api.api.networking.v1alpha3.ConnectionPoolSettings;
import io.fabric8.istio.api.api.networking.v1alpha3.OutlierDetection;
import io.fabric8.istio.api.api.networking.v1alpha3.Subset;
import io.fabric8.istio.api.api.networking.v1alpha3.TrafficPolicy;
import io.fabric8.istio.api.api.networking.v1alpha3.TrafficPolicyPortTrafficPolicy;
import io.fabric8.istio.api.networking.v1.DestinationRule;

/**
 * DestinationRule {@code trafficPolicy.connectionPool} → Envoy, as Istio's cluster builder
 * ({@code applyConnectionPool}) translates it for an outbound cluster:
 * <ul>
 *   <li>every cluster gets {@code circuit_breakers.thresholds[0]} with Istio's defaults
 *       ({@code max_connections}, {@code max_pending_requests}, {@code max_requests},
 *       {@code max_retries} all 2^32-1, {@code track_remaining: true}), each replaced by the
 *       setting when it is positive: {@code tcp.maxConnections}, {@code http.http1MaxPendingRequests},
 *       {@code http.http2MaxRequests}, {@code http.maxRetries};</li>
 *   <li>{@code tcp.connectTimeout} → {@code connect_timeout} (else the mesh's 10 s);</li>
 *   <li>{@code tcp.tcpKeepalive} → {@code upstream_connection_options.tcp_keepalive}
 *       ({@code probes} → {@code keepalive_probes}, {@code time} and {@code interval} in whole
 *       seconds → {@code keepalive_time}, {@code keepalive_interval});</li>
 *   <li>{@code http.idleTimeout} (else {@code tcp.idleTimeout}) and a positive
 *       {@code http.maxRequestsPerConnection} → the HttpProtocolOptions'
 *       {@code common_http_protocol_options.idle_timeout} / {@code max_requests_per_connection}.</li>
 * </ul>
 * The policy that applies is Istio's merge ({@code MergeSubsetTrafficPolicy}): the rule's
 * port-level settings for the port replace the rule's settings wholesale, then the subset's
 * components (its port-level settings wholesale) replace the rule's.
 */
final class ConnectionPools {

    /** Istio's default for every threshold: {@code math.MaxUint32}. */
    static final int UNLIMITED = 0xFFFF_FFFF;

    private ConnectionPools() {}

    /** The connection pool and outlier detection that apply to one cluster (either may be null). */
    record Selected(ConnectionPoolSettings connectionPool, OutlierDetection outlierDetection) {
        static final Selected NONE = new Selected(null, null);
    }

    /** Istio's merged policy of {@code host}'s rule for {@code port} and {@code subset} (may be empty). */
    static Selected select(DestinationRules.HostPolicy policy, String subset, int port) {
        if (policy == null) {
            return Selected.NONE;
        }
        Selected rule = portLevel(policy.policy, port);
        Subset s = subset.isEmpty() ? null : policy.subsets.get(subset);
        if (s == null || s.getTrafficPolicy() == null) {
            return rule;
        }
        boolean subsetPortLevel = portPolicy(s.getTrafficPolicy(), port) != null;
        Selected sub = portLevel(s.getTrafficPolicy(), port);
        return new Selected(sub.connectionPool != null || subsetPortLevel ? sub.connectionPool : rule.connectionPool,
                sub.outlierDetection != null || subsetPortLevel ? sub.outlierDetection : rule.outlierDetection);
    }

    private static Selected portLevel(TrafficPolicy tp, int port) {
        if (tp == null) {
            return Selected.NONE;
        }
        TrafficPolicyPortTrafficPolicy p = portPolicy(tp, port);
        return p != null ? new Selected(p.getConnectionPool(), p.getOutlierDetection())
                : new Selected(tp.getConnectionPool(), tp.getOutlierDetection());
    }

    private static TrafficPolicyPortTrafficPolicy portPolicy(TrafficPolicy tp, int port) {
        if (tp.getPortLevelSettings() == null) {
            return null;
        }
        for (TrafficPolicyPortTrafficPolicy p : tp.getPortLevelSettings()) {
            if (p != null && p.getPort() != null && p.getPort().getNumber() != null && p.getPort().getNumber() == port) {
                return p;
            }
        }
        return null;
    }

    /** Applies {@code settings} (null: none, Istio's defaults still apply) to the cluster being built. */
    static void apply(Cluster.Builder c, ConnectionPoolSettings settings) {
        CircuitBreakers.Thresholds.Builder t = CircuitBreakers.Thresholds.newBuilder()
                .setMaxConnections(UInt32Value.of(UNLIMITED))
                .setMaxPendingRequests(UInt32Value.of(UNLIMITED))
                .setMaxRequests(UInt32Value.of(UNLIMITED))
                .setMaxRetries(UInt32Value.of(UNLIMITED))
                .setTrackRemaining(true);
        Duration idleTimeout = null;
        int maxRequestsPerConnection = 0;
        var http = settings == null ? null : settings.getHttp();
        if (http != null) {
            if (positive(http.getHttp2MaxRequests())) {
                t.setMaxRequests(UInt32Value.of(http.getHttp2MaxRequests()));
            }
            if (positive(http.getHttp1MaxPendingRequests())) {
                t.setMaxPendingRequests(UInt32Value.of(http.getHttp1MaxPendingRequests()));
            }
            if (positive(http.getMaxRetries())) {
                t.setMaxRetries(UInt32Value.of(http.getMaxRetries()));
            }
            idleTimeout = Envoy.duration(http.getIdleTimeout());
            maxRequestsPerConnection = positive(http.getMaxRequestsPerConnection()) ? http.getMaxRequestsPerConnection() : 0;
        }
        var tcp = settings == null ? null : settings.getTcp();
        if (tcp != null) {
            Duration connect = Envoy.duration(tcp.getConnectTimeout());
            if (connect != null) {
                c.setConnectTimeout(connect);
            }
            if (positive(tcp.getMaxConnections())) {
                t.setMaxConnections(UInt32Value.of(tcp.getMaxConnections()));
            }
            if (idleTimeout == null) {
                idleTimeout = Envoy.duration(tcp.getIdleTimeout());
            }
            var k = tcp.getTcpKeepalive();
            if (k != null) {
                // An empty tcp_keepalive is SO_KEEPALIVE with the kernel's values, as Istio writes it.
                TcpKeepalive.Builder kb = TcpKeepalive.newBuilder();
                if (k.getProbes() != null && k.getProbes() > 0) {
                    kb.setKeepaliveProbes(UInt32Value.of((int) Math.min(k.getProbes(), 0xFFFF_FFFFL)));
                }
                Duration time = Envoy.duration(k.getTime());
                if (time != null) {
                    kb.setKeepaliveTime(UInt32Value.of((int) time.getSeconds()));
                }
                Duration interval = Envoy.duration(k.getInterval());
                if (interval != null) {
                    kb.setKeepaliveInterval(UInt32Value.of((int) interval.getSeconds()));
                }
                c.setUpstreamConnectionOptions(UpstreamConnectionOptions.newBuilder().setTcpKeepalive(kb));
            }
        }
        c.setCircuitBreakers(CircuitBreakers.newBuilder().addThresholds(t));
        if (idleTimeout != null || maxRequestsPerConnection > 0) {
            HttpProtocolOptions.Builder options = httpOptions(c);
            var common = options.getCommonHttpProtocolOptionsBuilder();
            if (idleTimeout != null) {
                common.setIdleTimeout(idleTimeout);
            }
            if (maxRequestsPerConnection > 0) {
                common.setMaxRequestsPerConnection(UInt32Value.of(maxRequestsPerConnection));
            }
            c.putTypedExtensionProtocolOptions(ClusterTranslator.HTTP_PROTOCOL_OPTIONS, Any.pack(options.build()));
        }
    }

    private static HttpProtocolOptions.Builder httpOptions(Cluster.Builder c) {
        Any any = c.getTypedExtensionProtocolOptionsMap().get(ClusterTranslator.HTTP_PROTOCOL_OPTIONS);
        if (any != null) {
            try {
                return any.unpack(HttpProtocolOptions.class).toBuilder();
            } catch (InvalidProtocolBufferException e) {
                throw new IllegalStateException("cluster " + c.getName() + ": HttpProtocolOptions written by the "
                        + "translator do not unpack", e);
            }
        }
        return HttpProtocolOptions.newBuilder();
    }

    private static boolean positive(Integer n) {
        return n != null && n > 0;
    }

    /** Warns about the connectionPool fields at {@code path} that the waypoint does not apply. */
    static void warnUntranslated(DestinationRule dr, String path, ConnectionPoolSettings cp, Problems problems) {
        if (cp == null) {
            return;
        }
        if (cp.getHttp() == null && cp.getTcp() == null) {
            problems.field(Kind.DESTINATION_RULE, dr, path, "empty (expected: tcp or http settings, as Istio "
                    + "requires); Istio's default limits apply");
        }
        var http = cp.getHttp();
        if (http != null) {
            if (http.getMaxConcurrentStreams() != null) {
                problems.field(Kind.DESTINATION_RULE, dr, path + ".http.maxConcurrentStreams",
                        "not applied (the waypoint follows each upstream's SETTINGS_MAX_CONCURRENT_STREAMS)");
            }
            if (http.getH2UpgradePolicy() != null) {
                problems.field(Kind.DESTINATION_RULE, dr, path + ".http.h2UpgradePolicy",
                        "not applied (the port's protocol chooses HTTP/1.1 or HTTP/2)");
            }
            if (http.getUseClientProtocol() != null) {
                problems.field(Kind.DESTINATION_RULE, dr, path + ".http.useClientProtocol",
                        "not applied (HTTP ports already use the client's protocol)");
            }
            if (http.getIdleTimeout() != null && Envoy.duration(http.getIdleTimeout()) == null) {
                problems.field(Kind.DESTINATION_RULE, dr, path + ".http.idleTimeout", "\"" + http.getIdleTimeout()
                        + "\" is not a duration (expected e.g. 30s); not applied");
            }
        }
        var tcp = cp.getTcp();
        if (tcp != null) {
            if (tcp.getMaxConnectionDuration() != null) {
                problems.field(Kind.DESTINATION_RULE, dr, path + ".tcp.maxConnectionDuration", "not applied");
            }
            if (tcp.getConnectTimeout() != null && Envoy.duration(tcp.getConnectTimeout()) == null) {
                problems.field(Kind.DESTINATION_RULE, dr, path + ".tcp.connectTimeout", "\"" + tcp.getConnectTimeout()
                        + "\" is not a duration (expected e.g. 30ms); not applied");
            }
        }
    }
}
