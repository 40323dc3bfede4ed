package dev.ambit.waypoint.upstream;

import com.google.protobuf.Any;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.ambit.waypoint.config.FilterChain;
import dev.ambit.waypoint.config.WaypointConfig;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.core.v3.Http1ProtocolOptions;
import io.envoyproxy.envoy.config.core.v3.Http2ProtocolOptions;
import io.envoyproxy.envoy.config.core.v3.Metadata;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** A hand-built {@link WaypointConfig} of clusters and endpoints, as the config helper's would hold. */
final class TestConfig implements WaypointConfig {

    final Map<String, Cluster> clusters = new HashMap<>();
    final Map<String, List<LbEndpoint>> endpoints = new HashMap<>();
    final long version;

    TestConfig(long version) {
        this.version = version;
    }

    TestConfig cluster(Cluster cluster, LbEndpoint... eps) {
        clusters.put(cluster.getName(), cluster);
        endpoints.put(cluster.getName(), List.of(eps));
        return this;
    }

    static Cluster http1(String name) {
        return Cluster.newBuilder().setName(name).setType(Cluster.DiscoveryType.EDS)
                .setLbPolicy(Cluster.LbPolicy.ROUND_ROBIN)
                .setConnectTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(2)).build();
    }

    static Cluster http2(String name) {
        return http1(name).toBuilder().putTypedExtensionProtocolOptions(ClusterInfo.HTTP_PROTOCOL_OPTIONS,
                Any.pack(HttpProtocolOptions.newBuilder().setExplicitHttpConfig(HttpProtocolOptions.ExplicitHttpConfig
                        .newBuilder().setHttp2ProtocolOptions(Http2ProtocolOptions.getDefaultInstance())).build())).build();
    }

    static Cluster downstream(String name) {
        return http1(name).toBuilder().putTypedExtensionProtocolOptions(ClusterInfo.HTTP_PROTOCOL_OPTIONS,
                Any.pack(HttpProtocolOptions.newBuilder().setUseDownstreamProtocolConfig(
                        HttpProtocolOptions.UseDownstreamHttpConfig.newBuilder()
                                .setHttpProtocolOptions(Http1ProtocolOptions.getDefaultInstance())
                                .setHttp2ProtocolOptions(Http2ProtocolOptions.getDefaultInstance())).build())).build();
    }

    static Cluster originalDst(String name) {
        return Cluster.newBuilder().setName(name).setType(Cluster.DiscoveryType.ORIGINAL_DST)
                .setLbPolicy(Cluster.LbPolicy.CLUSTER_PROVIDED).build();
    }

    static LbEndpoint endpoint(InetSocketAddress address, HealthStatus health, boolean hbone) {
        LbEndpoint.Builder b = LbEndpoint.newBuilder().setHealthStatus(health).setEndpoint(Endpoint.newBuilder()
                .setAddress(Address.newBuilder().setSocketAddress(SocketAddress.newBuilder()
                        .setAddress(address.getAddress().getHostAddress()).setPortValue(address.getPort()))));
        if (hbone) {
            b.setMetadata(Metadata.newBuilder().putFilterMetadata(UpstreamEndpoint.TRANSPORT_SOCKET_MATCH,
                    Struct.newBuilder().putFields("tunnel", Value.newBuilder().setStringValue("http").build()).build()));
        }
        return b.build();
    }

    static LbEndpoint endpoint(InetSocketAddress address) {
        return endpoint(address, HealthStatus.HEALTHY, false);
    }

    @Override
    public Optional<FilterChain> filterChain(InetAddress dstIp, int dstPort) {
        return Optional.empty();
    }

    @Override
    public Optional<RouteConfiguration> route(String name) {
        return Optional.empty();
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
        return version;
    }
}
