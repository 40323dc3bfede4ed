package dev.ambit.istiod.config.kube;

import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.Fixtures;
import dev.ambit.istiod.config.ConfigError;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.FolderSource;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.config.ObjectRef;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * One fixture folder read both ways: by {@link FolderSource}, and by {@link KubernetesSource}
 * from a mock cluster holding the same objects. Comparing anything derived from the two
 * snapshots (objects, translated xDS resources) is then one assertion.
 */
record FixtureSnapshots(ConfigSnapshot folder, List<ConfigError> folderErrors,
                        ConfigSnapshot kube, List<ConfigError> kubeErrors) {

    /** Metadata the API server adds, which the model must not depend on. */
    static final List<String> SERVER_METADATA =
            List.of("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields");

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS)
            .enable(MapperFeature.SORT_PROPERTIES_ALPHABETICALLY)
            .build();

    static FixtureSnapshots load(String name) throws Exception {
        return load(Fixtures.root().resolve(name));
    }

    static FixtureSnapshots load(Path fixture) throws Exception {
        RecordingListener fromFolder = new RecordingListener();
        try (FolderSource folder = FolderSource.of(fixture)) {
            folder.start(fromFolder); // delivers the first snapshot before returning
        }
        try (MockCluster cluster = MockCluster.start()) {
            for (Map<?, ?> manifest : manifests(fixture)) {
                cluster.create(manifest, "default");
            }
            RecordingListener fromKube = new RecordingListener();
            try (KubernetesSource source = KubernetesSource.builder(MetricsRegistry.create())
                    .config(cluster.client.getConfiguration())
                    .syncTimeout(Duration.ofSeconds(30))
                    .build()) {
                source.start(fromKube);
                cluster.quiesce();
            }
            return new FixtureSnapshots(fromFolder.lastSnapshot, fromFolder.lastErrors,
                    fromKube.lastSnapshot, fromKube.lastErrors);
        }
    }

    /** The folder's manifests of kinds Ambit reads, read the way {@link FolderSource} reads them. */
    static List<Map<?, ?>> manifests(Path fixture) throws IOException {
        List<Path> files;
        try (var walk = Files.walk(fixture)) {
            files = walk.filter(Files::isRegularFile)
                    .filter(p -> p.toString().endsWith(".yaml") || p.toString().endsWith(".yml")
                            || p.toString().endsWith(".json"))
                    .filter(p -> !p.getFileName().toString().startsWith("."))
                    .sorted()
                    .toList();
        }
        List<Map<?, ?>> manifests = new ArrayList<>();
        for (Path file : files) {
            Yaml yaml = new Yaml(new SafeConstructor(new LoaderOptions()));
            for (Object doc : yaml.loadAll(Files.readString(file))) {
                if (!(doc instanceof Map<?, ?> map)) {
                    continue;
                }
                List<?> items = "List".equals(map.get("kind")) && map.get("items") instanceof List<?> l ? l : List.of(map);
                for (Object item : items) {
                    if (item instanceof Map<?, ?> m && m.get("apiVersion") instanceof String av
                            && m.get("kind") instanceof String k && Kind.of(av, k).isPresent()) {
                        manifests.add(m);
                    }
                }
            }
        }
        return manifests;
    }

    /** Every object as sorted JSON, without the metadata the API server adds. */
    static Map<ObjectRef, String> normalized(ConfigSnapshot snapshot) {
        Map<ObjectRef, String> out = new TreeMap<>();
        snapshot.objects().forEach((ref, object) -> {
            ObjectNode node = JSON.valueToTree(object); // a copy: snapshot objects are not to be mutated
            if (node.get("metadata") instanceof ObjectNode metadata) {
                metadata.remove(SERVER_METADATA);
            }
            try {
                out.put(ref, JSON.writeValueAsString(node));
            } catch (IOException e) {
                throw new IllegalStateException("cannot write " + ref, e);
            }
        });
        return out;
    }

    /** Rejections without their origin (a file path in folder mode, "kubernetes" otherwise). */
    static List<String> withoutOrigin(List<ConfigError> errors) {
        return errors.stream().map(e -> e.object() + ": " + e.field() + ": " + e.reason()).sorted().toList();
    }
}
