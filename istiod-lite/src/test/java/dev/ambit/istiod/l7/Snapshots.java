package dev.ambit.istiod.l7;

import dev.ambit.istiod.config.ConfigError;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.ObjectDecoder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/** Snapshots from YAML text, decoded and validated as the config sources do, for unit tests. */
final class Snapshots {

    private Snapshots() {}

    /** The shared base of the golden cases. */
    static String base() {
        try {
            return Files.readString(L7Fixtures.ROOT.resolve("base/mesh.yaml"), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Decodes every document; fails on a rejected one. */
    static ConfigSnapshot of(String... yamls) {
        ConfigSnapshot.Builder b = ConfigSnapshot.builder();
        for (var r : decode(yamls)) {
            if (!r.ok()) {
                throw new AssertionError("rejected: " + r.errors());
            }
            if (r.kind() != null) {
                b.put(r.kind(), r.object(), "test.yaml");
            }
        }
        return b.build();
    }

    /** The errors decoding reports (empty when every document is accepted). */
    static List<ConfigError> errors(String... yamls) {
        return decode(yamls).stream().flatMap(r -> r.errors().stream()).toList();
    }

    private static List<ObjectDecoder.Result> decode(String... yamls) {
        ObjectDecoder decoder = new ObjectDecoder();
        List<ObjectDecoder.Result> out = new ArrayList<>();
        for (String yaml : yamls) {
            for (Object doc : new Yaml(new SafeConstructor(new LoaderOptions())).loadAll(yaml)) {
                if (doc instanceof Map<?, ?> m) {
                    out.add(decoder.decode("test.yaml", m, "default"));
                }
            }
        }
        return out;
    }
}
