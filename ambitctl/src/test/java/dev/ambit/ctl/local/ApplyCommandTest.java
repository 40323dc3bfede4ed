package dev.ambit.ctl.local;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.common.config.Limits;
import dev.ambit.ctl.Ambitctl;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * {@code local apply -f} and {@code local delete -f} against a state folder alone (no
 * daemons: they edit the stored manifests): every object is checked with istiod-lite's
 * decoder and the size limits before anything is stored, all of an invocation or none.
 */
class ApplyCommandTest {

    private static final String NAMESPACE = """
            apiVersion: v1
            kind: Namespace
            metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
            ---
            """;
    private static final String ALLOW = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: backend-allow-frontend, namespace: shop}
            spec:
              selector: {matchLabels: {app: backend}}
              action: ALLOW
              rules:
              - from:
                - source: {principals: [cluster.local/ns/shop/sa/frontend]}
            ---
            """;
    private static final String STRICT = """
            apiVersion: security.istio.io/v1
            kind: PeerAuthentication
            metadata: {name: default, namespace: shop}
            spec: {mtls: {mode: STRICT}}
            ---
            """;

    @TempDir
    Path dir;
    private StateDir state;

    @BeforeEach
    void cluster() throws IOException {
        state = new StateDir(dir);
        Files.createDirectories(state.manifests());
        new ClusterInfo(1, dir.toString(), "/r", "/sys/fs/cgroup", "2026-01-01T00:00:00Z", null, null, List.of(), null)
                .write(state);
    }

    @Test
    void validObjectsAreStoredAndReported() throws IOException {
        Run r = run("apply", "-f", file("demo.yaml", NAMESPACE + ALLOW + STRICT));

        assertThat(r.code).as("stderr: %s", r.err).isZero();
        assertThat(r.out).isEqualTo("""
                namespace/shop created
                authorizationpolicy.security.istio.io/backend-allow-frontend created
                peerauthentication.security.istio.io/default created
                """);
        assertThat(stored()).containsOnlyKeys("namespace.shop.yaml", "authorizationpolicy.shop.backend-allow-frontend.yaml",
                "peerauthentication.shop.default.yaml");
        assertThat(run("apply", "-f", file("demo.yaml", NAMESPACE + ALLOW + STRICT)).out)
                .contains("authorizationpolicy.security.istio.io/backend-allow-frontend unchanged");
    }

    @Test
    void anInvalidFieldIsRefusedNamingFileObjectAndFieldAndTheStoredVersionStays() throws IOException {
        assertThat(run("apply", "-f", file("demo.yaml", NAMESPACE + ALLOW + STRICT)).code).isZero();
        Map<String, String> before = stored();

        String permit = file("permit.yaml", ALLOW.replace("action: ALLOW", "action: PERMIT"));
        Run r = run("apply", "-f", permit);
        assertThat(r.code).isEqualTo(1);
        assertThat(r.out).isEmpty();
        assertThat(r.err).contains("error: " + permit + ": document 1: AuthorizationPolicy shop/backend-allow-frontend:"
                + " spec.action: unknown value \"PERMIT\" (expected one of: ");
        assertThat(r.err).contains("nothing applied");

        Run optional = run("apply", "-f", file("optional.yaml", STRICT.replace("STRICT", "OPTIONAL")));
        assertThat(optional.code).isEqualTo(1);
        assertThat(optional.err).contains("PeerAuthentication shop/default: spec.mtls.mode: unknown value \"OPTIONAL\"");

        // What istiod-lite's validator checks beyond types: an address that is not one.
        Run cidr = run("apply", "-f", file("cidr.yaml", ALLOW.replace("{principals: [cluster.local/ns/shop/sa/frontend]}",
                "{ipBlocks: [10.0.0.300/8]}")));
        assertThat(cidr.code).isEqualTo(1);
        assertThat(cidr.err).contains("spec.rules[0].from[0].source.ipBlocks[0]");

        assertThat(stored()).as("the versions in force are untouched").isEqualTo(before);
    }

    @Test
    void oneInvalidObjectStoresNothingOfTheInvocation() throws IOException {
        String mixed = file("mixed.yaml", NAMESPACE + STRICT + ALLOW.replace("action: ALLOW", "action: PERMIT"));
        String second = file("second.yaml", STRICT.replace("name: default", "name: other").replace("STRICT", "OPTIONAL"));

        Run r = run("apply", "-f", mixed, "-f", second);

        assertThat(r.code).isEqualTo(1);
        assertThat(r.out).as("nothing reported as created").isEmpty();
        assertThat(r.err).contains(mixed + ": document 3: AuthorizationPolicy shop/backend-allow-frontend: spec.action")
                .contains(second + ": document 1: PeerAuthentication shop/other: spec.mtls.mode")
                .contains("nothing applied: 2 problems in 4 objects");
        assertThat(stored()).as("neither the valid Namespace nor the valid PeerAuthentication").isEmpty();
    }

    @Test
    void anObjectOverTheLimitIsRefusedNamingTheLimit() throws IOException {
        StringBuilder principals = new StringBuilder();
        for (int i = 0; i <= 90_000; i++) {
            principals.append(i == 0 ? "" : ", ").append("\"cluster.local/ns/q/sa/").append("%05d".formatted(i)).append('"');
        }
        String huge = denyMany(principals.toString());
        assertThat(huge.length()).isGreaterThan(2_700_000);

        Run r = run("apply", "-f", file("huge.yaml", NAMESPACE + huge));

        assertThat(r.code).isEqualTo(1);
        assertThat(r.err).contains("AuthorizationPolicy shop/deny-many: the object is ")
                .contains("over the limit of " + Limits.MAX_OBJECT_BYTES + " bytes (etcd's limit");
        assertThat(stored()).isEmpty();
    }

    @Test
    void anObjectJustUnderTheLimitIsStoredAndReadBackByTheController() throws IOException {
        StringBuilder principals = new StringBuilder();
        for (int i = 0; i < 22_000; i++) {
            principals.append(i == 0 ? "" : ", ").append("\"cluster.local/ns/it-apply-elsewhere/sa/caller-number-")
                    .append("%06d".formatted(i)).append('"');
        }
        String large = denyMany(principals + ", \"cluster.local/ns/shop/sa/intruder\"");

        Run r = run("apply", "-f", file("large.yaml", large));

        assertThat(r.code).as("stderr: %s", r.err).isZero();
        Path f = state.manifests().resolve("authorizationpolicy.shop.deny-many.yaml");
        assertThat(Files.size(f)).isLessThan(Limits.MAX_FILE_BYTES);
        long json = new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsBytes(
                Manifests.STORED_YAML.readTree(Files.readString(f))).length;
        assertThat(json).as("as the API server would store it").isBetween(1_300_000L, (long) Limits.MAX_OBJECT_BYTES);
        StoredManifests controller = new StoredManifests(state.manifests(), m -> { });
        controller.refresh();
        assertThat(controller.errors()).isEmpty();
        assertThat(controller.objects()).singleElement().satisfies(o ->
                assertThat(o.spec().path("rules").get(0).path("from").get(0).path("source").path("principals"))
                        .hasSize(22_001));
    }

    @Test
    void stringsThatLookLikeNumbersReachIstiodLiteAsStrings() throws IOException {
        // 1e3 and 0x1f are valid namespace names; written plain they would come back as 1000.0 and 31.
        String policy = ALLOW.replace("{principals: [cluster.local/ns/shop/sa/frontend]}",
                "{namespaces: [\"1e3\", \"0x1f\", \"1_000\", \"2024-01-01\"]}");
        assertThat(run("apply", "-f", file("ns.yaml", policy)).code).isZero();

        String content = stored().get("authorizationpolicy.shop.backend-allow-frontend.yaml");
        Map<?, ?> read = new Yaml(new SafeConstructor(new LoaderOptions())).load(content);
        Object namespaces = ((Map<?, ?>) ((Map<?, ?>) ((Map<?, ?>) ((List<?>) ((Map<?, ?>) ((List<?>) ((Map<?, ?>) read
                .get("spec")).get("rules")).get(0)).get("from")).get(0)).get("source"))).get("namespaces");
        assertThat(namespaces).isEqualTo(List.of("1e3", "0x1f", "1_000", "2024-01-01"));
        assertThat(((Map<?, ?>) read.get("metadata")).get("creationTimestamp")).isInstanceOf(String.class);
    }

    @Test
    void aKindIstiodLiteDoesNotReadIsStoredWithAWarning() throws IOException {
        Run r = run("apply", "-f", file("sidecar.yaml", """
                apiVersion: networking.istio.io/v1
                kind: Sidecar
                metadata: {name: default, namespace: shop}
                spec: {egress: [{hosts: ["./*"]}]}
                """));
        assertThat(r.code).isZero();
        assertThat(r.out).contains("sidecar.networking.istio.io/default created");
        assertThat(r.err).contains("warning: sidecar.networking.istio.io/default: stored, but istiod-lite does not"
                + " read Sidecar");
    }

    @Test
    void aMisspeltKindOrGroupIsRefusedWithTheSpellingAndTheStoredPolicyStays() throws IOException {
        assertThat(run("apply", "-f", file("demo.yaml", NAMESPACE + ALLOW + STRICT)).code).isZero();
        Map<String, String> before = stored();

        String lower = file("lower.yaml", ALLOW.replace("kind: AuthorizationPolicy", "kind: Authorizationpolicy"));
        Run r = run("apply", "-f", lower);
        assertThat(r.code).isEqualTo(1);
        assertThat(r.err).contains("error: " + lower + ": document 1: Authorizationpolicy shop/backend-allow-frontend:"
                + " no matches for kind \"Authorizationpolicy\" in version \"security.istio.io/v1\""
                + " (did you mean kind: AuthorizationPolicy?)").contains("nothing applied");

        Run group = run("apply", "-f", file("group.yaml", STRICT.replace("security.istio.io", "securty.istio.io")));
        assertThat(group.code).isEqualTo(1);
        assertThat(group.err).contains("PeerAuthentication shop/default: no matches for kind \"PeerAuthentication\""
                + " in version \"securty.istio.io/v1\" (did you mean apiVersion: security.istio.io/v1?)");

        Run route = run("apply", "-f", file("route.yaml", """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HttpRoute
                metadata: {name: web, namespace: shop}
                spec: {}
                """));
        assertThat(route.code).isEqualTo(1);
        assertThat(route.err).contains("(did you mean kind: HTTPRoute?)");

        Run delete = run("delete", "-f", lower);
        assertThat(delete.code).isEqualTo(1);
        assertThat(stored()).as("the policies in force are untouched").isEqualTo(before);
    }

    @Test
    void anObjectNeverTakesTheFileOfAStoredObjectOfAnotherKind() throws IOException {
        assertThat(run("apply", "-f", file("demo.yaml", NAMESPACE + STRICT)).code).isZero();
        // Only by hand: a valid object stored under the name another kind's object would get.
        Files.move(state.manifests().resolve("peerauthentication.shop.default.yaml"),
                state.manifests().resolve("authorizationpolicy.shop.default.yaml"));
        Map<String, String> before = stored();

        Run r = run("apply", "-f", file("p.yaml", ALLOW.replace("backend-allow-frontend", "default")));

        assertThat(r.code).isEqualTo(1);
        assertThat(r.err).contains("AuthorizationPolicy shop/default (security.istio.io/v1): would replace"
                + " PeerAuthentication shop/default (security.istio.io/v1), stored in the same file");
        assertThat(stored()).isEqualTo(before);
    }

    @Test
    void labelRefusesAValueIstiodLiteWouldReject() throws IOException {
        assertThat(run("apply", "-f", file("ns.yaml", NAMESPACE)).code).isZero();
        Map<String, String> before = stored();

        Run r = run("label", "ns", "shop", "app=not a value");

        assertThat(r.code).isEqualTo(1);
        assertThat(r.err).contains("Namespace shop: metadata.labels.app: invalid label value");
        assertThat(stored()).isEqualTo(before);
    }

    @Test
    void deleteByFileChecksEveryObjectFirstAndDeletesAllOrNothing() throws IOException {
        assertThat(run("apply", "-f", file("demo.yaml", NAMESPACE + ALLOW + STRICT)).code).isZero();
        Map<String, String> before = stored();

        Run refused = run("delete", "-f", file("bad.yaml", STRICT + ALLOW.replace("action: ALLOW", "action: PERMIT")));
        assertThat(refused.code).isEqualTo(1);
        assertThat(refused.err).contains("spec.action").contains("nothing deleted");
        assertThat(refused.out).isEmpty();
        assertThat(stored()).isEqualTo(before);

        Run deleted = run("delete", "-f", file("good.yaml", STRICT + ALLOW));
        assertThat(deleted.code).as("stderr: %s", deleted.err).isZero();
        assertThat(deleted.out).contains("peerauthentication.security.istio.io/default deleted",
                "authorizationpolicy.security.istio.io/backend-allow-frontend deleted");
        assertThat(stored()).containsOnlyKeys("namespace.shop.yaml");
    }

    @Test
    void aStoredFileThatCannotBeReadCanStillBeDeletedByName() throws IOException {
        // Left by an older ambitctl: over the file limit, so nothing reads it.
        Path f = state.manifests().resolve("authorizationpolicy.shop.huge.yaml");
        Files.writeString(f, "# " + "x".repeat(Limits.MAX_FILE_BYTES) + "\n");
        assertThat(new ManifestStore(state).unreadable()).singleElement().asString()
                .contains("over the limit of " + Limits.MAX_FILE_BYTES);

        Run r = run("delete", "authorizationpolicy", "huge", "-n", "shop");

        assertThat(r.code).as("stderr: %s", r.err).isZero();
        assertThat(f).doesNotExist();
    }

    // ------------------------------------------------------------------ helpers

    private record Run(int code, String out, String err) {}

    private Run run(String sub, String... args) {
        List<String> argv = new ArrayList<>(List.of("local", sub));
        argv.addAll(List.of(args));
        argv.add("--state-dir=" + dir);
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Ambitctl.execute(new PrintWriter(out), new PrintWriter(err), argv.toArray(String[]::new));
        return new Run(code, out.toString(), err.toString());
    }

    private String file(String name, String content) throws IOException {
        Path f = dir.resolve("in").resolve(name);
        Files.createDirectories(f.getParent());
        Files.writeString(f, content, StandardCharsets.UTF_8);
        return f.toString();
    }

    /** The stored manifests: file name → content. */
    private Map<String, String> stored() throws IOException {
        Map<String, String> out = new java.util.TreeMap<>();
        try (Stream<Path> s = Files.list(state.manifests())) {
            for (Path f : s.toList()) {
                out.put(f.getFileName().toString(), Files.readString(f));
            }
        }
        return out;
    }

    /** The DENY policy {@code shop/deny-many} naming {@code principals}, a YAML flow list's items. */
    private static String denyMany(String principals) {
        return """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-many, namespace: shop}
                spec:
                  action: DENY
                  rules:
                  - from:
                    - source:
                        principals: [%s]
                """.formatted(principals);
    }
}
