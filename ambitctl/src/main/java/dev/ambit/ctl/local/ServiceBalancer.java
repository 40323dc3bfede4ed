package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import dev.ambit.agent.redirect.BpfPins;
import dev.ambit.agent.redirect.EbpfRedirector;
import dev.ambit.agent.redirect.RedirectException;
import dev.ambit.ffi.Bpf;
import dev.ambit.ffi.NativeFd;
import dev.ambit.ffi.libbpf.libbpf_h;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A socket-level Service load balancer for local mode, where no kube-proxy (and no
 * iptables) gives pods a way to reach a Service by its virtual IP. A {@code cgroup/connect4}
 * program (and {@code connect6}, for IPv4-mapped destinations of dual-stack sockets),
 * attached to the cgroup that holds the pods, rewrites a TCP connect to a Service's
 * VIP:port into a connect to one of its backends, chosen at random per connect. Other
 * connects are left alone; a connect to a Service without backends fails with
 * {@code EPERM}, as kube-proxy rejects it. Only IPv4 Services over TCP are balanced.
 *
 * <p>Capture and balancing compose: {@link EbpfRedirector} attaches its programs to each
 * enrolled pod's own cgroup, a descendant of the one this is attached to, and the kernel
 * runs a descendant's programs first. An enrolled pod's connect to a VIP has become a
 * connect to its outbound listener before the balancer sees it, so the agent learns the
 * Service (and balances itself); pods outside the mesh reach a backend directly.
 *
 * <p>Independent of {@link EbpfRedirector}: its own objects ({@code svclb.list}), its own
 * bpffs folder, which must not be the redirector's ({@code ROOT/svclb} under it is fine).
 * Pins: {@code ROOT/progs/VERSION/<program>}, {@code ROOT/maps/<map>},
 * {@code ROOT/cgroups/<cgroup id>/<link>}. VERSION is a digest of the objects: a new build
 * loads its programs once, moves the attachments onto them and unpins the old ones.
 * Closing releases descriptors only; the table and the attachments stay until
 * {@link #uninstall}.
 *
 * <p>Thread-safe; changes are serialised.
 */
public final class ServiceBalancer implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(ServiceBalancer.class.getName());

    /** One hook on a cgroup: which program, pinned under which name. */
    private record Hook(String program, String pin, int attachType) implements BpfPins.Link {}

    private static final List<Hook> HOOKS = List.of(
            new Hook("ambit_svc_conn4", "connect4", libbpf_h.BPF_CGROUP_INET4_CONNECT),
            new Hook("ambit_svc_conn6", "connect6", libbpf_h.BPF_CGROUP_INET6_CONNECT));

    /** How errors name the balancer. */
    private static final String WHO = "the Service load balancer";
    // Errors name the program type the objects use, with the kernel that introduced it.
    private static final BpfPins.ObjectSet OBJECTS = new BpfPins.ObjectSet("svclb.list",
            HOOKS.stream().map(Hook::program).toList(), ServiceMaps.ALL,
            Map.of(libbpf_h.BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
                    "cgroup_sock_addr (cgroup/connect4 and connect6, Linux 4.17+)"),
            Map.of(), WHO, "uninstall the old balancer first");

    private final Path root;
    private final BpfPins pins;
    private final ServiceMaps maps;

    private ServiceBalancer(Path root, BpfPins pins, ServiceMaps maps) {
        this.root = root;
        this.pins = pins;
        this.maps = maps;
    }

    /**
     * Re-opens the balancer pinned under {@code bpffsRoot}, or loads and pins it if this
     * build's programs are not there. Re-opening keeps the table and the attachments and
     * loads nothing.
     *
     * @param bpffsRoot a folder on a mounted bpffs, created if missing; not the
     *     redirector's root
     * @throws RedirectException naming the missing kernel feature, the bpffs problem or the
     *     verifier's complaint, with the fix; nothing is left pinned by a failed first load
     */
    public static ServiceBalancer open(Path bpffsRoot) {
        requireNonNull(bpffsRoot, "bpffsRoot");
        Path root = bpffsRoot.toAbsolutePath().normalize();
        if (!Bpf.isAvailable()) {
            throw new RedirectException("the Service load balancer needs eBPF, which is unavailable",
                    Bpf.unavailabilityCause());
        }
        BpfPins.checkOnBpffs(root);
        checkNotRedirectorRoot(root);
        BpfPins pins = BpfPins.open(root, OBJECTS);
        ServiceMaps maps = null;
        try {
            maps = ServiceMaps.open(pins.mapDir());
            ServiceBalancer b = new ServiceBalancer(root, pins, maps);
            // Also on re-open: an earlier upgrade may have stopped half-way.
            b.refreshLinks();
            b.retireOtherVersions();
            LOG.log(System.Logger.Level.INFO, "Service load balancer {0} ({1}) under {2}",
                    pins.reopened() ? "re-opened" : "loaded", pins.version(), root);
            return b;
        } catch (RuntimeException e) {
            if (maps != null) {
                maps.close();
            }
            pins.abandon(e);
            throw e instanceof RedirectException ? e
                    : new RedirectException("open the pinned Service load balancer under " + root, e);
        }
    }

    /** True when this instance re-opened pins left by an earlier one, false when it loaded them. */
    public boolean reopened() {
        return pins.reopened();
    }

    /** Digest of the loaded objects; names the {@code progs/} folder. */
    public String version() {
        return pins.version();
    }

    public Path bpffsRoot() {
        return root;
    }

    /** The loaded programs as the kernel knows them (ids stay the same across re-opens). */
    public List<Bpf.ProgramInfo> programs() {
        return pins.programInfos();
    }

    /**
     * Balances the connects of every process in {@code cgroup} and its descendants.
     * Idempotent: a cgroup already attached (also by an earlier instance) is left as it is.
     *
     * @param cgroup a folder on the cgroup v2 hierarchy, normally the parent of all pods'
     * @throws RedirectException naming the path at fault; a failed attach leaves nothing
     */
    public synchronized void attach(Path cgroup) {
        requireNonNull(cgroup, "cgroup");
        try (NativeFd fd = BpfPins.openCgroup(cgroup, "",
                "create it (mkdir under the cgroup v2 mount) before attaching",
                WHO + " needs the cgroup v2 (unified) hierarchy; pass a folder under its mount")) {
            Path dir = linkDir(cgroupId(cgroup));
            boolean created = !Files.isDirectory(dir);
            BpfPins.createDirectories(dir);
            List<Path> attached = new ArrayList<>();
            try {
                for (Hook h : HOOKS) {
                    Path pin = pins.attach(dir, h, fd);
                    if (pin != null) {
                        attached.add(pin);
                    }
                }
            } catch (RuntimeException e) {
                for (Path pin : attached) {
                    try {
                        BpfPins.detachPinned(pin);
                    } catch (RuntimeException suppressed) {
                        e.addSuppressed(suppressed);
                    }
                }
                if (created) {
                    BpfPins.deleteIfExists(dir);
                }
                throw new RedirectException("attach the Service load balancer to cgroup " + cgroup
                        + " (BPF links on cgroups need Linux 5.7+)", e);
            }
            if (!attached.isEmpty()) {
                LOG.log(System.Logger.Level.INFO, "Service load balancer attached to {0}", cgroup);
            }
        }
    }

    /**
     * Stops balancing {@code cgroup}'s connects. Idempotent. For a cgroup that no longer
     * exists (the kernel detached its programs with it), removes the pins of every
     * attachment whose cgroup is gone.
     */
    public synchronized void detach(Path cgroup) {
        requireNonNull(cgroup, "cgroup");
        if (Files.isDirectory(cgroup)) {
            if (BpfPins.detachAll(linkDir(cgroupId(cgroup)))) {
                LOG.log(System.Logger.Level.INFO, "Service load balancer detached from {0}", cgroup);
            }
        } else {
            refreshLinks();
        }
    }

    /**
     * Makes the table hold exactly {@code services}: Service VIP:port to its backends. A
     * connect racing the update sees each Service's old backends or its new ones, never
     * a mix or a half-written Service: new backends are written first, then each changed
     * Service is switched to them in one map update, and what they replaced is removed
     * after. An empty list makes the Service refuse connects; a Service absent from the
     * map is no longer balanced (connects go to the VIP itself). A backend listed twice
     * gets twice the share.
     *
     * @throws IllegalArgumentException for a non-IPv4 or unresolved address, a port outside
     *     1-65535, or more Services or backends than the maps hold (nothing is changed then)
     */
    public synchronized void update(Map<InetSocketAddress, List<InetSocketAddress>> services) {
        requireNonNull(services, "services");
        Map<InetSocketAddress, List<InetSocketAddress>> wanted = new LinkedHashMap<>();
        for (var e : services.entrySet()) {
            InetSocketAddress vip = checkAddress(e.getKey(), "service");
            List<InetSocketAddress> backends = requireNonNull(e.getValue(), () -> "backends of " + vip);
            wanted.put(vip, backends.stream().map(b -> checkAddress(b, "backend of " + vip)).toList());
        }
        maps.replaceAll(wanted);
        LOG.log(System.Logger.Level.DEBUG, "Service load balancer table: {0} Services", wanted.size());
    }

    /** The table as the programs see it: Services by VIP order, backends in the order given. */
    public synchronized Map<InetSocketAddress, List<InetSocketAddress>> services() {
        return maps.read();
    }

    /**
     * Releases this process's descriptors. The table and the attachments stay: connects
     * are still balanced until {@link #uninstall}.
     */
    @Override
    public synchronized void close() {
        pins.close();
        maps.close();
    }

    /**
     * Removes everything under {@code bpffsRoot}: detaches every attachment, then unpins
     * programs and maps. Nothing to do if the folder does not exist.
     */
    public static void uninstall(Path bpffsRoot) {
        requireNonNull(bpffsRoot, "bpffsRoot");
        Path root = bpffsRoot.toAbsolutePath().normalize();
        if (!Files.isDirectory(root)) {
            return;
        }
        checkNotRedirectorRoot(root);
        for (Path dir : BpfPins.list(root.resolve("cgroups"))) {
            BpfPins.detachAll(dir);
        }
        BpfPins.deleteTree(root);
    }

    // --- attachments ---------------------------------------------------------------------

    private Path linkDir(long cgroupId) {
        return root.resolve("cgroups").resolve(Long.toUnsignedString(cgroupId));
    }

    /**
     * Points every pinned link at this build's program (a no-op when it already runs it)
     * and drops the pins of links whose cgroup is gone: the kernel answers ENOLINK for them.
     */
    private void refreshLinks() {
        for (Path dir : BpfPins.list(root.resolve("cgroups"))) {
            if (!pins.updateLinks(dir, HOOKS)) {
                LOG.log(System.Logger.Level.INFO, "cgroup {0} is gone: dropped its Service load balancer links",
                        dir.getFileName());
                BpfPins.detachAll(dir);
            }
        }
    }

    private void retireOtherVersions() {
        List<Path> old = pins.otherVersions();
        if (!old.isEmpty()) {
            old.forEach(BpfPins::deleteTree);
            LOG.log(System.Logger.Level.INFO, "Service load balancer moved to programs {0}, unpinned {1}",
                    pins.version(), old);
        }
    }

    /** On cgroup v2 a cgroup's inode number is its id: stable for its life, never reused. */
    private static long cgroupId(Path cgroup) {
        try {
            return (Long) Files.getAttribute(cgroup, "unix:ino");
        } catch (IOException e) {
            throw new UncheckedIOException("read the id of cgroup " + cgroup, e);
        }
    }

    // --- input -----------------------------------------------------------------------------

    private static InetSocketAddress checkAddress(InetSocketAddress a, String what) {
        requireNonNull(a, what);
        if (a.isUnresolved()) {
            throw new IllegalArgumentException(what + ": " + a + " (expected: a resolved address)");
        }
        if (!(a.getAddress() instanceof Inet4Address)) {
            throw new IllegalArgumentException(what + ": " + a + " (expected: IPv4; IPv6 is not balanced)");
        }
        if (a.getPort() == 0) {
            throw new IllegalArgumentException(what + ": " + a + " (expected: a port in 1-65535)");
        }
        // The address alone: a host name would make equal Services compare unequal in read-backs.
        return new InetSocketAddress(Inet4Address.ofLiteral(a.getAddress().getHostAddress()), a.getPort());
    }

    // --- loading ---------------------------------------------------------------------------

    /**
     * Both keep their programs in {@code progs/} and retire the versions they do not know:
     * sharing a folder, each would unpin the other's.
     */
    private static void checkNotRedirectorRoot(Path root) {
        if (EbpfRedirector.holdsPins(root)) {
            throw new RedirectException("bpffs root " + root + " holds eBPF capture (EbpfRedirector) pins:"
                    + " give the Service load balancer a folder of its own, e.g. " + root.resolve("svclb"));
        }
    }
}
