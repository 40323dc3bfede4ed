package dev.ambit.waypoint.http;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.workload.Workload;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.proxy.hbone.HboneRequest;
import dev.ambit.waypoint.config.FilterChain;
import dev.ambit.waypoint.config.WaypointConfig;
import java.net.InetSocketAddress;

/**
 * What the waypoint knows about one HBONE tunnel it terminated (or a gateway about one
 * downstream connection), fixed for every request on it.
 *
 * @param peer the SPIFFE identity the client proved with mutual TLS; null on a gateway (clients
 *        from outside the mesh have none)
 * @param source the client's address: {@code Forwarded: for=} of the CONNECT when an IP, else the TLS peer
 * @param sourceWorkload the client's workload (by {@code source}, only if its identity is {@code peer}), or null
 * @param destination the CONNECT's {@code :authority}: the original VIP (or workload) address and port
 * @param chain the filter chain it matched
 * @param config the configuration snapshot the tunnel was accepted with (its filter chain's); each
 *        request is routed with the snapshot current when it arrives
 * @param hbone the CONNECT request (its {@code traceparent}, {@code baggage}); null on a gateway
 * @param ingress the gateway's view of the connection ({@link Ingress}); null on a waypoint
 */
public record Downstream(SpiffeId peer, InetSocketAddress source, Workload sourceWorkload,
                         InetSocketAddress destination, FilterChain chain, WaypointConfig config,
                         HboneRequest hbone, Ingress ingress) {
    public Downstream {
        requireNonNull(source, "source");
        requireNonNull(destination, "destination");
        requireNonNull(chain, "chain");
        requireNonNull(config, "config");
        if (ingress == null) {
            // A waypoint's tunnel: mutual TLS proved the peer, the CONNECT carried the destination.
            requireNonNull(peer, "peer");
            requireNonNull(hbone, "hbone");
        }
    }

    /** A waypoint's tunnel. */
    public Downstream(SpiffeId peer, InetSocketAddress source, Workload sourceWorkload, InetSocketAddress destination,
                      FilterChain chain, WaypointConfig config, HboneRequest hbone) {
        this(peer, source, sourceWorkload, destination, chain, config, hbone, null);
    }

    /** A gateway's downstream connection from {@code source} to its listener at {@code destination}. */
    public static Downstream ingress(InetSocketAddress source, InetSocketAddress destination, FilterChain chain,
                                     WaypointConfig config, Ingress ingress) {
        return new Downstream(null, source, null, destination, chain, config, null,
                requireNonNull(ingress, "ingress"));
    }

    /** Whether the connection arrived encrypted: a waypoint's HBONE tunnel, or TLS a gateway terminated. */
    public boolean secure() {
        return ingress == null || ingress.tls();
    }
}
