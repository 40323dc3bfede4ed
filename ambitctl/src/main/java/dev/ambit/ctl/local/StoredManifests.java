package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * The controller's view of {@code STATE/manifests}, re-read file by file as files change.
 *
 * <p>A file that cannot be read (over {@link dev.ambit.common.config.Limits#MAX_FILE_BYTES},
 * not YAML, not a valid object: never written by {@code apply}, which checks every object,
 * but a hand edit or an older ambitctl can leave one) is never dropped silently: its last
 * version read stays in force, as istiod-lite does with a rejected file, and the reason is
 * logged once and kept in {@link #errors()}, which the controller publishes in
 * {@code status.json} for {@code local status}. A file unreadable since the controller
 * started has no version in force; {@link #unknown()} names it, so what the controller
 * wrote for it before (istiod-lite's copy) is left in place rather than removed.
 */
final class StoredManifests {

    /** One file: what identifies its content on disk, its objects in force, why the current content is not. */
    private record FileState(Object stamp, List<KubeObject> objects, boolean read, String error) {}

    private final Path dir;
    private final Consumer<String> log;
    private final Map<Path, FileState> files = new TreeMap<>();
    private List<KubeObject> objects = List.of();

    StoredManifests(Path dir, Consumer<String> log) {
        this.dir = requireNonNull(dir, "dir");
        this.log = requireNonNull(log, "log");
    }

    /**
     * Reads the files that changed since the last call.
     *
     * @return whether the objects in force or the errors changed
     */
    boolean refresh() {
        boolean changed = false;
        Map<Path, Object> current = new TreeMap<>();
        for (Path f : list()) {
            Object stamp = stamp(f);
            if (stamp != null) {
                current.put(f, stamp);
            }
        }
        changed |= files.keySet().retainAll(current.keySet());
        for (Map.Entry<Path, Object> e : current.entrySet()) {
            FileState old = files.get(e.getKey());
            if (old != null && old.stamp().equals(e.getValue())) {
                continue;
            }
            changed = true;
            try {
                files.put(e.getKey(), new FileState(e.getValue(), Manifests.readStored(e.getKey()), true, null));
                if (old != null && old.error() != null) {
                    log.accept("manifest " + e.getKey() + " can be read again");
                }
            } catch (ManifestException | UncheckedIOException ex) {
                boolean kept = old != null && old.read();
                String error = ex.getMessage() + (kept ? "; its last version read stays in force"
                        : "; nothing from it is in force (istiod-lite keeps the copy it had)");
                log.accept("manifest cannot be read: " + error);
                files.put(e.getKey(), new FileState(e.getValue(), kept ? old.objects() : List.of(), kept, error));
            }
        }
        if (changed) {
            List<KubeObject> all = new ArrayList<>();
            files.values().forEach(s -> all.addAll(s.objects()));
            objects = List.copyOf(all);
        }
        return changed;
    }

    /** The objects in force. */
    List<KubeObject> objects() {
        return objects;
    }

    /** One line per stored file that cannot be read, naming it and why. */
    List<String> errors() {
        return files.values().stream().map(FileState::error).filter(Objects::nonNull).toList();
    }

    /** File names (in {@code STATE/manifests}) of files unreadable since the controller started. */
    Set<String> unknown() {
        Set<String> out = new TreeSet<>();
        files.forEach((f, s) -> {
            if (!s.read()) {
                out.add(f.getFileName().toString());
            }
        });
        return out;
    }

    private List<Path> list() {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(f -> {
                String n = f.getFileName().toString();
                return !n.startsWith(".") && n.endsWith(".yaml") && Files.isRegularFile(f);
            }).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Size, modification time and inode: apply renames a new file over the old one. */
    private static Object stamp(Path f) {
        try {
            BasicFileAttributes a = Files.readAttributes(f, BasicFileAttributes.class);
            return List.of(a.size(), a.lastModifiedTime(), String.valueOf(a.fileKey()));
        } catch (NoSuchFileException e) {
            return null; // removed meanwhile: the next tick sees it gone
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
