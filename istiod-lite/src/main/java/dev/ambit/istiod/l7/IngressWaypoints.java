package dev.ambit.istiod.l7;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.istiod.model.ServiceCatalog;
import dev.ambit.istiod.model.Workloads;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.core.v3.Metadata;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Istio's {@code istio.io/ingress-use-waypoint} for a gateway's clusters: when a Service (or,
 * without the label on the Service, its Namespace) says {@code "true"} and the Service is bound
 * to a waypoint ({@code istio.io/use-waypoint}), the gateway's endpoints of every cluster of that
 * Service (subsets included, as Istio does) are the waypoint's pods on their HBONE port, and each
 * endpoint carries the Service's address as the tunnel's destination:
 * {@code filter_metadata["envoy.filters.listener.original_dst"] = {local: "VIP:port", waypoint:
 * "podIP:15008"}} with {@code envoy.transport_socket_match.tunnel: http}. The gateway then opens an
 * HBONE tunnel to the waypoint whose CONNECT authority is {@code VIP:port}; the waypoint picks the
 * Service's filter chain by that authority and applies the Service's L7 policy. Without the label
 * (or without a VIP: waypoints accept VIP traffic only) the gateway keeps the Service's own
 * endpoints. A waypoint named but not deployed yields no endpoint: those requests fail (503), never
 * around the waypoint.
 */
final class IngressWaypoints {

    /** The label, on a Service or its Namespace. */
    static final String INGRESS_USE_WAYPOINT = "istio.io/ingress-use-waypoint";
    /** Istio's metadata key of a tunnelled endpoint's logical destination ({@code local}) and waypoint. */
    static final String ORIGINAL_DST = "envoy.filters.listener.original_dst";

    private IngressWaypoints() {
    }

    /** Whether the label says true: on the Service, else on its Namespace (Go's {@code ParseBool} true forms). */
    static boolean opted(Service svc, ServiceCatalog catalog) {
        Map<String, String> labels = Workloads.labels(svc.getMetadata().getLabels());
        String value = labels.containsKey(INGRESS_USE_WAYPOINT) ? labels.get(INGRESS_USE_WAYPOINT)
                : catalog.namespaceLabels(svc.getMetadata().getNamespace()).get(INGRESS_USE_WAYPOINT);
        return value != null && List.of("1", "t", "true").contains(value.toLowerCase(Locale.ROOT));
    }

    /**
     * The endpoints of gateway cluster {@code name} through its Service's waypoint, or empty when
     * the gateway goes straight to the Service's endpoints (no label, no waypoint, no VIP, or not
     * an {@code outbound|} cluster).
     */
    static Optional<ClusterLoadAssignment> endpoints(String name, ServiceCatalog catalog, Consumer<String> warnings) {
        ClusterTranslator.ClusterName parsed = ClusterTranslator.ClusterName.parse(name).orElse(null);
        Service svc = parsed == null ? null : catalog.byHostname(parsed.host()).orElse(null);
        if (svc == null || !opted(svc, catalog)) {
            return Optional.empty();
        }
        List<String> vips = ServiceCatalog.vips(svc);
        ServiceCatalog.WaypointBinding waypoint = catalog.serviceWaypoint(svc, warnings);
        if (vips.isEmpty() || waypoint == null) {
            return Optional.empty();
        }
        String local = hostPort(vips.getFirst(), parsed.port());
        LocalityLbEndpoints.Builder locality = LocalityLbEndpoints.newBuilder();
        List<Pod> pods = waypoint.service() == null ? List.of() : catalog.endpoints(waypoint.service());
        for (Pod pod : pods) {
            var ips = Workloads.ips(pod);
            if (ips.isEmpty()) {
                continue;
            }
            String ip = ips.getFirst();
            Metadata md = Metadata.newBuilder()
                    .putFilterMetadata("envoy.transport_socket_match", Struct.newBuilder()
                            .putFields("tunnel", string("http")).build())
                    .putFilterMetadata(ORIGINAL_DST, Struct.newBuilder()
                            .putFields("local", string(local))
                            .putFields("waypoint", string(hostPort(ip, IstioPorts.HBONE))).build())
                    .putFilterMetadata("istio", ClusterTranslator.workloadMetadata(pod, catalog.mesh().clusterId()))
                    .build();
            locality.addLbEndpoints(LbEndpoint.newBuilder()
                    .setEndpoint(Endpoint.newBuilder().setAddress(Address.newBuilder().setSocketAddress(
                            SocketAddress.newBuilder().setAddress(ip).setPortValue(IstioPorts.HBONE))))
                    .setHealthStatus(Workloads.ready(pod) ? HealthStatus.HEALTHY : HealthStatus.UNHEALTHY)
                    .setMetadata(md));
        }
        if (locality.getLbEndpointsCount() == 0) {
            warnings.accept("gateway cluster " + name + ": Service " + svc.getMetadata().getNamespace() + "/"
                    + svc.getMetadata().getName() + " asks ingress traffic to use its waypoint " + waypoint.key()
                    + " (" + INGRESS_USE_WAYPOINT + "), which has no ready endpoint; requests fail until it has one");
        }
        return Optional.of(ClusterLoadAssignment.newBuilder().setClusterName(name).addEndpoints(locality).build());
    }

    private static String hostPort(String ip, int port) {
        return (ip.indexOf(':') >= 0 ? "[" + ip + "]" : ip) + ":" + port;
    }

    private static Value string(String s) {
        return Value.newBuilder().setStringValue(s).build();
    }
}
