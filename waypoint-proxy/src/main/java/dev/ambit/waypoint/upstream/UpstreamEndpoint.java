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
 * @param tunnelAuthority for an HBONE endpoint that is a waypoint in front of a Service (Istio's
 *        {@code istio.io/ingress-use-waypoint}): the CONNECT authority, the Service's {@code VIP:port}
 *        from {@code filter_metadata["envoy.filters.listener.original_dst"].local}, while {@code address}
 *        is the waypoint's HBONE socket, dialled as it is; null otherwise (the tunnel goes to
 *        {@code podIP:15008} with authority {@code address})
 */
public record UpstreamEndpoint(InetSocketAddress address, boolean hbone, HealthStatus health, int weight,
                               InetSocketAddress tunnelAuthority) {

    /** The metadata filter Istio uses to choose an endpoint's transport socket. */
    public static final String TRANSPORT_SOCKET_MATCH = "envoy.transport_socket_match";
    /** The metadata filter naming a tunnelled endpoint's logical destination ({@code local}) and waypoint. */
    public static final String ORIGINAL_DST = "envoy.filters.listener.original_dst";

    public UpstreamEndpoint {
        requireNonNull(address, "address");
        requireNonNull(health, "health");
        if (weight < 1) {
            throw new IllegalArgumentException("weight: " + weight + " (expected: >= 1)");
        }
        if (tunnelAuthority != null && !hbone) {
            throw new IllegalArgumentException("tunnelAuthority: " + tunnelAuthority + " (expected: only on an HBONE "
                    + "endpoint)");
        }
    }

    /** An endpoint tunnelled (or not) to its own address. */
    public UpstreamEndpoint(InetSocketAddress address, boolean hbone, HealthStatus health, int weight) {
        this(address, hbone, health, weight, null);
    }

    /** The same endpoint with another health status (outlier ejection). */
    public UpstreamEndpoint withHealth(HealthStatus status) {
        return new UpstreamEndpoint(address, hbone, status, weight, tunnelAuthority);
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
        boolean hbone = tunnelsOverHbone(lb);
        return new UpstreamEndpoint(new InetSocketAddress(ip, port), hbone, lb.getHealthStatus(), weight,
                hbone ? tunnelAuthority(lb) : null);
    }

    /**
     * {@code metadata.filter_metadata["envoy.filters.listener.original_dst"]["local"]} as a socket
     * address (an IP literal and a port, {@code [v6]:port} for IPv6), or null when absent or not one
     * (the config helper NACKs such metadata).
     */
    static InetSocketAddress tunnelAuthority(LbEndpoint lb) {
        Struct dst = lb.getMetadata().getFilterMetadataMap().get(ORIGINAL_DST);
        Value local = dst == null ? null : dst.getFieldsMap().get("local");
        return local == null ? null : socketAddress(local.getStringValue());
    }

    /** {@code ip:port} or {@code [ipv6]:port} with an IP literal; null when it is not one. */
    public static InetSocketAddress socketAddress(String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        if (colon <= 0) {
            return null;
        }
        String host = hostPort.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        } else if (host.indexOf(':') >= 0) {
            return null; // IPv6 without brackets is ambiguous
        }
        InetAddress ip = NetUtil.createInetAddressFromIpAddressString(host);
        int port;
        try {
            port = Integer.parseInt(hostPort.substring(colon + 1));
        } catch (NumberFormatException e) {
            return null;
        }
        return ip == null || port <= 0 || port > 65535 ? null : new InetSocketAddress(ip, port);
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
        return NetUtil.toSocketAddressString(address) + (tunnelAuthority != null
                ? " (hbone to " + NetUtil.toSocketAddressString(tunnelAuthority) + ")" : hbone ? " (hbone)" : "");
    }
}
