package dev.ambit.proxy.state;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.workload.Workload;
import java.net.InetAddress;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The workloads the proxy knows, by uid and by network address: the lookups the data path
 * makes per connection (who is the source, where does this IP go).
 *
 * <p>Readers never lock: each lookup is one {@link ConcurrentHashMap} read, and workloads
 * are immutable protobuf messages. The store is written only through its
 * {@link ProxyState}, by one writer at a time, from validated {@code istio.workload.Address}
 * resources.
 */
public final class WorkloadStore {

    private final String localNetwork;
    private final ConcurrentHashMap<String, Workload> byUid = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<NetworkAddress, Workload> byAddress = new ConcurrentHashMap<>();

    WorkloadStore(String localNetwork) {
        this.localNetwork = requireNonNull(localNetwork, "localNetwork");
    }

    /** The workload with this uid, or {@code null}. */
    public Workload workload(String uid) {
        return byUid.get(uid);
    }

    /** The workload with this IP on the local network, or {@code null}. */
    public Workload byAddress(InetAddress address) {
        return byAddress.get(new NetworkAddress(localNetwork, address));
    }

    /** The workload with this IP on {@code network}, or {@code null}. */
    public Workload byAddress(String network, InetAddress address) {
        return byAddress.get(new NetworkAddress(network, address));
    }

    /** Every workload (a live, unmodifiable view). */
    public Collection<Workload> workloads() {
        return Collections.unmodifiableCollection(byUid.values());
    }

    /** The number of workloads. */
    public int size() {
        return byUid.size();
    }

    // ---------------------------------------------------------------- writer (ProxyState's lock held)

    /** Indexes {@code workload} under its uid and {@code addresses} (its parsed IPs). */
    void insert(Workload workload, List<InetAddress> addresses) {
        byUid.put(workload.getUid(), workload);
        for (InetAddress ip : addresses) {
            // Last writer wins: a new pod may get a deleted pod's IP before the deletion arrives.
            byAddress.put(new NetworkAddress(workload.getNetwork(), ip), workload);
        }
    }

    /**
     * Drops the entries that still point to {@code workload}; remove(key, value) leaves alone
     * what a replacement, or any newer workload, took over.
     */
    void remove(Workload workload, List<InetAddress> addresses) {
        byUid.remove(workload.getUid(), workload);
        for (InetAddress ip : addresses) {
            byAddress.remove(new NetworkAddress(workload.getNetwork(), ip), workload);
        }
    }
}
