package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/** The cgroup v2 side of pods: where the hierarchy is, creating, killing and removing cgroups. */
public final class Cgroups {

    private static final List<Path> CANDIDATES = List.of(Path.of("/sys/fs/cgroup"), Path.of("/sys/fs/cgroup/unified"));

    private Cgroups() {
    }

    /**
     * Where cgroup v2 is mounted: {@code /sys/fs/cgroup} on a unified machine,
     * {@code /sys/fs/cgroup/unified} on a hybrid one.
     *
     * @throws LocalException when neither holds a cgroup v2 hierarchy
     */
    public static Path detectRoot() {
        for (Path p : CANDIDATES) {
            if (Files.isRegularFile(p.resolve("cgroup.controllers"))) {
                return p;
            }
        }
        throw new LocalException("no cgroup v2 hierarchy found (looked for cgroup.controllers in " + CANDIDATES
                + "): mount one (mount -t cgroup2 none /sys/fs/cgroup/unified) or pass --cgroup-root");
    }

    /** Checks that {@code root} is a cgroup v2 hierarchy. */
    public static Path checkRoot(Path root) {
        requireNonNull(root, "root");
        if (!Files.isRegularFile(root.resolve("cgroup.controllers"))) {
            throw new LocalException("--cgroup-root " + root + " is not a cgroup v2 mount (no cgroup.controllers there;"
                    + " leave the flag out to detect it)");
        }
        return root;
    }

    public static void create(Path cgroup) {
        try {
            Files.createDirectories(cgroup);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create cgroup " + cgroup + ": " + e.getMessage(), e);
        }
    }

    /** Moves process {@code pid} into {@code cgroup}. */
    public static void join(Path cgroup, long pid) {
        try {
            Files.writeString(cgroup.resolve("cgroup.procs"), Long.toString(pid), StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot move pid " + pid + " into cgroup " + cgroup + ": " + e.getMessage(), e);
        }
    }

    /** The pids directly in {@code cgroup}; empty when it does not exist. */
    public static List<Long> pids(Path cgroup) {
        try {
            return Files.readAllLines(cgroup.resolve("cgroup.procs")).stream()
                    .filter(s -> !s.isBlank()).map(s -> Long.parseLong(s.strip())).toList();
        } catch (NoSuchFileException e) {
            return List.of();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Whether {@code cgroup} or any descendant holds a process. */
    public static boolean populated(Path cgroup) {
        try {
            return Files.readAllLines(cgroup.resolve("cgroup.events")).stream().anyMatch(l -> l.equals("populated 1"));
        } catch (NoSuchFileException e) {
            return false;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * SIGKILLs every process in {@code cgroup} and its descendants ({@code cgroup.kill}), and
     * waits up to {@code millis} for them to be gone; true when they are.
     */
    public static boolean kill(Path cgroup, long millis) {
        if (!Files.isDirectory(cgroup)) {
            return true;
        }
        try {
            Files.writeString(cgroup.resolve("cgroup.kill"), "1", StandardCharsets.US_ASCII);
        } catch (NoSuchFileException e) {
            return true;
        } catch (IOException e) {
            // Kernels before 5.14 have no cgroup.kill: kill pid by pid, descendants included.
            killEach(cgroup);
        }
        long deadline = System.nanoTime() + millis * 1_000_000;
        while (populated(cgroup)) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            sleep(20);
        }
        return true;
    }

    private static void killEach(Path cgroup) {
        try (Stream<Path> s = Files.walk(cgroup)) {
            for (Path dir : s.filter(Files::isDirectory).toList()) {
                for (long pid : pids(dir)) {
                    ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Kills everything in {@code cgroup}'s tree and removes it, deepest first.
     *
     * @throws LocalException naming the cgroup still busy
     */
    public static void removeTree(Path cgroup) {
        if (!Files.isDirectory(cgroup)) {
            return;
        }
        if (!kill(cgroup, 5000)) {
            throw new LocalException("cgroup " + cgroup + " still has processes 5 s after cgroup.kill: "
                    + pids(cgroup) + " (look at them with ps, then run ambitctl local down again)");
        }
        List<Path> dirs;
        try (Stream<Path> s = Files.walk(cgroup)) {
            dirs = s.filter(Files::isDirectory).sorted(Comparator.comparingInt(Path::getNameCount).reversed()).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<String> problems = new ArrayList<>();
        for (Path d : dirs) {
            // rmdir on a cgroup folder: its control files go with it (Files.delete is rmdir).
            boolean removed = false;
            for (int attempt = 0; attempt < 50 && !removed; attempt++) {
                try {
                    Files.deleteIfExists(d);
                    removed = true;
                } catch (IOException e) {
                    sleep(20); // a process killed a moment ago may still be exiting
                }
            }
            if (!removed) {
                problems.add(d.toString());
            }
        }
        if (!problems.isEmpty()) {
            throw new LocalException("cannot remove cgroups " + problems + " (still busy: are pods' processes gone?)");
        }
    }

    static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LocalException("interrupted");
        }
    }
}
