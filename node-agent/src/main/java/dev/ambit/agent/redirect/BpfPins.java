package dev.ambit.agent.redirect;

import dev.ambit.ffi.Bpf;
import dev.ambit.ffi.BpfObject;
import dev.ambit.ffi.Linux;
import dev.ambit.ffi.NativeException;
import dev.ambit.ffi.NativeFd;
import dev.ambit.ffi.linux.linux_h;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Pinned eBPF objects under a bpffs root, as {@link EbpfRedirector} and ambitctl's Service load
 * balancer (local mode) keep them: {@code ROOT/progs/VERSION/<program>}, {@code ROOT/maps/<map>}, and links pinned
 * in folders of their own, one folder per thing they are attached to. VERSION is a digest of
 * the objects, so a new build loads its programs once and moves existing links onto them.
 *
 * <p>An instance holds this build's programs, opened from their pins; the static methods
 * load, pin, detach and remove. Each user passes what differs: its {@link ObjectSet}.
 *
 * <p>Public for the Service load balancer, which lives with its only user (ambitctl) but
 * loads its programs the way capture does; the rest of capture stays package-private.
 */
public final class BpfPins implements AutoCloseable {

    /** Where the ebpf module puts the objects and their lists on the class path. */
    private static final String OBJECTS = "dev/ambit/ebpf/";

    /**
     * One user's objects, and how its errors name things.
     *
     * @param list the object list on the class path, under {@code dev/ambit/ebpf/}
     * @param programs the programs it attaches: when all are pinned, this build is loaded
     * @param maps the maps pinned in {@code maps/}, kept across builds
     * @param programTypes program types the objects use, with the kernel that introduced
     *     them, for errors
     * @param mapTypes likewise, the map types
     * @param who what errors call the user, e.g. "the Service load balancer"
     * @param ifMapsKept advice for a load that fails while maps were pinned before (a
     *     changed map layout may be why); null for none
     */
    public record ObjectSet(String list, List<String> programs, Collection<String> maps, Map<Integer, String> programTypes,
                     Map<Integer, String> mapTypes, String who, String ifMapsKept) {}

    /** A link one user pins: which program, pinned under which name, attached how. */
    public interface Link {
        String program();

        String pin();

        int attachType();
    }

    private final Path root;
    private final String version;
    private final boolean reopened;
    private final boolean freshRoot;
    private final Map<String, NativeFd> programs = new LinkedHashMap<>();

    private BpfPins(Path root, String version, boolean reopened, boolean freshRoot) {
        this.root = root;
        this.version = version;
        this.reopened = reopened;
        this.freshRoot = freshRoot;
    }

    /**
     * Re-opens this build's programs pinned under {@code root}, or loads and pins them if
     * they are not all there. On failure nothing this call loaded stays pinned.
     *
     * @throws RedirectException naming the missing kernel feature or the verifier's complaint
     */
    public static BpfPins open(Path root, ObjectSet set) {
        return open(root, set, KernelFeatures.running());
    }

    /** {@link #open(Path, ObjectSet)} asking {@code features} instead of the running kernel (tests). */
    static BpfPins open(Path root, ObjectSet set, KernelFeatures features) {
        Map<String, byte[]> objects = readObjects(set);
        String version = digest(objects);
        Path progDir = root.resolve("progs").resolve(version);
        Path mapDir = root.resolve("maps");

        boolean freshRoot = !Files.exists(root);
        boolean reopened = set.programs().stream().allMatch(p -> Files.exists(progDir.resolve(p)));
        if (!reopened) {
            List<BpfObject> opened = new ArrayList<>();
            try {
                objects.forEach((name, elf) -> opened.add(BpfObject.open(name, elf)));
                checkKernel(opened, features, set);
                loadAndPin(root, opened, progDir, mapDir, set);
            } finally {
                opened.forEach(BpfObject::close);
            }
        }
        BpfPins pins = new BpfPins(root, version, reopened, freshRoot);
        try {
            for (String p : set.programs()) {
                pins.programs.put(p, Bpf.open(progDir.resolve(p)));
            }
        } catch (RuntimeException e) {
            pins.abandon(e);
            throw e instanceof RedirectException ? e
                    : new RedirectException("open the pinned programs of " + set.who() + " under " + root, e);
        }
        return pins;
    }

