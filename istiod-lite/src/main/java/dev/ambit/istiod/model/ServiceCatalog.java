package dev.ambit.istiod.model;

import static java.util.Objects.requireNonNull;

import dev.ambit.istiod.config.Cidr;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The mesh's services and workloads as Istio sees them in one config snapshot, shared by the
 * ambient model (Address resources) and the L7 translation (Envoy resources), so both agree
 * on hostnames, VIPs, port protocols, endpoints, enrollment and which waypoint serves what.
 *
 * <ul>
 *   <li><b>Services</b>: every Service with a spec except ExternalName ones; hostname
 *       {@code name.ns.svc.<domainSuffix>}; endpoints are the live pods the selector picks in
 *       the service's namespace, or for a selector-less service the pods its EndpointSlices
 *       point at.</li>
 *   <li><b>Enrollment</b>: {@code istio.io/dataplane-mode=ambient} on the pod, else on its
 *       namespace; host-network pods and pods with an injected sidecar never.</li>
 *   <li><b>Waypoints</b>: {@code istio.io/use-waypoint} (and {@code
 *       istio.io/use-waypoint-namespace}) on the object, else on its namespace; {@code none}
 *       opts out; the waypoint's {@code istio.io/waypoint-for} (service by default; workload,
 *       all, none) decides whether it serves this kind of traffic.</li>
 * </ul>
 */
public final class ServiceCatalog {

    public static final String DATAPLANE_MODE = "istio.io/dataplane-mode";
    public static final String USE_WAYPOINT = "istio.io/use-waypoint";
    public static final String USE_WAYPOINT_NS = "istio.io/use-waypoint-namespace";
    public static final String WAYPOINT_FOR = "istio.io/waypoint-for";
    public static final String GATEWAY_NAME = "gateway.networking.k8s.io/gateway-name";
    public static final String WAYPOINT_CLASS = "istio-waypoint";

    /** How a port's traffic is spoken, as Istio chooses it (HTTP covers HTTP/1.1 and gRPC-Web). */
    public enum Protocol {
        HTTP, HTTP2, GRPC, TCP;

        /** Whether a waypoint handles it at L7. */
        public boolean isHttp() {
            return this != TCP;
        }

        /** Whether the upstream must be spoken to in HTTP/2. */
        public boolean isHttp2() {
            return this == HTTP2 || this == GRPC;
        }
    }

    /**
     * The waypoint an object is bound to.
     *
     * @param gateway the Gateway of that name, or {@code null}
     * @param service the waypoint's Service, or {@code null}
     */
    public record WaypointBinding(String namespace, String name, Gateway gateway, Service service) {
        /** Whether anything of that name exists (a Gateway or a Service); otherwise traffic fails closed. */
        public boolean exists() {
            return gateway != null || service != null;
        }

        public String key() {
            return namespace + "/" + name;
        }
    }

    private final ConfigSnapshot config;
    private final MeshConfig mesh;
    private final Map<String, Map<String, String>> namespaceLabels = new HashMap<>();
    private final List<Pod> pods;
    private final Map<String, List<Pod>> podsByNamespace = new HashMap<>();
    private final List<Service> services;

    private ServiceCatalog(ConfigSnapshot config, MeshConfig mesh) {
        this.config = config;
        this.mesh = mesh;
        for (Namespace ns : config.list(Kind.NAMESPACE, Namespace.class)) {
            namespaceLabels.put(ns.getMetadata().getName(), Workloads.labels(ns.getMetadata().getLabels()));
        }
        pods = config.list(Kind.POD, Pod.class).stream().filter(Workloads::live).toList();
        // Selectors only reach their own namespace: group once instead of scanning per service.
        for (Pod pod : pods) {
            podsByNamespace.computeIfAbsent(pod.getMetadata().getNamespace(), k -> new ArrayList<>()).add(pod);
        }
        services = config.list(Kind.SERVICE, Service.class).stream()
                .filter(s -> s.getSpec() != null && !"ExternalName".equals(s.getSpec().getType()))
                .toList();
    }

    public static ServiceCatalog of(ConfigSnapshot config, MeshConfig mesh) {
        return new ServiceCatalog(requireNonNull(config, "config"), requireNonNull(mesh, "mesh"));
    }

    public MeshConfig mesh() {
        return mesh;
    }

    public ConfigSnapshot config() {
        return config;
    }

