package dev.ambit.istiod.config;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.common.metrics.MetricsRegistry;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Folder mode: invalid input is named (file, object, field); an invalid security object
 * fails closed, other kinds keep the file's last good config.
 */
class FolderSourceTest {

    private static final String GOOD_POLICY = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: allow-frontend, namespace: shop}
            spec:
              selector:
                matchLabels: {app: backend}
              action: ALLOW
              rules:
              - from:
                - source:
                    principals: [cluster.local/ns/shop/sa/frontend]
            """;

    @TempDir
    Path dir;

    private final Deliveries listener = new Deliveries();
    private final LinkedBlockingQueue<ConfigSnapshot> snapshots = listener.snapshots;
    private final LinkedBlockingQueue<List<ConfigError>> rejections = listener.rejections;
    private FolderSource source;
    private final MetricsRegistry metrics = MetricsRegistry.create();


    @BeforeEach
    void start() throws Exception {
        Files.writeString(dir.resolve("policy.yaml"), GOOD_POLICY);
        source = FolderSource.of(dir, Duration.ofMillis(50), metrics);
        source.start(listener);
        assertThat(rejections.poll()).isEmpty();
        assertThat(policy(snapshots.poll()).getSpec().getAction().name()).isEqualTo("ALLOW");
    }

    @AfterEach
    void stop() {
        source.close();
    }

    @Test
    void unknownEnumValueNamesFileObjectAndFieldAndFailsClosed() throws Exception {
        Files.writeString(dir.resolve("policy.yaml"), GOOD_POLICY.replace("action: ALLOW", "action: PERMIT"));
        List<ConfigError> errors = nextRejection();
        assertThat(errors).singleElement().satisfies(e -> {
            assertThat(e.origin()).isEqualTo("policy.yaml");
            assertThat(e.object()).isEqualTo(ObjectRef.of(Kind.AUTHORIZATION_POLICY, "shop", "allow-frontend"));
            assertThat(e.field()).isEqualTo("spec.action");
            assertThat(e.reason()).contains("PERMIT").contains("ALLOW").contains("DENY");
            assertThat(e.message()).startsWith("policy.yaml: AuthorizationPolicy shop/allow-frontend: spec.action: ");
        });
        assertThat(metrics.value(ConfigMetrics.REJECTED, "folder", "AuthorizationPolicy")).isEqualTo(1);
        // Not the previous version (a restart would not have it): a DENY of everything it selected.
        ConfigSnapshot failed = nextSnapshot();
        assertThat(failed.get(Kind.AUTHORIZATION_POLICY, "shop", "allow-frontend", AuthorizationPolicy.class)).isEmpty();
        assertThat(failed.failClosed()).singleElement().satisfies(f -> {
            assertThat(f.effect()).isEqualTo(FailClosed.Effect.DENY_ALL);
            assertThat(f.selector()).isEqualTo(java.util.Map.of("app", "backend"));
            assertThat(f.origin()).isEqualTo("policy.yaml");
        });

        // Fixing the file recovers: no errors, the new content is served.
        Files.writeString(dir.resolve("policy.yaml"), GOOD_POLICY.replace("action: ALLOW", "action: DENY"));
        assertThat(nextRejection()).isEmpty();
        assertThat(policy(nextSnapshot()).getSpec().getAction().name()).isEqualTo("DENY");
    }

    @Test
    void wrongTypeInvalidSelectorAndBadCidrAreRejectedWithTheirPaths() throws Exception {
        Files.writeString(dir.resolve("policy.yaml"), GOOD_POLICY
                .replace("principals: [cluster.local/ns/shop/sa/frontend]",
                        "principals: {name: frontend}")
                + "---\n" + GOOD_POLICY.replace("allow-frontend", "bad-selector")
                        .replace("{app: backend}", "{\"app/backend/x\": backend}")
                + "---\n" + GOOD_POLICY.replace("allow-frontend", "bad-ip")
                        .replace("principals: [cluster.local/ns/shop/sa/frontend]", "ipBlocks: [10.0.0.300/8]"));
        List<ConfigError> errors = nextRejection();
        assertThat(errors).extracting(ConfigError::field).containsExactly(
                "spec.rules[0].from[0].source.principals",
                "spec.selector.matchLabels.app/backend/x",
                "spec.rules[0].from[0].source.ipBlocks[0]");
        assertThat(errors.get(0).reason()).startsWith("wrong type");
        assertThat(errors.get(1).object().name()).isEqualTo("bad-selector");
        assertThat(errors.get(1).reason()).contains("invalid label key");
        assertThat(errors.get(2).reason()).contains("10.0.0.300/8").contains("not an IP address or CIDR");
        // Each fails closed: ALLOW policies that allow nothing, the one with the broken
        // selector for the whole namespace.
        ConfigSnapshot snapshot = nextSnapshot();
        assertThat(snapshot.list(Kind.AUTHORIZATION_POLICY, AuthorizationPolicy.class)).isEmpty();
        assertThat(snapshot.failClosed()).extracting(f -> f.ref().name(), FailClosed::effect, FailClosed::selector)
                .containsExactly(
                        org.assertj.core.groups.Tuple.tuple("allow-frontend", FailClosed.Effect.ALLOW_NOTHING,
                                java.util.Map.of("app", "backend")),
                        org.assertj.core.groups.Tuple.tuple("bad-ip", FailClosed.Effect.ALLOW_NOTHING,
                                java.util.Map.of("app", "backend")),
                        org.assertj.core.groups.Tuple.tuple("bad-selector", FailClosed.Effect.ALLOW_NOTHING, null));
    }

    @Test
    void yamlSyntaxErrorNamesLineAndColumnAndOtherFilesStillApply() throws Exception {
        Files.writeString(dir.resolve("broken.yaml"), "apiVersion: v1\nkind: Namespace\nmetadata: {name: x\n");
        List<ConfigError> errors = nextRejection();
        assertThat(errors).singleElement().satisfies(e -> {
            assertThat(e.origin()).isEqualTo("broken.yaml");
            assertThat(e.object()).isNull();
            assertThat(e.reason()).startsWith("invalid YAML: line ");
        });
        nextSnapshot();
        Files.writeString(dir.resolve("ns.yaml"), "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n");
        assertThat(nextRejection()).hasSize(1); // still broken, still reported
        assertThat(nextSnapshot().get(Kind.NAMESPACE, "", "shop", io.fabric8.kubernetes.api.model.Namespace.class))
                .isPresent();
    }

    @Test
    void deletingAFileRemovesItsObjectsAndDuplicatesAreRejected() throws Exception {
        Files.writeString(dir.resolve("z-copy.yaml"), GOOD_POLICY);
        List<ConfigError> errors = nextRejection();
        assertThat(errors).singleElement().satisfies(e -> {
            assertThat(e.origin()).isEqualTo("z-copy.yaml");
            assertThat(e.reason()).contains("already defined in policy.yaml");
        });
        nextSnapshot();
        Files.delete(dir.resolve("policy.yaml"));
        Files.delete(dir.resolve("z-copy.yaml"));
        assertThat(nextRejection()).isEmpty();
        assertThat(nextSnapshot().list(Kind.AUTHORIZATION_POLICY, AuthorizationPolicy.class)).isEmpty();
    }

    @Test
    void missingFolderIsAClearStartupError() {
        FolderSource missing = FolderSource.of(dir.resolve("nope"));
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> missing.start(listener))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining(dir.resolve("nope").toString())
                .hasMessageContaining("--config-dir");
    }

    private List<ConfigError> nextRejection() throws InterruptedException {
        List<ConfigError> errors = rejections.poll(10, TimeUnit.SECONDS);
        assertThat(errors).as("rejections delivered by the watcher").isNotNull();
        return errors;
    }

    private ConfigSnapshot nextSnapshot() throws InterruptedException {
        ConfigSnapshot s = snapshots.poll(10, TimeUnit.SECONDS);
        assertThat(s).as("snapshot delivered by the watcher").isNotNull();
        return s;
    }

    private static AuthorizationPolicy policy(ConfigSnapshot s) {
        return s.get(Kind.AUTHORIZATION_POLICY, "shop", "allow-frontend", AuthorizationPolicy.class).orElseThrow();
    }
}
