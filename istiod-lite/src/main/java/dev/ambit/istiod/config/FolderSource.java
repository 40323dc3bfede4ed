package dev.ambit.istiod.config;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import dev.ambit.common.config.Checks;
import dev.ambit.common.config.Limits;
import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.MetricsRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;

/**
 * Reads Kubernetes manifests from a folder ({@code --config-dir}): every {@code .yaml},
 * {@code .yml} and {@code .json} file below it, multi-document, {@code kind: List}
 * included, and watches it for changes.
 *
 * <p>Security objects (AuthorizationPolicy, PeerAuthentication) are taken from each
 * file's current content only: a valid one is accepted, an invalid one fails closed in
 * its scope ({@link FailClosed}), also when the file does not parse at all, so a restart
 * serves the same policy as before it. For every other kind a file is the unit of
 * acceptance: when any object in a file is rejected, the file's last good content of
 * those kinds stays in force (or nothing, for a new file) until it is fixed; other
 * files are unaffected. Files over {@link Limits#MAX_FILE_BYTES} and objects over
 * {@link Limits#MAX_OBJECT_BYTES} are rejected with the limit named. Objects of kinds Ambit does not read (Deployments,
 * ...), and Secrets and ConfigMaps without TLS material, are skipped silently. Namespaced objects without a namespace land in
 * {@code default}, as with kubectl.
 */
public final class FolderSource implements ConfigSource {

    private static final Logger log = LoggerFactory.getLogger(FolderSource.class);

    private final Path root;
    private final Duration settle;
    private final ObjectDecoder decoder = new ObjectDecoder();
    private final Counter.Family rejected;
    private final Map<Path, FileState> files = new HashMap<>();
    private final java.util.Set<String> reportedDuplicates = new java.util.HashSet<>();
    private WatchService watcher;
    private Thread thread;
    private volatile boolean closed;

    /** What one file last contributed. */
    private record FileState(String content, List<ObjectDecoder.Result> accepted, List<ConfigError> errors,
                             List<FailClosed> failClosed) {}

    /** Marks content read from a file over {@link Limits#MAX_FILE_BYTES}: the size follows, then the head. */
    private static final String OVERSIZED = "\u0000oversized:";

    private FolderSource(Path root, Duration settle, MetricsRegistry metrics) {
        this.root = root;
        this.settle = settle;
        this.rejected = ConfigMetrics.rejected(metrics);
    }

    /**
     * Watches {@code root}; changes are read after {@code settle} without further events.
     * Each rejected input is counted once in {@code ambit_istiod_config_rejected_total}.
     */
    public static FolderSource of(Path root, Duration settle, MetricsRegistry metrics) {
        requireNonNull(root, "root");
        Checks.notNegative(settle, "settle");
        requireNonNull(metrics, "metrics");
        return new FolderSource(root.toAbsolutePath().normalize(), settle, metrics);
    }

    public static FolderSource of(Path root, Duration settle) {
        return of(root, settle, MetricsRegistry.create());
    }

    public static FolderSource of(Path root) {
        return of(root, Duration.ofMillis(100));
    }

    /** What one read of a folder gives: the snapshot and the inputs it rejected (empty when all were accepted). */
    public record Reading(ConfigSnapshot snapshot, List<ConfigError> rejected) {}

    /**
     * Reads {@code root} once, as {@link #start} does before it watches, and stops: for tools
     * and tests that need the snapshot a folder makes, not a live source.
     *
     * @throws ConfigException if {@code root} is not a readable folder
     */
    public static Reading readOnce(Path root) throws ConfigException {
        AtomicReference<ConfigSnapshot> snapshot = new AtomicReference<>();
        AtomicReference<List<ConfigError>> rejected =
                new AtomicReference<>(List.of());
        try (FolderSource source = of(root)) {
            source.start(new Listener() {
                @Override
                public void onSnapshot(ConfigSnapshot s) {
                    snapshot.set(s);
                }

                @Override
                public void onRejected(List<ConfigError> errors) {
                    rejected.set(List.copyOf(errors));
                }
            });
        }
        return new Reading(snapshot.get(), rejected.get());
    }

