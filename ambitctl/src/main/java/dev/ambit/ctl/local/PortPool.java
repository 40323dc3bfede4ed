package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.function.Predicate;

/**
 * Port numbers handed out from a range, each to one owner: the NodePorts of Services
 * ({@value #NODE_PORT_FIRST}-{@value #NODE_PORT_LAST}, Kubernetes' default
 * {@code --service-node-port-range}). The lowest free port is taken, so a cluster's ports are
 * predictable. Not thread-safe: the controller is single-threaded.
 */
final class PortPool {

    static final int NODE_PORT_FIRST = 30000;
    static final int NODE_PORT_LAST = 32767;

    private final String name;
    private final int first;
    private final int last;
    private final Map<Integer, String> owners = new HashMap<>();

    private PortPool(String name, int first, int last) {
        this.name = name;
        this.first = first;
        this.last = last;
    }

    /**
     * A pool of {@code first..last} inclusive.
     *
     * @param name names the pool in messages, e.g. "node ports"
     */
    static PortPool of(String name, int first, int last) {
        requireNonNull(name, "name");
        if (first < 1 || last > 65535 || first > last) {
            throw new IllegalArgumentException("range: " + first + "-" + last + " (expected: ports in 1-65535, low to high)");
        }
        return new PortPool(name, first, last);
    }

    /** NodePorts: {@value #NODE_PORT_FIRST}-{@value #NODE_PORT_LAST}. */
    static PortPool nodePorts() {
        return of("node ports (" + NODE_PORT_FIRST + "-" + NODE_PORT_LAST + ")", NODE_PORT_FIRST, NODE_PORT_LAST);
    }

    /** Whether {@code port} is in the range. */
    boolean contains(int port) {
        return port >= first && port <= last;
    }

    /** Takes the lowest free port for {@code owner}; the one it already has, if any. */
    int allocate(String owner) {
        requireNonNull(owner, "owner");
        OptionalInt had = portOf(owner);
        if (had.isPresent()) {
            return had.getAsInt();
        }
        for (int p = first; p <= last; p++) {
            if (!owners.containsKey(p)) {
                owners.put(p, owner);
                return p;
            }
        }
        throw new LocalException(name + ": all " + (last - first + 1) + " ports are in use (delete some Services)");
    }

    /**
     * Gives {@code port} to {@code owner} (an explicit {@code nodePort}), releasing the one it had.
     *
     * @throws LocalException when the port is outside the range or another owner has it
     */
    void reserve(int port, String owner) {
        requireNonNull(owner, "owner");
        if (!contains(port)) {
            throw new LocalException(port + " is outside " + name + " (expected: " + first + "-" + last + ")");
        }
        String had = owners.get(port);
        if (had != null && !had.equals(owner)) {
            throw new LocalException(port + " is already allocated to " + had + " (" + name + "): give " + owner
                    + " another port, or leave nodePort empty to get a free one");
        }
        release(owner);
        owners.put(port, owner);
    }

    /** Frees what {@code owner} holds; false if nothing. */
    boolean release(String owner) {
        return owners.values().removeIf(owner::equals);
    }

    /** Frees the ports of every owner {@code which} accepts; how many. */
    int releaseIf(Predicate<String> which) {
        List<Integer> gone = owners.entrySet().stream().filter(e -> which.test(e.getValue())).map(Map.Entry::getKey).toList();
        gone.forEach(owners::remove);
        return gone.size();
    }

    OptionalInt portOf(String owner) {
        return owners.entrySet().stream().filter(e -> e.getValue().equals(owner)).mapToInt(Map.Entry::getKey).findFirst();
    }

    int used() {
        return owners.size();
    }
}
