package dev.ambit.agent.inpod;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.Checks;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pods of one {@code ambitctl local} node: a folder where {@code ambitctl} writes one
 * file per running pod and deletes it when the pod stops.
 *
 * <h2>File format</h2>
 * {@code <namespace>.<name>.pod}, Java properties (written whole, then renamed into place):
 * <pre>
 * namespace=shop
 * name=frontend-7d4f9-abcde
 * uid=3f2a...           # the pod's UID, names its BPF pins
 * cgroup=/sys/fs/cgroup/ambit/node-1/pods/3f2a...
 * netns=/run/netns/ambit-node-1-frontend-7d4f9-abcde
 * </pre>
 * Files that do not parse, or whose cgroup or netns does not exist, are skipped and
 * logged once per content. The folder is rescanned every {@code interval} (a few files;
 * a rescan compares modification stamps, so it costs a directory listing).
 */
public final class LocalSandboxes implements SandboxSource {

    public static final String SUFFIX = ".pod";
    private static final Logger log = LoggerFactory.getLogger(LocalSandboxes.class);

    private final Path dir;
    private final Duration interval;
    private final ScheduledExecutorService scanner;
    private volatile Map<String, PodSandbox> byKey = Map.of();
    /** Stamp of each file as last read, and what it gave (null: rejected). */
    private final Map<Path, Read> seen = new HashMap<>();
    private Runnable onChange = () -> { };

    private record Read(Object stamp, PodSandbox sandbox) {}

    private LocalSandboxes(Path dir, Duration interval) {
        this.dir = dir;
        this.interval = interval;
        this.scanner = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform()
                .name("ambit-sandboxes").daemon(true).factory());
    }

    /** Watches {@code dir}, rescanning every {@code interval}. */
    public static LocalSandboxes of(Path dir, Duration interval) {
        requireNonNull(dir, "dir");
        Checks.positive(interval, "interval");
        return new LocalSandboxes(dir, interval);
    }

    /** Writes the file describing {@code sandbox} into {@code dir} (for {@code ambitctl local} and tests). */
    public static Path write(Path dir, PodSandbox sandbox) throws IOException {
        Files.createDirectories(dir);
        Properties p = new Properties();
        p.setProperty("namespace", sandbox.namespace());
        p.setProperty("name", sandbox.name());
        p.setProperty("uid", sandbox.uid());
        p.setProperty("cgroup", sandbox.cgroup().toString());
        p.setProperty("netns", sandbox.netns().toString());
        Path file = dir.resolve(fileName(sandbox.namespace(), sandbox.name()));
        Path tmp = dir.resolve("." + file.getFileName() + ".tmp");
        try (var out = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
            p.store(out, "ambit local pod sandbox");
        }
        Files.move(tmp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        return file;
    }

    /** Removes the file of pod {@code namespace/name} from {@code dir}; false if there was none. */
    public static boolean remove(Path dir, String namespace, String name) throws IOException {
        return Files.deleteIfExists(dir.resolve(fileName(namespace, name)));
    }

    static String fileName(String namespace, String name) {
        return namespace + "." + name + SUFFIX;
    }

    @Override
    public synchronized void start(Runnable onChange) {
        this.onChange = requireNonNull(onChange, "onChange");
        scan(); // the first view is there when start returns
        scanner.scheduleWithFixedDelay(this::scanQuietly, interval.toMillis(), interval.toMillis(),
                TimeUnit.MILLISECONDS);
    }

    @Override
    public Optional<PodSandbox> find(String namespace, String name) {
        return Optional.ofNullable(byKey.get(namespace + "/" + name));
    }

    @Override
    public Collection<PodSandbox> all() {
        return List.copyOf(byKey.values());
    }

    @Override
    public void close() {
        scanner.shutdownNow();
    }

    private void scanQuietly() {
        try {
            scan();
        } catch (RuntimeException e) {
            log.warn("pod folder {}: rescan failed: {}", dir, e.toString());
        }
    }

    private synchronized void scan() {
        Set<Path> present = new HashSet<>();
        boolean changed = false;
        if (Files.isDirectory(dir)) {
            try (Stream<Path> files = Files.list(dir)) {
                for (Path f : (Iterable<Path>) files::iterator) {
                    String n = f.getFileName().toString();
                    if (!n.endsWith(SUFFIX) || n.startsWith(".")) {
                        continue;
                    }
                    present.add(f);
                    Object stamp = stamp(f);
                    Read before = seen.get(f);
                    if (stamp == null || (before != null && before.stamp().equals(stamp) && stillThere(before))) {
                        continue;
                    }
                    PodSandbox s = read(f);
                    seen.put(f, new Read(stamp, s));
                    changed = true;
                }
            } catch (IOException e) {
                log.warn("pod folder {}: cannot list: {}", dir, e.toString());
                return; // keep the last view
            }
        }
        changed |= seen.keySet().retainAll(present);
        if (!changed) {
            return;
        }
        Map<String, PodSandbox> next = new HashMap<>();
        for (Read r : seen.values()) {
            if (r.sandbox() != null) {
                next.put(r.sandbox().key(), r.sandbox());
            }
        }
        if (!next.equals(byKey)) {
            byKey = Map.copyOf(next);
            onChange.run();
        }
    }

    /** A sandbox read earlier whose namespace went away counts as changed (re-read, then rejected). */
    private static boolean stillThere(Read r) {
        return r.sandbox() == null || Files.exists(r.sandbox().netns());
    }

    private static Object stamp(Path f) {
        try {
            BasicFileAttributes a = Files.readAttributes(f, BasicFileAttributes.class);
            return List.of(a.lastModifiedTime(), a.size(), a.fileKey() == null ? "" : a.fileKey());
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            return null;
        }
    }

    private static PodSandbox read(Path f) {
        Properties p = new Properties();
        try (Reader in = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
            p.load(in);
        } catch (IOException e) {
            log.warn("pod file {}: cannot read: {}", f, e.toString());
            return null;
        }
        try {
            PodSandbox s = new PodSandbox(required(p, "namespace"), required(p, "name"), required(p, "uid"),
                    Path.of(required(p, "cgroup")), Path.of(required(p, "netns")));
            if (!Files.isDirectory(s.cgroup())) {
                throw new IllegalArgumentException("cgroup " + s.cgroup() + " does not exist");
            }
            if (!Files.exists(s.netns())) {
                throw new IllegalArgumentException("netns " + s.netns() + " does not exist");
            }
            return s;
        } catch (IllegalArgumentException e) {
            log.warn("pod file {}: skipped: {} (is the pod still running? ambitctl local status)", f, e.getMessage());
            return null;
        }
    }

    private static String required(Properties p, String key) {
        String v = p.getProperty(key);
        if (v == null || v.isBlank()) {
            throw new IllegalArgumentException("missing '" + key + "'");
        }
        return v.trim();
    }
}
