package dev.ambit.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * (2) What the mesh allows: AuthorizationPolicy ALLOW and DENY, scoped to a namespace or
 * to a selector; PeerAuthentication STRICT and PERMISSIVE; a pod opting out with
 * {@code istio.io/dataplane-mode=none}; and a namespace leaving and rejoining the mesh at
 * runtime, its pods never restarted.
 */
@Order(2)
class PolicyTest {

    @RegisterExtension
    static final LocalMesh mesh = LocalMesh.nodes(2);

    private static final Duration PROPAGATION = Duration.ofSeconds(30);

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void allowAndDenyScopedToTheNamespaceOrASelector() {
        String ns = "it-authz";
        String alice = "cluster.local/ns/" + ns + "/sa/alice";
        String bob = "cluster.local/ns/" + ns + "/sa/bob";
        try {
            // Two workloads (web on node2, db on node1), two callers on different nodes.
            mesh.apply(Yaml.namespace(ns, true) + Yaml.serviceAccount(ns, "alice") + Yaml.serviceAccount(ns, "bob")
                    + Yaml.serviceAccount(ns, "server")
                    + Yaml.serverPod(ns, "web", "server", "node2", Map.of()) + Yaml.service(ns, "web", "web")
                    + Yaml.serverPod(ns, "db", "server", "node1", Map.of()) + Yaml.service(ns, "db", "db")
                    + Yaml.clientPod(ns, "alice", "alice", "node1", Map.of())
                    + Yaml.clientPod(ns, "bob", "bob", "node2", Map.of()));
            mesh.awaitRunning(ns, 4, Duration.ofSeconds(60));
            for (String pod : List.of("web", "db", "alice", "bob")) {
                mesh.awaitEnrolled(ns, pod);
            }
            expect(ns, "no policy: everyone reaches everything",
                    Map.of("alice", Map.of("web", true, "db", true), "bob", Map.of("web", true, "db", true)));

            // Selector-scoped: ALLOW only alice on web; DENY bob on db. Each touches its own workload only.
            String selectorScoped = Yaml.authorizationPolicy(ns, "web-allow-alice", "web", "ALLOW", alice)
                    + Yaml.authorizationPolicy(ns, "db-deny-bob", "db", "DENY", bob);
            mesh.apply(selectorScoped);
            expect(ns, "selector-scoped ALLOW alice on web, DENY bob on db",
                    Map.of("alice", Map.of("web", true, "db", true), "bob", Map.of("web", false, "db", false)));
            JsonNode denial = mesh.eventually("bob's denial in web's access log (node2)", Duration.ofSeconds(10),
                    () -> mesh.accessLog("node2").stream().filter(l -> l.path("reporter").asText().equals("destination")
                            && l.path("src.identity").asText().equals("spiffe://" + bob)
                            && l.path("dst.workload").asText().equals("web")
                            && !l.path("denied").isNull()).findFirst().orElse(null));
            assertThat(denial.path("security").asText()).isEqualTo("mutual_tls");
            mesh.delete(selectorScoped);

            // Namespace-scoped ALLOW alice: bob loses both workloads.
            String allowNs = Yaml.authorizationPolicy(ns, "ns-allow-alice", null, "ALLOW", alice);
            mesh.apply(allowNs);
            expect(ns, "namespace-wide ALLOW alice",
                    Map.of("alice", Map.of("web", true, "db", true), "bob", Map.of("web", false, "db", false)));
            mesh.delete(allowNs);

            // Namespace-scoped DENY alice: alice loses both, bob is back everywhere.
            mesh.apply(Yaml.authorizationPolicy(ns, "ns-deny-alice", null, "DENY", alice));
            expect(ns, "namespace-wide DENY alice",
                    Map.of("alice", Map.of("web", false, "db", false), "bob", Map.of("web", true, "db", true)));
        } finally {
            mesh.deleteNamespace(ns);
        }
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void strictRefusesPlaintextPermissiveTakesItAndAnOptedOutPodIsNotCaptured() {
        String ns = "it-peer";
        String outside = "it-outside";
        try {
            // web in the mesh; alice meshed; optout in the mesh namespace but opted out;
            // outsider in a namespace that is not in the mesh at all.
            mesh.apply(Yaml.namespace(ns, true) + Yaml.namespace(outside, false)
                    + Yaml.serviceAccount(ns, "alice") + Yaml.serviceAccount(ns, "server")
                    + Yaml.serverPod(ns, "web", "server", "node2", Map.of()) + Yaml.service(ns, "web", "web")
                    + Yaml.clientPod(ns, "alice", "alice", "node1", Map.of())
                    + Yaml.clientPod(ns, "optout", "default", "node1", Map.of("istio.io/dataplane-mode", "none"))
                    + Yaml.clientPod(outside, "outsider", "default", "node1", Map.of()));
            mesh.awaitRunning(ns, 3, Duration.ofSeconds(60));
            mesh.awaitRunning(outside, 1, Duration.ofSeconds(30));
            mesh.awaitEnrolled(ns, "web");
            mesh.awaitEnrolled(ns, "alice");
            String optoutIp = LocalMesh.ip(mesh.pod(ns, "optout"));
            String outsiderIp = LocalMesh.ip(mesh.pod(outside, "outsider"));

            // The opted-out pod has no in-pod listeners and the agents see it as outside the mesh.
            assertThat(mesh.listeners(ns, "optout")).as("no capture listeners in the opted-out pod")
                    .doesNotContain(15001, 15006, 15008);
            assertThat(tunnel(ns, "optout")).isEqualTo("NONE");
            assertThat(tunnel(ns, "alice")).isEqualTo("HBONE");

            // PERMISSIVE (the default): plaintext from outside the mesh and from the opted-out pod
            // arrives at web's agent as plaintext (so it was not captured on the way out).
            mesh.eventually("plaintext accepted under PERMISSIVE", PROPAGATION, () ->
                    mesh.curl(outside, "outsider", "web.it-peer") && mesh.curl(ns, "optout", "web") && mesh.curl(ns, "alice", "web"));
            for (String ip : List.of(optoutIp, outsiderIp)) {
                mesh.eventually("web's agent logging plaintext from " + ip, Duration.ofSeconds(10), () ->
                        mesh.accessLog("node2").stream().anyMatch(l -> l.path("reporter").asText().equals("destination")
                                && l.path("src.addr").asText().startsWith(ip + ":")
                                && l.path("security").asText().equals("none")
                                && l.path("denied").isNull()));
            }

            // STRICT: plaintext refused, mTLS still fine.
            mesh.apply(Yaml.peerAuthentication(ns, "STRICT"));
            mesh.eventually("STRICT refusing plaintext", PROPAGATION, () ->
                    !mesh.curl(outside, "outsider", "web.it-peer") && !mesh.curl(ns, "optout", "web"));
            assertThat(mesh.curl(ns, "alice", "web")).as("mTLS under STRICT").isTrue();
            mesh.eventually("web's agent logging the refusal of " + outsiderIp, Duration.ofSeconds(10), () ->
                    mesh.accessLog("node2").stream().anyMatch(l -> l.path("reporter").asText().equals("destination")
                            && l.path("src.addr").asText().startsWith(outsiderIp + ":")
                            && l.path("security").asText().equals("none")
                            && !l.path("denied").isNull()));

            // Back to PERMISSIVE, explicitly: plaintext accepted again.
            mesh.apply(Yaml.peerAuthentication(ns, "PERMISSIVE"));
            mesh.eventually("PERMISSIVE accepting plaintext again", PROPAGATION, () ->
                    mesh.curl(outside, "outsider", "web.it-peer") && mesh.curl(ns, "optout", "web"));
        } finally {
            mesh.deleteNamespace(ns);
            mesh.deleteNamespace(outside);
        }
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void aNamespaceLeavesTheMeshAtRuntimeAndRejoinsWithoutPodRestarts() {
        String ns = "it-label";
        try {
            mesh.apply(Yaml.namespace(ns, true) + Yaml.serviceAccount(ns, "alice") + Yaml.serviceAccount(ns, "server")
                    + Yaml.serverPod(ns, "web", "server", "node2", Map.of()) + Yaml.service(ns, "web", "web")
                    + Yaml.clientPod(ns, "alice", "alice", "node1", Map.of()));
            List<JsonNode> before = mesh.awaitRunning(ns, 2, Duration.ofSeconds(60));
            mesh.awaitEnrolled(ns, "web");
            mesh.awaitEnrolled(ns, "alice");
            mesh.eventually("alice → web", PROPAGATION, () -> mesh.curl(ns, "alice", "web"));
            long meshed = mtlsLines(ns);
            assertThat(meshed).as("alice → web went over mTLS").isPositive();

            // Out: listeners close, the agents mark the pods NONE, traffic flows plain, unseen by the agents.
            Ambitctl.localOk("label", "ns", ns, "istio.io/dataplane-mode-");
            mesh.eventually("alice and web unenrolled", PROPAGATION, () ->
                    !mesh.listeners(ns, "alice").contains(15001) && !mesh.listeners(ns, "web").contains(15008)
                            && tunnel(ns, "alice").equals("NONE") && tunnel(ns, "web").equals("NONE"));
            long logged = namespaceLines(ns);
            assertThat(mesh.curl(ns, "alice", "web")).as("plain traffic out of the mesh").isTrue();
            LocalMesh.sleep(1000); // an agent would log the call as it closed: give it time to show
            assertThat(namespaceLines(ns)).as("no agent handled the plain call").isEqualTo(logged);

            // Back in: meshed again, same pods.
            Ambitctl.localOk("label", "ns", ns, "istio.io/dataplane-mode=ambient");
            mesh.awaitEnrolled(ns, "web");
            mesh.awaitEnrolled(ns, "alice");
            mesh.eventually("alice → web over mTLS again", PROPAGATION, () -> mesh.curl(ns, "alice", "web")
                    && mtlsLines(ns) > meshed);
            List<JsonNode> after = mesh.pods(ns);
            for (JsonNode p : before) {
                JsonNode now = after.stream().filter(a -> LocalMesh.name(a).equals(LocalMesh.name(p))).findFirst()
                        .orElseThrow();
                assertThat(LocalMesh.uid(now)).as("%s not recreated", LocalMesh.name(p)).isEqualTo(LocalMesh.uid(p));
                assertThat(now.path("status").path("containerStatuses").findValuesAsText("restartCount"))
                        .as("%s not restarted", LocalMesh.name(p)).allMatch("0"::equals);
            }
        } finally {
            mesh.deleteNamespace(ns);
        }
    }

    // ------------------------------------------------------------------ helpers

    /**
     * Runs every caller's calls (one exec each) until the outcome matches {@code expected}
     * (caller → target → allowed), within the propagation bound.
     */
    private static void expect(String ns, String what, Map<String, Map<String, Boolean>> expected) {
        mesh.eventually(what, PROPAGATION, () -> {
            Map<String, Map<String, Boolean>> seen = new LinkedHashMap<>();
            for (var caller : expected.entrySet()) {
                StringBuilder script = new StringBuilder();
                for (String target : caller.getValue().keySet()) {
                    script.append("printf '").append(target).append(' ')
                            .append("'; curl -s -m 3 -o /dev/null -w '%{http_code}\\n' http://").append(target)
                            .append(":8080/; ");
                }
                Ambitctl.Result r = mesh.sh(ns, caller.getKey(), Duration.ofSeconds(30), script.toString());
                Map<String, Boolean> row = new LinkedHashMap<>();
                for (String line : r.out().strip().split("\n")) {
                    String[] f = line.split(" ");
                    if (f.length == 2) {
                        row.put(f[0], f[1].equals("200"));
                    }
                }
                seen.put(caller.getKey(), row);
            }
            if (!seen.equals(expected)) {
                throw new AssertionError("expected " + expected + ", saw " + seen);
            }
            return true;
        });
    }


    /** The tunnel protocol node1's agent holds for {@code ns/pod}: HBONE (meshed) or NONE. */
    private static String tunnel(String ns, String pod) {
        for (JsonNode w : mesh.workloads("node1")) {
            if (w.path("namespace").asText().equals(ns) && w.path("name").asText().equals(pod)) {
                return w.path("tunnelProtocol").asText();
            }
        }
        throw new AssertionError("node1's agent has no workload " + ns + "/" + pod);
    }

    /** web's agent's (node2) destination access-log lines from alice over mTLS. */
    private static long mtlsLines(String ns) {
        return mesh.accessLog("node2").stream().filter(l -> l.path("reporter").asText().equals("destination")
                && l.path("src.namespace").asText().equals(ns) && l.path("src.workload").asText().equals("alice")
                && l.path("security").asText().equals("mutual_tls")).count();
    }

    /** Access-log lines of both agents about namespace {@code ns} (as source or destination). */
    private static long namespaceLines(String ns) {
        long n = 0;
        for (String node : List.of("node1", "node2")) {
            n += mesh.accessLog(node).stream().filter(l -> l.path("src.namespace").asText().equals(ns)
                    || l.path("dst.namespace").asText().equals(ns)).count();
        }
        return n;
    }
}