    /** True when the programs were re-opened from pins left earlier, false when this loaded them. */
    public boolean reopened() {
        return reopened;
    }

    /** Digest of the objects; names the {@code progs/} folder. */
    public String version() {
        return version;
    }

    public Path mapDir() {
        return root.resolve("maps");
    }

    /** The programs as the kernel knows them. */
    public List<Bpf.ProgramInfo> programInfos() {
        return programs.values().stream().map(Bpf::programInfo).toList();
    }

    /** The {@code progs/} folders of other builds. */
    public List<Path> otherVersions() {
        return list(root.resolve("progs")).stream()
                .filter(p -> !p.getFileName().toString().equals(version)).toList();
    }

    /**
     * Attaches {@code link}'s program to {@code target} and pins the link in {@code dir},
     * unless it is pinned there already (attached by an earlier call, maybe by a previous
     * agent).
     *
     * @return the new pin, or null if there was one
     */
    public Path attach(Path dir, Link link, NativeFd target) {
        Path pin = dir.resolve(link.pin());
        if (Files.exists(pin)) {
            return null;
        }
        try (NativeFd fd = Bpf.createLink(programs.get(link.program()), target, link.attachType())) {
            Bpf.pin(fd, pin);
        }
        return pin;
    }

    /**
     * Points the links pinned in {@code dir} at this build's programs (a no-op for one
     * already running it).
     *
     * @return false when a link is defunct: the kernel answers ENOLINK once the cgroup or
     *     namespace it was attached to is gone
     */
    public boolean updateLinks(Path dir, List<? extends Link> links) {
        try {
            for (Link l : links) {
                Path pin = dir.resolve(l.pin());
                if (Files.exists(pin)) {
                    try (NativeFd link = Bpf.open(pin)) {
                        Bpf.updateLink(link, programs.get(l.program()));
                    }
                }
            }
            return true;
        } catch (NativeException e) {
            if (e.errno() != linux_h.ENOLINK) {
                throw e;
            }
            return false;
        }
    }

