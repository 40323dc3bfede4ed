package dev.ambit.cni;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Chains the plugin into the host's CNI configuration, as Istio's install-cni does: the
 * runtime uses the first file of its configuration folder in lexical order ending in
 * {@code .conflist}, {@code .conf} or {@code .json}; our entry is appended to that file's
 * {@code plugins} (a single-plugin {@code .conf} becomes a {@code .conflist} of the same name
 * holding it and us). Idempotent: an up-to-date file is not rewritten; an older entry of ours
 * is replaced in place. Files are replaced atomically (written beside, then renamed), so a
 * runtime never reads half a file.
 */
public final class CniConfList {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private CniConfList() {}

    /** The file the runtime uses in {@code dir}: the first by name with a CNI config extension. */
    public static Optional<Path> primary(Path dir) {
        requireNonNull(dir, "dir");
        if (!Files.isDirectory(dir)) {
            return Optional.empty();
        }
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(f -> {
                String n = f.getFileName().toString();
                return !n.startsWith(".") && Files.isRegularFile(f)
                        && (n.endsWith(".conflist") || n.endsWith(".conf") || n.endsWith(".json"));
            }).sorted().findFirst();
        } catch (IOException e) {
            throw new UncheckedIOException("CNI config folder " + dir + ": cannot list: " + e.getMessage(), e);
        }
    }

    /**
     * Makes {@code file} chain {@code plugin} (an object with {@code "type": "ambit-cni"}) last.
     *
     * @return the file holding the chain now (a {@code .conf} is replaced by a {@code .conflist}),
     *     and whether anything was written
     * @throws IllegalArgumentException naming the file when it is not a CNI configuration
     */
    public static Written insert(Path file, ObjectNode plugin) {
        requireNonNull(file, "file");
        requireNonNull(plugin, "plugin");
        ObjectNode conf = read(file);
        String name = file.getFileName().toString();
        ObjectNode list;
        Path target = file;
        if (conf.has("plugins")) {
            list = conf.deepCopy();
        } else {
            // A single plugin: the runtime would not chain anything after it.
            if (!conf.path("type").isTextual()) {
                throw new IllegalArgumentException("CNI config " + file + ": neither \"plugins\" nor \"type\""
                        + " (expected: a .conflist or a single-plugin .conf)");
            }
            list = JSON.createObjectNode();
            list.set("cniVersion", conf.path("cniVersion").isMissingNode() ? JSON.getNodeFactory().textNode("1.0.0")
                    : conf.get("cniVersion"));
            list.set("name", conf.get("name"));
            ObjectNode first = conf.deepCopy();
            first.remove("cniVersion");
            first.remove("name");
            list.putArray("plugins").add(first);
            target = file.resolveSibling(name.substring(0, name.lastIndexOf('.')) + ".conflist");
        }
        if (!list.path("plugins").isArray()) {
            throw new IllegalArgumentException("CNI config " + file + ": \"plugins\" is not an array");
        }
        ArrayNode plugins = (ArrayNode) list.get("plugins");
        removeOurs(plugins);
        plugins.add(plugin);
        if (target.equals(file) && list.equals(conf)) {
            return new Written(file, false);
        }
        write(target, list);
        if (!target.equals(file)) {
            delete(file);
        }
        return new Written(target, true);
    }

    /** Removes our entry from {@code file}; true if it was there. */
    public static boolean remove(Path file) {
        requireNonNull(file, "file");
        if (!Files.exists(file)) {
            return false;
        }
        ObjectNode conf = read(file);
        if (!conf.path("plugins").isArray()) {
            return false;
        }
        ObjectNode list = conf.deepCopy();
        if (!removeOurs((ArrayNode) list.get("plugins"))) {
            return false;
        }
        write(file, list);
        return true;
    }

    /** Whether {@code file} chains our plugin. */
    public static boolean contains(Path file) {
        requireNonNull(file, "file");
        if (!Files.exists(file)) {
            return false;
        }
        for (JsonNode p : read(file).path("plugins")) {
            if (CniPlugin.TYPE.equals(p.path("type").asText())) {
                return true;
            }
        }
        return false;
    }

    /** What {@link #insert} did. */
    public record Written(Path file, boolean changed) {}

    private static boolean removeOurs(ArrayNode plugins) {
        boolean removed = false;
        for (int i = plugins.size() - 1; i >= 0; i--) {
            if (CniPlugin.TYPE.equals(plugins.get(i).path("type").asText())) {
                plugins.remove(i);
                removed = true;
            }
        }
        return removed;
    }

    private static ObjectNode read(Path file) {
        try {
            JsonNode n = JSON.readTree(Files.readString(file, StandardCharsets.UTF_8));
            if (n == null || !n.isObject()) {
                throw new IllegalArgumentException("CNI config " + file + ": not a JSON object");
            }
            return (ObjectNode) n;
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("CNI config " + file + ": not JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException("CNI config " + file + ": cannot read: " + e.getMessage(), e);
        }
    }

    private static void write(Path file, ObjectNode conf) {
        try {
            // A dot-name: the runtime ignores it while it is being written.
            Path tmp = Files.createTempFile(file.getParent(), ".ambit-cni", ".tmp");
            try {
                Files.writeString(tmp, JSON.writeValueAsString(conf) + "\n", StandardCharsets.UTF_8);
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("CNI config " + file + ": cannot write: " + e.getMessage()
                    + " (is the host's CNI config folder mounted writable?)", e);
        }
    }

    private static void delete(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            throw new UncheckedIOException("CNI config " + file + ": cannot remove: " + e.getMessage(), e);
        }
    }

    /** The plugin's entry for a conflist. */
    public static ObjectNode entry(String agentSocket, List<String> excludeNamespaces, String logLevel,
                                   int timeoutSeconds) {
        ObjectNode o = JSON.createObjectNode();
        o.put("type", CniPlugin.TYPE);
        o.put("agent_socket", requireNonNull(agentSocket, "agentSocket"));
        o.put("log_level", requireNonNull(logLevel, "logLevel"));
        o.put("timeout_seconds", timeoutSeconds);
        ArrayNode ex = o.putArray("exclude_namespaces");
        excludeNamespaces.forEach(ex::add);
        return o;
    }
}
