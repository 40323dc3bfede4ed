package dev.ambit.istiod.l7;

import com.google.protobuf.Any;
import com.google.protobuf.Duration;
import com.google.protobuf.Struct;
import com.google.protobuf.UInt32Value;
import com.google.protobuf.Value;
import dev.ambit.istiod.model.Selectors;
import dev.ambit.istiod.model.ServiceCatalog;
import dev.ambit.istiod.model.Workloads;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.AggregatedConfigSource;
import io.envoyproxy.envoy.config.core.v3.ConfigSource;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.core.v3.Http1ProtocolOptions;
import io.envoyproxy.envoy.config.core.v3.Http2ProtocolOptions;
import io.envoyproxy.envoy.config.core.v3.Metadata;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import java.util.Map;
import java.util.Optional;

/**
 * Clusters and endpoints in Istio's names: {@code outbound|P|SUBSET|HOST} for every port of
 * a service, plus one per DestinationRule subset holding only the endpoints whose pod labels
 * match the subset's; EDS over ADS, Istio's 10 s connect timeout, the DestinationRule's
 * load balancing (Istio's default LEAST_REQUEST) for waypoints and ROUND_ROBIN for
 * proxyless gRPC.
 */
final class ClusterTranslator {

    static final String PASSTHROUGH = "inbound-passthrough";
    static final String HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
    static final ConfigSource ADS = ConfigSource.newBuilder().setAds(AggregatedConfigSource.getDefaultInstance())
            .build();

    private final ServiceCatalog catalog;
    private final DestinationRules rules;

    ClusterTranslator(ServiceCatalog catalog, DestinationRules rules) {
        this.catalog = catalog;
        this.rules = rules;
    }

    static String name(int port, String subset, String host) {
        return "outbound|" + port + "|" + subset + "|" + host;
    }

    /** A parsed cluster name. */
    record ClusterName(int port, String subset, String host) {
        static Optional<ClusterName> parse(String name) {
            String[] p = name.split("\\|", -1);
            if (p.length != 4 || !p[0].equals("outbound")) {
                return Optional.empty();
            }
            try {
                return Optional.of(new ClusterName(Integer.parseInt(p[1]), p[2], p[3]));
            } catch (NumberFormatException e) {
                return Optional.empty();
            }
        }
    }

    /** The service port of {@code host} numbered {@code port}, when both exist. */
    Optional<ServicePort> port(String host, int port) {
        return catalog.byHostname(host).flatMap(svc -> ServiceCatalog.tcpPorts(svc).stream()
                .filter(p -> p.getPort() == port).findFirst());
    }

    /**
     * Adds the cluster {@code name} and its endpoints to {@code clusters} and {@code endpoints}
     * when its service, port and subset exist; returns whether it did.
     */
    boolean add(String name, boolean grpc, Map<String, Cluster> clusters,
                Map<String, ClusterLoadAssignment> endpoints) {
        if (clusters.containsKey(name)) {
            return true;
        }
        var parsed = ClusterName.parse(name).orElse(null);
        if (parsed == null) {
            return false;
        }
        Service svc = catalog.byHostname(parsed.host()).orElse(null);
        ServicePort port = port(parsed.host(), parsed.port()).orElse(null);
        if (svc == null || port == null
                || (!parsed.subset().isEmpty() && !rules.hasSubset(parsed.host(), parsed.subset()))) {
            return false;
        }
        clusters.put(name, cluster(name, parsed, port, grpc));
        endpoints.put(name, loadAssignment(name, svc, parsed, grpc));
        return true;
    }

    /** Adds {@code outbound|P||HOST} and one cluster per subset of {@code host} for every port of the service. */
    void addService(Service svc, boolean grpc, Map<String, Cluster> clusters,
                    Map<String, ClusterLoadAssignment> endpoints) {
        String host = catalog.hostname(svc);
        var policy = rules.forHost(host);
        for (ServicePort p : ServiceCatalog.tcpPorts(svc)) {
            add(name(p.getPort(), "", host), grpc, clusters, endpoints);
            if (policy != null) {
                policy.subsets.keySet().forEach(s -> add(name(p.getPort(), s, host), grpc, clusters, endpoints));
            }
        }
    }

