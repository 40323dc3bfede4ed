package dev.ambit.proxy.state;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.workload.Port;
import dev.ambit.api.workload.PortList;
import dev.ambit.api.workload.Service;
import dev.ambit.api.workload.Workload;
import dev.ambit.api.workload.WorkloadStatus;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The services the proxy knows, by key ({@code <namespace>/<hostname>}) and by VIP, with
 * the endpoints backing each service port: what the outbound path resolves a captured
 * destination with.
 *
 * <p>Readers never lock: a lookup is one or two {@link ConcurrentHashMap} reads, and the
 * values are immutable (protobuf messages, unmodifiable lists). A service's endpoint lists
 * are replaced whole, never edited. The store is written only through its
 * {@link ProxyState}, by one writer at a time: workloads join a service through their
 * {@code services} map, and the endpoints are recomputed from the members and the
 * {@link WorkloadStore}.
 */
public final class ServiceStore {

    /** Lists workloads healthy first, then by uid, so endpoint order is stable. */
    private static final Comparator<Workload> ENDPOINT_ORDER =
            Comparator.comparing((Workload w) -> w.getStatus() != WorkloadStatus.HEALTHY)
                    .thenComparing(Workload::getUid);

    private final String localNetwork;
    // Read by any thread.
    private final ConcurrentHashMap<String, Service> byKey = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<NetworkAddress, Service> byVip = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, ServiceEndpoints> endpointsByService = new ConcurrentHashMap<>();
    // Writer side: the uids of the workloads that name each service key.
    private final Map<String, Set<String>> members = new HashMap<>();

    ServiceStore(String localNetwork) {
        this.localNetwork = requireNonNull(localNetwork, "localNetwork");
    }

    /** The key Istio uses for a service: {@code <namespace>/<hostname>}. */
    public static String key(Service service) {
        return service.getNamespace() + "/" + service.getHostname();
    }

    /** The service with this key ({@code <namespace>/<hostname>}), or {@code null}. */
    public Service service(String key) {
        return byKey.get(key);
    }

    /**
     * The service with this VIP on the local network that exposes {@code port}, or
     * {@code null} (no such VIP, or the service does not expose the port).
     */
    public Service byVip(InetAddress vip, int port) {
        return byVip(localNetwork, vip, port);
    }

    /** The service with this VIP on {@code network} that exposes {@code port}, or {@code null}. */
    public Service byVip(String network, InetAddress vip, int port) {
        Service service = byVip.get(new NetworkAddress(network, vip));
        if (service == null) {
            return null;
        }
        // A service has a handful of ports: a scan beats an extra map per service.
        for (int i = 0, n = service.getPortsCount(); i < n; i++) {
            if (service.getPorts(i).getServicePort() == port) {
                return service;
            }
        }
        return null;
    }

    /**
     * The service with this VIP on {@code network}, whatever its ports, or {@code null}: a
     * waypoint is named by its Service's address alone ({@code GatewayAddress}), and reached
     * on its HBONE port, which the Service need not list.
     */
    public Service byAddress(String network, InetAddress vip) {
        return byVip.get(new NetworkAddress(network, vip));
    }

    /**
     * The workloads backing {@code service} on any port, healthy ones first (then by uid):
     * for a waypoint's Service, whose pods are dialled on the gateway's HBONE port rather than
     * through a service port's target port.
     */
    public List<Workload> backends(Service service) {
        ServiceEndpoints e = endpointsByService.get(key(service));
        return e == null ? List.of() : e.backends;
    }

    /**
     * The workloads backing {@code service} on {@code servicePort}, healthy ones first (then
     * by uid), each with its target port. Unhealthy workloads are listed so that a caller
     * whose service allows it ({@code health_policy: ALLOW_ALL}) can use them. A workload
     * whose port cannot be resolved (a named target port it does not define) is left out.
     */
    public List<Endpoint> endpoints(Service service, int servicePort) {
        return endpoints(key(service), servicePort);
    }