    /** Live pods (not finished), ordered by namespace then name. */
    public List<Pod> pods() {
        return pods;
    }

    /** Services that route (ExternalName ones do not), ordered by namespace then name. */
    public List<Service> services() {
        return services;
    }

    /** The service whose hostname is {@code host} ({@code name.ns.svc.<suffix>}). */
    public Optional<Service> byHostname(String host) {
        String suffix = ".svc." + mesh.domainSuffix();
        if (!host.endsWith(suffix)) {
            return Optional.empty();
        }
        String[] parts = host.substring(0, host.length() - suffix.length()).split("\\.");
        if (parts.length != 2) {
            return Optional.empty();
        }
        return config.get(Kind.SERVICE, parts[1], parts[0], Service.class)
                .filter(s -> s.getSpec() != null && !"ExternalName".equals(s.getSpec().getType()));
    }

    public Map<String, String> namespaceLabels(String namespace) {
        return namespaceLabels.getOrDefault(namespace, Map.of());
    }

    public String hostname(Service svc) {
        return svc.getMetadata().getName() + "." + svc.getMetadata().getNamespace() + ".svc." + mesh.domainSuffix();
    }

    /** The service's cluster IPs (none for headless services). */
    public static List<String> vips(Service svc) {
        var spec = svc.getSpec();
        List<String> ips = spec.getClusterIPs() != null && !spec.getClusterIPs().isEmpty()
                ? spec.getClusterIPs() : spec.getClusterIP() == null ? List.of() : List.of(spec.getClusterIP());
        return ips.stream().filter(ip -> ip != null && !ip.equals("None") && Cidr.parse(ip) != null).toList();
    }

    /** The TCP ports of a service (UDP and SCTP never pass through a node agent or waypoint). */
    public static List<ServicePort> tcpPorts(Service svc) {
        List<ServicePort> ports = svc.getSpec().getPorts() == null ? List.of() : svc.getSpec().getPorts();
        return ports.stream().filter(p -> p.getProtocol() == null || p.getProtocol().equals("TCP")).toList();
    }

    /**
     * The protocol of a service port as Istio picks it: {@code appProtocol} when it names one
     * Istio knows, then the port name's prefix (before the first '-', {@code grpc-web} whole);
     * anything else is TCP.
     */
    public static Protocol protocol(ServicePort port) {
        Protocol p = port.getAppProtocol() == null ? null : parseProtocol(port.getAppProtocol());
        if (p != null) {
            return p;
        }
        String name = port.getName() == null ? "" : port.getName().toLowerCase(Locale.ROOT);
        if (name.equals("grpc-web") || name.startsWith("grpc-web-")) {
            return Protocol.HTTP;
        }
        int dash = name.indexOf('-');
        p = parseProtocol(dash < 0 ? name : name.substring(0, dash));
        return p == null ? Protocol.TCP : p;
    }

    private static Protocol parseProtocol(String value) {
        return switch (value.toLowerCase(Locale.ROOT)) {
            case "http", "grpc-web", "kubernetes.io/ws", "kubernetes.io/wss" -> Protocol.HTTP;
            case "http2", "h2c", "kubernetes.io/h2c" -> Protocol.HTTP2;
            case "grpc" -> Protocol.GRPC;
            case "tcp", "https", "tls", "mongo", "mysql", "redis" -> Protocol.TCP;
            default -> null;
        };
    }

    /**
     * Pods behind a service: selector match, or EndpointSlice references for selector-less
     * services; live pods of the service's namespace only.
     */
    public List<Pod> endpoints(Service svc) {
        String ns = svc.getMetadata().getNamespace();
        List<Pod> candidates = podsByNamespace.getOrDefault(ns, List.of());
        Map<String, String> selector = svc.getSpec().getSelector();
        if (selector != null && !selector.isEmpty()) {
            return candidates.stream()
                    .filter(p -> Selectors.matches(selector, Workloads.labels(p.getMetadata().getLabels()))).toList();
        }
        Set<String> names = new LinkedHashSet<>();
        for (EndpointSlice slice : config.list(Kind.ENDPOINT_SLICE, ns, EndpointSlice.class)) {
            if (!svc.getMetadata().getName().equals(Workloads.labels(slice.getMetadata().getLabels())
                    .get("kubernetes.io/service-name")) || slice.getEndpoints() == null) {
                continue;
            }
            for (var ep : slice.getEndpoints()) {
                if (ep.getTargetRef() != null && "Pod".equals(ep.getTargetRef().getKind())) {
                    names.add(ep.getTargetRef().getName());
                }
            }
        }
        return candidates.stream().filter(p -> names.contains(p.getMetadata().getName())).toList();
    }

