package dev.ambit.ctl.analyze;

import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.config.ConfigError;
import dev.ambit.istiod.config.ConfigException;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.ConfigSource;
import dev.ambit.istiod.config.FolderSource;
import dev.ambit.istiod.config.ObjectRef;
import dev.ambit.istiod.config.kube.KubernetesSource;
import io.fabric8.kubernetes.client.Config;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Reads configuration the way istiod-lite reads it, through its own config sources (so the
 * same objects are accepted or rejected for the same reasons): folders and files through
 * {@link FolderSource}, a cluster through {@link KubernetesSource}. Several inputs are merged
 * in order, a later object replacing an earlier one of the same kind, namespace and name (files
 * over a cluster: what the cluster would be once they are applied, as {@code istioctl analyze FILES}).
 */
final class AnalysisSources {

    /** What was read: the accepted objects and the rejected inputs. */
    record Input(ConfigSnapshot snapshot, List<ConfigError> rejected) {}

    private final ConfigSnapshot.Builder merged = ConfigSnapshot.builder();
    private final List<ConfigError> rejected = new ArrayList<>();
    private final List<String> described = new ArrayList<>();

    /** Adds a folder (recursively: {@code .yaml}, {@code .yml}, {@code .json}) or one file; origins name the path given. */
    AnalysisSources path(Path path) {
        if (Files.isDirectory(path)) {
            read(FolderSource.of(path, Duration.ZERO, MetricsRegistry.create()), path.toString() + "/");
        } else if (Files.isRegularFile(path)) {
            // FolderSource reads folders: give it one holding only a link to this file.
            Path dir = null;
            try {
                dir = Files.createTempDirectory("ambitctl-analyze");
                Files.createSymbolicLink(dir.resolve(linkName(path)), path.toAbsolutePath());
                String parent = path.getParent() == null ? "" : path.getParent().toString() + "/";
                read(FolderSource.of(dir, Duration.ZERO, MetricsRegistry.create()), parent);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + path + ": " + e.getMessage(), e);
            } finally {
                deleteQuietly(dir);
            }
        } else {
            throw new IllegalArgumentException("-f " + path + ": no such file or folder (expected: a YAML/JSON file or a"
                    + " folder of them)");
        }
        described.add(path.toString());
        return this;
    }

    /** Adds the local mesh's objects as its istiod-lite reads them (its config folder). */
    AnalysisSources local(Path istiodConfig, String what) {
        if (!Files.isDirectory(istiodConfig)) {
            throw new IllegalArgumentException("--local: " + istiodConfig + " does not exist (is a local cluster up?"
                    + " start one with ambitctl local up, or pass --state-dir)");
        }
        read(FolderSource.of(istiodConfig, Duration.ZERO, MetricsRegistry.create()), null);
        described.add(what);
        return this;
    }

    /** Adds every object of the cluster of kubeconfig context {@code context} (null: the current one). */
    AnalysisSources cluster(String context, Duration timeout) {
        KubernetesSource.Builder b = KubernetesSource.builder(MetricsRegistry.create()).syncTimeout(timeout);
        if (context != null) {
            b.config(Config.autoConfigure(context));
        }
        KubernetesSource source = b.build();
        read(source, null);
        described.add(source.describe());
        return this;
    }

    /** What was read, for "No validation issues found when analyzing ...". */
    String describe() {
        return String.join(", ", described);
    }

    Input build() {
        return new Input(merged.build(), List.copyOf(rejected));
    }

    /** Starts a source (its first snapshot arrives before start returns), takes that snapshot and closes it. */
    private void read(ConfigSource source, String originPrefix) {
        AtomicReference<ConfigSnapshot> snapshot = new AtomicReference<>();
        AtomicReference<List<ConfigError>> errors = new AtomicReference<>(List.of());
        try (source) {
            source.start(new ConfigSource.Listener() {
                @Override
                public void onSnapshot(ConfigSnapshot s) {
                    snapshot.compareAndSet(null, s);
                }

                @Override
                public void onRejected(List<ConfigError> e) {
                    if (snapshot.get() == null) {
                        errors.set(List.copyOf(e));
                    }
                }
            });
        } catch (ConfigException e) {
            throw new IllegalArgumentException(source.describe() + ": " + e.getMessage(), e);
        }
        ConfigSnapshot s = snapshot.get();
        if (s == null) {
            throw new IllegalStateException(source.describe() + ": no snapshot delivered by start (a bug in Ambit)");
        }
        for (var e : s.objects().entrySet()) {
            ObjectRef ref = e.getKey();
            String origin = s.origin(ref).map(o -> originPrefix == null ? o : originPrefix + o).orElse(null);
            if (origin == null) {
                merged.put(ref.kind(), e.getValue());
            } else {
                merged.put(ref.kind(), e.getValue(), origin);
            }
        }
        for (ConfigError e : errors.get()) {
            rejected.add(originPrefix == null ? e
                    : new ConfigError(originPrefix + e.origin(), e.object(), e.field(), e.reason()));
        }
    }

    private static String linkName(Path file) {
        String name = file.getFileName().toString();
        // FolderSource reads .yaml, .yml and .json: a file named otherwise (stdin-like exports) is read as YAML.
        return name.endsWith(".yaml") || name.endsWith(".yml") || name.endsWith(".json") ? name : name + ".yaml";
    }

    private static void deleteQuietly(Path dir) {
        if (dir == null) {
            return;
        }
        try (var walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // a temp folder left behind is harmless
                }
            });
        } catch (IOException ignored) {
            // same
        }
    }
}
