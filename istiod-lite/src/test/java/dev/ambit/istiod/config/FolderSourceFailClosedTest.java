package dev.ambit.istiod.config;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.common.config.Limits;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Folder mode: inputs that cannot be read object by object still fail closed where they
 * can be attributed, size limits are named, and a fresh start reads the same policy.
 */
class FolderSourceFailClosedTest {

    @TempDir
    Path dir;

    private final Deliveries listener = new Deliveries();
    private final LinkedBlockingQueue<ConfigSnapshot> snapshots = listener.snapshots;
    private final LinkedBlockingQueue<List<ConfigError>> rejections = listener.rejections;
    private FolderSource source;


    @AfterEach
    void stop() {
        if (source != null) {
            source.close();
        }
    }

    /** A DENY policy in shop naming {@code count} principals. */
    static String denyPolicy(String name, int count) {
        StringBuilder s = new StringBuilder("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: %s, namespace: shop}
                spec:
                  action: DENY
                  rules:
                  - from:
                    - source:
                        principals:
                """.formatted(name));
        for (int i = 0; i < count; i++) {
            s.append("        - cluster.local/ns/tenant-").append(i % 997).append("/sa/client-").append(i).append('\n');
        }
        return s.toString();
    }

    @Test
    void objectOverTheLimitIsRejectedNamingItAndFailsClosed() throws Exception {
        String big = denyPolicy("blocklist", 40_000);
        assertThat(big.length()).isBetween(Limits.MAX_OBJECT_BYTES, Limits.MAX_FILE_BYTES);
        Files.writeString(dir.resolve("blocklist.yaml"), big);
        start();
        List<ConfigError> errors = rejections.poll();
        assertThat(errors).singleElement().satisfies(e -> {
            assertThat(e.object()).isEqualTo(ObjectRef.of(Kind.AUTHORIZATION_POLICY, "shop", "blocklist"));
            assertThat(e.reason()).contains("over the limit of " + Limits.MAX_OBJECT_BYTES + " bytes");
        });
        assertThat(snapshots.poll().failClosed()).singleElement().satisfies(f -> {
            assertThat(f.effect()).isEqualTo(FailClosed.Effect.DENY_ALL);
            assertThat(f.selector()).isNull();
            assertThat(f.namespace()).isEqualTo("shop");
        });
    }

    @Test
    void fileOverTheLimitIsRejectedNamingItAndFailsClosedWhereItsTextSays() throws Exception {
        String policy = denyPolicy("part", 20_000);
        StringBuilder file = new StringBuilder();
        for (int i = 0; file.length() <= Limits.MAX_FILE_BYTES; i++) {
            file.append(policy.replace("name: part", "name: part-" + i)).append("---\n");
        }
        Files.writeString(dir.resolve("huge.yaml"), file);
        start();
        assertThat(rejections.poll()).singleElement().satisfies(e -> {
            assertThat(e.origin()).isEqualTo("huge.yaml");
            assertThat(e.reason()).contains("the file is " + Files.size(dir.resolve("huge.yaml")) + " bytes")
                    .contains("over the limit of " + Limits.MAX_FILE_BYTES + " bytes");
        });
        assertThat(snapshots.poll().failClosed()).singleElement().satisfies(f -> {
            assertThat(f.ref().kind()).isEqualTo(Kind.AUTHORIZATION_POLICY);
            assertThat(f.namespace()).isEqualTo("shop");
            assertThat(f.effect()).isEqualTo(FailClosed.Effect.DENY_ALL);
        });
    }

    @Test
    void brokenFileFailsClosedWhereItHeldSecurityObjectsAndARestartAgrees() throws Exception {
        Files.writeString(dir.resolve("mtls.yaml"), """
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: default, namespace: shop}
                spec: {mtls: {mode: PERMISSIVE}}
                """);
        start();
        assertThat(rejections.poll()).isEmpty();
        assertThat(snapshots.poll().failClosed()).isEmpty();

        // A document that is not even an object: nothing says what it was but the file's
        // history and text, which name PeerAuthentication in shop.
        Files.writeString(dir.resolve("mtls.yaml"), """
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: default, namespace: shop}
                spec: {mtls: {mode: PERMISSIVE}}
                ---
                - just a list
                """);
        assertThat(next(rejections)).singleElement().satisfies(e ->
                assertThat(e.reason()).startsWith("not an object"));
        List<FailClosed> edited = next(snapshots).failClosed();
        assertThat(edited).singleElement().satisfies(f -> {
            assertThat(f.ref().kind()).isEqualTo(Kind.PEER_AUTHENTICATION);
            assertThat(f.namespace()).isEqualTo("shop");
            assertThat(f.effect()).isEqualTo(FailClosed.Effect.STRICT);
        });

        source.close();
        start();
        assertThat(rejections.poll()).hasSize(1);
        assertThat(snapshots.poll().failClosed()).isEqualTo(edited);
    }

    @Test
    void invalidMetadataStillFailsClosedInTheNamespaceAndAnUnattributableOneIsOnlyReported() throws Exception {
        Files.writeString(dir.resolve("p.yaml"), """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {namespace: shop}
                spec: {action: DENY, rules: [{from: [{source: {namespaces: [legacy]}}]}]}
                ---
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: x, namespace: Not_A_Namespace}
                spec: {mtls: {mode: STRICT}}
                """);
        start();
        assertThat(rejections.poll()).extracting(ConfigError::field)
                .containsExactly("metadata.name", "metadata.namespace");
        assertThat(snapshots.poll().failClosed()).singleElement().satisfies(f -> {
            assertThat(f.ref()).isEqualTo(ObjectRef.of(Kind.AUTHORIZATION_POLICY, "shop", "unnamed-1"));
            assertThat(f.effect()).isEqualTo(FailClosed.Effect.DENY_ALL);
            assertThat(f.selector()).isNull();
        });
    }

    @Test
    void auditAndSelectorScopes() throws Exception {
        Files.writeString(dir.resolve("p.yaml"), """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: audit, namespace: shop}
                spec: {action: AUDIT, rules: [{to: [{operation: {ports: ["99999"]}}]}]}
                ---
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: custom, namespace: shop}
                spec: {action: CUSTOM, selector: {matchLabels: {app: web}}}
                ---
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: web, namespace: istio-system}
                spec: {selector: {matchLabels: {app: web}}, mtls: {mode: OPTIONAL}}
                """);
        start();
        assertThat(rejections.poll()).hasSize(3);
        assertThat(snapshots.poll().failClosed())
                .extracting(f -> f.ref().name(), FailClosed::effect, FailClosed::selector)
                .containsExactly(
                        org.assertj.core.groups.Tuple.tuple("audit", FailClosed.Effect.NONE, null),
                        org.assertj.core.groups.Tuple.tuple("custom", FailClosed.Effect.DENY_ALL, Map.of("app", "web")),
                        org.assertj.core.groups.Tuple.tuple("web", FailClosed.Effect.STRICT, Map.of("app", "web")));
    }

    @Test
    void misspeltKindOrGroupIsAnErrorAndASecurityLookalikeFailsClosed() throws Exception {
        Files.writeString(dir.resolve("typos.yaml"), """
                apiVersion: security.istio.io/v1
                kind: Authorizationpolicy
                metadata: {name: backend-allow-frontend, namespace: shop}
                spec: {action: ALLOW, rules: [{from: [{source: {namespaces: [shop]}}]}]}
                ---
                apiVersion: securty.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: default, namespace: pay}
                spec: {mtls: {mode: PERMISSIVE}}
                ---
                apiVersion: security.istio.io/v2
                kind: AuthorizationPolicy
                metadata: {name: deny-legacy, namespace: bank}
                spec: {action: DENY, rules: [{from: [{source: {namespaces: [legacy]}}]}]}
                ---
                apiVersion: networking.istio.io/v1
                kind: VirtualServise
                metadata: {name: reviews, namespace: shop}
                spec: {hosts: [reviews]}
                """);
        // Real Istio kinds istiod-lite does not read, spelt right: no error.
        Files.writeString(dir.resolve("unread.yaml"), """
                apiVersion: security.istio.io/v1
                kind: RequestAuthentication
                metadata: {name: jwt, namespace: shop}
                spec: {}
                ---
                apiVersion: networking.istio.io/v1beta1
                kind: Sidecar
                metadata: {name: default, namespace: shop}
                spec: {}
                """);
        start();
        List<ConfigError> errors = rejections.poll();
        assertThat(errors).extracting(ConfigError::reason).containsExactlyInAnyOrder(
                "Authorizationpolicy shop/backend-allow-frontend: no matches for kind \"Authorizationpolicy\""
                        + " in version \"security.istio.io/v1\" (did you mean kind: AuthorizationPolicy?)",
                "PeerAuthentication pay/default: no matches for kind \"PeerAuthentication\""
                        + " in version \"securty.istio.io/v1\" (did you mean apiVersion: security.istio.io/v1?)",
                "no matches for kind \"AuthorizationPolicy\" in version \"security.istio.io/v2\""
                        + " (did you mean apiVersion: security.istio.io/v1?)",
                "VirtualServise shop/reviews: no matches for kind \"VirtualServise\" in version"
                        + " \"networking.istio.io/v1\" (expected one of: VirtualService, DestinationRule, ServiceEntry,"
                        + " Gateway, Sidecar, WorkloadEntry, WorkloadGroup, EnvoyFilter, ProxyConfig)");
        assertThat(errors).allSatisfy(e -> assertThat(e.origin()).isEqualTo("typos.yaml"));
        assertThat(snapshots.poll().failClosed())
                .extracting(f -> f.ref().toString(), FailClosed::effect)
                .containsExactlyInAnyOrder(
                        org.assertj.core.groups.Tuple.tuple(
                                ObjectRef.of(Kind.AUTHORIZATION_POLICY, "shop", "backend-allow-frontend").toString(),
                                FailClosed.Effect.ALLOW_NOTHING),
                        org.assertj.core.groups.Tuple.tuple(
                                ObjectRef.of(Kind.PEER_AUTHENTICATION, "pay", "default").toString(),
                                FailClosed.Effect.STRICT),
                        org.assertj.core.groups.Tuple.tuple(
                                ObjectRef.of(Kind.AUTHORIZATION_POLICY, "bank", "deny-legacy").toString(),
                                FailClosed.Effect.DENY_ALL));
    }

    @Test
    void aScalarSnakeYamlCannotConstructIsInvalidYamlNotACrashAndFailsClosed() throws Exception {
        // "._" matches YAML 1.1's float pattern but is no number: SnakeYAML throws
        // NumberFormatException, not a YAMLException. It must count as an unreadable file (at
        // start and on an edit), never stop istiod-lite or every later rescan.
        String broken = """
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: default, namespace: shop}
                spec: {mtls: {mode: STRICT}}
                note: ._
                """;
        Files.writeString(dir.resolve("mtls.yaml"), broken);
        start();
        assertThat(rejections.poll()).singleElement().satisfies(e -> {
            assertThat(e.origin()).isEqualTo("mtls.yaml");
            assertThat(e.reason()).startsWith("invalid YAML");
        });
        assertThat(snapshots.poll().failClosed()).singleElement().satisfies(f -> {
            assertThat(f.ref().kind()).isEqualTo(Kind.PEER_AUTHENTICATION);
            assertThat(f.namespace()).isEqualTo("shop");
            assertThat(f.effect()).isEqualTo(FailClosed.Effect.STRICT);
        });

        // A later edit of another file still goes through.
        Files.writeString(dir.resolve("deny.yaml"), denyPolicy("deny", 1));
        ConfigSnapshot after = next(snapshots);
        assertThat(after.failClosed()).hasSize(1);
    }

    private void start() throws ConfigException {
        source = FolderSource.of(dir, Duration.ofMillis(50));
        source.start(listener);
    }

    private static <T> T next(LinkedBlockingQueue<T> queue) throws InterruptedException {
        T t = queue.poll(10, TimeUnit.SECONDS);
        assertThat(t).as("delivered by the watcher").isNotNull();
        return t;
    }
}