    @Override
    public String describe() {
        return "folder " + root;
    }

    @Override
    public void start(Listener listener) throws ConfigException {
        requireNonNull(listener, "listener");
        if (!Files.isDirectory(root)) {
            throw new ConfigException("config folder " + root + " does not exist or is not a directory "
                    + "(create it, or pass --config-dir with the folder holding your manifests)");
        }
        try {
            watcher = FileSystems.getDefault().newWatchService();
            registerTree(root);
        } catch (IOException e) {
            throw new ConfigException("cannot watch config folder " + root + ": " + e.getMessage(), e);
        }
        rescan(listener, true);
        thread = Thread.ofPlatform().name("ambit-config-folder").daemon().start(() -> watch(listener));
    }

    private void watch(Listener listener) {
        while (!closed) {
            try {
                WatchKey key = watcher.take();
                drain(key);
                // Editors write in bursts (temp file, rename, chmod): wait for quiet.
                WatchKey more;
                while ((more = watcher.poll(settle.toMillis(), TimeUnit.MILLISECONDS)) != null) {
                    drain(more);
                }
                registerTree(root);
                rescan(listener, false);
            } catch (ClosedWatchServiceException | InterruptedException e) {
                return;
            } catch (IOException | RuntimeException e) {
                log.warn("config folder {}: rescan failed, keeping the last good config", root, e);
            }
        }
    }

    private static void drain(WatchKey key) {
        key.pollEvents();
        key.reset();
    }

