package dev.ambit.proxy.state;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.TypeUrls;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.Service;
import dev.ambit.api.workload.Workload;
import dev.ambit.proxy.authz.CompiledPolicy;
import dev.ambit.proxy.authz.PolicyLookup;
import dev.ambit.proxy.authz.RecentDenials;
import dev.ambit.proxy.xds.ResourceHandler;
import dev.ambit.proxy.xds.ResourceHandler.Rejection;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BiFunction;

/**
 * The node agent's view of the mesh, as received over xDS: a {@link WorkloadStore}, a
 * {@link ServiceStore} and a {@link PolicyStore}, fed by the {@link ResourceHandler}s
 * this class registers with the xDS client ({@link #handlers()}), with one generation
 * counter and one set of change listeners across them. The lookups below delegate to the
 * stores; new code may take the store it needs instead.
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
 * anything changes, and a rejected resource leaves the state as it was, so the xDS client
 * can NACK the response. Authorization policies are compiled for the
 * {@link dev.ambit.proxy.authz.Authorizer} when applied (this class, like its
 * {@link PolicyStore}, is a {@link PolicyLookup}).
 *
 * <h2>Names</h2>
 * Address resources are named as Istio names them: a workload by its uid, a service by
 * {@code <namespace>/<hostname>} (the service key, also the key of a workload's
 * {@code services} map). Authorization resources by {@code <namespace>/<name>}.
 */
public final class ProxyState implements PolicyLookup {

    private final String localNetwork;
    private final WorkloadStore workloads;
    private final ServiceStore services;
    private final PolicyStore policies = new PolicyStore();
    // issue 19's mesh view: the L4 denials of this proxy, with the policy and rule (admin "denials").
    private final RecentDenials denials = RecentDenials.of(this, RecentDenials.DEFAULT_CAPACITY);
    private final CopyOnWriteArrayList<Runnable> listeners = new CopyOnWriteArrayList<>();
    private volatile long generation;

    // Writer side, guarded by writeLock.
    private final Object writeLock = new Object();
    private final Addresses addresses;

    private final ResourceHandler<Address> addressHandler;
    private final ResourceHandler<Authorization> authorizationHandler;

