package dev.ambit.agent.redirect;

import static java.util.Objects.requireNonNull;

import dev.ambit.ffi.Bpf;
import dev.ambit.ffi.BpfObject;
import dev.ambit.ffi.Linux;
import dev.ambit.ffi.NativeException;
import dev.ambit.ffi.NativeFd;
import dev.ambit.ffi.libbpf.libbpf_h;
import dev.ambit.ffi.linux.linux_h;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

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
    private static final String OBJECTS = "dev/ambit/ebpf/";
    private static final String LIST = "svclb.list";

    /** One hook on a cgroup: which program, pinned under which name. */
    private record Hook(String program, String pin, int attachType) {}

    private static final List<Hook> HOOKS = List.of(
            new Hook("ambit_svc_conn4", "connect4", libbpf_h.BPF_CGROUP_INET4_CONNECT),
            new Hook("ambit_svc_conn6", "connect6", libbpf_h.BPF_CGROUP_INET6_CONNECT));

    private final Path root;
    private final Map<String, NativeFd> programs;
    private final ServiceMaps maps;
    private final boolean reopened;
    private final String version;

    private ServiceBalancer(Path root, Map<String, NativeFd> programs, ServiceMaps maps, boolean reopened,
                            String version) {
        this.root = root;
        this.programs = programs;
        this.maps = maps;
        this.reopened = reopened;
        this.version = version;
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
        checkOnBpffs(root);
        checkNotRedirectorRoot(root);
        Map<String, byte[]> objects = readObjects();
        String version = digest(objects);
        Path progDir = root.resolve("progs").resolve(version);
        Path mapDir = root.resolve("maps");

        boolean freshRoot = !Files.exists(root);
        boolean reopened = HOOKS.stream().allMatch(h -> Files.exists(progDir.resolve(h.program())));
        if (!reopened) {
            List<BpfObject> opened = new ArrayList<>();
            try {
                objects.forEach((name, elf) -> opened.add(BpfObject.open(name, elf)));
                checkKernel(opened, KernelFeatures.running());
                loadAndPin(root, opened, progDir, mapDir);
            } finally {
                opened.forEach(BpfObject::close);
            }
        }
        Map<String, NativeFd> programs = new LinkedHashMap<>();
        ServiceMaps maps = null;
        try {
            for (Hook h : HOOKS) {
                programs.put(h.program(), Bpf.open(progDir.resolve(h.program())));
            }
            maps = ServiceMaps.open(mapDir);
            ServiceBalancer b = new ServiceBalancer(root, programs, maps, reopened, version);
            // Also on re-open: an earlier upgrade may have stopped half-way.
            b.refreshLinks();
            b.retireOtherVersions();
            LOG.log(System.Logger.Level.INFO, "Service load balancer {0} ({1}) under {2}",
                    reopened ? "re-opened" : "loaded", version, root);
            return b;
        } catch (RuntimeException e) {
            programs.values().forEach(NativeFd::close);
            if (maps != null) {
                maps.close();
            }
            if (!reopened) {
                // What this attempt loaded must not be re-opened as if it were complete.
                try {
                    deleteTree(freshRoot ? root : progDir);
                } catch (RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e instanceof RedirectException ? e
                    : new RedirectException("open the pinned Service load balancer under " + root, e);
        }
    }

    /** True when this instance re-opened pins left by an earlier one, false when it loaded them. */
    public boolean reopened() {
        return reopened;
    }

    /** Digest of the loaded objects; names the {@code progs/} folder. */
    public String version() {
        return version;
    }

    public Path bpffsRoot() {
        return root;
    }

    /** The loaded programs as the kernel knows them (ids stay the same across re-opens). */
    public List<Bpf.ProgramInfo> programs() {
        return programs.values().stream().map(Bpf::programInfo).toList();
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
        try (NativeFd fd = openCgroup(cgroup)) {
            Path dir = linkDir(cgroupId(cgroup));
            boolean created = !Files.isDirectory(dir);
            createDirectories(dir);
            List<Path> attached = new ArrayList<>();
            try {
                for (Hook h : HOOKS) {
                    Path pin = dir.resolve(h.pin());
                    if (Files.exists(pin)) {
                        continue;
                    }
                    try (NativeFd link = Bpf.createLink(programs.get(h.program()), fd, h.attachType())) {
                        Bpf.pin(link, pin);
                    }
                    attached.add(pin);
                }
            } catch (RuntimeException e) {
                for (Path pin : attached) {
                    try {
                        detachPinned(pin);
                    } catch (RuntimeException suppressed) {
                        e.addSuppressed(suppressed);
                    }
                }
                if (created) {
                    deleteIfExists(dir);
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
            if (detachAll(linkDir(cgroupId(cgroup)))) {
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
        programs.values().forEach(NativeFd::close);
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
        for (Path dir : list(root.resolve("cgroups"))) {
            detachAll(dir);
        }
        deleteTree(root);
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
        for (Path dir : list(root.resolve("cgroups"))) {
            try {
                for (Hook h : HOOKS) {
                    Path pin = dir.resolve(h.pin());
                    if (Files.exists(pin)) {
                        try (NativeFd link = Bpf.open(pin)) {
                            Bpf.updateLink(link, programs.get(h.program()));
                        }
                    }
                }
            } catch (NativeException e) {
                if (e.errno() != linux_h.ENOLINK) {
                    throw e;
                }
                LOG.log(System.Logger.Level.INFO, "cgroup {0} is gone: dropped its Service load balancer links",
                        dir.getFileName());
                detachAll(dir);
            }
        }
    }

    private void retireOtherVersions() {
        List<Path> old = list(root.resolve("progs")).stream()
                .filter(p -> !p.getFileName().toString().equals(version)).toList();
        if (!old.isEmpty()) {
            old.forEach(ServiceBalancer::deleteTree);
            LOG.log(System.Logger.Level.INFO, "Service load balancer moved to programs {0}, unpinned {1}", version,
                    old);
        }
    }

    /** Detaches and unpins every link in {@code dir}, then removes it; false if it did not exist. */
    private static boolean detachAll(Path dir) {
        if (!Files.isDirectory(dir)) {
            return false;
        }
        for (Path pin : list(dir)) {
            detachPinned(pin);
        }
        deleteIfExists(dir);
        return true;
    }

    private static void detachPinned(Path pin) {
        try (NativeFd link = Bpf.open(pin)) {
            // Detach now rather than when the last reference goes: someone may hold the link.
            Bpf.detachLink(link);
        } catch (NativeException e) {
            // ENOENT: pin already gone; ENOLINK: its cgroup is gone, so it is detached.
            if (e.errno() != linux_h.ENOENT && e.errno() != linux_h.ENOLINK) {
                throw e;
            }
        }
        deleteIfExists(pin);
    }

    private static NativeFd openCgroup(Path cgroup) {
        NativeFd fd;
        try {
            fd = Linux.open(cgroup, true);
        } catch (NativeException e) {
            throw new RedirectException("cgroup " + cgroup + (e.errno() == linux_h.ENOENT
                    ? " does not exist: create it (mkdir under the cgroup v2 mount) before attaching"
                    : " cannot be opened"), e);
        }
        long type;
        try {
            type = Linux.fileSystemType(fd);
        } catch (RuntimeException e) {
            fd.close();
            throw e;
        }
        if (type != Linux.CGROUP2_MAGIC) {
            fd.close();
            throw new RedirectException("cgroup " + cgroup + " is "
                    + (type == Linux.CGROUP1_MAGIC ? "on a cgroup v1 hierarchy" : "not a cgroup")
                    + ": the Service load balancer needs the cgroup v2 (unified) hierarchy; pass a folder under its"
                    + " mount (here: `mount -t cgroup2`)");
        }
        return fd;
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

    private static void checkOnBpffs(Path root) {
        Path existing = root;
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        if (existing == null) {
            throw new RedirectException("bpffs root " + root + " has no existing parent");
        }
        try (NativeFd fd = Linux.open(existing, true)) {
            if (Linux.fileSystemType(fd) != Linux.BPF_FS_MAGIC) {
                throw new RedirectException("bpffs root " + root + ": " + existing
                        + " is not on bpffs: mount it (`mount -t bpf bpf /sys/fs/bpf`) or choose a folder under it");
            }
        }
    }

    /**
     * Both keep their programs in {@code progs/} and retire the versions they do not know:
     * sharing a folder, each would unpin the other's.
     */
    private static void checkNotRedirectorRoot(Path root) {
        if (Files.exists(root.resolve("pods")) || Files.exists(root.resolve("maps").resolve(RedirectMaps.CONFIG))) {
            throw new RedirectException("bpffs root " + root + " holds eBPF capture (EbpfRedirector) pins:"
                    + " give the Service load balancer a folder of its own, e.g. " + root.resolve("svclb"));
        }
    }

    private static Map<String, byte[]> readObjects() {
        ClassLoader cl = ServiceBalancer.class.getClassLoader();
        Map<String, byte[]> objects = new LinkedHashMap<>();
        try (InputStream list = cl.getResourceAsStream(OBJECTS + LIST)) {
            if (list == null) {
                throw new RedirectException("no Service load balancer BPF objects on the class path (" + OBJECTS
                        + LIST + "): build the ebpf module (make bpf)");
            }
            for (String name : new String(list.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (name.isBlank()) {
                    continue;
                }
                try (InputStream in = cl.getResourceAsStream(OBJECTS + name.strip())) {
                    if (in == null) {
                        throw new RedirectException("BPF object " + name + " listed but missing: rebuild (make bpf)");
                    }
                    objects.put(name.strip(), in.readAllBytes());
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return objects;
    }

    private static String digest(Map<String, byte[]> objects) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            objects.forEach((name, bytes) -> {
                sha.update(name.getBytes(StandardCharsets.UTF_8));
                sha.update(bytes);
            });
            return HexFormat.of().formatHex(sha.digest(), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    private static void checkKernel(List<BpfObject> objects, KernelFeatures features) {
        for (BpfObject obj : objects) {
            for (String p : obj.programNames()) {
                if (!features.supportsProgramType(obj.programType(p))) {
                    throw new RedirectException("this kernel lacks BPF program type cgroup_sock_addr"
                            + " (cgroup/connect4 and connect6, Linux 4.17+), needed by " + p + " in " + obj.name()
                            + ": the Service load balancer cannot run here; upgrade the kernel");
                }
            }
        }
    }

    private static void loadAndPin(Path root, List<BpfObject> objects, Path progDir, Path mapDir) {
        boolean freshRoot = !Files.exists(root);
        boolean freshMaps = !Files.exists(mapDir);
        createDirectories(progDir);
        createDirectories(mapDir);
        try {
            for (BpfObject obj : objects) {
                for (String map : obj.mapNames()) {
                    if (ServiceMaps.ALL.contains(map)) {
                        obj.setPinPath(map, mapDir.resolve(map));
                    }
                }
                obj.load();
                for (String p : obj.programNames()) {
                    Path pin = progDir.resolve(p);
                    deleteIfExists(pin); // left by an interrupted load of this same version
                    obj.pinProgram(p, pin);
                }
            }
        } catch (RuntimeException e) {
            // Leave nothing this attempt created; maps that existed before keep the table.
            deleteTree(freshRoot ? root : progDir);
            if (freshMaps && !freshRoot) {
                deleteTree(mapDir);
            }
            throw new RedirectException("load the Service load balancer's eBPF programs into " + root
                    + (freshMaps ? "" : " (if this build changed the layout of the pinned maps in " + mapDir
                            + ", uninstall the old balancer first)"), e);
        }
    }

    // --- bpffs files ---------------------------------------------------------------------

    private static List<Path> list(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        } catch (NoSuchFileException e) {
            return List.of();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void createDirectories(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("create " + dir, e);
        }
    }

    private static void deleteIfExists(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new UncheckedIOException("remove " + p, e);
        }
    }

    private static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> s = Files.walk(root)) {
            s.sorted(Comparator.reverseOrder()).forEach(ServiceBalancer::deleteIfExists);
        } catch (IOException e) {
            throw new UncheckedIOException("remove " + root, e);
        }
    }
}