    private void registerTree(Path dir) throws IOException {
        Files.walkFileTree(dir, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes attrs) throws IOException {
                d.register(watcher, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_DELETE,
                        StandardWatchEventKinds.ENTRY_MODIFY);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    private synchronized void rescan(Listener listener, boolean first) {
        Map<Path, String> current = new TreeMap<>();
        try (var paths = Files.walk(root)) {
            for (Path p : (Iterable<Path>) paths::iterator) {
                String name = p.getFileName().toString();
                if (Files.isRegularFile(p) && !name.startsWith(".")
                        && (name.endsWith(".yaml") || name.endsWith(".yml") || name.endsWith(".json"))) {
                    try {
                        current.put(p, read(p));
                    } catch (IOException e) {
                        // Deleted between walk and read: the next event rescans.
                        log.debug("config file {} vanished while reading", p);
                    }
                }
            }
        } catch (IOException e) {
            log.warn("config folder {}: cannot list ({}), keeping the last good config", root, e.getMessage());
            return;
        }
        boolean changed = first || !current.keySet().equals(files.keySet());
        files.keySet().retainAll(current.keySet());
        for (var e : current.entrySet()) {
            FileState old = files.get(e.getKey());
            if (old != null && old.content.equals(e.getValue())) {
                continue;
            }
            changed = true;
            FileState parsed = parse(e.getKey(), e.getValue(), old);
            files.put(e.getKey(), parsed);
            parsed.errors.forEach(err -> {
                log.warn("rejected config: {}", err.message());
                rejected.labels("folder", err.kindLabel()).inc();
            });
            parsed.failClosed.forEach(fc -> log.warn("{} {}: {}", fc.ref(), fc.origin(), fc.describe()));
        }
        if (!changed) {
            return;
        }
        // Later files cannot silently replace an object defined by an earlier one.
        Map<ObjectRef, Path> owners = new HashMap<>();
        ConfigSnapshot.Builder snapshot = ConfigSnapshot.builder();
        List<ConfigError> errors = new ArrayList<>();
        for (var e : new TreeMap<>(files).entrySet()) {
            errors.addAll(e.getValue().errors);
            e.getValue().failClosed.forEach(snapshot::failClosed);
            for (ObjectDecoder.Result r : e.getValue().accepted) {
                ObjectRef ref = ConfigSnapshot.refOf(r.kind(), r.object());
                Path owner = owners.putIfAbsent(ref, e.getKey());
                if (owner != null) {
                    ConfigError dup = new ConfigError(relative(e.getKey()), ref, "metadata.name",
                            "already defined in " + relative(owner) + " (expected: each object once)");
                    errors.add(dup);
                    if (FailClosed.isSecurity(ref.kind())) {
                        // Which of the two was meant is unknown: the namespace fails closed.
                        snapshot.failClosed(FailClosed.wholeNamespace(ref, dup.origin(), List.of(dup)));
                    }
                    if (reportedDuplicates.add(dup.message())) {
                        log.warn("rejected config: {}", dup.message());
                        rejected.labels("folder", dup.kindLabel()).inc();
                    }
                    continue;
                }
                if (TlsSecrets.kept(r.kind(), r.object())) { // of Secrets and ConfigMaps, only TLS material
                    snapshot.put(r.kind(), r.object(), relative(e.getKey()));
                }
            }
        }
        reportedDuplicates.retainAll(errors.stream().map(ConfigError::message).toList());
        listener.onRejected(List.copyOf(errors));
        listener.onSnapshot(snapshot.build());
    }

    /** Reads a file; one over {@link Limits#MAX_FILE_BYTES} is read only that far, to be reported. */
    private static String read(Path p) throws IOException {
        try (var in = Files.newInputStream(p)) {
            byte[] head = in.readNBytes(Limits.MAX_FILE_BYTES + 1);
            if (head.length <= Limits.MAX_FILE_BYTES) {
                return new String(head, StandardCharsets.UTF_8);
            }
            long size = Files.size(p);
            return OVERSIZED + size + "\n" + new String(head, StandardCharsets.UTF_8);
        }
    }

    /**
     * Parses one file's new content. Security objects take effect from the new content
     * alone: valid ones are accepted, invalid ones fail closed, so the result does not
     * depend on what was read before (a restart serves the same policy). Other kinds keep
     * the file's last good version while the file has errors.
     */
    private FileState parse(Path file, String content, FileState old) {
        String origin = relative(file);
        List<ObjectDecoder.Result> lastGoodOthers = old == null ? List.of()
                : old.accepted.stream().filter(r -> !FailClosed.isSecurity(r.kind())).toList();
        if (content.startsWith(OVERSIZED)) {
            long size = Long.parseLong(content.substring(OVERSIZED.length(), content.indexOf('\n')));
            ConfigError error = new ConfigError(origin, null, "", Limits.overLimit("the file", size,
                    Limits.MAX_FILE_BYTES, "the API server's request limit; split it into several files"));
            return unreadable(origin, content, old, lastGoodOthers, error);
        }
        List<ObjectDecoder.Result> accepted = new ArrayList<>();
        List<ConfigError> errors = new ArrayList<>();
        List<FailClosed> failClosed = new ArrayList<>();
        List<Map<?, ?>> documents = new ArrayList<>();
        boolean unattributed = false;
        try {
            LoaderOptions options = new LoaderOptions();
            options.setCodePointLimit(Limits.MAX_FILE_BYTES);
            Yaml yaml = new Yaml(new SafeConstructor(options));
            int index = 0;
            for (Object doc : yaml.loadAll(content)) {
                index++;
                if (doc == null) {
                    continue; // empty document between separators
                }
                if (!(doc instanceof Map<?, ?> map)) {
                    errors.add(new ConfigError(origin + " (document " + index + ")", null, "",
                            "not an object (expected: a Kubernetes manifest with apiVersion and kind)"));
                    unattributed = true;
                    continue;
                }
                if ("List".equals(map.get("kind")) && map.get("items") instanceof List<?> items) {
                    for (Object item : items) {
                        if (item instanceof Map<?, ?> m) {
                            documents.add(m);
                        } else {
                            errors.add(new ConfigError(origin + " (document " + index + ")", null, "items",
                                    "an item that is not an object (expected: Kubernetes manifests)"));
                            unattributed = true;
                        }
                    }
                } else {
                    documents.add(map);
                }
            }
        } catch (MarkedYAMLException e) {
            var mark = e.getProblemMark();
            String where = mark == null ? "" : "line " + (mark.getLine() + 1) + ", column " + (mark.getColumn() + 1) + ": ";
            return unreadable(origin, content, old, lastGoodOthers,
                    new ConfigError(origin, null, "", "invalid YAML: " + where + e.getProblem()));
        } catch (YAMLException e) {
            return unreadable(origin, content, old, lastGoodOthers,
                    new ConfigError(origin, null, "", "invalid YAML: " + e.getMessage()));
        } catch (RuntimeException e) {
            // SnakeYAML's constructors throw plain runtime exceptions for scalars that match a
            // YAML 1.1 pattern but do not convert ("._" as a float: NumberFormatException).
            // That is an unreadable file too, never a reason to stop a rescan or the start.
            return unreadable(origin, content, old, lastGoodOthers,
                    new ConfigError(origin, null, "", "invalid YAML: " + e));
        }
        Map<ObjectRef, Boolean> seen = new LinkedHashMap<>();
        for (int i = 0; i < documents.size(); i++) {
            ObjectDecoder.Result r = decoder.decode(origin, documents.get(i), "default", "unnamed-" + (i + 1));
            if (!r.ok()) {
                errors.addAll(r.errors());
                if (r.failClosed() != null) {
                    failClosed.add(r.failClosed());
                } else if (r.kind() == null && !FailClosed.readableAsOtherKind(documents.get(i))) {
                    // Not readable as any kind: it may have been a security object. (A security
                    // object naming an impossible namespace applies to no workload: reported only.)
                    unattributed = true;
                }
            } else if (r.kind() != null) {
                ObjectRef ref = ConfigSnapshot.refOf(r.kind(), r.object());
                if (seen.put(ref, Boolean.TRUE) != null) {
                    ConfigError dup = new ConfigError(origin, ref, "metadata.name", "defined twice in this file");
                    errors.add(dup);
                    if (FailClosed.isSecurity(ref.kind())) {
                        failClosed.add(FailClosed.wholeNamespace(ref, origin, List.of(dup)));
                    }
                } else {
                    accepted.add(r);
                }
            }
        }
        if (unattributed) {
            // A broken document that may have been a security object: fail closed where the
            // file's text, or what it held before, says security objects live.
            failClosed.addAll(FailClosed.attributeText(origin, content, "default", previousSecurity(old), errors));
        }
        if (!errors.isEmpty()) {
            List<ObjectDecoder.Result> kept = new ArrayList<>(lastGoodOthers);
            accepted.stream().filter(r -> FailClosed.isSecurity(r.kind())).forEach(kept::add);
            accepted = kept;
        }
        return new FileState(content, List.copyOf(accepted), List.copyOf(errors), List.copyOf(failClosed));
    }

    /** A file that cannot be read object by object: other kinds keep their last good version. */
    private FileState unreadable(String origin, String content, FileState old,
                                 List<ObjectDecoder.Result> lastGoodOthers, ConfigError error) {
        List<FailClosed> failClosed = FailClosed.attributeText(origin, content, "default", previousSecurity(old),
                List.of(error));
        return new FileState(content, lastGoodOthers, List.of(error), failClosed);
    }

    /** The security objects a file held before (accepted or failed closed), as kind and namespace. */
    private static List<ObjectRef> previousSecurity(FileState old) {
        if (old == null) {
            return List.of();
        }
        List<ObjectRef> out = new ArrayList<>();
        old.accepted.stream().filter(r -> FailClosed.isSecurity(r.kind()))
                .forEach(r -> out.add(ConfigSnapshot.refOf(r.kind(), r.object())));
        old.failClosed.forEach(fc -> out.add(fc.ref()));
        return out;
    }

    private String relative(Path file) {
        return root.relativize(file).toString();
    }

    @Override
    public void close() {
        closed = true;
        try {
            if (watcher != null) {
                watcher.close();
            }
        } catch (IOException e) {
            log.debug("closing watcher of {}", root, e);
        }
        if (thread != null) {
            thread.interrupt();
            try {
                thread.join(Duration.ofSeconds(5));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