    /** Whether the pod is in the ambient mesh (its traffic arrives over HBONE). */
    public boolean enrolled(Pod pod) {
        if (Boolean.TRUE.equals(pod.getSpec().getHostNetwork())) {
            return false;
        }
        var annotations = pod.getMetadata().getAnnotations();
        if (annotations != null && annotations.containsKey("sidecar.istio.io/status")) {
            return false;
        }
        String podMode = Workloads.labels(pod.getMetadata().getLabels()).get(DATAPLANE_MODE);
        if (podMode != null) {
            return podMode.equals("ambient");
        }
        return "ambient".equals(namespaceLabels(pod.getMetadata().getNamespace()).get(DATAPLANE_MODE));
    }

    /** Gateways of class {@value #WAYPOINT_CLASS}, ordered by namespace then name. */
    public List<Gateway> waypoints() {
        return config.list(Kind.GATEWAY, Gateway.class).stream().filter(ServiceCatalog::isWaypoint).toList();
    }

    public static boolean isWaypoint(Gateway gateway) {
        return gateway.getSpec() != null && WAYPOINT_CLASS.equals(gateway.getSpec().getGatewayClassName());
    }

    /**
     * The waypoint serving a pod's own address (waypoint-for workload or all), or {@code null}.
     * A waypoint's own pods never go through a waypoint.
     */
    public WaypointBinding workloadWaypoint(Pod pod, Consumer<String> warnings) {
        if (Workloads.labels(pod.getMetadata().getLabels()).containsKey(GATEWAY_NAME)) {
            return null;
        }
        String ns = pod.getMetadata().getNamespace();
        return waypoint(Workloads.labels(pod.getMetadata().getLabels()), ns, "workload",
                "Pod " + ns + "/" + pod.getMetadata().getName(), warnings);
    }

    /**
     * The waypoint serving a service (waypoint-for service or all), or {@code null}. The
     * waypoint's own service never goes through a waypoint (it would loop).
     */
    public WaypointBinding serviceWaypoint(Service svc, Consumer<String> warnings) {
        Map<String, String> selector = svc.getSpec().getSelector();
        if ((selector != null && selector.containsKey(GATEWAY_NAME))
                || Workloads.labels(svc.getMetadata().getLabels()).containsKey(GATEWAY_NAME)) {
            return null;
        }
        String ns = svc.getMetadata().getNamespace();
        return waypoint(Workloads.labels(svc.getMetadata().getLabels()), ns, "service",
                "Service " + ns + "/" + svc.getMetadata().getName(), warnings);
    }

    /**
     * The waypoint named by the object's label, else its namespace's, if it serves
     * {@code trafficType}. One that does not exist is still returned ({@link
     * WaypointBinding#exists()} false, with a warning): its traffic must fail closed, not
     * bypass the waypoint the user asked for.
     */
    private WaypointBinding waypoint(Map<String, String> objectLabels, String ns, String trafficType, String who,
                                     Consumer<String> warnings) {
        Map<String, String> source = objectLabels.containsKey(USE_WAYPOINT) ? objectLabels : namespaceLabels(ns);
        String name = source.get(USE_WAYPOINT);
        if (name == null || name.isEmpty() || name.equals("none")) {
            return null;
        }
        String wpNs = source.getOrDefault(USE_WAYPOINT_NS, ns);
        Gateway gateway = config.get(Kind.GATEWAY, wpNs, name, Gateway.class).orElse(null);
        String waypointFor = gateway == null ? "service"
                : Workloads.labels(gateway.getMetadata().getLabels()).getOrDefault(WAYPOINT_FOR, "service");
        if (!(waypointFor.equals(trafficType) || waypointFor.equals("all"))) {
            return null;
        }
        Service wpService = config.get(Kind.SERVICE, wpNs, name, Service.class).orElse(null);
        WaypointBinding binding = new WaypointBinding(wpNs, name, gateway, wpService);
        if (!binding.exists()) {
            warnings.accept(who + ": waypoint " + wpNs + "/" + name + " does not exist (no Gateway or Service "
                    + "of that name); its traffic is refused until it does (fail closed, never around the waypoint)");
        }
        return binding;
    }
}
