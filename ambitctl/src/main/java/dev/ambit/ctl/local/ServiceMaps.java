package dev.ambit.ctl.local;

import dev.ambit.ffi.BpfMap;
import dev.ambit.ffi.Sockets;
import dev.ambit.ffi.libbpf.libbpf_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Typed access to the Service load balancer's pinned maps, declared in
 * {@code ebpf/src/main/bpf/include/ambit_svc.h}. The byte layouts here are that
 * header's structs: change both together. VIPs, backend addresses and ports are in
 * network byte order; set ids, slots and counts in host order.
 *
 * <p>A Service entry points at an immutable backend set ({@code set id -> slot -> backend});
 * {@link #replaceAll} never changes a set in place, so a connect racing an update sees the
 * old backends or the new ones, never a mix. Not thread-safe: the caller serialises updates.
 */
final class ServiceMaps implements AutoCloseable {

    static final String SERVICES = "ambit_svc";
    static final String BACKENDS = "ambit_svc_be";
    static final List<String> ALL = List.of(SERVICES, BACKENDS);

    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    /** Orders addresses as numbers, then by port: a stable order for read-backs. */
    static final Comparator<InetSocketAddress> ADDRESS_ORDER = Comparator
            .comparing((InetSocketAddress a) -> Integer.toUnsignedLong(
                    Integer.reverseBytes(Sockets.ipv4NetworkOrder((Inet4Address) a.getAddress()))))
            .thenComparingInt(InetSocketAddress::getPort);

    /** What a Service entry holds: its backend set and how many slots of it are in use. */
    record Entry(int backendSet, int count) {}

    private final BpfMap services;
    private final BpfMap backends;
    /** Next set id to try; 0 until the first update reads the maps (0 is never an id). */
    private int nextSet;

    private ServiceMaps(BpfMap services, BpfMap backends) {
        this.services = services;
        this.backends = backends;
    }

    static ServiceMaps open(Path dir) {
        BpfMap s = BpfMap.open(dir.resolve(SERVICES));
        try {
            return new ServiceMaps(s, BpfMap.open(dir.resolve(BACKENDS)));
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
    }

    // --- reading ---------------------------------------------------------------------------

    /** Every Service entry, by VIP and port. */
    Map<InetSocketAddress, Entry> entries() {
        try (Arena a = Arena.ofConfined()) {
            Map<InetSocketAddress, Entry> entries = new HashMap<>();
            MemorySegment value = a.allocate(services.info().valueSize(), 8);
            for (MemorySegment key : services.keys(a)) {
                if (services.lookup(key, value)) { // else removed meanwhile by another process
                    entries.put(serviceAddress(key), new Entry(value.get(U32, 0), value.get(U32, 4)));
                }
            }
            return entries;
        }
    }

    /** A Service's backends in slot order; slots missing (removed meanwhile) are skipped. */
    List<InetSocketAddress> backends(Entry entry) {
        try (Arena a = Arena.ofConfined()) {
            List<InetSocketAddress> list = new ArrayList<>(entry.count());
            MemorySegment key = a.allocate(backends.info().keySize(), 8);
            MemorySegment value = a.allocate(backends.info().valueSize(), 8);
            for (int slot = 0; slot < entry.count(); slot++) {
                key.set(U32, 0, entry.backendSet());
                key.set(U32, 4, slot);
                if (backends.lookup(key, value)) {
                    list.add(new InetSocketAddress(Sockets.ipv4FromNetworkOrder(value.get(U32, 0)),
                            Short.toUnsignedInt(Short.reverseBytes(value.get(U16, 4)))));
                }
            }
            return list;
        }
    }

    /** The whole table, Services in {@link #ADDRESS_ORDER}, backends in slot order. */
    Map<InetSocketAddress, List<InetSocketAddress>> read() {
        Map<InetSocketAddress, Entry> entries = entries();
        Map<InetSocketAddress, List<InetSocketAddress>> table = new LinkedHashMap<>();
        entries.keySet().stream().sorted(ADDRESS_ORDER)
                .forEach(svc -> table.put(svc, List.copyOf(backends(entries.get(svc)))));
        return Collections.unmodifiableMap(table);
    }

    // --- writing ---------------------------------------------------------------------------

    /**
     * Makes the table hold exactly {@code wanted}: new backend sets are written first,
     * then each changed Service is pointed at its new set (one update per Service), then
     * removed Services and every set no Service points at are deleted. A Service whose
     * backends did not change keeps its set untouched. On failure, each Service is as it
     * was or as wanted, and sets nobody points at are removed (best effort).
     *
     * @param wanted validated by the caller: IPv4 addresses, ports 1-65535
     */
    void replaceAll(Map<InetSocketAddress, List<InetSocketAddress>> wanted) {
        Map<InetSocketAddress, Entry> current = entries();
        List<Integer> existingSets = backendSetsOfKeys();
        Set<Integer> used = new HashSet<>(existingSets);
        current.values().forEach(e -> used.add(e.backendSet()));

        Map<InetSocketAddress, Entry> flips = new LinkedHashMap<>();
        Map<Integer, List<InetSocketAddress>> newSets = new LinkedHashMap<>();
        for (var w : wanted.entrySet()) {
            Entry cur = current.get(w.getKey());
            List<InetSocketAddress> list = w.getValue();
            if (cur != null && cur.count() == list.size() && (list.isEmpty() || backends(cur).equals(list))) {
                continue; // unchanged: its set stays as it is
            }
            if (list.isEmpty()) {
                flips.put(w.getKey(), new Entry(0, 0));
            } else {
                int set = allocateSet(used);
                newSets.put(set, list);
                flips.put(w.getKey(), new Entry(set, list.size()));
            }
        }
        checkCapacity(current, wanted, existingSets.size(), newSets);

        try (Arena a = Arena.ofConfined()) {
            try {
                for (var s : newSets.entrySet()) {
                    writeSet(a, s.getKey(), s.getValue());
                }
                for (var f : flips.entrySet()) {
                    MemorySegment value = a.allocate(services.info().valueSize(), 8);
                    value.set(U32, 0, f.getValue().backendSet());
                    value.set(U32, 4, f.getValue().count());
                    services.update(serviceKey(a, f.getKey()), value, libbpf_h.BPF_ANY);
                }
                for (InetSocketAddress svc : current.keySet()) {
                    if (!wanted.containsKey(svc)) {
                        services.delete(serviceKey(a, svc));
                    }
                }
            } catch (RuntimeException e) {
                try {
                    deleteUnreferencedSets();
                } catch (RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
                throw e;
            }
        }
        // Only now: a connect that read a Service's old entry may still look up its old set.
        deleteUnreferencedSets();
    }

    /** Both maps' sizes are fixed at load: fail before writing rather than half-way. */
    private void checkCapacity(Map<InetSocketAddress, Entry> current, Map<InetSocketAddress, List<InetSocketAddress>> wanted,
                               int backendEntries, Map<Integer, List<InetSocketAddress>> newSets) {
        Set<InetSocketAddress> during = new HashSet<>(current.keySet());
        during.addAll(wanted.keySet());
        if (during.size() > services.info().maxEntries()) {
            throw new IllegalArgumentException("services: " + wanted.size() + " Services (with the "
                    + current.size() + " they replace, " + during.size() + " entries at once; expected at most "
                    + services.info().maxEntries() + ", the size of map " + SERVICES + ")");
        }
        long added = newSets.values().stream().mapToLong(List::size).sum();
        if (backendEntries + added > backends.info().maxEntries()) {
            throw new IllegalArgumentException("services: " + added + " new backend slots next to the "
                    + backendEntries + " in place exceed the " + backends.info().maxEntries()
                    + " entries of map " + BACKENDS + " (old and new sets coexist during an update)");
        }
    }

    private void writeSet(Arena a, int set, List<InetSocketAddress> list) {
        MemorySegment key = a.allocate(backends.info().keySize(), 8);
        MemorySegment value = a.allocate(backends.info().valueSize(), 8);
        for (int slot = 0; slot < list.size(); slot++) {
            InetSocketAddress be = list.get(slot);
            key.set(U32, 0, set);
            key.set(U32, 4, slot);
            value.set(U32, 0, Sockets.ipv4NetworkOrder((Inet4Address) be.getAddress()));
            value.set(U16, 4, Short.reverseBytes((short) be.getPort()));
            value.set(U16, 6, (short) 0);
            // NOEXIST: a fresh id has no slots; anything there would be a bug worth failing on.
            backends.update(key, value, libbpf_h.BPF_NOEXIST);
        }
    }

    /**
     * Removes backend slots of sets no Service points at: the sets an update replaced,
     * and whatever an update interrupted (a crash, a full map) left.
     */
    private void deleteUnreferencedSets() {
        Set<Integer> referenced = new HashSet<>();
        entries().values().forEach(e -> referenced.add(e.backendSet()));
        try (Arena a = Arena.ofConfined()) {
            for (MemorySegment key : backends.keys(a)) {
                if (!referenced.contains(key.get(U32, 0))) {
                    backends.delete(key);
                }
            }
        }
    }

    private List<Integer> backendSetsOfKeys() {
        try (Arena a = Arena.ofConfined()) {
            return backends.keys(a).stream().map(k -> k.get(U32, 0)).toList();
        }
    }

    /**
     * A set id no entry or slot uses. Ids only grow (wrapping past 2^32, skipping 0), so
     * an id is not reused right after its set was removed.
     */
    private int allocateSet(Set<Integer> used) {
        if (nextSet == 0) {
            nextSet = used.stream().max(Integer::compareUnsigned).orElse(0) + 1;
        }
        while (nextSet == 0 || used.contains(nextSet)) {
            nextSet++;
        }
        int set = nextSet++;
        used.add(set);
        return set;
    }

    private static MemorySegment serviceKey(Arena a, InetSocketAddress svc) {
        MemorySegment key = a.allocate(8, 8);
        key.set(U32, 0, Sockets.ipv4NetworkOrder((Inet4Address) svc.getAddress()));
        key.set(U16, 4, Short.reverseBytes((short) svc.getPort()));
        return key;
    }

    private static InetSocketAddress serviceAddress(MemorySegment key) {
        return new InetSocketAddress(Sockets.ipv4FromNetworkOrder(key.get(U32, 0)),
                Short.toUnsignedInt(Short.reverseBytes(key.get(U16, 4))));
    }

    @Override
    public void close() {
        services.close();
        backends.close();
    }
}
