package dev.ambit.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * (3) The control plane crashes: the data plane keeps serving, existing connections and new
 * ones; restarted, it resyncs what changed meanwhile and what changes after.
 * (4) A node agent crashes: its enrolled pods fail closed, in both directions (no plaintext
 * around the mesh), while pods outside the mesh on that node are unaffected; restarted, the
 * same pods are served again.
 */
@Order(3)
class FaultTest {

    @RegisterExtension
    static final LocalMesh mesh = LocalMesh.nodes(2);

    private static final Duration PROPAGATION = Duration.ofSeconds(30);

    /** Whatever a failed test left down comes back, so the next test starts from a whole cluster. */
    @AfterEach
    void restartAnythingDown() {
        mesh.startAnythingDown();
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void controlPlaneKilledConnectionsContinueAndRestartedItResyncs() {
        String ns = "it-cp";
        try {
            mesh.apply(Yaml.namespace(ns, true) + Yaml.serviceAccount(ns, "alice") + Yaml.serviceAccount(ns, "server")
                    + Yaml.serverPod(ns, "web", "server", "node2", Map.of()) + Yaml.service(ns, "web", "web")
                    + Yaml.clientPod(ns, "alice", "alice", "node1", Map.of()));
            mesh.awaitRunning(ns, 2, Duration.ofSeconds(60));
            mesh.awaitEnrolled(ns, "web");
            mesh.awaitEnrolled(ns, "alice");
            mesh.eventually("alice → web", PROPAGATION, () -> mesh.curl(ns, "alice", "web"));

            // A connection that spans the crash: one line a second for 10 s through the echo port
            // (short: the longer istiod stays down, the longer the agents' reconnect back-off grows).
            Ambitctl.Background longLived = Ambitctl.start("local", "exec", "-n", ns, "alice", "--timeout", "60s", "--",
                    "sh", "-c", "for i in $(seq 10); do echo line-$i; sleep 1; done | socat -t 5 - TCP:web:9000");
            try {
                mesh.eventually("the long-lived connection echoing", Duration.ofSeconds(20),
                        () -> longLived.outSoFar().contains("line-2"));

                Ambitctl.localOk("kill", "istiod");
                mesh.eventually("both agents noticing istiod is gone", Duration.ofSeconds(20), () ->
                        mesh.metrics("node1").value("ambit_agent_xds_connected") == 0
                                && mesh.metrics("node2").value("ambit_agent_xds_connected") == 0);
                // New connections, from the last configuration the agents hold.
                for (int i = 0; i < 3; i++) {
                    int n = i;
                    assertThat(mesh.curl(ns, "alice", "web"))
                            .as(() -> "new connection " + n + " without istiod\n" + mesh.diagnostics()).isTrue();
                }
                // A pod created meanwhile cannot be enrolled yet (nobody tells the agent it is ambient).
                mesh.apply(Yaml.serviceAccount(ns, "carol") + Yaml.clientPod(ns, "carol", "carol", "node1", Map.of()));

                Ambitctl.Result done = longLived.await(Duration.ofSeconds(60));
                for (int i = 1; i <= 10; i++) {
                    assertThat(done.out()).as("the long-lived connection across the crash: %s", done)
                            .contains("line-" + i + "\n");
                }
                assertThat(done.out()).startsWith("hello-from-web");
            } finally {
                longLived.kill();
            }

            // Restarted: the agents reconnect and catch up with what changed (carol), and follow
            // what changes next (a policy).
            Ambitctl.localOk("start", "istiod");
            mesh.eventually("both agents reconnected", PROPAGATION, () ->
                    mesh.metrics("node1").value("ambit_agent_xds_connected") == 1
                            && mesh.metrics("node2").value("ambit_agent_xds_connected") == 1);
            mesh.awaitRunning(ns, 3, Duration.ofSeconds(30));
            mesh.awaitEnrolled(ns, "carol");
            mesh.eventually("carol → web over mTLS", PROPAGATION, () -> mesh.curl(ns, "carol", "web")
                    && mesh.accessLog("node2").stream().anyMatch(l -> l.path("src.workload").asText().equals("carol")
                    && l.path("security").asText().equals("mutual_tls")));
            mesh.apply(Yaml.authorizationPolicy(ns, "deny-alice", "web", "DENY", "cluster.local/ns/" + ns + "/sa/alice"));
            mesh.eventually("the policy applied after the restart enforced", PROPAGATION,
                    () -> !mesh.curl(ns, "alice", "web") && mesh.curl(ns, "carol", "web"));
        } finally {
            mesh.deleteNamespace(ns);
        }
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void nodeAgentKilledEnrolledPodsFailClosedAndRestartedTrafficResumes() {
        String ns = "it-agent";
        String out = "it-agent-out";
        try {
            // alice (meshed, node1) and web (meshed, node2, PERMISSIVE); outsider and plain (not in the mesh, node1).
            mesh.apply(Yaml.namespace(ns, true) + Yaml.namespace(out, false)
                    + Yaml.serviceAccount(ns, "alice") + Yaml.serviceAccount(ns, "server")
                    + Yaml.serverPod(ns, "web", "server", "node2", Map.of()) + Yaml.service(ns, "web", "web")
                    + Yaml.clientPod(ns, "alice", "alice", "node1", Map.of())
                    + Yaml.serverPod(out, "plain", "default", "node1", Map.of()) + Yaml.service(out, "plain", "plain")
                    + Yaml.clientPod(out, "outsider", "default", "node1", Map.of()));
            List<JsonNode> before = mesh.awaitRunning(ns, 2, Duration.ofSeconds(60));
            mesh.awaitRunning(out, 2, Duration.ofSeconds(30));
            mesh.awaitEnrolled(ns, "web");
            mesh.awaitEnrolled(ns, "alice");
            String webIp = LocalMesh.ip(mesh.pod(ns, "web"));
            mesh.eventually("every path working", PROPAGATION, () -> mesh.curl(ns, "alice", "web")
                    && mesh.curl(ns, "alice", "plain.it-agent-out") && mesh.curl(out, "outsider", "web.it-agent")
                    && mesh.curl(out, "outsider", "plain"));

            // node1's agent crashes: alice (enrolled there) can reach nothing, by name or address,
            // meshed or not; the pod outside the mesh on the same node is unaffected.
            Ambitctl.localOk("kill", "node1");
            assertThat(mesh.curl(ns, "alice", "web")).as("alice → web with its agent down").isFalse();
            assertThat(mesh.curl(ns, "alice", webIp)).as("alice → web's address with its agent down").isFalse();
            assertThat(mesh.curl(ns, "alice", "plain.it-agent-out")).as("alice → a pod outside the mesh").isFalse();
            assertThat(mesh.curl(out, "outsider", "plain")).as("node1's pods outside the mesh unaffected").isTrue();

            // node2's agent crashes: plaintext to web (PERMISSIVE while it ran) is refused now, not
            // delivered around the mesh; web itself is alive (it answers inside its own pod).
            Ambitctl.localOk("kill", "node2");
            assertThat(mesh.curl(out, "outsider", "web.it-agent")).as("plaintext → web with its agent down").isFalse();
            assertThat(mesh.curl(out, "outsider", webIp)).as("plaintext → web's address with its agent down").isFalse();
            assertThat(mesh.curl(ns, "web", "127.0.0.1")).as("web's app alive inside its pod").isTrue();

            // Restarted: the same pods, served again, over mTLS.
            Ambitctl.localOk("start", "node1", "node2");
            mesh.awaitEnrolled(ns, "web");
            mesh.awaitEnrolled(ns, "alice");
            long mtlsBefore = aliceToWebMtls(ns);
            mesh.eventually("traffic resuming after the restart", PROPAGATION, () -> mesh.curl(ns, "alice", "web")
                    && mesh.curl(out, "outsider", "web.it-agent") && mesh.curl(ns, "alice", "plain.it-agent-out"));
            mesh.eventually("alice → web logged over mTLS again", Duration.ofSeconds(10),
                    () -> aliceToWebMtls(ns) > mtlsBefore);
            List<JsonNode> after = mesh.pods(ns);
            for (JsonNode p : before) {
                assertThat(after).as("%s kept", LocalMesh.name(p)).anyMatch(a -> LocalMesh.uid(a).equals(LocalMesh.uid(p)));
            }
        } finally {
            mesh.deleteNamespace(ns);
            mesh.deleteNamespace(out);
        }
    }


    private static long aliceToWebMtls(String ns) {
        return mesh.accessLog("node2").stream().filter(l -> l.path("reporter").asText().equals("destination")
                && l.path("src.namespace").asText().equals(ns) && l.path("src.workload").asText().equals("alice")
                && l.path("security").asText().equals("mutual_tls")).count();
    }
}
