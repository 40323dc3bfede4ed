package dev.ambit.istiod.model;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import dev.ambit.istiod.Fixtures;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Fixture manifests → Address and Authorization resources in Istio's JSON form, equal
 * to the files under {@code src/test/resources/golden/<fixture>/}. After an intended
 * change, regenerate with {@code mvn test -pl istiod-lite -Dtest=GoldenTest
 * -Dambit.golden.update=true} and review the diff like code.
 */
class GoldenTest {

    private static final Path GOLDEN = Path.of("src/test/resources/golden");
    private static final boolean UPDATE = Boolean.getBoolean("ambit.golden.update");

    static Stream<String> fixtures() {
        return Fixtures.names().stream();
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void resourcesMatchGolden(String fixture) throws IOException {
        MeshResources resources = AmbientModel.build(Fixtures.snapshot(fixture), MeshConfig.defaults());
        check(fixture, "addresses.json", json(resources.addresses()));
        check(fixture, "authorizations.json", json(resources.authorizations()));
        check(fixture, "warnings.txt", String.join("\n", resources.warnings()) + "\n");
    }

    private static void check(String fixture, String file, String actual) throws IOException {
        Path golden = GOLDEN.resolve(fixture).resolve(file);
        if (UPDATE) {
            Files.createDirectories(golden.getParent());
            Files.writeString(golden, actual, StandardCharsets.UTF_8);
            return;
        }
        assertThat(golden).as("golden file %s (generate with -Dambit.golden.update=true, then review)", golden)
                .exists();
        assertThat(actual).as("%s/%s", fixture, file).isEqualTo(Files.readString(golden, StandardCharsets.UTF_8));
    }

    /** Resources by name as one JSON object, in name order, proto3 JSON mapping per resource. */
    static String json(Map<String, ? extends Message> resources) throws IOException {
        JsonFormat.Printer printer = JsonFormat.printer();
        StringBuilder out = new StringBuilder("{\n");
        int i = 0;
        for (var e : resources.entrySet()) {
            String body = printer.print(e.getValue()).replace("\n", "\n  ");
            out.append("  \"").append(e.getKey()).append("\": ").append(body);
            out.append(++i < resources.size() ? ",\n" : "\n");
        }
        return out.append("}\n").toString();
    }
}
