package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;

/**
 * One endpoint of a cluster as the cluster manager uses it: its {@code podIP:port}, whether it
 * is reached over HBONE (its {@code envoy.transport_socket_match} metadata has
 * {@code tunnel: http}, as Istio marks meshed endpoints) and its EDS health.
 *
 * @param address the endpoint's socket address ({@code podIP:targetPort})
 * @param hbone true when traffic to it goes through an HBONE tunnel to {@code podIP:15008}
 * @param health the health status from EDS
 * @param weight EDS {@code load_balancing_weight} (1 when unset); used by the policies for which
 *        Envoy uses it (round robin, least request, ring hash, Maglev)
 */
public record UpstreamEndpoint(InetSocketAddress address, boolean hbone, HealthStatus health, int weight) {

    /** The metadata filter Istio uses to choose an endpoint's transport socket. */
    public static final String TRANSPORT_SOCKET_MATCH = "envoy.transport_socket_match";

    public UpstreamEndpoint {
        requireNonNull(address, "address");
        requireNonNull(health, "health");
        if (weight < 1) {
            throw new IllegalArgumentException("weight: " + weight + " (expected: >= 1)");
        }
    }

    /** An endpoint of weight 1 (EDS without {@code load_balancing_weight}). */
    public UpstreamEndpoint(InetSocketAddress address, boolean hbone, HealthStatus health) {
        this(address, hbone, health, 1);
    }

    /**
     * Envoy's health view: {@code HEALTHY} and {@code UNKNOWN} (no health information) take
     * traffic; {@code UNHEALTHY}, {@code DRAINING}, {@code TIMEOUT} and {@code DEGRADED} only in
     * panic mode (degraded hosts are not a priority of their own here).
     */
    public boolean healthy() {
        return health == HealthStatus.HEALTHY || health == HealthStatus.UNKNOWN;
    }

    /**
     * The endpoint of an EDS {@link LbEndpoint}, or {@code null} when it has no socket address
     * with an IP literal and a port (the config helper validates these; a name is never resolved).
     */
    public static UpstreamEndpoint of(LbEndpoint lb) {
        requireNonNull(lb, "lb");
        if (!lb.hasEndpoint() || !lb.getEndpoint().getAddress().hasSocketAddress()) {
            return null;
        }
        SocketAddress sa = lb.getEndpoint().getAddress().getSocketAddress();
        InetAddress ip = NetUtil.createInetAddressFromIpAddressString(sa.getAddress());
        int port = sa.getPortValue();
        if (ip == null || port <= 0 || port > 65535) {
            return null;
        }
        int weight = lb.hasLoadBalancingWeight() ? Math.max(1, lb.getLoadBalancingWeight().getValue()) : 1;
        return new UpstreamEndpoint(new InetSocketAddress(ip, port), tunnelsOverHbone(lb), lb.getHealthStatus(), weight);
    }

    /** {@code metadata.filter_metadata["envoy.transport_socket_match"]["tunnel"] == "http"}. */
    static boolean tunnelsOverHbone(LbEndpoint lb) {
        if (!lb.hasMetadata()) {
            return false;
        }
        Struct match = lb.getMetadata().getFilterMetadataMap().get(TRANSPORT_SOCKET_MATCH);
        if (match == null) {
            return false;
        }
        Value tunnel = match.getFieldsMap().get("tunnel");
        return tunnel != null && "http".equals(tunnel.getStringValue());
    }

    @Override
    public String toString() {
        return NetUtil.toSocketAddressString(address) + (hbone ? " (hbone)" : "");
    }
}
