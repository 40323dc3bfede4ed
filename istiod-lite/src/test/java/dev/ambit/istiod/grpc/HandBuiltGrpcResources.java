package dev.ambit.istiod.grpc;

import com.google.protobuf.Any;
import com.google.protobuf.Message;
import com.google.protobuf.UInt32Value;
import dev.ambit.api.TypeUrls;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.AggregatedConfigSource;
import io.envoyproxy.envoy.config.core.v3.ConfigSource;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.core.v3.Locality;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.listener.v3.ApiListener;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.config.route.v3.WeightedCluster;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.Rds;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * Proxyless gRPC resources written by hand in CONTRACT.md's shapes (what
 * {@code L7Resources.forGrpc()} is to hold): one service {@code HOST:PORT} with subsets v1
 * and v2, a header route ({@code end-user: jason} → v2) and a weighted default route.
 * It tests the serving side against grpc-java without the translator.
 */
final class HandBuiltGrpcResources {

    private HandBuiltGrpcResources() {}

    static Map<String, Map<String, Message>> of(String host, int port, int targetPort, int v1Weight, int v2Weight) {
        String name = host + ":" + port;
        String all = "outbound|" + port + "||" + host;
        String v1 = "outbound|" + port + "|v1|" + host;
        String v2 = "outbound|" + port + "|v2|" + host;
        Map<String, Map<String, Message>> byType = new LinkedHashMap<>();
        ConfigSource ads = ConfigSource.newBuilder().setAds(AggregatedConfigSource.getDefaultInstance()).build();
        HttpConnectionManager hcm = HttpConnectionManager.newBuilder()
                .setStatPrefix(name)
                .setRds(Rds.newBuilder().setRouteConfigName(name).setConfigSource(ads))
                .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.router")
                        .setTypedConfig(Any.pack(Router.getDefaultInstance())))
                .build();
        put(byType, TypeUrls.LISTENER, name, Listener.newBuilder().setName(name)
                .setApiListener(ApiListener.newBuilder().setApiListener(Any.pack(hcm))).build());
        put(byType, TypeUrls.ROUTE_CONFIGURATION, name, RouteConfiguration.newBuilder().setName(name)
                .addVirtualHosts(VirtualHost.newBuilder().setName(name).addDomains(host).addDomains(name)
                        .addRoutes(Route.newBuilder().setName("jason")
                                .setMatch(RouteMatch.newBuilder().setPrefix("/")
                                        .addHeaders(HeaderMatcher.newBuilder().setName("end-user")
                                                .setStringMatch(StringMatcher.newBuilder().setExact("jason"))))
                                .setRoute(RouteAction.newBuilder().setCluster(v2)))
                        .addRoutes(Route.newBuilder().setName("split")
                                .setMatch(RouteMatch.newBuilder().setPrefix("/"))
                                .setRoute(RouteAction.newBuilder().setWeightedClusters(WeightedCluster.newBuilder()
                                        .addClusters(weight(v1, v1Weight))
                                        .addClusters(weight(v2, v2Weight))))))
                .build());
        for (String cluster : new String[] {all, v1, v2}) {
            put(byType, TypeUrls.CLUSTER, cluster, Cluster.newBuilder().setName(cluster)
                    .setType(Cluster.DiscoveryType.EDS)
                    .setEdsClusterConfig(Cluster.EdsClusterConfig.newBuilder().setEdsConfig(ads)
                            .setServiceName(cluster))
                    .setLbPolicy(Cluster.LbPolicy.ROUND_ROBIN)
                    .build());
        }
        put(byType, TypeUrls.CLUSTER_LOAD_ASSIGNMENT, all, endpoints(all, targetPort, EchoBackends.V1_IP,
                EchoBackends.V2_IP));
        put(byType, TypeUrls.CLUSTER_LOAD_ASSIGNMENT, v1, endpoints(v1, targetPort, EchoBackends.V1_IP));
        put(byType, TypeUrls.CLUSTER_LOAD_ASSIGNMENT, v2, endpoints(v2, targetPort, EchoBackends.V2_IP));
        return byType;
    }

    private static WeightedCluster.ClusterWeight.Builder weight(String cluster, int weight) {
        return WeightedCluster.ClusterWeight.newBuilder().setName(cluster).setWeight(UInt32Value.of(weight));
    }

    private static ClusterLoadAssignment endpoints(String cluster, int port, String... ips) {
        // grpc-java ignores a locality without a load_balancing_weight.
        LocalityLbEndpoints.Builder locality = LocalityLbEndpoints.newBuilder()
                .setLocality(Locality.getDefaultInstance())
                .setLoadBalancingWeight(UInt32Value.of(ips.length));
        for (String ip : ips) {
            locality.addLbEndpoints(LbEndpoint.newBuilder().setHealthStatus(HealthStatus.HEALTHY)
                    .setEndpoint(Endpoint.newBuilder().setAddress(Address.newBuilder()
                            .setSocketAddress(SocketAddress.newBuilder().setAddress(ip).setPortValue(port)))));
        }
        return ClusterLoadAssignment.newBuilder().setClusterName(cluster).addEndpoints(locality).build();
    }

    private static void put(Map<String, Map<String, Message>> byType, String typeUrl, String name, Message m) {
        byType.computeIfAbsent(typeUrl, t -> new TreeMap<>()).put(name, m);
    }
}
