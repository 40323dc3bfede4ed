package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * The Services of the local cluster, kube-controller-manager's and kube-proxy's part: each
 * applied Service gets a VIP (its explicit {@code clusterIP}, or one from the Service range,
 * kept while the Service exists) and its endpoints, the ready pods it selects (running, every
 * container running and past its readiness probe, as Kubernetes' EndpointSlices list them). Single-threaded
 * (the controller's loop).
 */
final class ServiceRegistry {

    private final IpPool serviceIps;
    private final IpPool externalIps;
    private final PortPool nodePorts;
    private final Consumer<String> log;
    private final Map<String, String> serviceCreated = new HashMap<>();
    /** The last allocation problem logged per Service: each is logged once, not every tick. */
    private final Map<String, String> problems = new HashMap<>();

    /** VIPs from {@code serviceIps}; conflicts (a taken or out-of-range clusterIP) go to {@code log}. */
    ServiceRegistry(IpPool serviceIps, Consumer<String> log) {
        this(serviceIps, IpPool.loadBalancerAddresses(), PortPool.nodePorts(), log);
    }

    /**
     * VIPs from {@code serviceIps}, LoadBalancer addresses from {@code externalIps}, node ports
     * from {@code nodePorts}; conflicts go to {@code log}, once per Service and problem.
     */
    ServiceRegistry(IpPool serviceIps, IpPool externalIps, PortPool nodePorts, Consumer<String> log) {
        this.serviceIps = requireNonNull(serviceIps, "serviceIps");
        this.externalIps = requireNonNull(externalIps, "externalIps");
        this.nodePorts = requireNonNull(nodePorts, "nodePorts");
        this.log = requireNonNull(log, "log");
    }

    /**
     * Every Service of {@code manifests} with its VIP and endpoints among {@code pods}, by
     * {@code namespace/name}. A Service whose VIP conflicts is left out (and logged); the
     * VIPs of Services no longer applied are free again.
     */
    Map<String, ServiceView> update(List<KubeObject> manifests, Collection<RunningPod> pods) {
        Map<String, ServiceView> out = new TreeMap<>();
        Set<String> present = new HashSet<>();
        for (KubeObject o : manifests) {
            if (!o.kind().equals("Service")) {
                continue;
            }
            String key = o.namespace() + "/" + o.name();
            present.add(key);
            String explicit = Services.explicitClusterIp(o);
            String vip;
            try {
                if (explicit.equals("None")) {
                    serviceIps.release(key);
                    vip = "None";
                } else if (!explicit.isEmpty()) {
                    serviceIps.reserve(explicit, key);
                    vip = explicit;
                } else {
                    vip = serviceIps.allocate(key);
                }
            } catch (LocalException e) {
                log.accept("service " + key + ": " + e.getMessage());
                continue;
            }
            serviceCreated.putIfAbsent(key, Instant.now().toString());
            List<Services.ServicePort> ports = Services.ports(o);
            Map<String, String> selector = Services.selector(o);
            List<String> endpoints = new ArrayList<>();
            Map<String, List<String>> backends = new TreeMap<>();
            for (Services.ServicePort sp : ports) {
                if (sp.protocol().equals("TCP") && !vip.equals("None")) {
                    backends.put(vip + ":" + sp.port(), new ArrayList<>());
                }
            }
            for (RunningPod p : pods) {
                if (!p.namespace.equals(o.namespace()) || !p.ready()
                        || !Selector.serviceSelects(selector, KubeObject.stringMap(p.metadata.path("labels")))) {
                    continue;
                }
                List<PodTemplate.Port> cports = p.template.containers().stream().flatMap(c -> c.ports().stream()).toList();
                for (Services.ServicePort sp : ports) {
                    int target = sp.targetFor(cports);
                    if (target > 0) {
                        endpoints.add(p.ip + ":" + target);
                        List<String> b = backends.get(vip + ":" + sp.port());
                        if (b != null) {
                            b.add(p.ip + ":" + target);
                        }
                    }
                }
            }
            backends.values().forEach(l -> l.sort(null));
            List<String> trouble = new ArrayList<>();
            Map<String, Integer> allocated = allocateNodePorts(key, o, ports, trouble);
            String external = allocateExternalIp(key, o, trouble);
            String problem = String.join("; ", trouble);
            if (!problem.equals(problems.getOrDefault(key, ""))) {
                if (!problem.isEmpty()) {
                    log.accept("service " + key + ": " + problem);
                }
                problems.put(key, problem);
            }
            out.put(key, new ServiceView(o, vip, ports, endpoints.stream().sorted().distinct().toList(), backends,
                    external, allocated));
        }
        // Services gone: their VIPs are free again.
        for (String key : new ArrayList<>(serviceCreated.keySet())) {
            if (!present.contains(key)) {
                serviceIps.release(key);
                externalIps.release(key);
                nodePorts.releaseIf(owner -> owner.startsWith(key + "/"));
                serviceCreated.remove(key);
                problems.remove(key);
            }
        }
        return out;
    }

    /**
     * The node ports of Service {@code key}'s ports, by {@code port/protocol}: an explicit
     * {@code nodePort} is reserved, others get the lowest free one; kept while the Service
     * exists, released when it no longer has node ports (or a port is gone). A conflict leaves
     * that port without one, with the reason in {@code trouble}.
     */
    private Map<String, Integer> allocateNodePorts(String key, KubeObject svc, List<Services.ServicePort> ports,
                                                   List<String> trouble) {
        Map<String, Integer> out = new TreeMap<>();
        Set<String> owners = new HashSet<>();
        if (Services.hasNodePorts(svc)) {
            for (Services.ServicePort sp : ports) {
                String owner = key + "/" + sp.port() + "/" + sp.protocol();
                try {
                    if (sp.nodePort() != 0) {
                        nodePorts.reserve(sp.nodePort(), owner);
                        out.put(sp.port() + "/" + sp.protocol(), sp.nodePort());
                    } else {
                        out.put(sp.port() + "/" + sp.protocol(), nodePorts.allocate(owner));
                    }
                    owners.add(owner);
                } catch (LocalException e) {
                    trouble.add("port " + sp.port() + ": nodePort " + e.getMessage());
                }
            }
        }
        nodePorts.releaseIf(owner -> owner.startsWith(key + "/") && !owners.contains(owner));
        return out;
    }

    /**
     * A LoadBalancer Service's external address: {@code spec.loadBalancerIP} when set and in the
     * pool (as MetalLB honours it), else the lowest free one; null (the Service stays
     * {@code <pending>}, as on a cluster without a free address) with the reason in {@code trouble}.
     */
    private String allocateExternalIp(String key, KubeObject svc, List<String> trouble) {
        if (!Services.type(svc).equals(Services.LOAD_BALANCER)) {
            externalIps.release(key);
            return null;
        }
        String wanted = Services.loadBalancerIp(svc);
        try {
            if (wanted.isEmpty()) {
                return externalIps.allocate(key);
            }
            if (!externalIps.contains(wanted)) {
                externalIps.release(key);
                trouble.add("spec.loadBalancerIP: " + wanted + " is not in the local pool (expected: "
                        + Topology.LB_FIRST + "-" + Topology.LB_LAST + ", or empty)");
                return null;
            }
            externalIps.reserve(wanted, key);
            return wanted;
        } catch (LocalException e) {
            trouble.add("external address: " + e.getMessage());
            return null;
        }
    }

    /** When Service {@code key} ({@code namespace/name}) first got its VIP; empty if it has none. */
    String createdAt(String key) {
        return serviceCreated.getOrDefault(key, "");
    }

    /** What the eBPF Service load balancer gets: every TCP {@code vip:port} with its backends. */
    static Map<String, List<String>> backends(Map<String, ServiceView> services) {
        Map<String, List<String>> backends = new TreeMap<>();
        services.values().forEach(s -> backends.putAll(s.backends()));
        return backends;
    }
}
