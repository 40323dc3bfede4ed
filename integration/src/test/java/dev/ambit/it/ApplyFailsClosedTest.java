package dev.ambit.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * (3b) {@code local apply} fails closed, as the API server with Istio's validating webhook
 * does: an invalid security object is refused before it is stored (the version in force
 * stays in force, also across an istiod restart), and an object over the size limit is
 * refused at apply with the limit named instead of being dropped further down the path;
 * an object just under the limit goes all the way to the agents and is enforced.
 */
@Order(3)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ApplyFailsClosedTest {

    @RegisterExtension
    static final LocalMesh mesh = LocalMesh.nodes(2);

    private static final Duration PROPAGATION = Duration.ofSeconds(30);
    private static final String NS = "it-apply";
    private static final String LEGACY = "it-apply-legacy";
    private static final String FRONTEND = "cluster.local/ns/" + NS + "/sa/frontend";
    private static final String INTRUDER = "cluster.local/ns/" + NS + "/sa/intruder";
    /** {@code Limits.MAX_OBJECT_BYTES}: the integration module does not depend on mesh-common. */
    private static final int MAX_OBJECT_BYTES = 1536 * 1024;

    /**
     * samples/demo's shape: backend (ALLOW frontend only) and web (no policy) on node2,
     * frontend and intruder meshed on node1, legacy-client outside the mesh.
     */
    @BeforeAll
    static void workloads() {
        mesh.apply(Yaml.namespace(NS, true) + Yaml.namespace(LEGACY, false)
                + Yaml.serviceAccount(NS, "frontend") + Yaml.serviceAccount(NS, "intruder")
                + Yaml.serviceAccount(NS, "server")
                + Yaml.serverPod(NS, "backend", "server", "node2", Map.of()) + Yaml.service(NS, "backend", "backend")
                + Yaml.serverPod(NS, "web", "server", "node2", Map.of()) + Yaml.service(NS, "web", "web")
                + Yaml.clientPod(NS, "frontend", "frontend", "node1", Map.of())
                + Yaml.clientPod(NS, "intruder", "intruder", "node1", Map.of())
                + Yaml.clientPod(LEGACY, "legacy-client", "default", "node1", Map.of()));
        mesh.awaitRunning(NS, 4, Duration.ofSeconds(60));
        mesh.awaitRunning(LEGACY, 1, Duration.ofSeconds(30));
        for (String pod : List.of("backend", "web", "frontend", "intruder")) {
            mesh.awaitEnrolled(NS, pod);
        }
    }

    @AfterAll
    static void deleteWorkloads() {
        mesh.deleteNamespace(NS);
        mesh.deleteNamespace(LEGACY);
    }

    /** Whatever a failed test left down comes back. */
    @AfterEach
    void restartAnythingDown() {
        mesh.startAnythingDown();
    }

    @Test
    @Order(1)
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void anInvalidPolicyIsRefusedAndTheOneInForceSurvivesAnIstiodRestart() {
        String allow = Yaml.authorizationPolicy(NS, "backend-allow-frontend", "backend", "ALLOW", FRONTEND);
        mesh.apply(allow + Yaml.peerAuthentication(NS, "STRICT"));
        expect("ALLOW frontend on backend, STRICT", true, false, false);

        // Invalid values: refused, naming file, object, field and value; nothing reported as configured.
        Ambitctl.Result permit = tryApply(allow.replace("action: ALLOW", "action: PERMIT"));
        Ambitctl.Result optional = tryApply(Yaml.peerAuthentication(NS, "OPTIONAL"));
        SoftAssertions soft = new SoftAssertions();
        soft.assertThat(permit.code()).as("exit of apply with action: PERMIT: %s", permit).isNotZero();
        soft.assertThat(permit.err()).as("stderr of apply with action: PERMIT")
                .contains("AuthorizationPolicy " + NS + "/backend-allow-frontend", "spec.action", "PERMIT");
        soft.assertThat(permit.out()).as("stdout of apply with action: PERMIT").doesNotContain("configured");
        soft.assertThat(optional.code()).as("exit of apply with mode: OPTIONAL: %s", optional).isNotZero();
        soft.assertThat(optional.err()).as("stderr of apply with mode: OPTIONAL")
                .contains("PeerAuthentication " + NS + "/default", "spec.mtls.mode", "OPTIONAL");
        soft.assertThat(optional.out()).as("stdout of apply with mode: OPTIONAL").doesNotContain("configured");

        // istiod restarted: it reads only what was stored. The valid versions must still be in force.
        Ambitctl.localOk("kill", "istiod");
        Ambitctl.localOk("start", "istiod");
        mesh.eventually("both agents reconnected to the restarted istiod", PROPAGATION, () ->
                mesh.metrics("node1").value("ambit_agent_xds_connected") == 1
                        && mesh.metrics("node2").value("ambit_agent_xds_connected") == 1);
        // The restarted istiod's first answer (a removal, if it lost the policies) is sent right
        // after the reconnection: give it time to arrive, then the outcome must hold throughout.
        LocalMesh.sleep(3000);
        long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        String held = null;
        while (held == null && System.nanoTime() < until) {
            Map<String, Boolean> seen = outcome();
            if (!seen.equals(Map.of("frontend→backend", true, "intruder→backend", false, "legacy→web", false))) {
                held = "after the istiod restart: " + seen;
            }
            LocalMesh.sleep(1000);
        }
        soft.assertThat(held).as("the policies in force before the invalid applies, enforced after the restart"
                + " (intruder denied by backend-allow-frontend, legacy-client's plaintext refused by STRICT)").isNull();
        soft.assertAll();
    }

    @Test
    @Order(2)
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void anOversizedPolicyIsRefusedAtApplyAndOneJustUnderTheLimitIsEnforced() {
        String name = "web-deny-many";
        try {
            mesh.eventually("intruder reaching web before any DENY", PROPAGATION, () -> mesh.curl(NS, "intruder", "web"));

            // 90,001 principals, 2.8 MB as written: over etcd's 1.5 MiB, so no cluster would hold it.
            String huge = denyPolicy(name, 90_000, "cluster.local/ns/q/sa/%05d");
            assertThat(huge.length()).as("the oversized policy's size").isBetween(2_700_000, 2_900_000);
            Ambitctl.Result refused = tryApply(huge);
            assertThat(refused.code()).as("exit of applying a 2.8 MB policy: %s", refused).isNotZero();
            assertThat(refused.err()).as("stderr of applying a 2.8 MB policy")
                    .contains("AuthorizationPolicy " + NS + "/" + name, "over the limit of " + MAX_OBJECT_BYTES + " bytes");
            assertThat(refused.out()).as("stdout of applying a 2.8 MB policy").doesNotContain("created");
            assertThat(Ambitctl.STATE.resolve("manifests").resolve("authorizationpolicy." + NS + "." + name + ".yaml"))
                    .as("the refused policy is not stored").doesNotExist();

            // Just under the limit (about 1.3 MiB as JSON; the intruder's principal last, so a
            // truncation anywhere on the way would let it through): stored, sent, enforced.
            String large = denyPolicy(name, 22_000, "cluster.local/ns/it-apply-elsewhere/sa/caller-number-%06d");
            assertThat(large.length()).as("the large policy's size").isBetween(1_300_000, 1_500_000);
            Ambitctl.Result applied = tryApply(large);
            assertThat(applied.code()).as("exit of applying a 1.3 MiB policy: %s", applied).isZero();
            assertThat(applied.out()).contains("authorizationpolicy.security.istio.io/" + name + " created");
            mesh.eventually("the 1.3 MiB DENY enforced: intruder refused by web, frontend still served", PROPAGATION,
                    () -> !mesh.curl(NS, "intruder", "web") && mesh.curl(NS, "frontend", "web"));
        } finally {
            Ambitctl.local("delete", "authorizationpolicy", name, "-n", NS, "--ignore-not-found");
        }
    }

    @Test
    @Order(3)
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aStoredManifestTheControllerCannotReadIsShownByLocalStatus() throws IOException {
        // Not something apply writes: a hand edit (or an older ambitctl) in the state folder.
        Path handmade = Ambitctl.STATE.resolve("manifests").resolve("authorizationpolicy." + NS + ".handmade.yaml");
        try {
            Files.writeString(handmade, "# " + "x".repeat(3 * 1024 * 1024) + "\n" + Yaml.authorizationPolicy(NS,
                    "handmade", "web", "DENY", INTRUDER), StandardCharsets.UTF_8);
            Ambitctl.Result status = mesh.eventually("local status reporting the unreadable manifest", PROPAGATION, () -> {
                Ambitctl.Result r = Ambitctl.local("status");
                return !r.ok() && r.out().contains(handmade.toString()) ? r : null;
            });
            assertThat(status.out()).contains("applied manifests the controller cannot read")
                    .contains("over the limit of " + 3 * 1024 * 1024 + " bytes");
            assertThat(mesh.logTail("controller", 50)).contains("manifest cannot be read: " + handmade);

            // delete by name removes it although it cannot be read; the cluster is healthy again.
            Ambitctl.localOk("delete", "authorizationpolicy", "handmade", "-n", NS);
            assertThat(handmade).doesNotExist();
            mesh.eventually("local status healthy again", PROPAGATION, () -> Ambitctl.local("status").ok());
        } finally {
            Files.deleteIfExists(handmade);
        }
    }

    // ------------------------------------------------------------------ helpers

    /** A DENY on web from {@code count} made-up principals ({@code format} with the index) then the intruder. */
    private static String denyPolicy(String name, int count, String format) {
        StringBuilder principals = new StringBuilder(count * (format.length() + 8));
        for (int i = 0; i < count; i++) {
            principals.append('"').append(format.formatted(i)).append("\", ");
        }
        principals.append('"').append(INTRUDER).append('"');
        return """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: %1$s, namespace: %2$s}
                spec:
                  selector:
                    matchLabels: {app: web}
                  action: DENY
                  rules:
                  - from:
                    - source:
                        principals: [%3$s]
                """.formatted(name, NS, principals);
    }

    /** {@code local apply -f} of {@code yaml}, whatever its outcome. */
    private static Ambitctl.Result tryApply(String yaml) {
        Path f = null;
        try {
            f = Files.createTempFile("ambit-it", ".yaml");
            Files.writeString(f, yaml, StandardCharsets.UTF_8);
            return Ambitctl.local("apply", "-f", f.toString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            if (f != null) {
                try {
                    Files.deleteIfExists(f);
                } catch (IOException ignored) {
                    // temp file
                }
            }
        }
    }

    /** Waits until frontend → backend, intruder → backend and legacy-client → web are as given. */
    private static void expect(String what, boolean frontendToBackend, boolean intruderToBackend, boolean legacyToWeb) {
        Map<String, Boolean> expected = Map.of("frontend→backend", frontendToBackend,
                "intruder→backend", intruderToBackend, "legacy→web", legacyToWeb);
        mesh.eventually(what, PROPAGATION, () -> {
            Map<String, Boolean> seen = outcome();
            if (!seen.equals(expected)) {
                throw new AssertionError("expected " + expected + ", saw " + seen);
            }
            return true;
        });
    }

    /** One call each (HTTP 200 or not): frontend → backend, intruder → backend, legacy-client → web (plaintext). */
    private static Map<String, Boolean> outcome() {
        Map<String, Boolean> seen = new LinkedHashMap<>();
        seen.put("frontend→backend", mesh.curl(NS, "frontend", "backend"));
        seen.put("intruder→backend", mesh.curl(NS, "intruder", "backend"));
        seen.put("legacy→web", mesh.curl(LEGACY, "legacy-client", "web." + NS));
        return seen;
    }
}
