package dev.ambit.agent.inpod;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds a Kubernetes pod's cgroup and network namespace on this node from its UID, under
 * a cgroup v2 root, for both kubelet cgroup drivers:
 *
 * <ul>
 *   <li>systemd: {@code kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice}
 *       (and {@code besteffort}; guaranteed pods directly as
 *       {@code kubepods.slice/kubepods-pod<uid>.slice}), the UID's dashes written as
 *       underscores;
 *   <li>cgroupfs: {@code kubepods/burstable/pod<uid>}, {@code kubepods/besteffort/pod<uid>},
 *       {@code kubepods/pod<uid>}.
 * </ul>
 *
 * Those are tried first; then the tree is searched {@linkplain #maxDepth a few levels deep}
 * for a folder whose name contains {@code pod<uid>} in either spelling, which also finds
 * nested layouts (kind's {@code kubelet.slice/kubelet-kubepods.slice/...}, a kubelet with
 * its own {@code --cgroup-root}).
 *
 * <p>The pod's network namespace is that of a process in its cgroup or a descendant (its
 * containers): {@code /proc/PID/ns/net}, valid while that process lives.
 *
 * <p>Stateless apart from its settings; thread-safe.
 */
final class CgroupPods {

    /** How deep under the root a pod's folder is looked for when no usual layout matches. */
    static final int DEFAULT_MAX_DEPTH = 4;
    /** How deep under the pod's folder processes are looked for (pod, container, nested). */
    private static final int MAX_PROCESS_DEPTH = 4;
    /** A Kubernetes UID: a UUID in practice; anything that stays one path segment here. */
    private static final Pattern UID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_-]*");
    private static final Pattern NETNS_LINK = Pattern.compile("net:\\[(\\d+)]");

    /** A process of the pod and its network namespace. */
    record PodProcess(long pid, Path netns, long netnsInode) {}

    private final Path root;
    private final Path procRoot;
    private final int maxDepth;

    CgroupPods(Path root) {
        this(root, Path.of("/proc"), DEFAULT_MAX_DEPTH);
    }

    /**
     * @param root the cgroup v2 root the kubelet's cgroups are under
     * @param procRoot where processes are read ({@code /proc}; a fake tree in tests)
     * @param maxDepth how many levels under {@code root} a pod's folder may be
     */
    CgroupPods(Path root, Path procRoot, int maxDepth) {
        this.root = requireNonNull(root, "root");
        this.procRoot = requireNonNull(procRoot, "procRoot");
        if (maxDepth < 1) {
            throw new IllegalArgumentException("maxDepth: " + maxDepth + " (expected: >= 1)");
        }
        this.maxDepth = maxDepth;
    }

    Path root() {
        return root;
    }

    int maxDepth() {
        return maxDepth;
    }

    /** Whether {@code uid} can name a pod's folder (one path segment, no dots). */
    static boolean validUid(String uid) {
        return uid != null && UID.matcher(uid).matches();
    }

    /** What a pod's folder name contains: {@code pod<uid>} (cgroupfs), {@code pod<uid_>} (systemd). */
    static List<String> markers(String uid) {
        String cgroupfs = "pod" + uid;
        String systemd = "pod" + uid.replace('-', '_');
        return cgroupfs.equals(systemd) ? List.of(cgroupfs) : List.of(cgroupfs, systemd);
    }

    /** The usual places of a pod's folder, systemd driver first (the kubelet's default since 1.22). */
    List<Path> usualPaths(String uid) {
        String u = uid.replace('-', '_');
        return List.of(
                root.resolve("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + u + ".slice"),
                root.resolve("kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + u + ".slice"),
                root.resolve("kubepods.slice/kubepods-pod" + u + ".slice"),
                root.resolve("kubepods/burstable/pod" + uid),
                root.resolve("kubepods/besteffort/pod" + uid),
                root.resolve("kubepods/pod" + uid));
    }

    /** The folder of the pod with {@code uid}, if there is one. */
    Optional<Path> findCgroup(String uid) {
        return Optional.ofNullable(findCgroups(List.of(uid)).get(uid));
    }

    /**
     * The folders of the pods with these UIDs, for those that have one: the usual places
     * first, then one search of the tree for all the others. UIDs that cannot name a folder
     * ({@link #validUid}) are never found.
     */
    Map<String, Path> findCgroups(Collection<String> uids) {
        Map<String, Path> found = new HashMap<>();
        Map<String, List<String>> pending = new LinkedHashMap<>();
        for (String uid : new LinkedHashSet<>(uids)) {
            if (!validUid(uid)) {
                continue;
            }
            Path usual = usualPaths(uid).stream().filter(CgroupPods::isDirectory).findFirst().orElse(null);
            if (usual != null) {
                found.put(uid, usual);
            } else {
                pending.put(uid, markers(uid));
            }
        }
        if (!pending.isEmpty()) {
            search(pending, found);
        }
        return found;
    }

    /** Breadth first, so the shallowest match wins; a matched folder is not searched further. */
    private void search(Map<String, List<String>> pending, Map<String, Path> found) {
        List<Path> level = List.of(root);
        for (int depth = 1; depth <= maxDepth && !level.isEmpty() && !pending.isEmpty(); depth++) {
            List<Path> next = new ArrayList<>();
            for (Path dir : level) {
                for (Path child : subfolders(dir)) {
                    String name = child.getFileName().toString();
                    String match = null;
                    for (Map.Entry<String, List<String>> e : pending.entrySet()) {
                        if (e.getValue().stream().anyMatch(name::contains)) {
                            match = e.getKey();
                            break;
                        }
                    }
                    if (match != null) {
                        found.put(match, child);
                        pending.remove(match);
                    } else {
                        next.add(child);
                    }
                }
            }
            level = next;
        }
    }

    /**
     * The processes in {@code cgroup} and its descendants, lowest PID first; empty if it
     * holds none or is gone.
     */
    List<Long> processes(Path cgroup) {
        Set<Long> pids = new TreeSet<>();
        List<Path> level = List.of(cgroup);
        for (int depth = 0; depth <= MAX_PROCESS_DEPTH && !level.isEmpty(); depth++) {
            List<Path> next = new ArrayList<>();
            for (Path dir : level) {
                readPids(dir.resolve("cgroup.procs"), pids);
                next.addAll(subfolders(dir));
            }
            level = next;
        }
        return List.copyOf(pids);
    }

    /**
     * A process of the pod whose folder is {@code cgroup}, with its network namespace:
     * {@code preferredPid} if it is still one of them (so the namespace path stays the same),
     * else the lowest PID (usually the pod's sandbox, its pause container), skipping
     * processes that exit meanwhile.
     */
    Optional<PodProcess> findProcess(Path cgroup, long preferredPid) {
        List<Long> pids = new ArrayList<>(processes(cgroup));
        if (pids.remove(Long.valueOf(preferredPid))) {
            pids.addFirst(preferredPid);
        }
        for (long pid : pids) {
            Path netns = procRoot.resolve(Long.toString(pid)).resolve("ns/net");
            long inode = netnsInode(netns);
            if (inode >= 0) {
                return Optional.of(new PodProcess(pid, netns, inode));
            }
        }
        return Optional.empty();
    }

    /** The inode of the namespace {@code /proc/PID/ns/net} links to, or -1 if the process is gone. */
    static long netnsInode(Path nsLink) {
        try {
            Matcher m = NETNS_LINK.matcher(Files.readSymbolicLink(nsLink).toString());
            return m.matches() ? Long.parseLong(m.group(1)) : -1;
        } catch (IOException | UnsupportedOperationException e) {
            return -1; // exited (ENOENT), or not a process link
        }
    }

    private static void readPids(Path procs, Set<Long> into) {
        List<String> lines;
        try {
            lines = Files.readAllLines(procs);
        } catch (NoSuchFileException e) {
            return;
        } catch (IOException e) {
            return; // removed while reading, or not readable: as good as empty here
        }
        for (String line : lines) {
            String s = line.strip();
            if (!s.isEmpty()) {
                try {
                    into.add(Long.parseLong(s));
                } catch (NumberFormatException ignored) {
                    // not a cgroup.procs file after all
                }
            }
        }
    }

    /** The folders in {@code dir} by name; none if it is gone or unreadable. */
    private static List<Path> subfolders(Path dir) {
        List<Path> out = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, CgroupPods::isDirectory)) {
            s.forEach(out::add);
        } catch (IOException e) {
            return List.of();
        }
        out.sort(null);
        return out;
    }

    private static boolean isDirectory(Path p) {
        return Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS);
    }
}
