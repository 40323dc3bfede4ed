package dev.ambit.istiod.xds;

import com.google.protobuf.Message;
import dev.ambit.api.TypeUrls;
import dev.ambit.istiod.l7.L7Resources;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Hand-built Envoy resources in the shapes of CONTRACT.md, per waypoint and for gRPC, to
 * test serving without the translator. Mutable; {@link #build()} freezes a copy.
 */
final class TestL7 {

    private final Map<String, Map<String, Map<String, Message>>> waypoints = new TreeMap<>();
    private final Map<String, Map<String, Message>> grpc = new LinkedHashMap<>();

    /** A waypoint "NS/NAME" serving {@code host} on port 80 through {@code cluster}. */
    TestL7 waypoint(String key, String host, String cluster, String endpointIp) {
        Map<String, Map<String, Message>> byType = waypoints.computeIfAbsent(key, k -> new LinkedHashMap<>());
        String chain = "inbound-vip|80|http|" + host;
        put(byType, TypeUrls.LISTENER, "waypoint", Listener.newBuilder().setName("waypoint")
                .setAddress(address("0.0.0.0", 15008)).build());
        put(byType, TypeUrls.ROUTE_CONFIGURATION, chain, route(chain, host, cluster));
        put(byType, TypeUrls.CLUSTER, cluster, cluster(cluster));
        put(byType, TypeUrls.CLUSTER_LOAD_ASSIGNMENT, cluster, endpoints(cluster, endpointIp));
        return this;
    }

    /** Replaces one waypoint route's target cluster (a change of that waypoint only). */
    TestL7 reroute(String key, String host, String cluster) {
        String chain = "inbound-vip|80|http|" + host;
        put(waypoints.get(key), TypeUrls.ROUTE_CONFIGURATION, chain, route(chain, host, cluster));
        return this;
    }

    /** A gRPC service {@code host:port} whose one cluster has the given endpoint. */
    TestL7 grpcService(String host, int port, String endpointIp) {
        String name = host + ":" + port;
        String cluster = "outbound|" + port + "||" + host;
        put(grpc, TypeUrls.LISTENER, name, Listener.newBuilder().setName(name).build());
        put(grpc, TypeUrls.ROUTE_CONFIGURATION, name, route(name, host, cluster));
        put(grpc, TypeUrls.CLUSTER, cluster, cluster(cluster));
        put(grpc, TypeUrls.CLUSTER_LOAD_ASSIGNMENT, cluster, endpoints(cluster, endpointIp));
        return this;
    }

    L7Resources build() {
        return L7Resources.of(waypoints, grpc, List.of());
    }

    /** The route (and filter chain) name of {@code host}'s port 80 on a waypoint. */
    static String chain(String host) {
        return "inbound-vip|80|http|" + host;
    }

    /** A node as the waypoint sends it (CONTRACT.md). */
    static Node waypointNode(String namespace, String name) {
        Struct labels = Struct.newBuilder().putFields("gateway.networking.k8s.io/gateway-name",
                Value.newBuilder().setStringValue(name).build()).build();
        return Node.newBuilder()
                .setId("waypoint~10.0.0.9~" + name + "-abc." + namespace + "~" + namespace + ".svc.cluster.local")
                .setUserAgentName("ambit-waypoint")
                .setMetadata(Struct.newBuilder()
                        .putFields("NAMESPACE", Value.newBuilder().setStringValue(namespace).build())
                        .putFields("NAME", Value.newBuilder().setStringValue(name + "-abc").build())
                        .putFields("GENERATOR", Value.newBuilder().setStringValue("waypoint").build())
                        .putFields("LABELS", Value.newBuilder().setStructValue(labels).build()))
                .build();
    }

    /** A node as a proxyless gRPC client's bootstrap gives it. */
    static Node grpcNode(String id) {
        return Node.newBuilder().setId(id).setMetadata(Struct.newBuilder()
                .putFields("GENERATOR", Value.newBuilder().setStringValue("grpc").build())).build();
    }

    private static void put(Map<String, Map<String, Message>> byType, String typeUrl, String name, Message m) {
        byType.computeIfAbsent(typeUrl, t -> new TreeMap<>()).put(name, m);
    }

    private static RouteConfiguration route(String name, String host, String cluster) {
        return RouteConfiguration.newBuilder().setName(name)
                .addVirtualHosts(VirtualHost.newBuilder().setName(host).addDomains("*")
                        .addRoutes(Route.newBuilder().setName("default")
                                .setMatch(RouteMatch.newBuilder().setPrefix("/"))
                                .setRoute(RouteAction.newBuilder().setCluster(cluster))))
                .build();
    }

    private static Cluster cluster(String name) {
        return Cluster.newBuilder().setName(name).setType(Cluster.DiscoveryType.EDS).build();
    }

    private static ClusterLoadAssignment endpoints(String cluster, String ip) {
        return ClusterLoadAssignment.newBuilder().setClusterName(cluster)
                .addEndpoints(LocalityLbEndpoints.newBuilder().addLbEndpoints(LbEndpoint.newBuilder()
                        .setEndpoint(Endpoint.newBuilder().setAddress(address(ip, 8080)))))
                .build();
    }

    private static Address address(String ip, int port) {
        return Address.newBuilder().setSocketAddress(SocketAddress.newBuilder().setAddress(ip).setPortValue(port))
                .build();
    }
}
