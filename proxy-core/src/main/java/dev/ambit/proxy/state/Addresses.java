package dev.ambit.proxy.state;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.ByteString;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.Port;
import dev.ambit.api.workload.PortList;
import dev.ambit.api.workload.Service;
import dev.ambit.api.workload.Workload;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The {@code istio.workload.Address} resources held, by name, and how each is indexed into
 * the {@link WorkloadStore} and the {@link ServiceStore}: one resource is either a workload
 * or a service, and a workload joins the services its {@code services} map names. Writer
 * side only, used under {@link ProxyState}'s lock.
 *
 * <p>An updated resource never goes missing on the way: its new index entries are written
 * before the stale ones are dropped.
 */
final class Addresses {

    private final WorkloadStore workloads;
    private final ServiceStore services;
    private final Map<String, Address> byName = new HashMap<>();
    /** byName's size, readable without the writer's lock (metrics scrapes). */
    private volatile int count;

    Addresses(WorkloadStore workloads, ServiceStore services) {
        this.workloads = workloads;
        this.services = services;
    }

    int size() {
        return count;
    }

    /**
     * Removes the resources named in {@code removed}, then adds or replaces those in
     * {@code upserted}, whose addresses {@link #prepare} parsed into {@code parsed}.
     */
    void apply(Map<String, Address> upserted, Map<String, List<?>> parsed, Collection<String> removed) {
        Set<String> touchedServices = new HashSet<>();
        for (String name : removed) {
            Address old = byName.remove(name);
            if (old != null) {
                unindex(old, null, touchedServices);
            }
        }
        parsed.forEach((name, addresses) -> {
            Address address = upserted.get(name);
            Address old = byName.put(name, address);
            if (address.equals(old)) {
                return; // unchanged: nothing to reindex
            }
            // New entries first, then the old ones the new resource does not replace:
            // a reader never finds an updated workload's address or uid missing.
            index(address, addresses, touchedServices);
            if (old != null) {
                unindex(old, address, touchedServices);
            }
        });
        for (String key : touchedServices) {
            services.rebuildEndpoints(key, workloads);
        }
        count = byName.size();
    }

    @SuppressWarnings("unchecked")
    private void index(Address address, List<?> parsed, Set<String> touchedServices) {
        if (address.hasWorkload()) {
            Workload w = address.getWorkload();
            workloads.insert(w, (List<InetAddress>) parsed);
            for (String key : w.getServicesMap().keySet()) {
                services.addMember(key, w.getUid());
                touchedServices.add(key);
            }
        } else {
            Service s = address.getService();
            services.insert(s, (List<NetworkAddress>) parsed);
            // Its ports and numeric target ports shape the endpoint lists.
            touchedServices.add(ServiceStore.key(s));
        }
    }

    /**
     * Removes the index entries of {@code address} that still point to it, after its
     * {@code replacement} (null for a removal) was indexed.
     */
    private void unindex(Address address, Address replacement, Set<String> touchedServices) {
        if (address.hasWorkload()) {
            Workload w = address.getWorkload();
            List<InetAddress> ips = new ArrayList<>(w.getAddressesCount());
            for (ByteString bytes : w.getAddressesList()) {
                ips.add(ip(bytes));
            }
            workloads.remove(w, ips);
            Workload next = replacement != null && replacement.hasWorkload()
                    && replacement.getWorkload().getUid().equals(w.getUid()) ? replacement.getWorkload() : null;
            for (String key : w.getServicesMap().keySet()) {
                touchedServices.add(key);
                if (next != null && next.getServicesMap().containsKey(key)) {
                    continue; // still a member through the replacement
                }
                services.removeMember(key, w.getUid());
            }
        } else {
            Service s = address.getService();
            List<NetworkAddress> vips = new ArrayList<>(s.getAddressesCount());
            for (var vip : s.getAddressesList()) {
                vips.add(new NetworkAddress(vip.getNetwork(), ip(vip.getAddress())));
            }
            services.remove(s, vips);
            touchedServices.add(ServiceStore.key(s));
        }
    }

    // ---------------------------------------------------------------- validation

    /**
     * Checks one Address resource and returns its parsed addresses (workload IPs or
     * service VIPs as {@link NetworkAddress}es), so that indexing cannot fail half way.
     *
     * @throws IllegalArgumentException naming the resource, if it is invalid
     */
    static List<?> prepare(String name, Address address) {
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
            // Only thrown for a wrong length, which prepare() rejected before.
            throw new IllegalArgumentException("address: " + bytes.size() + " bytes (expected: 4 or 16)", e);
        }
    }
}
