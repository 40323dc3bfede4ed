package dev.ambit.istiod.ingress;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.istiod.config.ConfigError;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Istio Gateways, VirtualServices and Secrets → the Envoy resources each gateway proxy is
 * served, as JSON, equal to {@code src/test/resources/ingress/<case>/expected/}: one file per
 * proxy key ({@code /} written as {@code .}), {@code warnings.txt} and {@code rejected.txt}.
 * Regenerate after an intended change with
 * {@code mvn test -pl istiod-lite -Dtest=GatewayGoldenTest -Dambit.golden.update=true} and
 * review the diff like code.
 */
class GatewayGoldenTest {

    private static final boolean UPDATE = Boolean.getBoolean("ambit.golden.update");

    static Stream<String> cases() throws IOException {
        try (var dirs = Files.list(IngressCases.ROOT)) {
            return dirs.filter(Files::isDirectory).map(p -> p.getFileName().toString())
                    .filter(n -> !n.equals("base")).sorted().toList().stream();
        }
    }

    @ParameterizedTest
    @MethodSource("cases")
    void resourcesMatchGolden(String name, @TempDir Path scratch) throws Exception {
        Path expected = IngressCases.ROOT.resolve(name).resolve("expected");
        IngressCases.Result result = IngressCases.translate(name, scratch);
        List<String> files = new ArrayList<>();
        for (String key : result.resources().waypoints()) {
            if (key.contains("/@")) {
                // A pod's name key serves exactly its label set's resources (GatewayModel.podKey).
                String labelKey = result.resources().waypoints().stream().filter(k -> k.contains("/~")).findFirst()
                        .orElseThrow();
                assertThat(result.resources().forProxy(key)).as(key).isEqualTo(result.resources().forProxy(labelKey));
                continue;
            }
            check(expected, key.replace('/', '.') + ".json", IngressCases.json(result.resources().forProxy(key)), files);
        }
        check(expected, "warnings.txt", lines(result.resources().warnings()), files);
        check(expected, "rejected.txt", lines(result.rejected().stream().map(ConfigError::message).toList()), files);
        if (!UPDATE) {
            try (var list = Files.list(expected)) {
                assertThat(list.map(p -> p.getFileName().toString()).sorted().toList())
                        .as("golden files of %s", name).containsExactlyInAnyOrderElementsOf(files);
            }
        }
    }

    private static String lines(List<String> lines) {
        return lines.isEmpty() ? "" : String.join("\n", lines) + "\n";
    }

    private static void check(Path dir, String file, String actual, List<String> files) throws IOException {
        files.add(file);
        Path golden = dir.resolve(file);
        if (UPDATE) {
            Files.createDirectories(dir);
            Files.writeString(golden, actual, StandardCharsets.UTF_8);
            return;
        }
        assertThat(golden).as("golden file %s (generate with -Dambit.golden.update=true, then review)", golden)
                .exists();
        assertThat(actual).as("%s", golden).isEqualTo(Files.readString(golden, StandardCharsets.UTF_8));
    }
}