    /** As {@link #endpoints(Service, int)}, by service key {@code <namespace>/<hostname>}. */
    public List<Endpoint> endpoints(String serviceKey, int servicePort) {
        ServiceEndpoints e = endpointsByService.get(serviceKey);
        if (e == null) {
            return List.of();
        }
        List<Endpoint> list = e.byPort.get(servicePort);
        return list == null ? List.of() : list;
    }

    /** Every service (a live, unmodifiable view). */
    public Collection<Service> services() {
        return Collections.unmodifiableCollection(byKey.values());
    }

    /** The number of services. */
    public int size() {
        return byKey.size();
    }

    // ---------------------------------------------------------------- writer (ProxyState's lock held)

    /** Indexes {@code service} under its key and {@code vips} (its parsed VIPs). */
    void insert(Service service, List<NetworkAddress> vips) {
        byKey.put(key(service), service);
        for (NetworkAddress vip : vips) {
            byVip.put(vip, service);
        }
    }

    /** Drops the entries that still point to {@code service} (see {@link WorkloadStore#remove}). */
    void remove(Service service, List<NetworkAddress> vips) {
        byKey.remove(key(service), service);
        for (NetworkAddress vip : vips) {
            byVip.remove(vip, service);
        }
    }

    /** Records that the workload {@code uid} names the service {@code key}. */
    void addMember(String key, String uid) {
        members.computeIfAbsent(key, k -> new HashSet<>()).add(uid);
    }

    /** Records that the workload {@code uid} no longer names the service {@code key}. */
    void removeMember(String key, String uid) {
        Set<String> uids = members.get(key);
        if (uids != null) {
            uids.remove(uid);
            if (uids.isEmpty()) {
                members.remove(key);
            }
        }
    }

    /** Recomputes one service's endpoint lists from its members; O(members × ports). */
    void rebuildEndpoints(String key, WorkloadStore workloads) {
        Set<String> uids = members.get(key);
        if (uids == null || uids.isEmpty()) {
            endpointsByService.remove(key);
            return;
        }
        List<Workload> backing = new ArrayList<>(uids.size());
        for (String uid : uids) {
            Workload w = workloads.workload(uid);
            if (w != null && w.getServicesMap().containsKey(key)) {
                backing.add(w);
            }
        }
        backing.sort(ENDPOINT_ORDER);
        Service service = byKey.get(key);
        Set<Integer> ports = new TreeSet<>();
        if (service != null) {
            for (Port p : service.getPortsList()) {
                ports.add(p.getServicePort());
            }
        }
        for (Workload w : backing) {
            for (Port p : w.getServicesMap().get(key).getPortsList()) {
                ports.add(p.getServicePort());
            }
        }
        Map<Integer, List<Endpoint>> byPort = new HashMap<>();
        for (int port : ports) {
            int serviceTarget = 0;
            if (service != null) {
                for (Port p : service.getPortsList()) {
                    if (p.getServicePort() == port) {
                        serviceTarget = p.getTargetPort();
                    }
                }
            }
            List<Endpoint> list = new ArrayList<>(backing.size());
            for (Workload w : backing) {
                int target = targetPort(w.getServicesMap().get(key), port, serviceTarget);
                if (target > 0) {
                    list.add(new Endpoint(w, target));
                }
            }
            byPort.put(port, List.copyOf(list));
        }
        endpointsByService.put(key, new ServiceEndpoints(Map.copyOf(byPort), List.copyOf(backing)));
    }

    /**
     * ztunnel's rule: the workload's own mapping wins (it resolves named target ports);
     * otherwise the service's numeric target port; otherwise the workload does not serve
     * the port (a named port it lacks), signalled by 0.
     */
    private static int targetPort(PortList ports, int servicePort, int serviceTarget) {
        for (Port p : ports.getPortsList()) {
            if (p.getServicePort() == servicePort && p.getTargetPort() != 0) {
                return p.getTargetPort();
            }
        }
        return serviceTarget;
    }

    /** One service's endpoints, immutable, replaced as a whole; {@code backends} on any port. */
    private record ServiceEndpoints(Map<Integer, List<Endpoint>> byPort, List<Workload> backends) {}
}