    /**
     * For a user whose open failed after these were opened: closes them and, if this
     * loaded them, unpins them; failures to unpin are added to {@code e}.
     */
    public void abandon(RuntimeException e) {
        close();
        if (!reopened) {
            // What this attempt loaded must not be re-opened as if it were complete.
            try {
                deleteTree(freshRoot ? root : root.resolve("progs").resolve(version));
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
        }
    }

    /** Releases this process's descriptors; the pins stay. */
    @Override
    public void close() {
        programs.values().forEach(NativeFd::close);
    }

    // --- links ---------------------------------------------------------------------------

    /** Detaches and unpins every link pinned in {@code dir}, then removes it; false if it did not exist. */
    public static boolean detachAll(Path dir) {
        if (!Files.isDirectory(dir)) {
            return false;
        }
        for (Path pin : list(dir)) {
            detachPinned(pin);
        }
        deleteIfExists(dir);
        return true;
    }

    public static void detachPinned(Path pin) {
        try (NativeFd link = Bpf.open(pin)) {
            // Detach now rather than when the last reference goes: someone may hold the link.
            Bpf.detachLink(link);
        } catch (NativeException e) {
            // ENOENT: pin already gone; ENOLINK: its cgroup or namespace is gone, so it is detached.
            if (e.errno() != linux_h.ENOENT && e.errno() != linux_h.ENOLINK) {
                throw e;
            }
        }
        deleteIfExists(pin);
    }

    /**
     * Opens a cgroup v2 folder to attach programs to.
     *
     * @param errorPrefix put before the errors, naming what the cgroup is for ({@code ""} for none)
     * @param ifMissing the advice when it does not exist
     * @param ifNotV2 why it must be on cgroup v2 and what to pass instead
     */
    public static NativeFd openCgroup(Path cgroup, String errorPrefix, String ifMissing, String ifNotV2) {
        NativeFd fd;
        try {
            fd = Linux.open(cgroup, true);
        } catch (NativeException e) {
            throw new RedirectException(errorPrefix + "cgroup " + cgroup
                    + (e.errno() == linux_h.ENOENT ? " does not exist: " + ifMissing : " cannot be opened"), e);
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
            throw new RedirectException(errorPrefix + "cgroup " + cgroup + " is "
                    + (type == Linux.CGROUP1_MAGIC ? "on a cgroup v1 hierarchy" : "not a cgroup")
                    + ": " + ifNotV2 + " (here: `mount -t cgroup2`)");
        }
        return fd;
    }

    // --- loading -----------------------------------------------------------------------

    public static void checkOnBpffs(Path root) {
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

    /** The objects named in the set's list on the class path, by name, in list order. */
    private static Map<String, byte[]> readObjects(ObjectSet set) {
        ClassLoader cl = BpfPins.class.getClassLoader();
        Map<String, byte[]> objects = new LinkedHashMap<>();
        try (InputStream list = cl.getResourceAsStream(OBJECTS + set.list())) {
            if (list == null) {
                throw new RedirectException("no BPF objects for " + set.who() + " on the class path (" + OBJECTS
                        + set.list() + "): build the ebpf module (make bpf)");
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

    /** Every program and map type the objects need, asked before anything is loaded. */
    private static void checkKernel(List<BpfObject> objects, KernelFeatures features, ObjectSet set) {
        for (BpfObject obj : objects) {
            for (String p : obj.programNames()) {
                int type = obj.programType(p);
                if (!features.supportsProgramType(type)) {
                    throw new RedirectException("this kernel lacks BPF program type "
                            + set.programTypes().getOrDefault(type, String.valueOf(type)) + ", needed by " + p
                            + " in " + obj.name() + ": " + set.who() + " cannot run here; upgrade the node's kernel");
                }
            }
        }
        for (var m : set.mapTypes().entrySet()) {
            if (!features.supportsMapType(m.getKey())) {
                throw new RedirectException("this kernel lacks BPF map type " + m.getValue()
                        + ": " + set.who() + " cannot run here; upgrade the node's kernel");
            }
        }
    }

    /**
     * Loads the objects, pinning their programs in {@code progDir} and the set's maps in
     * {@code mapDir} (re-using maps pinned there already).
     */
    private static void loadAndPin(Path root, List<BpfObject> objects, Path progDir, Path mapDir, ObjectSet set) {
        boolean freshRoot = !Files.exists(root);
        boolean freshMaps = !Files.exists(mapDir);
        createDirectories(progDir);
        createDirectories(mapDir);
        try {
            for (BpfObject obj : objects) {
                for (String map : obj.mapNames()) {
                    if (set.maps().contains(map)) {
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
            // Leave nothing this attempt created; maps that existed before stay (they hold
            // the state of what uses them).
            deleteTree(freshRoot ? root : progDir);
            if (freshMaps && !freshRoot) {
                deleteTree(mapDir);
            }
            throw new RedirectException("load the eBPF programs of " + set.who() + " into " + root
                    + (freshMaps || set.ifMapsKept() == null ? ""
                            : " (if this build changed the layout of the pinned maps in " + mapDir + ", "
                                    + set.ifMapsKept() + ")"), e);
        }
    }

    // --- bpffs files ---------------------------------------------------------------------

    /** The entries of {@code dir}, sorted; none if it does not exist. */
    public static List<Path> list(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        } catch (NoSuchFileException e) {
            return List.of();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static void createDirectories(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("create " + dir, e);
        }
    }

    public static void deleteIfExists(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new UncheckedIOException("remove " + p, e);
        }
    }

    public static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> s = Files.walk(root)) {
            s.sorted(Comparator.reverseOrder()).forEach(BpfPins::deleteIfExists);
        } catch (IOException e) {
            throw new UncheckedIOException("remove " + root, e);
        }
    }
}
