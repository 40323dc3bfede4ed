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
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.ServicePort;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

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

    static final int HBONE_PORT = IstioPorts.HBONE;

    private final ConfigSnapshot config;
    private final MeshConfig mesh;
    private final List<String> warnings = new ArrayList<>();
    private final ServiceCatalog catalog;

    private AmbientModel(ConfigSnapshot config, MeshConfig mesh) {
        this.config = config;
        this.mesh = mesh;
        this.catalog = ServiceCatalog.of(config, mesh);
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

        List<Pod> pods = catalog.pods();
        // Services and, per pod, the services it backs.
        Map<String, Map<String, PortList>> podServices = new HashMap<>();
        for (var svc : catalog.services()) {
            String key = svc.getMetadata().getNamespace() + "/" + hostname(svc);
            addresses.put(key, Address.newBuilder().setService(service(svc)).build());
            for (Pod pod : catalog.endpoints(svc)) {
                PortList.Builder ports = PortList.newBuilder();
                Workloads.targetPorts(svc, pod).forEach((service, target) ->
                        ports.addPorts(Port.newBuilder().setServicePort(service).setTargetPort(target)));
                podServices.computeIfAbsent(podKey(pod), k -> new TreeMap<>()).put(key, ports.build());
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
            if (Workloads.ips(pod).isEmpty()) {
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
        Workloads.Owner owner = Workloads.owner(pod);
        Workload.Builder w = Workload.newBuilder()
                .setUid(podUid(mesh, meta.getNamespace(), meta.getName()))
                .setName(meta.getName())
                .setNamespace(meta.getNamespace())
                .setNetwork(mesh.network())
                .setTunnelProtocol(catalog.enrolled(pod) ? TunnelProtocol.HBONE : TunnelProtocol.NONE)
                .setTrustDomain(id.trustDomain())
                .setServiceAccount(id.serviceAccount())
                .setNode(nullToEmpty(pod.getSpec().getNodeName()))
                .setCanonicalName(Workloads.canonicalName(pod))
                .setCanonicalRevision(Workloads.canonicalRevision(pod))
                .setWorkloadType(WorkloadType.valueOf(owner.type()))
                .setWorkloadName(owner.name())
                .putAllServices(services)
                .addAllAuthorizationPolicies(policies)
                .setStatus(Workloads.ready(pod) ? WorkloadStatus.HEALTHY : WorkloadStatus.UNHEALTHY)
                .setClusterId(mesh.clusterId());
        for (byte[] ip : Workloads.addresses(pod)) {
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
        for (String ip : ServiceCatalog.vips(svc)) {
            s.addAddresses(NetworkAddress.newBuilder().setNetwork(mesh.network())
                    .setAddress(ByteString.copyFrom(Cidr.parse(ip).address())));
        }
        for (ServicePort p : ServiceCatalog.tcpPorts(svc)) {
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
        return catalog.hostname(svc);
    }

    private GatewayAddress workloadWaypoint(Pod pod) {
        return gatewayAddress(catalog.workloadWaypoint(pod, warnings::add));
    }

    private GatewayAddress serviceWaypoint(io.fabric8.kubernetes.api.model.Service svc) {
        return gatewayAddress(catalog.serviceWaypoint(svc, warnings::add));
    }

    /**
     * Where node agents send a waypoint's traffic: its VIP, else its hostname. A waypoint
     * that does not exist keeps its hostname without an address, so node agents refuse the
     * traffic instead of sending it around the waypoint (fail closed).
     */
    private GatewayAddress gatewayAddress(ServiceCatalog.WaypointBinding binding) {
        if (binding == null) {
            return null;
        }
        String ip = binding.service() == null || binding.service().getSpec() == null ? null
                : binding.service().getSpec().getClusterIP();
        Cidr addr = ip == null || ip.equals("None") ? null : Cidr.parse(ip);
        GatewayAddress.Builder g = GatewayAddress.newBuilder().setHboneMtlsPort(HBONE_PORT);
        if (addr != null) {
            g.setAddress(NetworkAddress.newBuilder().setNetwork(mesh.network())
                    .setAddress(ByteString.copyFrom(addr.address())));
        } else {
            g.setHostname(NamespacedHostname.newBuilder().setNamespace(binding.namespace())
                    .setHostname(binding.name() + "." + binding.namespace() + ".svc." + mesh.domainSuffix()));
        }
        return g.build();
    }

    private SpiffeId identity(Pod pod) {
        String sa = pod.getSpec() == null || pod.getSpec().getServiceAccountName() == null
                || pod.getSpec().getServiceAccountName().isEmpty() ? "default" : pod.getSpec().getServiceAccountName();
        return SpiffeId.of(mesh.trustDomain(), pod.getMetadata().getNamespace(), sa);
    }

    private static String podKey(Pod pod) {
        return pod.getMetadata().getNamespace() + "/" + pod.getMetadata().getName();
    }

    private static Map<String, String> labels(Map<String, String> labels) {
        return labels == null ? Map.of() : labels;
    }

    private static String nullToEmpty(String s) {
        return s == null ? "" : s;
    }
}
