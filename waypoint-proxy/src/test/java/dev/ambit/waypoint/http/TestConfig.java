package dev.ambit.waypoint.http;

import dev.ambit.waypoint.config.FilterChain;
import dev.ambit.waypoint.config.WaypointConfig;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** A WaypointConfig made of maps, for tests. */
final class TestConfig implements WaypointConfig {

    final Map<InetSocketAddress, FilterChain> chains = new HashMap<>();
    final Map<String, RouteConfiguration> routes = new HashMap<>();
    final Map<String, Cluster> clusters = new HashMap<>();
    final Map<String, List<LbEndpoint>> endpoints = new HashMap<>();

    TestConfig route(RouteConfiguration rc) {
        routes.put(rc.getName(), rc);
        return this;
    }

    TestConfig clusters(String... names) {
        for (String n : names) {
            clusters.put(n, Cluster.newBuilder().setName(n).build());
        }
        return this;
    }

    TestConfig chain(InetSocketAddress vip, FilterChain chain) {
        chains.put(vip, chain);
        return this;
    }

    @Override
    public Optional<FilterChain> filterChain(InetAddress dstIp, int dstPort) {
        return Optional.ofNullable(chains.get(new InetSocketAddress(dstIp, dstPort)));
    }

    @Override
    public Optional<RouteConfiguration> route(String name) {
        return Optional.ofNullable(routes.get(name));
    }

    @Override
    public Optional<Cluster> cluster(String name) {
        return Optional.ofNullable(clusters.get(name));
    }

    @Override
    public List<LbEndpoint> endpoints(String clusterName) {
        return endpoints.getOrDefault(clusterName, List.of());
    }

    @Override
    public long version() {
        return 1;
    }
}
