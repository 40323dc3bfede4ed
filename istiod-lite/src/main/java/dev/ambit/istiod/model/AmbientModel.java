package dev.ambit.istiod.model;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.ByteString;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.GatewayAddress;
import dev.ambit.api.workload.NamespacedHostname;
import dev.ambit.api.workload.NetworkAddress;
import dev.ambit.api.workload.NetworkMode;
import dev.ambit.api.workload.Port;
import dev.ambit.api.workload.PortList;
import dev.ambit.api.workload.Service;
import dev.ambit.api.workload.TunnelProtocol;
import dev.ambit.api.workload.Workload;
import dev.ambit.api.workload.WorkloadStatus;
import dev.ambit.api.workload.WorkloadType;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.istiod.config.Cidr;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.FailClosed;
import dev.ambit.istiod.config.Kind;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import io.fabric8.istio.api.security.v1.PeerAuthentication;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * The ambient model: from a config snapshot to what node agents need, following Istio's
 * ambient conventions so a real ztunnel would read the same thing.
 *
 * <ul>
 *   <li><b>Enrollment.</b> {@code istio.io/dataplane-mode=ambient} on the pod or its
 *       namespace enrolls it; the pod's label beats the namespace's, and {@code =none} on
 *       a pod opts it out. Host-network pods and pods with an injected sidecar are never
 *       enrolled. Enrolled pods get tunnel protocol HBONE, others NONE (the agent still
 *       needs them for identity and passthrough).</li>
 *   <li><b>Workloads</b> are pods with an IP that are not finished, keyed by
 *       {@code <cluster>//Pod/<ns>/<name>}.</li>
 *   <li><b>Services</b> are keyed {@code <ns>/<fqdn>}; their endpoints are the pods the
 *       selector picks in the same namespace, or for a selector-less service the pods its
 *       EndpointSlices point at. Named target ports are resolved per pod.</li>
 *   <li><b>Waypoints.</b> {@code istio.io/use-waypoint=<name>} (and optionally
 *       {@code istio.io/use-waypoint-namespace}) on a pod, service or namespace names the
 *       waypoint; the most specific wins and {@code none} opts out. The waypoint's
 *       {@code istio.io/waypoint-for} label (service by default; workload, all, none)
 *       decides whether it serves services, workloads, or both.</li>
 * </ul>
 *
 * <p>Pure function of its input: same snapshot, same resources.
 */
public final class AmbientModel {

    static final String DATAPLANE_MODE = "istio.io/dataplane-mode";
    static final String USE_WAYPOINT = "istio.io/use-waypoint";
    static final String USE_WAYPOINT_NS = "istio.io/use-waypoint-namespace";
    static final String WAYPOINT_FOR = "istio.io/waypoint-for";
    static final String GATEWAY_NAME = "gateway.networking.k8s.io/gateway-name";
    static final int HBONE_PORT = IstioPorts.HBONE;

    private static final Pattern CRONJOB_JOB = Pattern.compile("(.+)-\\d{8,}");

    private final ConfigSnapshot config;
    private final MeshConfig mesh;
    private final List<String> warnings = new ArrayList<>();
    private final Map<String, Map<String, String>> namespaceLabels = new HashMap<>();

    private AmbientModel(ConfigSnapshot config, MeshConfig mesh) {
        this.config = config;
        this.mesh = mesh;
        for (Namespace ns : config.list(Kind.NAMESPACE, Namespace.class)) {
            namespaceLabels.put(ns.getMetadata().getName(), labels(ns.getMetadata().getLabels()));
        }
    }

    /** Computes every resource for this snapshot. */
    public static MeshResources build(ConfigSnapshot config, MeshConfig mesh) {
        requireNonNull(config, "config");
        requireNonNull(mesh, "mesh");
        return new AmbientModel(config, mesh).build();
    }

    /** The workload uid Istio uses for a pod. */
    public static String podUid(MeshConfig mesh, String namespace, String name) {
        return mesh.clusterId() + "//Pod/" + namespace + "/" + name;
    }

    private MeshResources build() {
        // Hash maps while building; MeshResources sorts once.
        Map<String, Address> addresses = new HashMap<>();
        Map<String, Authorization> authorizations = new HashMap<>();
        Map<String, Set<SpiffeId>> identities = new HashMap<>();

        List<Pod> pods = config.list(Kind.POD, Pod.class).stream().filter(AmbientModel::live).toList();
        List<io.fabric8.kubernetes.api.model.Service> services =
                config.list(Kind.SERVICE, io.fabric8.kubernetes.api.model.Service.class).stream()
                        .filter(s -> s.getSpec() != null && !"ExternalName".equals(s.getSpec().getType()))
                        .toList();

        // Services and, per pod, the services it backs. Selectors only reach their own
        // namespace, so pods are grouped by namespace once instead of scanned per service.
        Map<String, List<Pod>> podsByNamespace = new HashMap<>();
        for (Pod pod : pods) {
            podsByNamespace.computeIfAbsent(pod.getMetadata().getNamespace(), k -> new ArrayList<>()).add(pod);
        }
        Map<String, Map<String, PortList>> podServices = new HashMap<>();
        for (var svc : services) {
            String key = svc.getMetadata().getNamespace() + "/" + hostname(svc);
            addresses.put(key, Address.newBuilder().setService(service(svc)).build());
            for (Pod pod : endpoints(svc, podsByNamespace.getOrDefault(svc.getMetadata().getNamespace(), List.of()))) {
                PortList ports = targetPorts(svc, pod);
                podServices.computeIfAbsent(podKey(pod), k -> new TreeMap<>()).put(key, ports);
            }
        }

        // Authorization: selector policies are listed on the workloads they select.
        List<AuthorizationPolicy> policies = config.list(Kind.AUTHORIZATION_POLICY, AuthorizationPolicy.class)
                .stream().filter(AuthorizationTranslator::forNodeAgent).toList();
        PeerAuthenticationTranslator peerAuth = new PeerAuthenticationTranslator(mesh,
                config.list(Kind.PEER_AUTHENTICATION, PeerAuthentication.class), config.failClosed(), warnings::add);
        // Rejected AuthorizationPolicies fail closed under their own name (made unique).
        Set<String> taken = new HashSet<>();
        policies.forEach(ap -> taken.add(ap.getMetadata().getNamespace() + "/" + ap.getMetadata().getName()));
        Map<String, FailClosed> failedPolicies = new TreeMap<>();
        for (FailClosed fc : config.failClosed()) {
            warnings.add(fc.ref() + " (" + fc.origin() + ") is invalid: " + fc.reasons().getFirst().field()
                    + (fc.reasons().getFirst().field().isEmpty() ? "" : ": ") + fc.reasons().getFirst().reason()
                    + "; " + fc.describe());
            if (fc.ref().kind() == Kind.AUTHORIZATION_POLICY && fc.effect() != FailClosed.Effect.NONE) {
                String key = fc.namespace() + "/" + fc.ref().name();
                while (!taken.add(key)) {
                    key += "-invalid";
                }
                failedPolicies.put(key, fc);
            }
        }
        authorizations.put(mesh.rootNamespace() + "/" + PeerAuthenticationTranslator.STATIC_STRICT,
                peerAuth.staticStrict());

        Map<String, List<AuthorizationPolicy>> selectorPolicies = new HashMap<>();
        for (AuthorizationPolicy ap : policies) {
            if (AuthorizationTranslator.hasSelector(ap)) {
                selectorPolicies.computeIfAbsent(ap.getMetadata().getNamespace(), k -> new ArrayList<>()).add(ap);
            }
        }
        Map<String, Boolean> policyHasWaypointTarget = new HashMap<>();
        for (Pod pod : pods) {
            SpiffeId id = identity(pod);
            String node = pod.getSpec() == null ? null : pod.getSpec().getNodeName();
            if (node != null && !node.isEmpty()) {
                identities.computeIfAbsent(node, n -> new java.util.HashSet<>()).add(id);
            }
            if (podIps(pod).isEmpty()) {
                continue; // not scheduled or not started: nothing to route to yet
            }
            String ns = pod.getMetadata().getNamespace();
            Map<String, String> podLabels = labels(pod.getMetadata().getLabels());
            List<String> podPolicies = new ArrayList<>();
            for (AuthorizationPolicy ap : selectorPolicies.getOrDefault(ns, List.of())) {
                if (Selectors.matches(AuthorizationTranslator.selector(ap), podLabels)) {
                    String key = ns + "/" + ap.getMetadata().getName();
                    podPolicies.add(key);
                    policyHasWaypointTarget.merge(key, workloadWaypoint(pod) != null, Boolean::logicalOr);
                }
            }
            failedPolicies.forEach((key, fc) -> {
                if (fc.selector() != null && fc.namespace().equals(ns) && Selectors.matches(fc.selector(), podLabels)) {
                    podPolicies.add(key);
                }
            });
            PeerAuthenticationTranslator.Result pa = peerAuth.forWorkload(ns, podLabels);
            podPolicies.addAll(pa.references());
            authorizations.putAll(pa.converted());
            Workload w = workload(pod, id, podServices.getOrDefault(podKey(pod), Map.of()),
                    podPolicies.stream().sorted().distinct().toList());
            addresses.put(w.getUid(), Address.newBuilder().setWorkload(w).build());
        }

        AuthorizationTranslator translator = new AuthorizationTranslator(mesh, warnings::add);
        for (AuthorizationPolicy ap : policies) {
            String key = ap.getMetadata().getNamespace() + "/" + ap.getMetadata().getName();
            Authorization a = translator.translate(ap, policyHasWaypointTarget.getOrDefault(key, false));
            if (a != null) {
                authorizations.put(key, a);
            }
        }
        failedPolicies.forEach((key, fc) -> authorizations.put(key,
                AuthorizationTranslator.failClosed(fc, key.substring(key.indexOf('/') + 1), mesh)));
        return new MeshResources(addresses, authorizations, identities, warnings);
    }

    private Workload workload(Pod pod, SpiffeId id, Map<String, PortList> services, List<String> policies) {
        var meta = pod.getMetadata();
        Map<String, String> podLabels = labels(meta.getLabels());
        String[] typeAndName = workloadTypeAndName(pod);
        Workload.Builder w = Workload.newBuilder()
                .setUid(podUid(mesh, meta.getNamespace(), meta.getName()))
                .setName(meta.getName())
                .setNamespace(meta.getNamespace())
                .setNetwork(mesh.network())
                .setTunnelProtocol(enrolled(pod) ? TunnelProtocol.HBONE : TunnelProtocol.NONE)
                .setTrustDomain(id.trustDomain())
                .setServiceAccount(id.serviceAccount())
                .setNode(nullToEmpty(pod.getSpec().getNodeName()))
                .setCanonicalName(first(podLabels, typeAndName[1], "service.istio.io/canonical-name",
                        "app.kubernetes.io/name", "app"))
                .setCanonicalRevision(first(podLabels, "latest", "service.istio.io/canonical-revision",
                        "app.kubernetes.io/version", "version"))
                .setWorkloadType(WorkloadType.valueOf(typeAndName[0]))
                .setWorkloadName(typeAndName[1])
                .putAllServices(services)
                .addAllAuthorizationPolicies(policies)
                .setStatus(ready(pod) ? WorkloadStatus.HEALTHY : WorkloadStatus.UNHEALTHY)
                .setClusterId(mesh.clusterId());
        for (byte[] ip : podIps(pod)) {
            w.addAddresses(ByteString.copyFrom(ip));
        }
        if (Boolean.TRUE.equals(pod.getSpec().getHostNetwork())) {
            w.setNetworkMode(NetworkMode.HOST_NETWORK);
        }
        GatewayAddress waypoint = workloadWaypoint(pod);
        if (waypoint != null) {
            w.setWaypoint(waypoint);
        }
        return w.build();
    }

    private Service service(io.fabric8.kubernetes.api.model.Service svc) {
        var spec = svc.getSpec();
        Service.Builder s = Service.newBuilder()
                .setName(svc.getMetadata().getName())
                .setNamespace(svc.getMetadata().getNamespace())
                .setHostname(hostname(svc));
        List<String> ips = spec.getClusterIPs() != null && !spec.getClusterIPs().isEmpty()
                ? spec.getClusterIPs() : spec.getClusterIP() == null ? List.of() : List.of(spec.getClusterIP());
        for (String ip : ips) {
            Cidr addr = ip == null || ip.equals("None") ? null : Cidr.parse(ip);
            if (addr != null) {
                s.addAddresses(NetworkAddress.newBuilder().setNetwork(mesh.network())
                        .setAddress(ByteString.copyFrom(addr.address())));
            }
        }
        for (ServicePort p : spec.getPorts() == null ? List.<ServicePort>of() : spec.getPorts()) {
            if (p.getProtocol() != null && !p.getProtocol().equals("TCP")) {
                continue; // UDP/SCTP never pass through the node agent
            }
            IntOrString target = p.getTargetPort();
            int targetPort = target == null ? p.getPort() : target.getIntVal() != null ? target.getIntVal() : 0;
            s.addPorts(Port.newBuilder().setServicePort(p.getPort()).setTargetPort(targetPort));
        }
        s.addAllSubjectAltNames(subjectAltNames(svc));
        GatewayAddress waypoint = serviceWaypoint(svc);
        if (waypoint != null) {
            s.setWaypoint(waypoint);
        }
        return s.build();
    }

    /**
     * Extra identities a client may accept for the service, from Istio's service
     * annotations: service account names in the service's namespace, and full identities.
     */
    private List<String> subjectAltNames(io.fabric8.kubernetes.api.model.Service svc) {
        Map<String, String> annotations = svc.getMetadata().getAnnotations();
        if (annotations == null) {
            return List.of();
        }
        Set<String> sans = new TreeSet<>();
        String accounts = annotations.get("alpha.istio.io/kubernetes-serviceaccounts");
        if (accounts != null) {
            for (String sa : accounts.split(",")) {
                if (!sa.isBlank()) {
                    sans.add("spiffe://" + mesh.trustDomain() + "/ns/" + svc.getMetadata().getNamespace()
                            + "/sa/" + sa.strip());
                }
            }
        }
        String canonical = annotations.get("alpha.istio.io/canonical-serviceaccounts");
        if (canonical != null) {
            for (String id : canonical.split(",")) {
                if (!id.isBlank()) {
                    sans.add(id.strip().startsWith("spiffe://") ? id.strip() : "spiffe://" + id.strip());
                }
            }
        }
        return List.copyOf(sans);
    }

    private String hostname(io.fabric8.kubernetes.api.model.Service svc) {
        return svc.getMetadata().getName() + "." + svc.getMetadata().getNamespace() + ".svc." + mesh.domainSuffix();
    }

    /**
     * Pods behind a service: selector match, or EndpointSlice references for selector-less
     * services. {@code pods} are the live pods of the service's namespace.
     */
    private List<Pod> endpoints(io.fabric8.kubernetes.api.model.Service svc, List<Pod> pods) {
        String ns = svc.getMetadata().getNamespace();
        Map<String, String> selector = svc.getSpec().getSelector();
        if (selector != null && !selector.isEmpty()) {
            return pods.stream().filter(p -> p.getMetadata().getNamespace().equals(ns)
                    && Selectors.matches(selector, labels(p.getMetadata().getLabels()))).toList();
        }
        Set<String> names = new LinkedHashSet<>();
        for (EndpointSlice slice : config.list(Kind.ENDPOINT_SLICE, ns, EndpointSlice.class)) {
            if (!svc.getMetadata().getName().equals(labels(slice.getMetadata().getLabels())
                    .get("kubernetes.io/service-name")) || slice.getEndpoints() == null) {
                continue;
            }
            for (var ep : slice.getEndpoints()) {
                if (ep.getTargetRef() != null && "Pod".equals(ep.getTargetRef().getKind())) {
                    names.add(ep.getTargetRef().getName());
                }
            }
        }
        return pods.stream().filter(p -> p.getMetadata().getNamespace().equals(ns)
                && names.contains(p.getMetadata().getName())).toList();
    }

    /** Service ports as this pod serves them: named target ports resolved against its containers. */
    private static PortList targetPorts(io.fabric8.kubernetes.api.model.Service svc, Pod pod) {
        PortList.Builder out = PortList.newBuilder();
        for (ServicePort p : svc.getSpec().getPorts() == null ? List.<ServicePort>of() : svc.getSpec().getPorts()) {
            if (p.getProtocol() != null && !p.getProtocol().equals("TCP")) {
                continue;
            }
            IntOrString target = p.getTargetPort();
            Integer port = target == null ? p.getPort()
                    : target.getIntVal() != null ? target.getIntVal() : containerPort(pod, target.getStrVal());
            if (port != null) {
                out.addPorts(Port.newBuilder().setServicePort(p.getPort()).setTargetPort(port));
            }
        }
        return out.build();
    }

    private static Integer containerPort(Pod pod, String name) {
        for (Container c : pod.getSpec().getContainers() == null ? List.<Container>of() : pod.getSpec().getContainers()) {
            for (ContainerPort cp : c.getPorts() == null ? List.<ContainerPort>of() : c.getPorts()) {
                if (name.equals(cp.getName())) {
                    return cp.getContainerPort();
                }
            }
        }
        return null; // Istio's rule: a pod without the named port does not serve that service port
    }

    private boolean enrolled(Pod pod) {
        if (Boolean.TRUE.equals(pod.getSpec().getHostNetwork())) {
            return false;
        }
        var annotations = pod.getMetadata().getAnnotations();
        if (annotations != null && annotations.containsKey("sidecar.istio.io/status")) {
            return false;
        }
        String podMode = labels(pod.getMetadata().getLabels()).get(DATAPLANE_MODE);
        if (podMode != null) {
            return podMode.equals("ambient");
        }
        return "ambient".equals(namespaceLabels.getOrDefault(pod.getMetadata().getNamespace(), Map.of())
                .get(DATAPLANE_MODE));
    }

    private GatewayAddress workloadWaypoint(Pod pod) {
        if (labels(pod.getMetadata().getLabels()).containsKey(GATEWAY_NAME)) {
            return null; // a waypoint's own pods never go through a waypoint
        }
        String ns = pod.getMetadata().getNamespace();
        return waypoint(labels(pod.getMetadata().getLabels()), ns, "workload",
                "Pod " + ns + "/" + pod.getMetadata().getName());
    }

    private GatewayAddress serviceWaypoint(io.fabric8.kubernetes.api.model.Service svc) {
        Map<String, String> selector = svc.getSpec().getSelector();
        if ((selector != null && selector.containsKey(GATEWAY_NAME))
                || labels(svc.getMetadata().getLabels()).containsKey(GATEWAY_NAME)) {
            return null; // the waypoint's own service: sending it to itself would loop
        }
        String ns = svc.getMetadata().getNamespace();
        return waypoint(labels(svc.getMetadata().getLabels()), ns, "service",
                "Service " + ns + "/" + svc.getMetadata().getName());
    }

    /** The waypoint named by the object's label, else its namespace's, if it serves {@code trafficType}. */
    private GatewayAddress waypoint(Map<String, String> objectLabels, String ns, String trafficType, String who) {
        Map<String, String> source = objectLabels.containsKey(USE_WAYPOINT) ? objectLabels
                : namespaceLabels.getOrDefault(ns, Map.of());
        String name = source.get(USE_WAYPOINT);
        if (name == null || name.isEmpty() || name.equals("none")) {
            return null;
        }
        String wpNs = source.getOrDefault(USE_WAYPOINT_NS, ns);
        Gateway gateway = config.get(Kind.GATEWAY, wpNs, name, Gateway.class).orElse(null);
        String waypointFor = gateway == null ? "service"
                : labels(gateway.getMetadata().getLabels()).getOrDefault(WAYPOINT_FOR, "service");
        if (!(waypointFor.equals(trafficType) || waypointFor.equals("all"))) {
            return null;
        }
        var wpService = config.get(Kind.SERVICE, wpNs, name, io.fabric8.kubernetes.api.model.Service.class);
        if (gateway == null && wpService.isEmpty()) {
            warnings.add(who + ": waypoint " + wpNs + "/" + name + " does not exist (no Gateway or Service "
                    + "of that name); traffic is not sent to a waypoint until it does");
            return null;
        }
        String ip = wpService.map(s -> s.getSpec().getClusterIP()).orElse(null);
        Cidr addr = ip == null || ip.equals("None") ? null : Cidr.parse(ip);
        GatewayAddress.Builder g = GatewayAddress.newBuilder().setHboneMtlsPort(HBONE_PORT);
        if (addr != null) {
            g.setAddress(NetworkAddress.newBuilder().setNetwork(mesh.network())
                    .setAddress(ByteString.copyFrom(addr.address())));
        } else {
            g.setHostname(NamespacedHostname.newBuilder().setNamespace(wpNs)
                    .setHostname(name + "." + wpNs + ".svc." + mesh.domainSuffix()));
        }
        return g.build();
    }

    private SpiffeId identity(Pod pod) {
        String sa = pod.getSpec() == null || pod.getSpec().getServiceAccountName() == null
                || pod.getSpec().getServiceAccountName().isEmpty() ? "default" : pod.getSpec().getServiceAccountName();
        return SpiffeId.of(mesh.trustDomain(), pod.getMetadata().getNamespace(), sa);
    }

    /** {type, name} from the controlling owner, as Istio derives it. */
    private static String[] workloadTypeAndName(Pod pod) {
        var owners = pod.getMetadata().getOwnerReferences();
        OwnerReference owner = owners == null ? null : owners.stream()
                .filter(o -> Boolean.TRUE.equals(o.getController())).findFirst()
                .orElse(owners.isEmpty() ? null : owners.getFirst());
        if (owner == null) {
            return new String[] {"POD", pod.getMetadata().getName()};
        }
        String hash = labels(pod.getMetadata().getLabels()).get("pod-template-hash");
        return switch (owner.getKind()) {
            case "ReplicaSet" -> hash != null && owner.getName().endsWith("-" + hash)
                    ? new String[] {"DEPLOYMENT", owner.getName().substring(0, owner.getName().length() - hash.length() - 1)}
                    : new String[] {"POD", owner.getName()};
            case "Job" -> {
                var m = CRONJOB_JOB.matcher(owner.getName());
                yield m.matches() ? new String[] {"CRONJOB", m.group(1)} : new String[] {"JOB", owner.getName()};
            }
            default -> new String[] {"POD", owner.getName()};
        };
    }

    private static List<byte[]> podIps(Pod pod) {
        if (pod.getStatus() == null) {
            return List.of();
        }
        List<String> ips = new ArrayList<>();
        if (pod.getStatus().getPodIPs() != null) {
            for (PodIP ip : pod.getStatus().getPodIPs()) {
                if (ip.getIp() != null) {
                    ips.add(ip.getIp());
                }
            }
        }
        if (ips.isEmpty() && pod.getStatus().getPodIP() != null) {
            ips.add(pod.getStatus().getPodIP());
        }
        List<byte[]> out = new ArrayList<>();
        for (String ip : ips) {
            Cidr c = Cidr.parse(ip);
            if (c != null) {
                out.add(c.address());
            }
        }
        return out;
    }

    private static boolean live(Pod pod) {
        String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
        return !"Succeeded".equals(phase) && !"Failed".equals(phase) && pod.getSpec() != null;
    }

    private static boolean ready(Pod pod) {
        if (pod.getMetadata().getDeletionTimestamp() != null || pod.getStatus() == null
                || pod.getStatus().getConditions() == null) {
            return false;
        }
        return pod.getStatus().getConditions().stream()
                .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
    }

    private static String podKey(Pod pod) {
        return pod.getMetadata().getNamespace() + "/" + pod.getMetadata().getName();
    }

    private static String first(Map<String, String> labels, String fallback, String... keys) {
        for (String k : keys) {
            String v = labels.get(k);
            if (v != null && !v.isEmpty()) {
                return v;
            }
        }
        return fallback;
    }

    private static Map<String, String> labels(Map<String, String> labels) {
        return labels == null ? Map.of() : labels;
    }

    private static String nullToEmpty(String s) {
        return s == null ? "" : s;
    }
}
