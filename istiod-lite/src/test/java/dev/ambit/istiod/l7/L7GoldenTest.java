package dev.ambit.istiod.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.istiod.config.ConfigError;
import dev.ambit.istiod.model.MeshConfig;
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
 * Istio / Gateway API manifests → the Envoy resources istiod-lite serves, as JSON, equal to
 * the files under {@code src/test/resources/l7/<case>/expected/}: one file per waypoint
 * ({@code NS.NAME.json}), {@code grpc.json} for proxyless gRPC clients, {@code node-agents.json}
 * where the node agents trace (issue 19), {@code warnings.txt}
 * (what was not translated, naming file, object and field) and {@code rejected.txt} (what
 * the config source rejected). A case with an {@code update/} folder is translated twice
 * by the same translator: its input, then with the update's files saved over it, showing
 * what stays in force when the update is rejected. After an intended change regenerate with
 * {@code mvn test -pl istiod-lite -Dtest=L7GoldenTest -Dambit.golden.update=true} and review
 * the diff like code.
 */
class L7GoldenTest {

    private static final boolean UPDATE = Boolean.getBoolean("ambit.golden.update");

    static Stream<String> cases() throws IOException {
        try (var dirs = Files.list(L7Fixtures.ROOT)) {
            return dirs.filter(Files::isDirectory).map(p -> p.getFileName().toString())
                    .filter(n -> !n.equals("base")).sorted().toList().stream();
        }
    }

    @ParameterizedTest
    @MethodSource("cases")
    void resourcesMatchGolden(String name, @TempDir Path scratch) throws Exception {
        Path expected = L7Fixtures.ROOT.resolve(name).resolve("expected");
        // A case may carry Istio's mesh config (pathNormalization, extensionProviders) beside its input.
        Path meshFile = L7Fixtures.ROOT.resolve(name).resolve("mesh-config.yaml");
        MeshConfig mesh = Files.exists(meshFile) ? dev.ambit.istiod.model.MeshConfigFile.read(meshFile,
                MeshConfig.defaults()) : MeshConfig.defaults();
        L7Translator translator = L7Translator.of(mesh);
        List<String> actualFiles = new ArrayList<>();
        try (L7Fixtures fixtures = new L7Fixtures(name, scratch)) {
            L7Resources resources = translator.translate(fixtures.first());
            List<ConfigError> rejected = fixtures.errors();
            Path update = L7Fixtures.ROOT.resolve(name).resolve("update");
            if (Files.isDirectory(update)) {
                check(expected, "before.warnings.txt", lines(resources.warnings()), actualFiles);
                for (String wp : resources.waypoints()) {
                    String[] nsName = wp.split("/");
                    check(expected, "before." + nsName[0] + "." + nsName[1] + ".json",
                            L7Fixtures.json(resources.forWaypoint(nsName[0], nsName[1])), actualFiles);
                }
                fixtures.update(update);
                resources = translator.translate(fixtures.next());
                rejected = fixtures.errors();
            }
            for (String wp : resources.waypoints()) {
                String[] nsName = wp.split("/");
                check(expected, nsName[0] + "." + nsName[1] + ".json",
                        L7Fixtures.json(resources.forWaypoint(nsName[0], nsName[1])), actualFiles);
            }
            check(expected, "grpc.json", L7Fixtures.json(resources.forGrpc()), actualFiles);
            if (nodeAgentsTrace(resources)) { // issue 19: only where tracing is configured, not in every case
                check(expected, "node-agents.json", L7Fixtures.json(resources.forNodeAgents()), actualFiles);
            }
            check(expected, "warnings.txt", lines(resources.warnings()), actualFiles);
            check(expected, "rejected.txt", lines(rejected.stream().map(ConfigError::message).toList()), actualFiles);
        }
        if (!UPDATE) {
            try (var files = Files.list(expected)) {
                assertThat(files.map(p -> p.getFileName().toString()).sorted().toList())
                        .as("golden files of %s (a waypoint that no longer exists?)", name)
                        .containsExactlyInAnyOrderElementsOf(actualFiles);
            }
        }
    }

    /** Whether the node agents' listener carries tracing (issue 19). */
    private static boolean nodeAgentsTrace(L7Resources resources) throws Exception {
        var listener = (io.envoyproxy.envoy.config.listener.v3.Listener) resources.forNodeAgents()
                .getOrDefault(dev.ambit.api.TypeUrls.LISTENER, java.util.Map.of()).get("connect_terminate");
        return listener != null && listener.getFilterChains(0).getFilters(0).getTypedConfig().unpack(
                io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.class)
                .hasTracing();
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