    private ProxyState(String localNetwork) {
        this.localNetwork = localNetwork;
        workloads = new WorkloadStore(localNetwork);
        services = new ServiceStore(localNetwork);
        addresses = new Addresses(workloads, services);
        addressHandler = new Handler<>(TypeUrls.ADDRESS, Address.class, Addresses::prepare,
                (upserted, prepared, removed) -> addresses.apply(upserted, prepared, removed));
        authorizationHandler = new Handler<>(TypeUrls.AUTHORIZATION, Authorization.class, PolicyStore::prepare,
                (upserted, prepared, removed) -> policies.apply(upserted, prepared, removed));
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

    /** The last L4 denials decided on this state's policies (the inbound listeners record them). */
    public RecentDenials denials() {
        return denials;
    }

    /** The network of lookups that do not name one. */
    public String localNetwork() {
        return localNetwork;
    }

    /** The workloads, by uid and address. */
    public WorkloadStore workloadStore() {
        return workloads;
    }

    /** The services, by key and VIP, with their endpoints. */
    public ServiceStore serviceStore() {
        return services;
    }

    /** The authorization policies, raw and compiled. */
    public PolicyStore policyStore() {
        return policies;
    }

    // ---------------------------------------------------------------- xDS

    /** Applies {@code istio.workload.Address} resources ({@value TypeUrls#ADDRESS}) to the workload and service stores. */
    public ResourceHandler<Address> addressHandler() {
        return addressHandler;
    }

    /** Applies {@code istio.security.Authorization} resources ({@value TypeUrls#AUTHORIZATION}) to the policy store. */
    public ResourceHandler<Authorization> authorizationHandler() {
        return authorizationHandler;
    }

    /** Both handlers, addresses first: what a node agent registers with its xDS client. */
    public List<ResourceHandler<?>> handlers() {
        return List.of(addressHandler, authorizationHandler);
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
        return workloads.workload(uid);
    }

    /** The workload with this IP on the local network, or {@code null}. */
    public Workload workloadByAddress(InetAddress address) {
        return workloads.byAddress(address);
    }

    /** The workload with this IP on {@code network}, or {@code null}. */
    public Workload workloadByAddress(String network, InetAddress address) {
        return workloads.byAddress(network, address);
    }

    /** See {@link ServiceStore#byVip(InetAddress, int)}. */
    public Service serviceByVip(InetAddress vip, int port) {
        return services.byVip(vip, port);
    }

    /** See {@link ServiceStore#byVip(String, InetAddress, int)}. */
    public Service serviceByVip(String network, InetAddress vip, int port) {
        return services.byVip(network, vip, port);
    }

    /** See {@link ServiceStore#byAddress(String, InetAddress)}. */
    public Service serviceByAddress(String network, InetAddress vip) {
        return services.byAddress(network, vip);
    }

    /** See {@link ServiceStore#backends(Service)}. */
    public List<Workload> backends(Service service) {
        return services.backends(service);
    }

    /** The service with this key ({@code <namespace>/<hostname>}), or {@code null}. */
    public Service service(String key) {
        return services.service(key);
    }

    /** See {@link ServiceStore#endpoints(Service, int)}. */
    public List<Endpoint> endpoints(Service service, int servicePort) {
        return services.endpoints(service, servicePort);
    }

    /** See {@link ServiceStore#endpoints(String, int)}. */
    public List<Endpoint> endpoints(String serviceKey, int servicePort) {
        return services.endpoints(serviceKey, servicePort);
    }

    /** See {@link PolicyStore#policiesFor(Workload)}. */
    public List<Authorization> policiesFor(Workload workload) {
        return policies.policiesFor(workload);
    }

    /** The policy named {@code <namespace>/<name>}, or {@code null}. */
    public Authorization policy(String name) {
        return policies.policy(name);
    }

    @Override
    public List<CompiledPolicy> global() {
        return policies.global();
    }

    @Override
    public List<CompiledPolicy> namespaced(String namespace) {
        return policies.namespaced(namespace);
    }

    @Override
    public CompiledPolicy get(String key) {
        return policies.get(key);
    }

    // ---------------------------------------------------------------- views

    /** Every workload (a live, unmodifiable view). */
    public Collection<Workload> workloads() {
        return workloads.workloads();
    }

    /** Every service (a live, unmodifiable view). */
    public Collection<Service> services() {
        return services.services();
    }

    /** Every authorization policy (a live, unmodifiable view). */
    public Collection<Authorization> policies() {
        return policies.policies();
    }

    public int workloadCount() {
        return workloads.size();
    }

    public int serviceCount() {
        return services.size();
    }

    public int policyCount() {
        return policies.size();
    }

    /** Address resources held (workloads and services). */
    public int addressCount() {
        return addresses.size();
    }

    /** Incremented by every update that changed something; 0 while empty. */
    public long generation() {
        return generation;
    }

    /** The key Istio uses for a service: {@code <namespace>/<hostname>}. */
    public static String serviceKey(Service service) {
        return ServiceStore.key(service);
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
        throwIfRejected(addressHandler.apply(requireNonNull(upserted, "upserted"),
                List.copyOf(requireNonNull(removed, "removed"))));
    }

    /**
     * Applies one xDS response of {@code istio.security.Authorization}, as
     * {@link #applyAddresses}.
     *
     * @throws IllegalArgumentException if a resource is invalid; nothing is applied then
     */
    public void applyAuthorizations(Map<String, Authorization> upserted, Collection<String> removed) {
        throwIfRejected(authorizationHandler.apply(requireNonNull(upserted, "upserted"),
                List.copyOf(requireNonNull(removed, "removed"))));
    }

    private static void throwIfRejected(List<Rejection> rejected) {
        if (!rejected.isEmpty()) {
            throw new IllegalArgumentException(String.join("; ", rejected.stream().map(Rejection::reason).toList()));
        }
    }

    /** Applies prepared resources to a store, under the writer's lock. */
    @FunctionalInterface
    private interface Commit<T, P> {
        void apply(Map<String, T> upserted, Map<String, P> prepared, Collection<String> removed);
    }

    /**
     * One resource type's handler: prepares (validates, parses, compiles) every resource,
     * returning each rejection, before committing anything; then commits under the lock,
     * bumps the generation and tells the listeners.
     */
    private final class Handler<T extends com.google.protobuf.Message, P> implements ResourceHandler<T> {
        private final String typeUrl;
        private final Class<T> type;
        private final BiFunction<String, T, P> prepare;
        private final Commit<T, P> commit;

        Handler(String typeUrl, Class<T> type, BiFunction<String, T, P> prepare, Commit<T, P> commit) {
            this.typeUrl = typeUrl;
            this.type = type;
            this.prepare = prepare;
            this.commit = commit;
        }

        @Override
        public String typeUrl() {
            return typeUrl;
        }

        @Override
        public Class<T> messageType() {
            return type;
        }

        @Override
        public List<Rejection> apply(Map<String, T> updates, List<String> removes) {
            requireNonNull(updates, "updates");
            requireNonNull(removes, "removes");
            Map<String, P> prepared = new LinkedHashMap<>();
            List<Rejection> rejected = new ArrayList<>();
            updates.forEach((name, resource) -> {
                try {
                    prepared.put(name, prepare.apply(name, resource));
                } catch (IllegalArgumentException e) {
                    rejected.add(new Rejection(name, e.getMessage()));
                }
            });
            if (!rejected.isEmpty()) {
                return List.copyOf(rejected);
            }
            if (prepared.isEmpty() && removes.isEmpty()) {
                return List.of();
            }
            synchronized (writeLock) {
                commit.apply(updates, prepared, removes);
                generation++;
            }
            notifyListeners();
            return List.of();
        }

        @Override
        public String toString() {
            return "ProxyState handler for " + typeUrl;
        }
    }
}