    private Cluster cluster(String name, ClusterName parsed, ServicePort port, boolean grpc) {
        Cluster.Builder c = Cluster.newBuilder()
                .setName(name)
                .setType(Cluster.DiscoveryType.EDS)
                .setEdsClusterConfig(Cluster.EdsClusterConfig.newBuilder().setEdsConfig(ADS).setServiceName(name))
                .setConnectTimeout(Duration.newBuilder().setSeconds(10));
        if (grpc) {
            c.setLbPolicy(Cluster.LbPolicy.ROUND_ROBIN);
        } else {
            LoadBalancers.apply(c, rules.loadBalancer(parsed.host(), parsed.port(), parsed.subset())); // lb
        }
        ServiceCatalog.Protocol protocol = ServiceCatalog.protocol(port);
        if (protocol.isHttp2()) {
            c.putTypedExtensionProtocolOptions(HTTP_PROTOCOL_OPTIONS, Any.pack(HttpProtocolOptions.newBuilder()
                    .setExplicitHttpConfig(HttpProtocolOptions.ExplicitHttpConfig.newBuilder()
                            .setHttp2ProtocolOptions(Http2ProtocolOptions.getDefaultInstance()))
                    .build()));
        } else if (protocol.isHttp()) {
            c.putTypedExtensionProtocolOptions(HTTP_PROTOCOL_OPTIONS, Any.pack(HttpProtocolOptions.newBuilder()
                    .setUseDownstreamProtocolConfig(HttpProtocolOptions.UseDownstreamHttpConfig.newBuilder()
                            .setHttpProtocolOptions(Http1ProtocolOptions.getDefaultInstance())
                            .setHttp2ProtocolOptions(Http2ProtocolOptions.getDefaultInstance()))
                    .build()));
        }
        if (!grpc) {
            // Istio's circuit breakers (defaults on every cluster) and outlier detection, as Istio merges them.
            var selected = ConnectionPools.select(rules.forHost(parsed.host()), parsed.subset(), parsed.port());
            ConnectionPools.apply(c, selected.connectionPool());
            OutlierDetections.apply(c, selected.outlierDetection());
        }
        return c.build();
    }

    /** The original-destination cluster for traffic addressed to a workload, not a service. */
    static Cluster passthrough() {
        return Cluster.newBuilder()
                .setName(PASSTHROUGH)
                .setType(Cluster.DiscoveryType.ORIGINAL_DST)
                .setLbPolicy(Cluster.LbPolicy.CLUSTER_PROVIDED)
                .setConnectTimeout(Duration.newBuilder().setSeconds(10))
                .build();
    }

    /** Istio's {@code istio.workload} endpoint metadata: {@code name;namespace;canonical name;revision;cluster}. */
    static Struct workloadMetadata(Pod pod, String clusterId) {
        String workload = String.join(";", Workloads.owner(pod).name(), pod.getMetadata().getNamespace(),
                Workloads.canonicalName(pod), Workloads.canonicalRevision(pod), clusterId);
        return Struct.newBuilder().putFields("workload", Value.newBuilder().setStringValue(workload).build()).build();
    }

    private ClusterLoadAssignment loadAssignment(String name, Service svc, ClusterName parsed, boolean grpc) {
        Map<String, String> subsetLabels = parsed.subset().isEmpty() ? Map.of()
                : Workloads.labels(rules.forHost(parsed.host()).subsets.get(parsed.subset()).getLabels());
        LocalityLbEndpoints.Builder locality = LocalityLbEndpoints.newBuilder();
        for (Pod pod : catalog.endpoints(svc)) {
            var ips = Workloads.ips(pod);
            Integer target = Workloads.targetPorts(svc, pod).get(parsed.port());
            if (ips.isEmpty() || target == null
                    || !Selectors.matches(subsetLabels, Workloads.labels(pod.getMetadata().getLabels()))) {
                continue;
            }
            Metadata.Builder metadata = Metadata.newBuilder();
            if (!grpc && catalog.enrolled(pod)) {
                metadata.putFilterMetadata("envoy.transport_socket_match", Struct.newBuilder()
                        .putFields("tunnel", Value.newBuilder().setStringValue("http").build()).build());
            }
            metadata.putFilterMetadata("istio", workloadMetadata(pod, catalog.mesh().clusterId()));
            locality.addLbEndpoints(LbEndpoint.newBuilder()
                    .setEndpoint(Endpoint.newBuilder().setAddress(Address.newBuilder().setSocketAddress(
                            SocketAddress.newBuilder().setAddress(ips.getFirst()).setPortValue(target))))
                    .setHealthStatus(Workloads.ready(pod) ? HealthStatus.HEALTHY : HealthStatus.UNHEALTHY)
                    .setMetadata(metadata));
        }
        if (grpc && locality.getLbEndpointsCount() > 0) {
            // grpc-java's weighted_target drops a locality without a weight (gRFC A27); Istio
            // gives each locality the number of its endpoints. The waypoint has one locality
            // and no locality-weighted balancing, so its set leaves the field out.
            locality.setLoadBalancingWeight(UInt32Value.of(locality.getLbEndpointsCount()));
        }
        return ClusterLoadAssignment.newBuilder().setClusterName(name).addEndpoints(locality).build();
    }
}
