package dev.ambit.it;

import static org.assertj.core.api.Assertions.assertThat;

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
 * No uncaptured pod (issue 12): a meshed pod started while its node's agent or the control
 * plane is down must never serve plaintext around the mesh. Its namespace is STRICT, so a
 * client outside the mesh ({@code legacy}) must get no answer from it at any time: while its
 * agent is down (the pod does not start), while istiod-lite is down (the pod's listeners
 * wait for its workload and refuse), and after both come back (STRICT refuses).
 *
 * <p>The probe is a bounded loop inside {@code legacy}, running in the background across
 * the whole window: one plaintext request to the new pod's address every ~200 ms.
 */
@Order(3)
class PodStartCaptureTest {

    @RegisterExtension
    static final LocalMesh mesh = LocalMesh.nodes(2);

    private static final Duration PROPAGATION = Duration.ofSeconds(30);
    private static final String NS = "it-cap";
    private static final String OUT = "it-cap-legacy";

    @AfterEach
    void restartAnythingDown() {
        mesh.startAnythingDown();
        mesh.deleteNamespace(NS);
        mesh.deleteNamespace(OUT);
    }

    /** frontend (meshed, node1) and legacy (outside the mesh, node1), with NS STRICT. */
    private static void baseline() {
        mesh.apply(Yaml.namespace(NS, true) + Yaml.namespace(OUT, false) + Yaml.peerAuthentication(NS, "STRICT")
                + Yaml.serviceAccount(NS, "frontend") + Yaml.serviceAccount(NS, "server")
                + Yaml.clientPod(NS, "frontend", "frontend", "node1", Map.of())
                + Yaml.clientPod(OUT, "legacy", "default", "node1", Map.of()));
        mesh.awaitRunning(NS, 1, Duration.ofSeconds(60));
        mesh.awaitRunning(OUT, 1, Duration.ofSeconds(60));
        mesh.awaitEnrolled(NS, "frontend");
    }

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void podAppliedWhileItsAgentIsDownStartsOnlyOnceEnrolled() {
        baseline();
        Ambitctl.localOk("kill", "node2");
        mesh.apply(Yaml.serverPod(NS, "late", "server", "node2", Map.of()));
        String ip = mesh.eventually("late has an address", Duration.ofSeconds(30), () -> {
            String a = LocalMesh.ip(mesh.pod(NS, "late"));
            return a.isEmpty() ? null : a;
        });
        Ambitctl.Background probe = plaintextProbe(ip);
        try {
            // The agent stays down for a while: the pod must not start (and must not answer).
            long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (System.nanoTime() < until) {
                String phase = mesh.pod(NS, "late").path("status").path("phase").asText();
                assertThat(phase).as("late's phase while node2's agent is down\n%s", probe.outSoFar())
                        .isNotEqualTo("Running");
                assertThat(answers(probe)).as("plaintext answers from late while node2's agent is down").isEmpty();
                LocalMesh.sleep(1000);
            }
            Ambitctl.localOk("start", "node2");
            mesh.awaitRunning(NS, 2, Duration.ofSeconds(60));
            mesh.awaitEnrolled(NS, "late");
            mesh.eventually("frontend → late over mTLS", PROPAGATION, () -> mesh.curl(NS, "frontend", ip)
                    && mesh.accessLog("node2").stream().anyMatch(l -> l.path("reporter").asText().equals("destination")
                    && l.path("src.workload").asText().equals("frontend")
                    && l.path("security").asText().equals("mutual_tls")));
            LocalMesh.sleep(3000); // a few more probes once meshed: STRICT refuses
            assertThat(answers(probe)).as(() -> "plaintext answers from late at any time\n" + mesh.diagnostics())
                    .isEmpty();
            assertThat(probe.outSoFar()).as("the probe ran").contains("PROBE");
        } finally {
            probe.kill();
        }
    }

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void podAppliedWhileIstiodIsDownNeverServesPlaintext() {
        baseline();
        Ambitctl.localOk("kill", "istiod");
        mesh.eventually("node2's agent noticing istiod is gone", Duration.ofSeconds(20),
                () -> mesh.metrics("node2").value("ambit_agent_xds_connected") == 0);
        mesh.apply(Yaml.serverPod(NS, "orphan", "server", "node2", Map.of()));
        String ip = mesh.eventually("orphan has an address", Duration.ofSeconds(30), () -> {
            String a = LocalMesh.ip(mesh.pod(NS, "orphan"));
            return a.isEmpty() ? null : a;
        });
        Ambitctl.Background probe = plaintextProbe(ip);
        try {
            long until = System.nanoTime() + Duration.ofSeconds(15).toNanos();
            while (System.nanoTime() < until) {
                assertThat(answers(probe)).as("plaintext answers from orphan while istiod is down").isEmpty();
                LocalMesh.sleep(1000);
            }
            Ambitctl.localOk("start", "istiod");
            mesh.awaitRunning(NS, 2, Duration.ofSeconds(60));
            mesh.eventually("frontend → orphan over mTLS once istiod is back", Duration.ofSeconds(60),
                    () -> mesh.curl(NS, "frontend", ip)
                    && mesh.accessLog("node2").stream().anyMatch(l -> l.path("reporter").asText().equals("destination")
                    && l.path("src.workload").asText().equals("frontend")
                    && l.path("dst.workload").asText().equals("orphan")
                    && l.path("security").asText().equals("mutual_tls")));
            LocalMesh.sleep(3000);
            assertThat(answers(probe)).as(() -> "plaintext answers from orphan at any time\n" + mesh.diagnostics())
                    .isEmpty();
            assertThat(probe.outSoFar()).as("the probe ran").contains("PROBE");
        } finally {
            probe.kill();
        }
    }

    /**
     * A bounded loop in {@code legacy} (at most 150 s; the test kills it sooner): a plaintext
     * request to {@code ip}:8080 every ~200 ms, printing {@code ANSWER} with the body when one
     * comes back.
     */
    private static Ambitctl.Background plaintextProbe(String ip) {
        return Ambitctl.start("local", "exec", "-n", OUT, "legacy", "--timeout", "150s", "--", "sh", "-c", """
                echo PROBE start
                end=$(($(date +%%s) + 150))
                while [ "$(date +%%s)" -lt "$end" ]; do
                  if r=$(curl -sS -m 2 http://%s:8080/ 2>/dev/null); then echo "ANSWER $(date +%%T) $r"; fi
                  sleep 0.2
                done""".formatted(ip));
    }

    private static List<String> answers(Ambitctl.Background probe) {
        return probe.outSoFar().lines().filter(l -> l.startsWith("ANSWER")).toList();
    }
}
