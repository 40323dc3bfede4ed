package dev.ambit.it;

import static dev.ambit.it.WaypointYaml.NS;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The waypoint, as a user of Istio ambient uses it: {@code ambitctl waypoint apply
 * --enroll-namespace}, a DestinationRule and a VirtualService, ordinary clients in a meshed
 * pod (curl, Node's HTTP/2 client, the real {@code @grpc/grpc-js}, a raw WebSocket, socat).
 * One cluster and one namespace for the class; the tests run in order because the last ones
 * take the waypoint away.
 */
@Order(20)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class WaypointTest {

    @RegisterExtension
    static final LocalMesh mesh = LocalMesh.nodes(2);

    private static final Path NPM = Ambitctl.REPO.resolve("integration/target/npm");
    private static final String REVIEWS = "reviews.it-waypoint.svc.cluster.local";
    private static final String CLIENT_ID = Yaml.SPIFFE + NS + "/sa/client";

    @BeforeAll
    static void deploy() {
        // The real gRPC library for Node, from npm (reachable from CI); one install per run.
        if (!Files.isDirectory(NPM.resolve("node_modules/@grpc/grpc-js"))) {
            Ambitctl.Result npm = Ambitctl.host(Duration.ofMinutes(3), "npm", "install", "--no-audit", "--no-fund",
                    "--prefix", NPM.toString(), "@grpc/grpc-js@1.14.7");
            assertThat(npm.ok()).as("npm install @grpc/grpc-js: %s", npm).isTrue();
        }
        mesh.apply(WaypointYaml.app() + WaypointYaml.DESTINATION_RULE + WaypointYaml.VIRTUAL_SERVICE);
        mesh.awaitRunning(NS, 4, Duration.ofSeconds(90));
        for (String pod : List.of("client", "reviews-v1", "reviews-v2", "ratings-v1")) {
            mesh.awaitEnrolled(NS, pod);
        }
        Ambitctl.Result apply = Ambitctl.run(Duration.ofMinutes(2), "waypoint", "apply", "-n", NS,
                "--enroll-namespace", "--wait");
        assertThat(apply.ok()).as(() -> "waypoint apply: " + apply + "\n" + mesh.diagnostics()).isTrue();
        mesh.eventually("the waypoint answering through the mesh", Duration.ofSeconds(60), () -> {
            Ambitctl.Result r = mesh.sh(NS, "client", Duration.ofSeconds(20),
                    "curl -sS -m 3 -H 'end-user: jason' http://reviews:8080/");
            return r.ok() && r.out().startsWith("v2 reviews-v2");
        });
    }

    @AfterAll
    static void cleanUp() {
        mesh.deleteNamespace(NS);
    }

    /** Lines of a script's output, counted. */
    private static Map<String, Long> count(String out, Function<String, String> key) {
        return Arrays.stream(out.strip().split("\n")).filter(l -> !l.isBlank())
                .collect(Collectors.groupingBy(key, TreeMap::new, Collectors.counting()));
    }

    private Ambitctl.Result client(String script) {
        Ambitctl.Result r = mesh.sh(NS, "client", Duration.ofSeconds(120), script);
        // Lazily: the diagnostics are five ambitctl commands (~5 s), wanted only when the check fails.
        assertThat(r.ok()).as(() -> r + "\n" + mesh.diagnostics()).isTrue();
        return r;
    }

    @Test
    @Order(1)
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void weightedSplitAndHeaderRouting() {
        // 1,000 requests on curl's keep-alive connections: each is routed on its own (one -o per
        // URL: curl applies an -o to one URL only).
        Ambitctl.Result r = client("curl -sS -m 60 $(for i in $(seq 1000); do printf 'http://reviews:8080/ '; done)");
        Map<String, Long> versions = count(r.out(), l -> l.substring(0, 2));
        assertThat(versions.values().stream().mapToLong(Long::longValue).sum()).as("%s", versions).isEqualTo(1000);
        assertThat(versions.getOrDefault("v1", 0L)).as("90/10 within ±3 points: %s", versions).isBetween(870L, 930L);
        assertThat(versions.getOrDefault("v2", 0L)).as("%s", versions).isBetween(70L, 130L);

        Ambitctl.Result jason = client("for i in $(seq 20); do curl -sS -m 5 -H 'end-user: jason' http://reviews:8080/; done");
        assertThat(count(jason.out(), l -> l.substring(0, 2))).as("jason only reaches v2").containsOnlyKeys("v2");
    }

    @Test
    @Order(2)
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void redirectRewriteHeadersAndNoRoute() {
        Ambitctl.Result redirect = client("curl -sS -m 5 -o /dev/null -w '%{http_code} %{redirect_url}' http://reviews:8080/old/page");
        assertThat(redirect.out()).isEqualTo("301 http://reviews:8080/new");

        Ambitctl.Result rewrite = client("curl -sS -m 5 http://reviews:8080/api/items");
        assertThat(rewrite.out().strip()).isEqualTo("v1 reviews-v1 GET /items");
        Ambitctl.Result authority = client("curl -sS -m 5 http://reviews:8080/api/headers");
        assertThat(authority.out()).contains("\"host\":\"rewritten.example\"");

        Ambitctl.Result headers = client("curl -sS -m 5 -D - -H 'x-drop-me: 1' http://reviews:8080/headers");
        assertThat(headers.out()).contains("\"x-from-waypoint\":\"yes\"").doesNotContain("x-drop-me")
                .containsIgnoringCase("x-answered-by: waypoint");

        // Port 8081 has only the /h2 route: anything else matches nothing → Envoy's 404 (NR).
        Ambitctl.Result none = client("curl -sS -m 5 -o /dev/null -w '%{http_code}' --http2-prior-knowledge http://reviews:8081/none");
        assertThat(none.out()).isEqualTo("404");
    }

    @Test
    @Order(3)
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void retriesTimeoutsFaultsAndMirroring() {
        // The backend fails two calls in three; three retries on 5xx make every call succeed.
        Ambitctl.Result flaky = client("for i in $(seq 15); do curl -sS -m 10 -o /dev/null -w '%{http_code}\\n' http://reviews:8080/flaky; done");
        assertThat(count(flaky.out(), l -> l)).as("retried until healthy").containsOnlyKeys("200");

        // Route timeout 1 s while the backend sleeps 5 s: 504 "upstream request timeout" in time.
        Ambitctl.Result slow = client("curl -sS -m 10 -w ' %{http_code} %{time_total}' http://reviews:8080/sleep?ms=5000");
        String[] f = slow.out().strip().split(" ");
        assertThat(slow.out()).startsWith("upstream request timeout");
        assertThat(f[f.length - 2]).isEqualTo("504");
        assertThat(Double.parseDouble(f[f.length - 1])).as("answered at the 1 s timeout").isBetween(0.9, 2.5);

        // Abort 418 at 30 %, over 300 calls (σ ≈ 2.6 points): within ±9 points.
        Ambitctl.Result aborted = client("curl -sS -m 60 -w '%{http_code}\\n' $(for i in $(seq 300); do printf -- '-o /dev/null http://reviews:8080/aborted '; done)");
        Map<String, Long> codes = count(aborted.out(), l -> l);
        assertThat(codes.getOrDefault("418", 0L)).as("%s", codes).isBetween(63L, 117L);
        // Delay 300 ms at 50 %, over 40 calls: between 10 and 30 delayed.
        Ambitctl.Result delayed = client("for i in $(seq 40); do curl -sS -m 5 -o /dev/null -w '%{time_total}\\n' http://reviews:8080/delayed; done");
        long slowOnes = Arrays.stream(delayed.out().strip().split("\n")).mapToDouble(Double::parseDouble)
                .filter(t -> t >= 0.29).count();
        assertThat(slowOnes).as("delayed calls: %s", delayed.out()).isBetween(10L, 30L);

        // Mirroring: v2 sees each /mirrored call with the -shadow host, the caller only v1's answer.
        long before = Long.parseLong(mesh.sh(NS, "reviews-v2", Duration.ofSeconds(10),
                "curl -sS -m 3 http://127.0.0.1:8080/seen").out().strip());
        Ambitctl.Result mirrored = client("for i in $(seq 10); do curl -sS -m 5 http://reviews:8080/mirrored; done");
        assertThat(count(mirrored.out(), l -> l.substring(0, 2))).containsOnlyKeys("v1");
        mesh.eventually("the shadow (v2) seeing 10 mirrored calls", Duration.ofSeconds(10), () -> Long.parseLong(
                mesh.sh(NS, "reviews-v2", Duration.ofSeconds(10), "curl -sS -m 3 http://127.0.0.1:8080/seen").out().strip())
                >= before + 10);
    }

    @Test
    @Order(4)
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void http2GrpcWebSocketAndTcp() {
        String node = "NODE_PATH=" + NPM.resolve("node_modules") + " node " + WaypointYaml.client();
        Ambitctl.Result h2 = client(node + " h2 http://reviews:8081/h2/x 5");
        assertThat(count(h2.out(), l -> l.substring(0, 6))).as("%s", h2.out()).containsOnlyKeys("200 v2");
        Ambitctl.Result grpc = client(node + " grpc reviews:50051 5");
        assertThat(count(grpc.out(), l -> l)).as("%s", grpc.out()).containsOnlyKeys("OK v2 reviews-v2");
        Ambitctl.Result ws = client(node + " ws reviews:8080/ws");
        assertThat(ws.out()).contains("HTTP/1.1 101").contains("echo ping");
        Ambitctl.Result tcp = client("echo ping | socat -t 3 - TCP:reviews:9000");
        assertThat(tcp.out()).startsWith("hello-from-reviews-v").contains("ping");
    }

    @Test
    @Order(5)
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void waypointMetricsCountRequestsWithIstioLabels() {
        client("for i in $(seq 5); do curl -sS -m 5 -o /dev/null http://reviews:8080/headers; done");
        String pod = waypointPod();
        Metrics m = mesh.eventually("the waypoint's request metrics", Duration.ofSeconds(15), () -> {
            Ambitctl.Result r = mesh.exec(NS, pod, Duration.ofSeconds(10), "curl", "-sS", "-m", "5",
                    "http://127.0.0.1:15020/metrics");
            return r.ok() ? Metrics.parse(r.out()) : null;
        });
        double ok = m.sum("istio_requests_total", s -> s.label("reporter").equals("waypoint")
                && s.label("destination_service").equals(REVIEWS) && s.label("response_code").equals("200")
                && s.label("source_principal").equals(CLIENT_ID) && s.label("request_protocol").equals("http")
                && s.label("destination_version").equals("v1")
                && s.label("connection_security_policy").equals("mutual_tls"));
        assertThat(ok).as("%s", m.text()).isGreaterThanOrEqualTo(5);
        assertThat(m.sum("istio_requests_total", s -> s.label("response_code").equals("404")
                && s.label("response_flags").equals("NR"))).as("%s", m.text()).isGreaterThanOrEqualTo(1);
        assertThat(m.sum("istio_requests_total", s -> s.label("response_code").equals("418")
                && s.label("response_flags").equals("FI"))).as("%s", m.text()).isGreaterThanOrEqualTo(1);
        assertThat(m.sum("istio_requests_total", s -> s.label("response_code").equals("504")
                && s.label("response_flags").equals("UT"))).as("%s", m.text()).isGreaterThanOrEqualTo(1);
        assertThat(m.sum("istio_requests_total", s -> s.label("request_protocol").equals("grpc")
                && s.label("grpc_response_status").equals("0"))).as("%s", m.text()).isGreaterThanOrEqualTo(5);
    }

    @Test
    @Order(6)
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void serviceWithoutWaypointKeepsTheL4PathAndTheWaypointCanBeRemovedAtRuntime() {
        // ratings opts out: the client's agent tunnels straight to the ratings pod (no waypoint hop).
        client("curl -sS -m 5 http://ratings:8080/");
        List<JsonNode> direct = mesh.accessLog("node1").stream()
                .filter(l -> l.path("reporter").asText().equals("source")
                        && l.path("dst.service").asText().equals("ratings.it-waypoint.svc.cluster.local"))
                .toList();
        String ratingsIp = LocalMesh.ip(mesh.pod(NS, "ratings-v1"));
        assertThat(direct).as("source lines for ratings").isNotEmpty()
                .allSatisfy(l -> assertThat(l.path("dst.addr").asText()).startsWith(ratingsIp + ":"));

        // The namespace leaves the waypoint at runtime: calls reach reviews directly, no routes
        // apply any more (jason gets either version), and no pod restarts.
        Ambitctl.localOk("label", "ns", NS, "istio.io/use-waypoint-");
        mesh.eventually("reviews reached without the waypoint (the 404 route is gone)", Duration.ofSeconds(30), () -> {
            Ambitctl.Result r = mesh.sh(NS, "client", Duration.ofSeconds(10),
                    "curl -sS -m 3 --http2-prior-knowledge -o /dev/null -w '%{http_code}' http://reviews:8081/none");
            return r.ok() && r.out().equals("200");
        });
        Ambitctl.localOk("label", "ns", NS, "istio.io/use-waypoint=waypoint");
        mesh.eventually("reviews through the waypoint again", Duration.ofSeconds(30), () -> {
            Ambitctl.Result r = mesh.sh(NS, "client", Duration.ofSeconds(10),
                    "curl -sS -m 3 --http2-prior-knowledge -o /dev/null -w '%{http_code}' http://reviews:8081/none");
            return r.ok() && r.out().equals("404");
        });
    }

    @Test
    @Order(7)
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void waypointKeepsRoutingWithoutIstiodAndFailsClosedWhileDown() {
        try {
            Ambitctl.localOk("kill", "istiod");
            Ambitctl.Result during = client("for i in $(seq 10); do curl -sS -m 5 -H 'end-user: jason' http://reviews:8080/; done");
            assertThat(count(during.out(), l -> l.substring(0, 2))).as("routes kept without istiod").containsOnlyKeys("v2");
        } finally {
            mesh.startAnythingDown();
        }
        // The waypoint process killed: calls fail (never around it) until its pod is restarted.
        String pod = waypointPod();
        Ambitctl.host(Duration.ofSeconds(10), "pkill", "-KILL", "-f", "waypoint-proxy.jar.*--pod-name " + pod);
        Ambitctl.Result gap = mesh.sh(NS, "client", Duration.ofSeconds(20),
                "curl -sS -m 3 -o /dev/null -w '%{http_code}' -H 'end-user: jason' http://reviews:8080/");
        assertThat(gap.out()).as("no answer while the waypoint is down: %s", gap).doesNotStartWith("200");
        mesh.eventually("the restarted waypoint answering again", Duration.ofSeconds(60), () -> {
            Ambitctl.Result r = mesh.sh(NS, "client", Duration.ofSeconds(10),
                    "curl -sS -m 3 -H 'end-user: jason' http://reviews:8080/");
            return r.ok() && r.out().startsWith("v2 reviews-v2");
        });
    }

    @Test
    @Order(8)
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void deletingTheWaypointFailsItsServicesClosed() {
        Ambitctl.Result delete = Ambitctl.run(Duration.ofSeconds(60), "waypoint", "delete", "waypoint", "-n", NS);
        assertThat(delete.ok()).as("%s", delete).isTrue();
        mesh.eventually("reviews refused once its waypoint is gone", Duration.ofSeconds(30), () -> {
            Ambitctl.Result r = mesh.sh(NS, "client", Duration.ofSeconds(10),
                    "curl -sS -m 3 -o /dev/null -w '%{http_code}' http://reviews:8080/");
            return !r.out().startsWith("200");
        });
        // Repeatedly refused, never answered directly in plaintext or over L4.
        Ambitctl.Result r = mesh.sh(NS, "client", Duration.ofSeconds(60),
                "for i in $(seq 10); do curl -sS -m 3 -o /dev/null -w '%{http_code}\\n' http://reviews:8080/; done");
        assertThat(r.out()).doesNotContain("200");
        assertThat(mesh.logTail("node1", 200)).contains("waypoint");
        // ratings never had the waypoint: still fine.
        assertThat(client("curl -sS -m 5 http://ratings:8080/").out()).startsWith("v1 ratings-v1");
    }

    private String waypointPod() {
        return mesh.pods(NS).stream().map(LocalMesh::name).filter(n -> n.startsWith("waypoint-")).findFirst()
                .orElseThrow(() -> new AssertionError("no waypoint pod in " + NS + "\n" + mesh.diagnostics()));
    }
}
