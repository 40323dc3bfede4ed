package dev.ambit.waypoint.config;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import java.net.InetAddress;
import java.util.List;
import java.util.Optional;

/**
 * An immutable snapshot of the waypoint's validated xDS configuration (Envoy's Listener,
 * RouteConfiguration, Cluster and ClusterLoadAssignment resources). Every resource in it
 * passed validation: each field set in it is one the waypoint implements. The engine
 * reads only this; a new snapshot replaces it whole.
 *
 * <p>Names may dangle, as in Envoy (the control plane sends each type on its own, and a
 * listener may name a route configuration not received yet): a filter chain whose
 * {@code routeName} has no {@link #route} answers 404 with response flag {@code NR} (Envoy's
 * behaviour once its RDS wait is over, with no routes); a route or TCP chain whose cluster has
 * no {@link #cluster} answers 503 with flag {@code NC} (Envoy's default
 * {@code cluster_not_found_response_code}); a cluster without endpoints answers 503
 * {@code no healthy upstream} with flag {@code UH}. Until the first xDS sync the waypoint
 * is not ready (its readiness probe fails), so these are transients of later changes.
 */
public interface WaypointConfig {

    /** The filter chain for a tunnel to {@code dstIp:dstPort} (the CONNECT's {@code :authority}), else the default chain if any. */
    Optional<FilterChain> filterChain(InetAddress dstIp, int dstPort);

    /** A route configuration by its RDS name. */
    Optional<RouteConfiguration> route(String name);

    /** A cluster by name. */
    Optional<Cluster> cluster(String name);

    /** The endpoints of a cluster (its ClusterLoadAssignment's, every locality flattened); empty when unknown. */
    List<LbEndpoint> endpoints(String clusterName);

    /** Grows with every accepted change. */
    long version();
}
