package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * IPv4 addresses handed out from a range, each to one owner: pod addresses of a node
 * ({@code 10.244.<i>.2-254}), Service VIPs ({@code 10.96.0.10-10.96.255.254}). The lowest
 * free address is taken, so a cluster's addresses are predictable. Not thread-safe: the
 * controller is single-threaded.
 */
public final class IpPool {

    private final String name;
    private final int first;
    private final int last;
    private final Map<Integer, String> owners = new HashMap<>();

    private IpPool(String name, int first, int last) {
        this.name = name;
        this.first = first;
        this.last = last;
    }

    /**
     * A pool of {@code first..last} inclusive.
     *
     * @param name names the pool in messages, e.g. "pod addresses of node1"
     */
    public static IpPool of(String name, String first, String last) {
        requireNonNull(name, "name");
        int f = parse(requireNonNull(first, "first"));
        int l = parse(requireNonNull(last, "last"));
        if (f < 0 || l < 0 || Integer.compareUnsigned(f, l) > 0) {
            throw new IllegalArgumentException("range: " + first + "-" + last + " (expected: two IPv4 addresses, low to high)");
        }
        return new IpPool(name, f, l);
    }

    /** The pod addresses of node {@code index} (1-based): {@code 10.244.<index>.2-254}; .1 is the node's gateway. */
    public static IpPool podAddresses(int index) {
        return of("pod addresses of node" + index, "10.244." + index + ".2", "10.244." + index + ".254");
    }

    /** Service VIPs: {@code 10.96.0.10-10.96.255.254} (.1-.9 are kept free, as Kubernetes keeps .1 and .10 for itself). */
    public static IpPool serviceAddresses() {
        return of("service addresses (10.96.0.0/16)", "10.96.0.10", "10.96.255.254");
    }

    /**
     * External addresses of LoadBalancer Services: {@code 10.250.0.200-10.250.0.250}, on the node
     * network, which the machine reaches over {@link Topology#HOST_LINK} (as MetalLB's layer 2 mode
     * answers for addresses of the nodes' own subnet).
     */
    public static IpPool loadBalancerAddresses() {
        return of("load balancer addresses (" + Topology.LB_FIRST + "-" + Topology.LB_LAST + ")", Topology.LB_FIRST,
                Topology.LB_LAST);
    }

    /** Whether {@code address} is in the range. */
    public boolean contains(String address) {
        int a = parse(requireNonNull(address, "address"));
        return a != -1 && Integer.compareUnsigned(a, first) >= 0 && Integer.compareUnsigned(a, last) <= 0;
    }

    /** Takes the lowest free address for {@code owner}; the one it already has, if any. */
    public String allocate(String owner) {
        requireNonNull(owner, "owner");
        Optional<String> had = addressOf(owner);
        if (had.isPresent()) {
            return had.get();
        }
        for (long a = Integer.toUnsignedLong(first); a <= Integer.toUnsignedLong(last); a++) {
            if (!owners.containsKey((int) a)) {
                owners.put((int) a, owner);
                return format((int) a);
            }
        }
        throw new LocalException(name + ": all " + size() + " addresses are in use (delete some objects)");
    }

    /**
     * Gives {@code address} to {@code owner} (an explicit {@code clusterIP}); addresses outside
     * the range are accepted and remembered too, as Kubernetes would reject them but a
     * local cluster has no reason to.
     *
     * @throws LocalException when another owner has it
     */
    public void reserve(String address, String owner) {
        requireNonNull(owner, "owner");
        int a = parse(requireNonNull(address, "address"));
        if (a < 0) {
            throw new IllegalArgumentException("address: " + address + " (expected: IPv4)");
        }
        String had = owners.get(a);
        if (had != null && !had.equals(owner)) {
            throw new LocalException(address + " is already allocated to " + had + " (" + name
                    + "): give " + owner + " another address, or leave clusterIP empty to get a free one");
        }
        release(owner);
        owners.put(a, owner);
    }

    /** Frees what {@code owner} holds; false if nothing. */
    public boolean release(String owner) {
        return owners.values().removeIf(owner::equals);
    }

    public Optional<String> addressOf(String owner) {
        return owners.entrySet().stream().filter(e -> e.getValue().equals(owner)).map(e -> format(e.getKey())).findFirst();
    }

    public int size() {
        return (int) (Integer.toUnsignedLong(last) - Integer.toUnsignedLong(first) + 1);
    }

    public int used() {
        return owners.size();
    }

    /** {@code a.b.c.d} as an int; -1 (255.255.255.255 is never used here) when it is not a dotted IPv4 address. */
    public static int parse(String s) {
        String[] parts = s.split("\\.", -1);
        if (parts.length != 4) {
            return -1;
        }
        int v = 0;
        for (String p : parts) {
            if (p.isEmpty() || p.length() > 3 || !p.chars().allMatch(Character::isDigit)) {
                return -1;
            }
            int b = Integer.parseInt(p);
            if (b > 255) {
                return -1;
            }
            v = (v << 8) | b;
        }
        return v;
    }

    public static String format(int a) {
        return ((a >>> 24) & 0xff) + "." + ((a >>> 16) & 0xff) + "." + ((a >>> 8) & 0xff) + "." + (a & 0xff);
    }
}
