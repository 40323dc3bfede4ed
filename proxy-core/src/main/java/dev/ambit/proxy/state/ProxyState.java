package dev.ambit.proxy.state;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.ByteString;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Scope;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.Port;
import dev.ambit.api.workload.PortList;
import dev.ambit.api.workload.Service;
import dev.ambit.api.workload.Workload;
import dev.ambit.api.workload.WorkloadStatus;
import dev.ambit.proxy.authz.CompiledPolicy;
import dev.ambit.proxy.authz.PolicyLookup;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The node agent's view of the mesh, as received over xDS: workloads, services and
 * authorization policies, indexed for the lookups the data path makes per connection.
 *
 * <h2>Concurrency</h2>
 * One writer (the xDS client) and any number of readers (event loops). Readers never
 * lock: every lookup is one or two {@link ConcurrentHashMap} reads or a volatile read,
 * and every value handed out is immutable (protobuf messages, unmodifiable lists). Each
 * lookup is atomic on its own; an update ({@link #applyAddresses}, {@link #applyAuthorizations})
 * becomes visible entry by entry, so a reader racing with one may see a workload's new
 * address before the service endpoints that include it. That is the same guarantee
 * ztunnel gives, and is harmless because the next connection sees the finished update.
 * An updated resource never goes missing on the way: its new index entries are written
 * before the stale ones are dropped, and endpoint lists are replaced whole, never edited.
 * Writers are serialised by a lock.
 *
 * <p>Updates are all-or-nothing: every resource of an update is validated before
 * anything changes, and an {@link IllegalArgumentException} leaves the state as it was,
 * so the xDS client can NACK the response. Authorization policies are compiled for the
 * {@link dev.ambit.proxy.authz.Authorizer} when applied (this class is its
 * {@link PolicyLookup}); a policy that does not compile rejects its update, because
 * guessing its meaning could open traffic a DENY was meant to stop.
 *
 * <h2>Names</h2>
 * Address resources are named as Istio names them: a workload by its uid, a service by
 * {@code <namespace>/<hostname>} (the service key, also the key of a workload's
 * {@code services} map). Authorization resources by {@code <namespace>/<name>}.
 */
public final class ProxyState implements PolicyLookup {

    /** Lists workloads healthy first, then by uid, so endpoint order is stable. */
    private static final Comparator<Workload> ENDPOINT_ORDER =
            Comparator.comparing((Workload w) -> w.getStatus() != WorkloadStatus.HEALTHY)
                    .thenComparing(Workload::getUid);

    private final String localNetwork;

    // Read by any thread.
    private final ConcurrentHashMap<String, Workload> workloadsByUid = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<NetworkAddress, Workload> workloadsByAddress = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Service> servicesByKey = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<NetworkAddress, Service> servicesByVip = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, ServiceEndpoints> endpointsByService = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Authorization> policiesByName = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, List<Authorization>> namespacePolicies = new ConcurrentHashMap<>();
    private volatile List<Authorization> globalPolicies = List.of();
    // The same policies compiled, indexed the same way, for the Authorizer (PolicyLookup).
    private final ConcurrentHashMap<String, CompiledPolicy> compiledByName = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, List<CompiledPolicy>> compiledNamespace = new ConcurrentHashMap<>();
    private volatile List<CompiledPolicy> compiledGlobal = List.of();
    private volatile long generation;
    private final CopyOnWriteArrayList<Runnable> listeners = new CopyOnWriteArrayList<>();
    /** addressesByName's size, readable without the writer's lock (metrics scrapes). */
    private volatile int addressCount;

    // Writer side, guarded by writeLock: what is needed to undo or recompute an index.
    private final Object writeLock = new Object();
    private final Map<String, Address> addressesByName = new HashMap<>();
    private final Map<String, Set<String>> serviceMembers = new HashMap<>();
    private final TreeMap<String, Authorization> globalByName = new TreeMap<>();
    private final Map<String, TreeMap<String, Authorization>> namespaceByName = new HashMap<>();

    private ProxyState(String localNetwork) {
        this.localNetwork = localNetwork;
    }

    /** An empty state whose address lookups without a network use the default (empty) network. */
    public static ProxyState create() {
        return new ProxyState("");
    }

    /**
     * An empty state whose address lookups without a network use {@code localNetwork}, the
     * network this node is on (Istio's {@code NETWORK}; empty for the default network).
     */
    public static ProxyState create(String localNetwork) {
        return new ProxyState(requireNonNull(localNetwork, "localNetwork"));
    }

    /** The network of lookups that do not name one. */
    public String localNetwork() {
        return localNetwork;
    }

    /**
     * Calls {@code listener} after every update that changed something, on the updating
     * thread (the xDS client's), outside the writer's lock. Listeners must be quick: hand
     * real work to a thread of their own. A listener that throws is logged and skipped.
     */
    public void addListener(Runnable listener) {
        listeners.add(requireNonNull(listener, "listener"));
    }

    public void removeListener(Runnable listener) {
        listeners.remove(listener);
    }

    private void notifyListeners() {
        for (Runnable l : listeners) {
            try {
                l.run();
            } catch (RuntimeException e) {
                System.getLogger(ProxyState.class.getName()).log(System.Logger.Level.WARNING,
                        "state listener " + l + " failed", e);
            }
        }
    }

    // ---------------------------------------------------------------- hot-path lookups

    /** The workload with this uid, or {@code null}. */
    public Workload workload(String uid) {
        return workloadsByUid.get(uid);
    }

    /** The workload with this IP on the local network, or {@code null}. */
    public Workload workloadByAddress(InetAddress address) {
        return workloadsByAddress.get(new NetworkAddress(localNetwork, address));
    }

    /** The workload with this IP on {@code network}, or {@code null}. */
    public Workload workloadByAddress(String network, InetAddress address) {
        return workloadsByAddress.get(new NetworkAddress(network, address));
    }

    /**
     * The service with this VIP on the local network that exposes {@code port}, or
     * {@code null} (no such VIP, or the service does not expose the port).
     */
    public Service serviceByVip(InetAddress vip, int port) {
        return serviceByVip(localNetwork, vip, port);
    }

    /** The service with this VIP on {@code network} that exposes {@code port}, or {@code null}. */
    public Service serviceByVip(String network, InetAddress vip, int port) {
        Service service = servicesByVip.get(new NetworkAddress(network, vip));
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

    /** The service with this key ({@code <namespace>/<hostname>}), or {@code null}. */
    public Service service(String key) {
        return servicesByKey.get(key);
    }

    /**
     * The workloads backing {@code service} on {@code servicePort}, healthy ones first (then
     * by uid), each with its target port. Unhealthy workloads are listed so that a caller
     * whose service allows it ({@code health_policy: ALLOW_ALL}) can use them. A workload
     * whose port cannot be resolved (a named target port it does not define) is left out.
     */
    public List<Endpoint> endpoints(Service service, int servicePort) {
        return endpoints(serviceKey(service), servicePort);
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

    /**
     * The authorization policies that apply to connections to {@code workload}: the GLOBAL
     * ones, those of the workload's namespace, then those its {@code authorization_policies}
     * names (names not, or not yet, known are skipped). Each policy appears once.
     */
    public List<Authorization> policiesFor(Workload workload) {
        List<Authorization> global = globalPolicies;
        List<Authorization> namespace = namespacePolicies.getOrDefault(workload.getNamespace(), List.of());
        int selected = workload.getAuthorizationPoliciesCount();
        if (selected == 0) {
            // The common case allocates nothing.
            if (namespace.isEmpty()) {
                return global;
            }
            if (global.isEmpty()) {
                return namespace;
            }
        }
        List<Authorization> out = new ArrayList<>(global.size() + namespace.size() + selected);
        out.addAll(global);
        out.addAll(namespace);
        for (int i = 0; i < selected; i++) {
            Authorization p = policiesByName.get(workload.getAuthorizationPolicies(i));
            if (p == null || p.getScope() == Scope.GLOBAL
                    || p.getScope() == Scope.NAMESPACE && p.getNamespace().equals(workload.getNamespace())) {
                continue; // unknown, or already listed above
            }
            out.add(p);
        }
        return Collections.unmodifiableList(out);
    }

    /** The policy named {@code <namespace>/<name>}, or {@code null}. */
    public Authorization policy(String name) {
        return policiesByName.get(name);
    }

    // ---------------------------------------------------------------- PolicyLookup

    /** The GLOBAL policies, compiled; never allocates. */
    @Override
    public List<CompiledPolicy> global() {
        return compiledGlobal;
    }

    /** The NAMESPACE policies of {@code namespace}, compiled; never allocates. */
    @Override
    public List<CompiledPolicy> namespaced(String namespace) {
        return compiledNamespace.getOrDefault(namespace, List.of());
    }

    /** The compiled policy named {@code <namespace>/<name>}, or {@code null}. */
    @Override
    public CompiledPolicy get(String key) {
        return compiledByName.get(key);
    }

    // ---------------------------------------------------------------- views

    /** Every workload (a live, unmodifiable view). */
    public Collection<Workload> workloads() {
        return Collections.unmodifiableCollection(workloadsByUid.values());
    }

    /** Every service (a live, unmodifiable view). */
    public Collection<Service> services() {
        return Collections.unmodifiableCollection(servicesByKey.values());
    }

    /** Every authorization policy (a live, unmodifiable view). */
    public Collection<Authorization> policies() {
        return Collections.unmodifiableCollection(policiesByName.values());
    }

    public int workloadCount() {
        return workloadsByUid.size();
    }

    public int serviceCount() {
        return servicesByKey.size();
    }

    public int policyCount() {
        return policiesByName.size();
    }

    /** Address resources held (workloads and services). */
    public int addressCount() {
        return addressCount;
    }

    /** Incremented by every update that changed something; 0 while empty. */
    public long generation() {
        return generation;
    }

    /** The key Istio uses for a service: {@code <namespace>/<hostname>}. */
    public static String serviceKey(Service service) {
        return service.getNamespace() + "/" + service.getHostname();
    }

    // ---------------------------------------------------------------- updates

    /**
     * Applies one xDS response of {@code istio.workload.Address}: adds or replaces the
     * resources in {@code upserted} (name → resource) and removes those named in
     * {@code removed}. Removing an unknown name is not an error (the server may report a
     * name the client never held).
     *
     * @throws IllegalArgumentException if a resource is invalid; nothing is applied then
     */
    public void applyAddresses(Map<String, Address> upserted, Collection<String> removed) {
        requireNonNull(upserted, "upserted");
        requireNonNull(removed, "removed");
        Map<String, List<?>> checked = new LinkedHashMap<>();
        upserted.forEach((name, address) -> checked.put(name, check(name, address)));
        if (checked.isEmpty() && removed.isEmpty()) {
            return;
        }
        synchronized (writeLock) {
            Set<String> touchedServices = new HashSet<>();
            for (String name : removed) {
                Address old = addressesByName.remove(name);
                if (old != null) {
                    unindex(old, null, touchedServices);
                }
            }
            checked.forEach((name, parsed) -> {
                Address address = upserted.get(name);
                Address old = addressesByName.put(name, address);
                if (address.equals(old)) {
                    return; // unchanged: nothing to reindex
                }
                // New entries first, then the old ones the new resource does not replace:
                // a reader never finds an updated workload's address or uid missing.
                index(address, parsed, touchedServices);
                if (old != null) {
                    unindex(old, address, touchedServices);
                }
            });
            for (String key : touchedServices) {
                rebuildEndpoints(key);
            }
            addressCount = addressesByName.size();
            generation++;
        }
        notifyListeners();
    }

    /**
     * Applies one xDS response of {@code istio.security.Authorization}, as
     * {@link #applyAddresses}.
     *
     * @throws IllegalArgumentException if a resource is invalid; nothing is applied then
     */
    public void applyAuthorizations(Map<String, Authorization> upserted, Collection<String> removed) {
        requireNonNull(upserted, "upserted");
        requireNonNull(removed, "removed");
        upserted.forEach(ProxyState::check);
        if (upserted.isEmpty() && removed.isEmpty()) {
            return;
        }
        // Compiled before anything changes, so a policy that does not compile rejects the update.
        Map<String, CompiledPolicy> compiled = new HashMap<>();
        for (Map.Entry<String, Authorization> e : upserted.entrySet()) {
            try {
                compiled.put(e.getKey(), CompiledPolicy.compile(e.getValue()));
            } catch (IllegalArgumentException ex) {
                throw new IllegalArgumentException("authorization " + e.getKey() + ": " + ex.getMessage(), ex);
            }
        }
        synchronized (writeLock) {
            boolean globalChanged = false;
            Set<String> namespacesChanged = new HashSet<>();
            for (String name : removed) {
                Authorization old = policiesByName.remove(name);
                compiledByName.remove(name);
                if (old != null) {
                    globalChanged |= unscope(name, old, namespacesChanged);
                }
            }
            for (Map.Entry<String, Authorization> e : upserted.entrySet()) {
                String name = e.getKey();
                Authorization policy = e.getValue();
                Authorization old = policiesByName.put(name, policy);
                compiledByName.put(name, compiled.get(name));
                if (old != null) {
                    globalChanged |= unscope(name, old, namespacesChanged);
                }
                switch (policy.getScope()) {
                    case GLOBAL -> {
                        globalByName.put(name, policy);
                        globalChanged = true;
                    }
                    case NAMESPACE -> {
                        namespaceByName.computeIfAbsent(policy.getNamespace(), ns -> new TreeMap<>()).put(name, policy);
                        namespacesChanged.add(policy.getNamespace());
                    }
                    default -> { } // found through the workloads that name it
                }
            }
            if (globalChanged) {
                globalPolicies = List.copyOf(globalByName.values());
                compiledGlobal = compiledOf(globalByName.keySet());
            }
            for (String ns : namespacesChanged) {
                TreeMap<String, Authorization> byName = namespaceByName.get(ns);
                if (byName == null || byName.isEmpty()) {
                    namespaceByName.remove(ns);
                    namespacePolicies.remove(ns);
                    compiledNamespace.remove(ns);
                } else {
                    namespacePolicies.put(ns, List.copyOf(byName.values()));
                    compiledNamespace.put(ns, compiledOf(byName.keySet()));
                }
            }
            generation++;
        }
        notifyListeners();
    }

    private List<CompiledPolicy> compiledOf(Collection<String> names) {
        List<CompiledPolicy> out = new ArrayList<>(names.size());
        for (String name : names) {
            out.add(compiledByName.get(name));
        }
        return List.copyOf(out);
    }

    /** Removes a policy from the scope indexes; true if it was a global one. */
    private boolean unscope(String name, Authorization old, Set<String> namespacesChanged) {
        switch (old.getScope()) {
            case GLOBAL -> {
                globalByName.remove(name);
                return true;
            }
            case NAMESPACE -> {
                TreeMap<String, Authorization> byName = namespaceByName.get(old.getNamespace());
                if (byName != null) {
                    byName.remove(name);
                }
                namespacesChanged.add(old.getNamespace());
                return false;
            }
            default -> {
                return false;
            }
        }
    }

    private void index(Address address, List<?> parsed, Set<String> touchedServices) {
        if (address.hasWorkload()) {
            Workload w = address.getWorkload();
            workloadsByUid.put(w.getUid(), w);
            for (Object ip : parsed) {
                // Last writer wins: a new pod may get a deleted pod's IP before the deletion arrives.
                workloadsByAddress.put(new NetworkAddress(w.getNetwork(), (InetAddress) ip), w);
            }
            for (String key : w.getServicesMap().keySet()) {
                serviceMembers.computeIfAbsent(key, k -> new HashSet<>()).add(w.getUid());
                touchedServices.add(key);
            }
        } else {
            Service s = address.getService();
            String key = serviceKey(s);
            servicesByKey.put(key, s);
            for (Object vip : parsed) {
                servicesByVip.put((NetworkAddress) vip, s);
            }
            // Its ports and numeric target ports shape the endpoint lists.
            touchedServices.add(key);
        }
    }

    /**
     * Removes the index entries of {@code address} that still point to it, after its
     * {@code replacement} (null for a removal) was indexed. remove(key, value) leaves alone
     * what the replacement, or any newer resource, took over.
     */
    private void unindex(Address address, Address replacement, Set<String> touchedServices) {
        if (address.hasWorkload()) {
            Workload w = address.getWorkload();
            workloadsByUid.remove(w.getUid(), w);
            for (ByteString bytes : w.getAddressesList()) {
                workloadsByAddress.remove(new NetworkAddress(w.getNetwork(), ip(bytes)), w);
            }
            Workload next = replacement != null && replacement.hasWorkload()
                    && replacement.getWorkload().getUid().equals(w.getUid()) ? replacement.getWorkload() : null;
            for (String key : w.getServicesMap().keySet()) {
                touchedServices.add(key);
                if (next != null && next.getServicesMap().containsKey(key)) {
                    continue; // still a member through the replacement
                }
                Set<String> members = serviceMembers.get(key);
                if (members != null) {
                    members.remove(w.getUid());
                    if (members.isEmpty()) {
                        serviceMembers.remove(key);
                    }
                }
            }
        } else {
            Service s = address.getService();
            String key = serviceKey(s);
            servicesByKey.remove(key, s);
            for (var vip : s.getAddressesList()) {
                servicesByVip.remove(new NetworkAddress(vip.getNetwork(), ip(vip.getAddress())), s);
            }
            touchedServices.add(key);
        }
    }

    /** Recomputes one service's endpoint lists from its members; O(members × ports). */
    private void rebuildEndpoints(String key) {
        Set<String> uids = serviceMembers.get(key);
        if (uids == null || uids.isEmpty()) {
            endpointsByService.remove(key);
            return;
        }
        List<Workload> members = new ArrayList<>(uids.size());
        for (String uid : uids) {
            Workload w = workloadsByUid.get(uid);
            if (w != null && w.getServicesMap().containsKey(key)) {
                members.add(w);
            }
        }
        members.sort(ENDPOINT_ORDER);
        Service service = servicesByKey.get(key);
        Set<Integer> ports = new TreeSet<>();
        if (service != null) {
            for (Port p : service.getPortsList()) {
                ports.add(p.getServicePort());
            }
        }
        for (Workload w : members) {
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
            List<Endpoint> list = new ArrayList<>(members.size());
            for (Workload w : members) {
                int target = targetPort(w.getServicesMap().get(key), port, serviceTarget);
                if (target > 0) {
                    list.add(new Endpoint(w, target));
                }
            }
            byPort.put(port, List.copyOf(list));
        }
        endpointsByService.put(key, new ServiceEndpoints(Map.copyOf(byPort)));
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

    // ---------------------------------------------------------------- validation

    /**
     * Checks one Address resource and returns its parsed addresses (workload IPs or
     * service VIPs as {@link NetworkAddress}es), so that indexing cannot fail half way.
     */
    private static List<?> check(String name, Address address) {
        requireNonNull(name, "name");
        requireNonNull(address, "address of " + name);
        switch (address.getTypeCase()) {
            case WORKLOAD -> {
                Workload w = address.getWorkload();
                if (w.getUid().isEmpty()) {
                    throw new IllegalArgumentException("workload " + name + ": uid: empty (expected: e.g. "
                            + "Kubernetes//Pod/<ns>/<name>)");
                }
                List<InetAddress> ips = new ArrayList<>(w.getAddressesCount());
                for (ByteString bytes : w.getAddressesList()) {
                    ips.add(checkedIp("workload " + name + ": address", bytes));
                }
                for (Map.Entry<String, PortList> e : w.getServicesMap().entrySet()) {
                    for (Port p : e.getValue().getPortsList()) {
                        checkPort("workload " + name + ": services[" + e.getKey() + "]", p);
                    }
                }
                return ips;
            }
            case SERVICE -> {
                Service s = address.getService();
                if (s.getHostname().isEmpty()) {
                    throw new IllegalArgumentException("service " + name + ": hostname: empty (expected: e.g. "
                            + "backend.default.svc.cluster.local)");
                }
                List<NetworkAddress> vips = new ArrayList<>(s.getAddressesCount());
                for (var vip : s.getAddressesList()) {
                    vips.add(new NetworkAddress(vip.getNetwork(),
                            checkedIp("service " + name + ": address", vip.getAddress())));
                }
                for (Port p : s.getPortsList()) {
                    checkPort("service " + name, p);
                }
                return vips;
            }
            default -> throw new IllegalArgumentException("address " + name
                    + ": neither a workload nor a service (expected: one of them)");
        }
    }

    private static void check(String name, Authorization policy) {
        requireNonNull(name, "name");
        requireNonNull(policy, "policy " + name);
        if (policy.getName().isEmpty()) {
            throw new IllegalArgumentException("authorization " + name + ": name: empty");
        }
        if (policy.getScope() == Scope.UNRECOGNIZED || policy.getAction() == dev.ambit.api.security.Action.UNRECOGNIZED) {
            // An unknown action must never be read as the default ALLOW.
            throw new IllegalArgumentException("authorization " + name + ": unknown scope or action ("
                    + policy.getScopeValue() + ", " + policy.getActionValue() + ")");
        }
    }

    private static void checkPort(String what, Port p) {
        if (p.getServicePort() == 0 || p.getServicePort() > 65535 || p.getTargetPort() > 65535) {
            throw new IllegalArgumentException(what + ": port " + p.getServicePort() + " -> " + p.getTargetPort()
                    + " (expected: service port 1-65535, target port 0-65535)");
        }
    }

    private static InetAddress checkedIp(String what, ByteString bytes) {
        if (bytes.size() != 4 && bytes.size() != 16) {
            throw new IllegalArgumentException(what + ": " + bytes.size() + " bytes (expected: 4 or 16)");
        }
        return ip(bytes);
    }

    private static InetAddress ip(ByteString bytes) {
        try {
            return InetAddress.getByAddress(bytes.toByteArray());
        } catch (UnknownHostException e) {
            // Only thrown for a wrong length, which check() rejected before.
            throw new IllegalArgumentException("address: " + bytes.size() + " bytes (expected: 4 or 16)", e);
        }
    }

    /** One service's endpoints, immutable, replaced as a whole. */
    private record ServiceEndpoints(Map<Integer, List<Endpoint>> byPort) {}
}
