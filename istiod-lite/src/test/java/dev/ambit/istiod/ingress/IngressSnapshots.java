package dev.ambit.istiod.ingress;

import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.ObjectDecoder;
import java.util.Map;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/** Snapshots from YAML text, decoded and validated as the config sources do. */
final class IngressSnapshots {

    private IngressSnapshots() {}

    /** Decodes every document; fails on a rejected one. */
    static ConfigSnapshot of(String... yamls) {
        ConfigSnapshot.Builder b = ConfigSnapshot.builder();
        ObjectDecoder decoder = new ObjectDecoder();
        for (String yaml : yamls) {
            for (Object doc : new Yaml(new SafeConstructor(new LoaderOptions())).loadAll(yaml)) {
                if (doc instanceof Map<?, ?> m) {
                    var r = decoder.decode("test.yaml", m, "default");
                    if (!r.ok()) {
                        throw new AssertionError("rejected: " + r.errors());
                    }
                    if (r.kind() != null) {
                        b.put(r.kind(), r.object(), "test.yaml");
                    }
                }
            }
        }
        return b.build();
    }

    static String service(String ns, String name, int port) {
        return """
                apiVersion: v1
                kind: Service
                metadata: {name: %s, namespace: %s}
                spec:
                  clusterIP: 10.96.0.%d
                  selector: {app: %s}
                  ports: [{name: http, port: %d}]
                ---
                """.formatted(name, ns, Math.abs(name.hashCode() % 200) + 2, name, port);
    }
}
