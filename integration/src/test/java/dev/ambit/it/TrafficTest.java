package dev.ambit.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * (1) Calls by Service name through the mesh, same-node and cross-node: both replicas of a
 * Deployment spread over two nodes answer, and each side's node agent reports who called
 * whom, by SPIFFE identity, in its access log and in Istio's TCP metrics.
 */
@Order(1)
class TrafficTest {

    @RegisterExtension
    static final LocalMesh mesh = LocalMesh.nodes(2);

    private static final String NS = "it-traffic";
    private static final String CLIENT_ID = Yaml.SPIFFE + NS + "/sa/client";
    private static final String SERVER_ID = Yaml.SPIFFE + NS + "/sa/server";

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void callsByServiceNameReachBothReplicasWithIdentitiesInLogsAndMetrics() {
        try {
            mesh.apply(Yaml.namespace(NS, true) + Yaml.serviceAccount(NS, "client") + Yaml.serviceAccount(NS, "server")
                    + Yaml.serverDeployment(NS, "server", 2, "server") + Yaml.service(NS, "server", "server")
                    + Yaml.clientPod(NS, "client", "client", "node1", Map.of()));
            List<JsonNode> pods = mesh.awaitRunning(NS, 3, Duration.ofSeconds(60));
            Map<String, String> nodeOf = pods.stream().collect(Collectors.toMap(LocalMesh::name, LocalMesh::node));
            Set<String> serverNodes = pods.stream().filter(p -> LocalMesh.name(p).startsWith("server-"))
                    .map(LocalMesh::node).collect(Collectors.toSet());
            assertThat(serverNodes).as("the Deployment's replicas are spread over both nodes: %s", nodeOf)
                    .containsExactlyInAnyOrder("node1", "node2");
            for (JsonNode p : pods) {
                mesh.awaitEnrolled(NS, LocalMesh.name(p));
            }

            // The short name, the namespace-qualified one and the FQDN all resolve to the VIP; 12
            // calls each way pick replicas at random, so both must show up (a miss is 2^-35 likely).
            Set<String> answered = new HashSet<>();
            mesh.eventually("both replicas answering curl and wget by Service name", Duration.ofSeconds(60), () -> {
                Ambitctl.Result r = mesh.sh(NS, "client", Duration.ofSeconds(60), """
                        for i in 1 2 3 4; do
                          curl -sS -m 3 http://server:8080/
                          curl -sS -m 3 http://server.it-traffic:8080/
                          wget -q -T 3 -O - http://server.it-traffic.svc.cluster.local:8080/
                        done""");
                assertThat(r.ok()).as("%s", r).isTrue();
                for (String line : r.out().strip().split("\n")) {
                    assertThat(line).startsWith("hello from server-");
                    answered.add(line.substring("hello from ".length()));
                }
                return answered.size() == 2;
            });
            String local = answered.stream().filter(s -> nodeOf.get(s).equals("node1")).findFirst().orElseThrow();
            String remote = answered.stream().filter(s -> nodeOf.get(s).equals("node2")).findFirst().orElseThrow();

            // socat, the echo port: same as above for a plain TCP protocol.
            Ambitctl.Result echo = mesh.sh(NS, "client", Duration.ofSeconds(20),
                    "echo ping | socat -t 3 - TCP:server:9000");
            assertThat(echo.out()).as("%s", echo).startsWith("hello-from-server-").contains("ping");

            // Both agents saw the calls as mutual TLS between the two service accounts: the
            // destination side (each replica's node) and the source side (the client's node1).
            for (String server : List.of(local, remote)) {
                String node = nodeOf.get(server);
                mesh.eventually("a destination access-log line on " + node + " for " + server, Duration.ofSeconds(10),
                        () -> mesh.accessLog(node).stream().anyMatch(l -> l.path("reporter").asText().equals("destination")
                                && l.path("src.identity").asText().equals(CLIENT_ID)
                                && l.path("dst.identity").asText().equals(SERVER_ID)
                                && l.path("dst.workload").asText().equals("server")
                                && l.path("security").asText().equals("mutual_tls")
                                && l.path("denied").isNull()
                                && l.path("dst.addr").asText().startsWith(ip(pods, server) + ":")));
            }
            List<JsonNode> sourceLines = mesh.accessLog("node1").stream()
                    .filter(l -> l.path("reporter").asText().equals("source")
                            && l.path("src.identity").asText().equals(CLIENT_ID))
                    .toList();
            assertThat(sourceLines).as("source-side access log on node1").isNotEmpty()
                    .allSatisfy(l -> {
                        assertThat(l.path("dst.identity").asText()).isEqualTo(SERVER_ID);
                        assertThat(l.path("dst.service").asText()).isEqualTo("server.it-traffic.svc.cluster.local");
                        assertThat(l.path("security").asText()).isEqualTo("mutual_tls");
                    });
            assertThat(sourceLines.stream().map(l -> l.path("dst.addr").asText().replaceAll(":.*", "")))
                    .as("the client's agent sent to both replicas").contains(ip(pods, local), ip(pods, remote));

            // Istio's metrics, with the principals: opened connections on the destination side
            // of both nodes, and on the source side of node1.
            for (String node : List.of("node1", "node2")) {
                Metrics m = mesh.metrics(node);
                double inbound = m.sum("istio_tcp_connections_opened_total",
                        s -> s.label("reporter").equals("destination") && s.label("source_principal").equals(CLIENT_ID)
                                && s.label("destination_principal").equals(SERVER_ID)
                                && s.label("connection_security_policy").equals("mutual_tls"));
                assertThat(inbound).as("destination connections on %s:\n%s", node, m.text()).isGreaterThanOrEqualTo(1);
            }
            Metrics m1 = mesh.metrics("node1");
            assertThat(m1.sum("istio_tcp_connections_opened_total",
                    s -> s.label("reporter").equals("source") && s.label("source_principal").equals(CLIENT_ID)
                            && s.label("destination_service").equals("server.it-traffic.svc.cluster.local")))
                    .as("source connections on node1:\n%s", m1.text()).isGreaterThanOrEqualTo(12);
            assertThat(m1.value("ambit_agent_enrolled_pods")).as("client and one replica on node1").isEqualTo(2);
        } finally {
            mesh.deleteNamespace(NS);
        }
    }

    private static String ip(List<JsonNode> pods, String name) {
        return pods.stream().filter(p -> LocalMesh.name(p).equals(name)).map(LocalMesh::ip).findFirst().orElseThrow();
    }
}
