package dev.ambit.istiod.l7;

import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import dev.ambit.istiod.config.ConfigError;
import dev.ambit.istiod.config.ConfigException;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.ConfigSource;
import dev.ambit.istiod.config.FolderSource;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The L7 cases under {@code src/test/resources/l7}: each case's {@code input/} plus the
 * shared {@code base/} read by a real {@link FolderSource} from a scratch folder, so the
 * objects carry their file names and rejected files keep their last good content, as in
 * {@code ambitctl local}.
 */
final class L7Fixtures implements AutoCloseable {

    static final Path ROOT = Path.of("src/test/resources/l7");

    static final JsonFormat.Printer PRINTER = JsonFormat.printer()
            .usingTypeRegistry(dev.ambit.istiod.xds.L7DebugJson.packedTypes());

    private final Path dir;
    private final FolderSource source;
    private final LinkedBlockingQueue<ConfigSnapshot> snapshots = new LinkedBlockingQueue<>();
    private volatile List<ConfigError> errors = List.of();

    /** Starts a folder source over {@code base/} and the case's {@code input/}, copied to {@code scratch}. */
    L7Fixtures(String name, Path scratch) throws IOException, ConfigException {
        this.dir = scratch;
        copy(ROOT.resolve("base"), dir);
        copy(ROOT.resolve(name).resolve("input"), dir);
        source = FolderSource.of(dir, Duration.ofMillis(50));
        source.start(new ConfigSource.Listener() {
            @Override
            public void onSnapshot(ConfigSnapshot s) {
                snapshots.add(s);
            }

            @Override
            public void onRejected(List<ConfigError> e) {
                errors = e;
            }
        });
    }

    /** The snapshot the start delivered (synchronously). */
    ConfigSnapshot first() {
        return snapshots.remove();
    }

    /** The next snapshot delivered, once the source has been quiet for half a second (a change may take several). */
    ConfigSnapshot next() throws InterruptedException {
        ConfigSnapshot s = snapshots.poll(20, TimeUnit.SECONDS);
        if (s == null) {
            throw new AssertionError("no snapshot from the folder source within 20 s");
        }
        for (ConfigSnapshot later; (later = snapshots.poll(500, TimeUnit.MILLISECONDS)) != null; ) {
            s = later;
        }
        return s;
    }

    /** Copies the files of {@code from} over the scratch folder's (an update as a user would save it). */
    void update(Path from) throws IOException {
        copy(from, dir);
    }

    List<ConfigError> errors() {
        return errors;
    }

    private static void copy(Path from, Path to) throws IOException {
        if (!Files.isDirectory(from)) {
            return;
        }
        try (var files = Files.list(from)) {
            for (Path f : files.sorted().toList()) {
                Path tmp = to.resolve("." + f.getFileName() + ".tmp");
                Files.copy(f, tmp, StandardCopyOption.REPLACE_EXISTING);
                Files.move(tmp, to.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING,
                        StandardCopyOption.ATOMIC_MOVE);
            }
        }
    }

    /** Resources by type URL then name as one JSON object (proto3 JSON mapping, Any types resolved). */
    static String json(Map<String, Map<String, Message>> byType) {
        try {
            StringBuilder out = new StringBuilder("{\n");
            int t = 0;
            for (var type : byType.entrySet()) {
                out.append("  \"").append(type.getKey()).append("\": {");
                int i = 0;
                for (var e : type.getValue().entrySet()) {
                    String body = PRINTER.print(e.getValue()).replace("\n", "\n    ");
                    out.append(i++ == 0 ? "\n" : ",\n").append("    \"").append(e.getKey()).append("\": ").append(body);
                }
                out.append(i == 0 ? "}" : "\n  }").append(++t < byType.size() ? ",\n" : "\n");
            }
            return out.append("}\n").toString();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        source.close();
    }
}
