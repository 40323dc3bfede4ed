package dev.ambit.agent.redirect;

import dev.ambit.ffi.BpfMap;
import dev.ambit.ffi.Sockets;
import dev.ambit.ffi.libbpf.libbpf_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;

/**
 * Typed access to the pinned maps declared in {@code ebpf/src/main/bpf/include/ambit_maps.h}.
 * The byte layouts here are that header's structs: change both together. Addresses and
 * ports are in network byte order where the C says so.
 */
final class RedirectMaps implements AutoCloseable {

    static final String SK_DST = "ambit_sk_dst";
    static final String ORIG_DST = "ambit_orig_dst";
    static final String CONFIG = "ambit_config";
    static final String EXCL_DST = "ambit_excl_dst";
    static final String POD_ADDRS = "ambit_pod_addrs";
    static final String IN_LSNR = "ambit_in_lsnr";
    static final String IN_BYPASS = "ambit_in_bypass";
    static final String PODS = "ambit_pods";
    static final List<String> ALL = List.of(SK_DST, ORIG_DST, CONFIG, EXCL_DST, POD_ADDRS, IN_LSNR, IN_BYPASS, PODS);

    private static final int POD_UID_LEN = 64;
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    /** What {@code ambit_pods} remembers of an enrolled pod. */
    record PodEntry(long netnsCookie, List<Inet4Address> addresses) {}

    private final BpfMap origDst;
    private final BpfMap config;
    private final BpfMap exclDst;
    private final BpfMap podAddrs;
    private final BpfMap inLsnr;
    private final BpfMap inBypass;
    private final BpfMap pods;

    private RedirectMaps(List<BpfMap> opened) {
        origDst = opened.get(0);
        config = opened.get(1);
        exclDst = opened.get(2);
        podAddrs = opened.get(3);
        inLsnr = opened.get(4);
        inBypass = opened.get(5);
        pods = opened.get(6);
    }

    static RedirectMaps open(Path dir) {
        List<BpfMap> opened = new ArrayList<>();
        try {
            for (String name : List.of(ORIG_DST, CONFIG, EXCL_DST, POD_ADDRS, IN_LSNR, IN_BYPASS, PODS)) {
                opened.add(BpfMap.open(dir.resolve(name)));
            }
            return new RedirectMaps(opened);
        } catch (RuntimeException e) {
            opened.forEach(BpfMap::close);
            throw e;
        }
    }

    // --- agent-wide settings ---------------------------------------------------------

