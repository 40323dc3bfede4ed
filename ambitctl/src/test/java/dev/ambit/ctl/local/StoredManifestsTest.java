package dev.ambit.ctl.local;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.common.config.Limits;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The controller never drops a stored manifest silently: the last version read stays, the reason is reported. */
class StoredManifestsTest {

    private static final String STRICT = """
            apiVersion: security.istio.io/v1
            kind: PeerAuthentication
            metadata: {name: default, namespace: shop}
            spec: {mtls: {mode: STRICT}}
            """;

    @TempDir
    Path dir;

    @Test
    void anUnreadableFileKeepsItsLastVersionAndIsReported() throws IOException {
        List<String> log = new ArrayList<>();
        StoredManifests manifests = new StoredManifests(dir, log::add);
        Path f = dir.resolve("peerauthentication.shop.default.yaml");
        Files.writeString(f, STRICT);
        assertThat(manifests.refresh()).isTrue();
        assertThat(manifests.objects()).extracting(KubeObject::describe).containsExactly("PeerAuthentication shop/default");
        assertThat(manifests.refresh()).as("nothing changed").isFalse();

        Files.writeString(f, "# " + "x".repeat(Limits.MAX_FILE_BYTES) + "\n" + STRICT);
        assertThat(manifests.refresh()).isTrue();

        assertThat(manifests.objects()).as("the last version read").extracting(KubeObject::describe)
                .containsExactly("PeerAuthentication shop/default");
        assertThat(manifests.errors()).singleElement().asString()
                .contains(f.toString(), "over the limit of " + Limits.MAX_FILE_BYTES + " bytes",
                        "its last version read stays in force");
        assertThat(manifests.unknown()).isEmpty();
        assertThat(log).anyMatch(l -> l.contains("manifest cannot be read"));

        Files.writeString(f, STRICT.replace("STRICT", "PERMISSIVE"));
        manifests.refresh();
        assertThat(manifests.errors()).isEmpty();
        assertThat(manifests.objects().getFirst().spec().path("mtls").path("mode").asText()).isEqualTo("PERMISSIVE");
    }

    @Test
    void aFileUnreadableFromTheStartIsNamedAsUnknown() throws IOException {
        Files.writeString(dir.resolve("authorizationpolicy.shop.broken.yaml"), "kind: [unclosed");
        Files.writeString(dir.resolve("peerauthentication.shop.default.yaml"), STRICT);
        StoredManifests manifests = new StoredManifests(dir, m -> { });

        manifests.refresh();

        assertThat(manifests.objects()).hasSize(1);
        assertThat(manifests.unknown()).containsExactly("authorizationpolicy.shop.broken.yaml");
        assertThat(manifests.errors()).singleElement().asString().contains("invalid YAML", "nothing from it is in force");
    }
}
