package dev.ambit.istiod.ingress;

import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import dev.ambit.istiod.config.ConfigError;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.FolderSource;
import dev.ambit.istiod.l7.L7Resources;
import dev.ambit.istiod.l7.L7Translator;
import dev.ambit.istiod.model.MeshConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The ingress cases under {@code src/test/resources/ingress}: {@code base/} plus a case's
 * {@code input/}, read by a real {@link FolderSource} (as istiod-lite reads {@code ambitctl
 * local}'s folder) and translated by the real {@link L7Translator}.
 */
public final class IngressCases {

    public static final Path ROOT = Path.of("src/test/resources/ingress");
    /** The proxy key of the demo ingress pod in base/. */
    public static final String INGRESS_KEY = "istio-system/~app=istio-ingressgateway,istio=ingressgateway,"
            + "istio.io/dataplane-mode=none";
    /** The same pod's key by name ({@code GatewayModel.podKey}), what a gateway saying its {@code NAME} gets. */
    public static final String INGRESS_POD_KEY = "istio-system/@istio-ingressgateway-7f9c-abcde";

    static final JsonFormat.Printer PRINTER = JsonFormat.printer()
            .usingTypeRegistry(dev.ambit.istiod.xds.L7DebugJson.packedTypes());

    /** A case's translation and what the folder source rejected. */
    public record Result(L7Resources resources, List<ConfigError> rejected, ConfigSnapshot config) {
        public Map<String, Map<String, Message>> ingress() {
            return resources.forProxy(INGRESS_KEY);
        }
    }

    private IngressCases() {
    }

    public static Result translate(String name, Path scratch) throws Exception {
        copy(ROOT.resolve("base"), scratch);
        copy(ROOT.resolve(name).resolve("input"), scratch);
        FolderSource.Reading read = FolderSource.readOnce(scratch);
        L7Resources resources = L7Translator.of(MeshConfig.defaults()).translate(read.snapshot());
        return new Result(resources, read.rejected(), read.snapshot());
    }

    private static void copy(Path from, Path to) throws IOException {
        try (var files = Files.list(from)) {
            for (Path f : files.sorted().toList()) {
                Files.copy(f, to.resolve(f.getFileName()));
            }
        }
    }

    /** Resources by type URL then name as one JSON document. */
    static String json(Map<String, Map<String, Message>> byType) {
        try {
            StringBuilder out = new StringBuilder("{\n");
            int t = 0;
            for (var type : new java.util.TreeMap<>(byType).entrySet()) {
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
}
