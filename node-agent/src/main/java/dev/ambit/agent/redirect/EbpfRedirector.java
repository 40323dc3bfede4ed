package dev.ambit.agent.redirect;

import static java.util.Objects.requireNonNull;

import dev.ambit.ffi.Bpf;
import dev.ambit.ffi.NativeException;
import dev.ambit.ffi.NativeFd;
import dev.ambit.ffi.NetNs;
import dev.ambit.ffi.Sockets;
import dev.ambit.ffi.libbpf.libbpf_h;
import dev.ambit.ffi.linux.linux_h;

import io.netty.channel.Channel;
import io.netty.channel.unix.UnixChannel;

import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Captures pod traffic with eBPF, without iptables.
 *
 * <ul>
 *   <li>{@link #open} loads the programs in {@code ebpf/} and pins them under the bpffs
 *       root, or re-opens the pins a previous agent left: a restarted agent never loads
 *       twice, and enrolled pods stay captured (failing closed) while it is down.</li>
 *   <li>{@link #enroll} attaches {@code cgroup/connect4}, {@code cgroup/connect6} (for
 *       IPv4-mapped destinations of dual-stack sockets) and {@code sockops} to the pod's
 *       cgroup and {@code sk_lookup} to its network namespace, as pinned links, and
 *       points inbound steering at the pod's inbound listener. {@link #unenroll} undoes
 *       it. Both are idempotent and leave nothing half-done on failure.</li>
 *   <li>{@link #originalDestination} tells, for a connection accepted on the outbound
 *       listener, where the pod was connecting to: one map lookup.</li>
 * </ul>
 *
 * <p>Pins: {@code ROOT/progs/VERSION/<program>}, {@code ROOT/maps/<map>},
 * {@code ROOT/pods/<uid>/<link>}. VERSION is a digest of the objects, so a new agent
 * build loads its programs once and moves existing links onto them.
 *
 * <p>Thread-safe; enrollment calls are serialised.
 */
public final class EbpfRedirector implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(EbpfRedirector.class.getName());

    /** One hook of a pod: which program, attached to what. */
    private record Hook(String program, String pin, int attachType, boolean onCgroup) implements BpfPins.Link {}

    // Attach order matters: sockops first, so no redirected connect misses its
    // publisher; sk_lookup last, after the maps it reads are written.
    private static final List<Hook> HOOKS = List.of(
            new Hook("ambit_sockops", "cgroup_sockops", libbpf_h.BPF_CGROUP_SOCK_OPS, true),
            new Hook("ambit_connect4", "cgroup_connect4", libbpf_h.BPF_CGROUP_INET4_CONNECT, true),
            new Hook("ambit_connect6", "cgroup_connect6", libbpf_h.BPF_CGROUP_INET6_CONNECT, true),
            new Hook("ambit_sk_lookup", "netns_sk_lookup", libbpf_h.BPF_SK_LOOKUP, false));
    private static final String NETNS_PIN = "netns_sk_lookup";

    // Program and map types the objects use, with the kernel that introduced them, for errors.
    private static final Map<Integer, String> PROGRAM_TYPES = Map.of(
            libbpf_h.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "cgroup_sock_addr (cgroup/connect4 and connect6, Linux 4.17+)",
            libbpf_h.BPF_PROG_TYPE_SOCK_OPS, "sock_ops (Linux 4.13+)",
            libbpf_h.BPF_PROG_TYPE_SK_LOOKUP, "sk_lookup (Linux 5.9+)");
    private static final Map<Integer, String> MAP_TYPES = Map.of(
            libbpf_h.BPF_MAP_TYPE_SK_STORAGE, "sk_storage (Linux 5.2+)",
            libbpf_h.BPF_MAP_TYPE_SOCKHASH, "sockhash (Linux 4.18+)",
            libbpf_h.BPF_MAP_TYPE_LRU_HASH, "lru_hash (Linux 4.10+)",
            libbpf_h.BPF_MAP_TYPE_LPM_TRIE, "lpm_trie (Linux 4.11+)");
    private static final BpfPins.ObjectSet OBJECTS = new BpfPins.ObjectSet("objects.list",
            HOOKS.stream().map(Hook::program).toList(), RedirectMaps.ALL, PROGRAM_TYPES, MAP_TYPES,
            "Ambit's eBPF capture", null);

    private final RedirectConfig config;
    private final BpfPins pins;
    private final RedirectMaps maps;

    private EbpfRedirector(RedirectConfig config, BpfPins pins, RedirectMaps maps) {
        this.config = config;
        this.pins = pins;
        this.maps = maps;
    }

    /**
     * Re-opens the pinned programs and maps, or loads and pins them if this build's are
     * not there, then writes the configuration into the maps.
     *
     * @throws RedirectException naming the missing kernel feature, the bpffs problem or
     *     the verifier's complaint; nothing is left pinned by a failed first load
     */
    public static EbpfRedirector open(RedirectConfig config) {
        requireNonNull(config, "config");
        if (!Bpf.isAvailable()) {
            throw new RedirectException("eBPF redirection is unavailable", Bpf.unavailabilityCause());
        }
        Path root = config.bpffsRoot();
        BpfPins.checkOnBpffs(root);
        BpfPins pins = BpfPins.open(root, OBJECTS, config.kernelFeatures());
        RedirectMaps maps = null;
        try {
            maps = RedirectMaps.open(pins.mapDir());
            maps.writeConfig(config.agentMark(), config.outboundPort());
            maps.syncBypassPorts(config.inboundBypassPorts());
            maps.syncExclusions(config.outboundExclusions());
            EbpfRedirector r = new EbpfRedirector(config, pins, maps);
            // Also on re-open: an earlier upgrade may have stopped half-way.
            r.retireOtherVersions();
            LOG.log(System.Logger.Level.INFO, "eBPF redirection {0} ({1}) under {2}",
                    pins.reopened() ? "re-opened" : "loaded", pins.version(), root);
            return r;
        } catch (RuntimeException e) {
            if (maps != null) {
                maps.close();
            }
            pins.abandon(e);
            throw e instanceof RedirectException ? e : new RedirectException("open pinned eBPF state under " + root, e);
        }
    }

    /** True when this instance re-opened pins a previous agent left, false when it loaded them. */
    public boolean reopened() {
        return pins.reopened();
    }

    /** Digest of the loaded objects; names the {@code progs/} folder. */
    public String version() {
        return pins.version();
    }

    public RedirectConfig config() {
        return config;
    }

    /** The loaded programs as the kernel knows them (ids are stable across agent restarts). */
    public List<Bpf.ProgramInfo> programs() {
        return pins.programInfos();
    }

    /** UIDs of the enrolled pods, from the pinned state (survives restarts). */
    public List<String> enrolledPods() {
        return maps.podUids();
    }

    /**
     * Starts capturing the pod's traffic. Calling it again for an enrolled pod (after an
     * agent restart, or with new addresses, a new listener or a new sandbox) updates it
     * in place. Call from a platform thread: it enters the pod's namespace briefly.
     *
     * @throws RedirectException naming the path or object at fault. A first enrollment
     *     that fails leaves nothing attached; a failed update leaves the pod captured
     */
    public synchronized void enroll(PodRedirection pod) {
        requireNonNull(pod, "pod");
        String who = "enroll pod " + pod.uid();
        try (NativeFd cgroup = openCgroup(pod); NativeFd netns = openNetns(pod)) {
            long cookie = NetNs.cookie(netns);
            checkListener(pod, cookie);

            Optional<RedirectMaps.PodEntry> before = maps.pod(pod.uid());
            if (before.isPresent() && before.get().netnsCookie() != cookie) {
                // Same UID, new sandbox: the old namespace is gone. Its cgroup links stay
                // (the cgroup is the pod's, and detaching would open a window without
                // capture); its namespace link and map entries go.
                forgetSandbox(pod.uid(), before.get());
                before = Optional.empty();
            } else if (before.isEmpty()) {
                // Pins without a pod entry were left by an enrollment that crashed half-way:
                // they may point at another namespace, so start this pod from clean.
                BpfPins.detachAll(podDir(pod.uid()));
            }
            checkAddresses(pod, cookie);
            Deque<Runnable> undo = new ArrayDeque<>();
            try {
                publish(pod, cookie, before, undo);
                attach(pod, cgroup, netns, undo);
            } catch (RuntimeException e) {
                while (!undo.isEmpty()) {
                    try {
                        undo.pop().run();
                    } catch (RuntimeException suppressed) {
                        e.addSuppressed(suppressed);
                    }
                }
                throw e;
            }
            LOG.log(System.Logger.Level.INFO, "enrolled pod {0} ({1}, addresses {2})", pod.uid(), pod.netns(),
                    pod.addresses());
        } catch (RedirectException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new RedirectException(who, e);
        }
    }

    /**
     * Stops capturing the pod: detaches its programs and forgets its addresses and
     * connections. Works from the pinned state alone, so also after an agent restart
     * and after the pod's namespace and cgroup are gone.
     *
     * @return false when the pod was not enrolled
     */
    public synchronized boolean unenroll(String uid) {
        requireNonNull(uid, "uid");
        Path dir = podDir(uid);
        boolean found = BpfPins.detachAll(dir);
        Optional<RedirectMaps.PodEntry> entry = maps.pod(uid);
        if (entry.isPresent()) {
            found = true;
            forgetEntries(uid, entry.get());
        }
        if (found) {
            LOG.log(System.Logger.Level.INFO, "unenrolled pod {0}", uid);
        }
        return found;
    }

    /**
     * Unenrolls pod {@code uid} if it is gone: its pinned links are defunct because its network
     * namespace or cgroup no longer exists (a pod deleted while no agent was running, whose CNI
     * DEL never arrived). Re-pointing each link at the program it runs is the probe: the kernel
     * answers {@code ENOLINK} for a defunct link, and a live pod's capture is not interrupted.
     *
     * @return whether the pod was gone and is unenrolled now
     */
    public synchronized boolean unenrollIfGone(String uid) {
        requireNonNull(uid, "uid");
        Path dir = podDir(uid);
        if (!java.nio.file.Files.isDirectory(dir) || pins.updateLinks(dir, HOOKS)) {
            return false;
        }
        LOG.log(System.Logger.Level.INFO, "pod {0} is gone (its link is defunct): unenrolling it", uid);
        unenroll(uid);
        return true;
    }

    /**
     * Where a connection accepted on a pod's outbound listener was going, or empty if it
     * was not redirected. Consumes the answer: call it once per accepted connection; a
     * second call returns empty.
     *
     * @param accepted an epoll or io_uring channel accepted on the outbound port
     */
    public Optional<InetSocketAddress> originalDestination(Channel accepted) {
        requireNonNull(accepted, "accepted");
        if (!(accepted instanceof UnixChannel unix)) {
            throw new IllegalArgumentException("accepted: " + accepted.getClass().getName()
                    + " (expected: an epoll or io_uring channel, which has a file descriptor)");
        }
        if (!(accepted.remoteAddress() instanceof InetSocketAddress peer)) {
            return Optional.empty();
        }
        return maps.originalDestination(Sockets.netnsCookie(unix.fd().intValue()), peer);
    }

    /** As {@link #originalDestination(Channel)}, for a raw accepted socket descriptor. */
    public Optional<InetSocketAddress> originalDestination(int acceptedFd) {
        return maps.originalDestination(Sockets.netnsCookie(acceptedFd), Sockets.peerAddress(acceptedFd));
    }

    /**
     * Redirected connections of the pod whose namespace has {@code netnsCookie} whose
     * destination the agent has not looked up yet.
     */
    public int trackedConnections(long netnsCookie) {
        return maps.countConnections(netnsCookie);
    }

    /**
     * Releases this process's descriptors. Attachments stay: enrolled pods remain
     * captured and fail closed until an agent re-opens the pins. Close after the
     * listeners that call {@link #originalDestination}.
     */
    @Override
    public synchronized void close() {
        pins.close();
        maps.close();
    }

    /**
     * Removes everything under {@code root}: detaches every pod's links, then unpins
     * programs and maps. For {@code ambitctl local down}, uninstall and tests.
     */
    public static void uninstall(Path root) {
        requireNonNull(root, "root");
        if (!Files.isDirectory(root)) {
            return;
        }
        Path pods = root.resolve("pods");
        if (Files.isDirectory(pods)) {
            for (Path dir : BpfPins.list(pods)) {
                BpfPins.detachAll(dir);
            }
        }
        BpfPins.deleteTree(root);
    }

    /**
     * True when {@code root} holds this capture's pins (its pods' links or its config map).
     * Another eBPF user (ambitctl's Service load balancer) must not share the folder: each
     * keeps its programs in {@code progs/} and retires the versions it does not know.
     */
    public static boolean holdsPins(Path root) {
        requireNonNull(root, "root");
        return Files.exists(root.resolve("pods")) || Files.exists(root.resolve("maps").resolve(RedirectMaps.CONFIG));
    }

    // --- enrollment steps ---------------------------------------------------------------

    private void forgetSandbox(String uid, RedirectMaps.PodEntry old) {
        BpfPins.detachPinned(podDir(uid).resolve(NETNS_PIN));
        forgetEntries(uid, old);
        LOG.log(System.Logger.Level.INFO, "pod {0} has a new network namespace: dropped the old one''s state", uid);
    }

    /** Removes a pod's addresses (those still its own), connections and entry from the maps. */
    private void forgetEntries(String uid, RedirectMaps.PodEntry entry) {
        long cookie = entry.netnsCookie();
        for (Inet4Address a : entry.addresses()) {
            if (maps.podAddressOwner(a).orElse(cookie) == cookie) {
                maps.deleteInboundListener(a);
                maps.deletePodAddress(a);
            }
        }
        maps.deleteConnections(cookie);
        maps.deletePod(uid);
    }

    private static NativeFd openCgroup(PodRedirection pod) {
        return BpfPins.openCgroup(pod.cgroup(), "pod " + pod.uid() + ": ",
                "is the pod running, and is the cgroup root right?",
                "eBPF capture needs the cgroup v2 (unified) hierarchy; pass the pod's folder under its mount");
    }

    private static NativeFd openNetns(PodRedirection pod) {
        try {
            return NetNs.openNetns(pod.netns());
        } catch (NativeException e) {
            throw new RedirectException("pod " + pod.uid() + ": network namespace " + pod.netns()
                    + (e.errno() == 2 ? " does not exist: is the pod sandbox running?" : " is unusable"), e);
        }
    }

    private void checkListener(PodRedirection pod, long cookie) {
        int fd = pod.inboundListenerFd();
        long listenerCookie;
        InetSocketAddress bound;
        try {
            listenerCookie = Sockets.netnsCookie(fd);
            bound = Sockets.localAddress(fd);
        } catch (NativeException e) {
            if (e.errno() == linux_h.ENOPROTOOPT) {
                throw new RedirectException("pod " + pod.uid() + ": this kernel lacks SO_NETNS_COOKIE (Linux 5.14+),"
                        + " which capture needs to tell pods apart", e);
            }
            throw new RedirectException("pod " + pod.uid() + ": inbound listener fd " + fd + " is not a usable socket", e);
        }
        if (listenerCookie != cookie) {
            throw new RedirectException("pod " + pod.uid() + ": inbound listener fd " + fd
                    + " is not in the pod's network namespace " + pod.netns()
                    + ": create it from a thread inside that namespace (NetNs.callIn)");
        }
        if (bound.getPort() != config.inboundPort()) {
            throw new RedirectException("pod " + pod.uid() + ": inbound listener fd " + fd + " is bound to " + bound
                    + " (expected: port " + config.inboundPort() + ")");
        }
    }

    private void checkAddresses(PodRedirection pod, long cookie) {
        for (Inet4Address a : pod.addresses()) {
            OptionalLong owner = maps.podAddressOwner(a);
            if (owner.isPresent() && owner.getAsLong() != cookie) {
                String other = maps.podByCookie(owner.getAsLong()).orElse("an unknown pod");
                throw new RedirectException("pod " + pod.uid() + ": address " + a.getHostAddress()
                        + " is already enrolled by pod " + other + ": unenroll that pod first");
            }
        }
    }

    private void attach(PodRedirection pod, NativeFd cgroup, NativeFd netns, Deque<Runnable> undo) {
        Path dir = podDir(pod.uid());
        if (!Files.isDirectory(dir)) {
            BpfPins.createDirectories(dir);
            undo.push(() -> BpfPins.deleteIfExists(dir));
        }
        for (Hook h : HOOKS) {
            // Null when attached by an earlier enroll (maybe by a previous agent).
            Path pin = pins.attach(dir, h, h.onCgroup() ? cgroup : netns);
            if (pin != null) {
                undo.push(() -> BpfPins.detachPinned(pin));
            }
        }
    }

    /**
     * Writes the pod's map entries. Undo removes what a first enrollment added; after an
     * update it restores the pod entry (a replaced listener cannot be put back, and
     * the one it replaced is normally the closed socket of a previous agent).
     */
    private void publish(PodRedirection pod, long cookie, Optional<RedirectMaps.PodEntry> before,
                         Deque<Runnable> undo) {
        List<Inet4Address> added = new ArrayList<>();
        for (Inet4Address a : pod.addresses()) {
            if (maps.podAddressOwner(a).isEmpty()) {
                added.add(a);
            }
        }
        undo.push(() -> {
            for (Inet4Address a : added) {
                maps.deleteInboundListener(a);
                maps.deletePodAddress(a);
            }
            before.ifPresentOrElse(b -> maps.putPod(pod.uid(), b.netnsCookie(), b.addresses()),
                    () -> maps.deletePod(pod.uid()));
        });
        // Listener first, address second: an address without a listener drops traffic.
        for (Inet4Address a : pod.addresses()) {
            maps.putInboundListener(a, pod.inboundListenerFd());
            maps.putPodAddress(a, cookie);
        }
        maps.putPod(pod.uid(), cookie, pod.addresses());
        if (before.isPresent()) {
            for (Inet4Address old : before.get().addresses()) {
                if (!pod.addresses().contains(old)) {
                    maps.deleteInboundListener(old);
                    maps.deletePodAddress(old);
                }
            }
        }
    }

    private Path podDir(String uid) {
        return config.bpffsRoot().resolve("pods").resolve(uid);
    }

    // --- loading -----------------------------------------------------------------------

    /**
     * At open: moves every pod's links to this build's programs (a no-op for links already on
     * them), unenrolls the pods that went away while no agent was watching (their links are
     * defunct; their addresses would otherwise block the pods that get them next), and unpins
     * the programs of other builds.
     */
    private void retireOtherVersions() {
        Path pods = config.bpffsRoot().resolve("pods");
        for (Path dir : BpfPins.list(pods)) {
            unenrollIfGone(dir.getFileName().toString());
        }
        List<Path> old = pins.otherVersions();
        if (old.isEmpty()) {
            return;
        }
        old.forEach(BpfPins::deleteTree);
        LOG.log(System.Logger.Level.INFO, "moved enrolled pods to eBPF programs {0}, unpinned {1}", pins.version(),
                old);
    }
}
