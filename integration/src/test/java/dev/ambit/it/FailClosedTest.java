package dev.ambit.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * (issue 12) An invalid security object never weakens policy, and restarting istiod-lite
 * changes nothing: a valid AuthorizationPolicy and a STRICT PeerAuthentication are edited
 * by hand in istiod-lite's config folder into invalid ones (as a file edited on disk, or a
 * CRD written while the webhook was down), then istiod-lite is killed and started again.
 * Before the fix the edit seemed harmless (the old versions stayed in memory) but after
 * the restart both policies were gone: a denied caller got through and plaintext reached
 * a STRICT workload.
 */
@Order(3)
class FailClosedTest {

    @RegisterExtension
    static final LocalMesh mesh = LocalMesh.nodes(2);

    private static final Duration PROPAGATION = Duration.ofSeconds(30);

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void invalidEditsFailClosedBeforeAndAfterAnIstiodRestart() {
        String ns = "it-failclosed";
        String outside = "it-fc-outside";
        String alice = "cluster.local/ns/" + ns + "/sa/alice";
        try {
            mesh.apply(Yaml.namespace(ns, true) + Yaml.namespace(outside, false)
                    + Yaml.serviceAccount(ns, "alice") + Yaml.serviceAccount(ns, "bob")
                    + Yaml.serviceAccount(ns, "server")
                    + Yaml.serverPod(ns, "web", "server", "node2", Map.of()) + Yaml.service(ns, "web", "web")
                    + Yaml.clientPod(ns, "alice", "alice", "node1", Map.of())
                    + Yaml.clientPod(ns, "bob", "bob", "node1", Map.of())
                    + Yaml.clientPod(outside, "outsider", "default", "node1", Map.of()));
            mesh.awaitRunning(ns, 3, Duration.ofSeconds(60));
            mesh.awaitRunning(outside, 1, Duration.ofSeconds(30));
            for (String pod : new String[] {"web", "alice", "bob"}) {
                mesh.awaitEnrolled(ns, pod);
            }
            mesh.apply(Yaml.authorizationPolicy(ns, "web-allow-alice", "web", "ALLOW", alice)
                    + Yaml.peerAuthentication(ns, "STRICT"));
            String webHost = "web." + ns;
            mesh.eventually("alice allowed, bob denied, plaintext refused", PROPAGATION, () ->
                    mesh.curl(ns, "alice", "web") && !mesh.curl(ns, "bob", "web")
                            && !mesh.curl(outside, "outsider", webHost));

            // Hand edits in istiod-lite's folder: ALLOW → PERMIT, STRICT → OPTIONAL. The
            // controller does not rewrite a file whose manifest did not change.
            editConfig("AuthorizationPolicy", "." + ns + ".web-allow-alice.yaml",
                    "(?m)^(\\s*action:\\s*)\"?ALLOW\"?", "$1PERMIT");
            editConfig("PeerAuthentication", "." + ns + ".default.yaml",
                    "(?m)^(\\s*mode:\\s*)\"?STRICT\"?", "$1OPTIONAL");
            mesh.eventually("both edits reported on /debug/config", PROPAGATION, () -> {
                String config = debugConfig();
                return config.contains("AuthorizationPolicy " + ns + "/web-allow-alice")
                        && config.contains("PeerAuthentication " + ns + "/default")
                        && config.contains("PERMIT") && config.contains("OPTIONAL");
            });
            // Fail closed: the invalid ALLOW denies even alice; plaintext is still refused.
            // (Checked at the end, so that on a build without the fix the run shows the
            // restart's effect, the finding itself.)
            boolean aliceDeniedBeforeRestart = eventuallyTrue(PROPAGATION, () -> !mesh.curl(ns, "alice", "web"));
            boolean bobDeniedBeforeRestart = !mesh.curl(ns, "bob", "web");
            boolean plaintextRefusedBeforeRestart = !mesh.curl(outside, "outsider", webHost);
            String configBeforeRestart = debugConfig();

            Ambitctl.localOk("kill", "istiod");
            Ambitctl.Result started = Ambitctl.run(Duration.ofMinutes(2), "local", "start", "istiod");
            assertThat(started.ok()).as(started.toString()).isTrue();
            // Both agents back on the restarted istiod-lite (polled, not a fixed 8 s): its state
            // arrives right after, within the 15 s in which every call must still be refused, repeatedly.
            mesh.eventually("both agents reconnected to the restarted istiod-lite", PROPAGATION, () ->
                    mesh.metrics("node1").value("ambit_agent_xds_connected") == 1
                            && mesh.metrics("node2").value("ambit_agent_xds_connected") == 1);
            long until = System.nanoTime() + Duration.ofSeconds(15).toNanos();
            while (System.nanoTime() < until) {
                assertThat(mesh.curl(ns, "bob", "web")).as("bob after the istiod-lite restart").isFalse();
                assertThat(mesh.curl(outside, "outsider", webHost)).as("plaintext after the istiod-lite restart")
                        .isFalse();
                assertThat(mesh.curl(ns, "alice", "web")).as("alice after the istiod-lite restart").isFalse();
            }
            assertThat(debugConfig()).contains("web-allow-alice").contains("fail closed");
            assertThat(configBeforeRestart).contains("fail closed: all traffic denied")
                    .contains("fail closed: mTLS STRICT");
            assertThat(aliceDeniedBeforeRestart).as("alice denied by the invalid policy before the restart").isTrue();
            assertThat(bobDeniedBeforeRestart).as("bob denied before the restart").isTrue();
            assertThat(plaintextRefusedBeforeRestart).as("plaintext refused before the restart").isTrue();
        } finally {
            mesh.deleteNamespace(ns);
            mesh.deleteNamespace(outside);
        }
    }

    /** Polls {@code check} every 500 ms for up to {@code timeout}; whether it held. */
    private static boolean eventuallyTrue(Duration timeout, java.util.function.BooleanSupplier check) {
        long deadline = System.nanoTime() + timeout.toNanos();
        do {
            if (check.getAsBoolean()) {
                return true;
            }
            LocalMesh.sleep(500);
        } while (System.nanoTime() < deadline);
        return false;
    }

    /** {@code /debug/config} from inside istiod-lite's network namespace (a loopback caller). */
    private static String debugConfig() {
        Ambitctl.Result r = Ambitctl.host(Duration.ofSeconds(20), "ip", "netns", "exec", "ambit-l-cp",
                "curl", "-sS", "-m", "5", "http://127.0.0.1:15014/debug/config");
        assertThat(r.ok()).as(r.toString()).isTrue();
        return r.out();
    }

    /** Rewrites the file of a {@code kind} object in istiod-lite's config folder whose name ends with {@code suffix}. */
    private static void editConfig(String kind, String suffix, String regex, String replacement) {
        Path dir = Ambitctl.STATE.resolve("istiod").resolve("config");
        try (Stream<Path> files = Files.list(dir)) {
            Path file = files.filter(f -> f.getFileName().toString().endsWith(suffix)
                            && LocalMesh.read(f).contains(kind)).findFirst()
                    .orElseThrow(() -> new AssertionError("no " + kind + " file *" + suffix + " in " + dir));
            String before = Files.readString(file);
            String after = before.replaceAll(regex, replacement);
            assertThat(after).as("edit of " + file).isNotEqualTo(before);
            // In place, as an editor would; istiod-lite's watcher picks it up.
            Files.writeString(file, after);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
