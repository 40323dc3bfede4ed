package dev.ambit.waypoint.http;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.workload.Workload;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.proxy.hbone.HboneRequest;
import dev.ambit.waypoint.config.FilterChain;
import dev.ambit.waypoint.config.WaypointConfig;
import java.net.InetSocketAddress;

/**
 * What the waypoint knows about one HBONE tunnel it terminated, fixed for every request on it.
 *
 * @param peer the SPIFFE identity the client proved with mutual TLS
 * @param source the client's address: {@code Forwarded: for=} of the CONNECT when an IP, else the TLS peer
 * @param sourceWorkload the client's workload (by {@code source}, only if its identity is {@code peer}), or null
 * @param destination the CONNECT's {@code :authority}: the original VIP (or workload) address and port
 * @param chain the filter chain it matched
 * @param config the configuration snapshot the tunnel was accepted with (its filter chain's); each
 *        request is routed with the snapshot current when it arrives
 * @param hbone the CONNECT request (its {@code traceparent}, {@code baggage})
 */
public record Downstream(SpiffeId peer, InetSocketAddress source, Workload sourceWorkload,
                         InetSocketAddress destination, FilterChain chain, WaypointConfig config,
                         HboneRequest hbone) {
    public Downstream {
        requireNonNull(peer, "peer");
        requireNonNull(source, "source");
        requireNonNull(destination, "destination");
        requireNonNull(chain, "chain");
        requireNonNull(config, "config");
        requireNonNull(hbone, "hbone");
    }
}