    void writeConfig(int agentMark, int outboundPort) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocateFrom(ValueLayout.JAVA_INT, 0);
            MemorySegment value = a.allocate(config.info().valueSize(), 8);
            value.set(U32, 0, agentMark);
            value.set(U16, 4, (short) outboundPort);
            config.update(key, value, libbpf_h.BPF_ANY);
        }
    }

    /** Makes the bypass map hold exactly {@code ports}. */
    void syncBypassPorts(Set<Integer> ports) {
        try (Arena a = Arena.ofConfined()) {
            for (MemorySegment key : inBypass.keys(a)) {
                if (!ports.contains(Short.toUnsignedInt(key.get(U16, 0)))) {
                    inBypass.delete(key);
                }
            }
            MemorySegment one = a.allocateFrom(ValueLayout.JAVA_BYTE, (byte) 1);
            for (int port : ports) {
                inBypass.update(a.allocateFrom(ValueLayout.JAVA_SHORT, (short) port), one, libbpf_h.BPF_ANY);
            }
        }
    }

    /** Makes the exclusion trie hold exactly {@code exclusions}. */
    void syncExclusions(List<Exclusion> exclusions) {
        try (Arena a = Arena.ofConfined()) {
            List<MemorySegment> wanted = new ArrayList<>();
            for (Exclusion e : exclusions) {
                MemorySegment key = a.allocate(exclDst.info().keySize(), 8);
                key.set(U32, 0, e.port() == 0 ? e.prefixLength() : 48);
                key.set(U32, 4, Sockets.ipv4NetworkOrder(e.address()) & prefixMask(e.prefixLength()));
                key.set(U16, 8, Short.reverseBytes((short) e.port()));
                wanted.add(key);
            }
            for (MemorySegment key : exclDst.keys(a)) {
                if (wanted.stream().noneMatch(w -> w.mismatch(key) == -1)) {
                    exclDst.delete(key);
                }
            }
            MemorySegment one = a.allocateFrom(ValueLayout.JAVA_BYTE, (byte) 1);
            for (MemorySegment key : wanted) {
                exclDst.update(key, one, libbpf_h.BPF_ANY);
            }
        }
    }

    // The trie compares the address bytes in memory order, which is network order.
    private static int prefixMask(int prefixLength) {
        int hostOrderMask = prefixLength == 0 ? 0 : -1 << (32 - prefixLength);
        return Integer.reverseBytes(hostOrderMask);
    }

    // --- pods ----------------------------------------------------------------------------

    void putPod(String uid, long netnsCookie, List<Inet4Address> addresses) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment value = a.allocate(pods.info().valueSize(), 8);
            value.set(U64, 0, netnsCookie);
            value.set(U32, 8, addresses.size());
            for (int i = 0; i < addresses.size(); i++) {
                value.set(U32, 12 + 4L * i, Sockets.ipv4NetworkOrder(addresses.get(i)));
            }
            pods.update(podKey(a, uid), value, libbpf_h.BPF_ANY);
        }
    }

    Optional<PodEntry> pod(String uid) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment value = a.allocate(pods.info().valueSize(), 8);
            if (!pods.lookup(podKey(a, uid), value)) {
                return Optional.empty();
            }
            return Optional.of(podEntry(value));
        }
    }

    void deletePod(String uid) {
        try (Arena a = Arena.ofConfined()) {
            pods.delete(podKey(a, uid));
        }
    }

    List<String> podUids() {
        try (Arena a = Arena.ofConfined()) {
            List<String> uids = new ArrayList<>();
            for (MemorySegment key : pods.keys(a)) {
                uids.add(key.getString(0, StandardCharsets.US_ASCII));
            }
            return uids;
        }
    }

    /** The UID of the enrolled pod in the namespace with {@code netnsCookie}, if any. */
    Optional<String> podByCookie(long netnsCookie) {
        for (String uid : podUids()) {
            if (pod(uid).map(p -> p.netnsCookie() == netnsCookie).orElse(false)) {
                return Optional.of(uid);
            }
        }
        return Optional.empty();
    }

    private static MemorySegment podKey(Arena a, String uid) {
        MemorySegment key = a.allocate(POD_UID_LEN);
        byte[] b = uid.getBytes(StandardCharsets.US_ASCII);
        key.copyFrom(MemorySegment.ofArray(b));
        return key;
    }

    private static PodEntry podEntry(MemorySegment value) {
        int n = value.get(U32, 8);
        List<Inet4Address> addresses = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            addresses.add(Sockets.ipv4FromNetworkOrder(value.get(U32, 12 + 4L * i)));
        }
        return new PodEntry(value.get(U64, 0), List.copyOf(addresses));
    }

    // --- inbound steering ----------------------------------------------------------------

    void putPodAddress(Inet4Address address, long netnsCookie) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment value = a.allocate(podAddrs.info().valueSize(), 8);
            value.set(U64, 0, netnsCookie);
            podAddrs.update(ipKey(a, address), value, libbpf_h.BPF_ANY);
        }
    }

    /** The netns cookie of the pod that enrolled {@code address}, if any. */
    OptionalLong podAddressOwner(Inet4Address address) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment value = a.allocate(podAddrs.info().valueSize(), 8);
            return podAddrs.lookup(ipKey(a, address), value) ? OptionalLong.of(value.get(U64, 0)) : OptionalLong.empty();
        }
    }

    void deletePodAddress(Inet4Address address) {
        try (Arena a = Arena.ofConfined()) {
            podAddrs.delete(ipKey(a, address));
        }
    }

    /** Points inbound steering for {@code address} at the listener socket {@code fd}. */
    void putInboundListener(Inet4Address address, int fd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment value = a.allocate(inLsnr.info().valueSize(), 8); // a u64 carrying the fd
            value.set(U64, 0, fd);
            inLsnr.update(ipKey(a, address), value, libbpf_h.BPF_ANY);
        }
    }

    void deleteInboundListener(Inet4Address address) {
        try (Arena a = Arena.ofConfined()) {
            inLsnr.delete(ipKey(a, address));
        }
    }

    private static MemorySegment ipKey(Arena a, Inet4Address address) {
        return a.allocateFrom(ValueLayout.JAVA_INT, Sockets.ipv4NetworkOrder(address));
    }

    // --- outbound original destinations --------------------------------------------------

    /**
     * O(1): the destination the client at {@code client}, in the pod with
     * {@code netnsCookie}, connected to. Consumes the entry (lookup-and-delete).
     */
    Optional<InetSocketAddress> originalDestination(long netnsCookie, InetSocketAddress client) {
        if (!(client.getAddress() instanceof Inet4Address clientIp)) {
            return Optional.empty();
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment key = a.allocate(origDst.info().keySize(), 8);
            key.set(U64, 0, netnsCookie);
            key.set(U32, 8, Sockets.ipv4NetworkOrder(clientIp));
            key.set(U16, 12, (short) client.getPort());
            MemorySegment value = a.allocate(origDst.info().valueSize(), 8);
            if (!origDst.lookupAndDelete(key, value)) {
                return Optional.empty();
            }
            int port = Short.toUnsignedInt(Short.reverseBytes(value.get(U16, 4)));
            return Optional.of(new InetSocketAddress(Sockets.ipv4FromNetworkOrder(value.get(U32, 0)), port));
        }
    }

    /** Removes the connection entries of one pod; returns how many there were. */
    int deleteConnections(long netnsCookie) {
        try (Arena a = Arena.ofConfined()) {
            int n = 0;
            for (MemorySegment key : origDst.keys(a)) {
                if (key.get(U64, 0) == netnsCookie && origDst.delete(key)) {
                    n++;
                }
            }
            return n;
        }
    }

    /** Live connection entries of one pod. */
    int countConnections(long netnsCookie) {
        try (Arena a = Arena.ofConfined()) {
            return (int) origDst.keys(a).stream().filter(k -> k.get(U64, 0) == netnsCookie).count();
        }
    }

    @Override
    public void close() {
        for (BpfMap m : List.of(origDst, config, exclDst, podAddrs, inLsnr, inBypass, pods)) {
            m.close();
        }
    }
}
