package dev.ambit.ctl.local.addons;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The generated config and targets in a real Prometheus (Debian's, on loopback): Istio's
 * relabelings over the file_sd meta labels give what they give over Kubernetes discovery —
 * the {@code prometheus.io/port} and {@code path} annotations pick the scrape URL, pod labels
 * become labels ({@code app}), {@code namespace}, {@code pod} and {@code node} are set, pods
 * not annotated or not running are left out.
 */
class PrometheusRelabelingTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    @TempDir
    Path dir;

    private static ScrapePod pod(String ns, String name, String node, String phase, Map<String, String> labels,
                                 Map<String, String> annotations) {
        return new ScrapePod(ns, name, "uid-" + name, node, "127.0.0.1", "127.0.0.1", phase, phase.equals("Running"),
                labels, annotations, "ReplicaSet", name + "-rs", "c", 8080);
    }

    private static JsonNode get(int port, String pathAndQuery) throws IOException, InterruptedException {
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + pathAndQuery))
                .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
        return JSON.readTree(r.body());
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void istiosRelabelingsOverTheFileTargets() throws Exception {
        dev.ambit.ctl.local.AddonsTestSupport.requirePrometheus();
        HttpServer app = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        app.createContext("/stats/prometheus", ex -> {
            byte[] b = "istio_requests_total{reporter=\"waypoint\",response_code=\"200\"} 3\n".getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, b.length);
            ex.getResponseBody().write(b);
            ex.close();
        });
        app.createContext("/metrics", ex -> {
            byte[] b = "ambit_agent_xds_connected 1\n".getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, b.length);
            ex.getResponseBody().write(b);
            ex.close();
        });
        app.start();
        Process prometheus = null;
        try {
            String appPort = String.valueOf(app.getAddress().getPort());
            ScrapePod agent = ScrapeTargets.nodeAgent("node2", "127.0.0.1");
            Map<String, String> agentAnnotations = new HashMap<>(agent.annotations());
            agentAnnotations.put("prometheus.io/port", appPort); // the agent's 15020, here the test's server
            List<ScrapePod> pods = List.of(
                    pod("shop", "waypoint-7f9c-abcde", "node1", "Running",
                            Map.of("gateway.networking.k8s.io/gateway-name", "waypoint", "app", "waypoint"),
                            Map.of("prometheus.io/scrape", "true", "prometheus.io/port", appPort,
                                    "prometheus.io/path", "/stats/prometheus")),
                    pod("shop", "not-annotated", "node1", "Running", Map.of("app", "x"), Map.of()),
                    pod("shop", "pending", "node1", "Pending", Map.of("app", "y"),
                            Map.of("prometheus.io/scrape", "true", "prometheus.io/port", appPort)),
                    new ScrapePod(agent.namespace(), agent.name(), agent.uid(), agent.node(), agent.hostIp(), agent.ip(),
                            agent.phase(), agent.ready(), agent.labels(), agentAnnotations, agent.controllerKind(),
                            agent.controllerName(), agent.container(), agent.port()));
            Path targets = dir.resolve("targets").resolve("kubernetes-pods.json");
            Files.createDirectories(targets.getParent());
            Files.writeString(targets, ScrapeTargets.fileSd(pods));
            Path config = dir.resolve("prometheus.yml");
            Files.writeString(config, ScrapeConfig.yaml(Duration.ofSeconds(1), targets));
            int port = freePort();
            prometheus = new ProcessBuilder(PrometheusAddon.binary().orElseThrow().toString(),
                    "--config.file=" + config, "--storage.tsdb.path=" + dir.resolve("data"),
                    "--web.listen-address=127.0.0.1:" + port)
                    .redirectErrorStream(true).redirectOutput(dir.resolve("prometheus.log").toFile()).start();

            // Both annotated, running pods become targets of job kubernetes-pods, up; nothing else.
            List<JsonNode> active = new ArrayList<>();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(40);
            while (true) {
                active.clear();
                try {
                    get(port, "/api/v1/targets?state=active").path("data").path("activeTargets").forEach(t -> {
                        if (t.path("labels").path("job").asText().equals(ScrapeConfig.PODS_JOB)) {
                            active.add(t);
                        }
                    });
                } catch (IOException e) {
                    // not listening yet
                }
                if (active.size() == 2 && active.stream().allMatch(t -> t.path("health").asText().equals("up"))) {
                    break;
                }
                assertThat(prometheus.isAlive()).as("prometheus exited: %s",
                        Files.readString(dir.resolve("prometheus.log"))).isTrue();
                assertThat(System.nanoTime()).as("targets never all up: %s\n%s", active,
                        Files.exists(dir.resolve("prometheus.log")) ? Files.readString(dir.resolve("prometheus.log")) : "")
                        .isLessThan(deadline);
                Thread.sleep(200);
            }
            Map<String, JsonNode> byPod = new HashMap<>();
            active.forEach(t -> byPod.put(t.path("labels").path("pod").asText(), t));
            assertThat(byPod).containsOnlyKeys("waypoint-7f9c-abcde", "ztunnel-node2");

            JsonNode waypoint = byPod.get("waypoint-7f9c-abcde");
            assertThat(waypoint.path("scrapeUrl").asText()).isEqualTo("http://127.0.0.1:" + appPort + "/stats/prometheus");
            assertThat(JSON.convertValue(waypoint.path("labels"), Map.class)).containsEntry("namespace", "shop")
                    .containsEntry("node", "node1").containsEntry("app", "waypoint")
                    .containsEntry("gateway_networking_k8s_io_gateway_name", "waypoint")
                    .containsEntry("instance", "127.0.0.1:" + appPort).containsEntry("job", "kubernetes-pods");
            JsonNode ztunnel = byPod.get("ztunnel-node2");
            assertThat(ztunnel.path("scrapeUrl").asText()).isEqualTo("http://127.0.0.1:" + appPort + "/metrics");
            assertThat(JSON.convertValue(ztunnel.path("labels"), Map.class)).containsEntry("namespace", "istio-system")
                    .containsEntry("app", "ztunnel").containsEntry("node", "node2");

            // The scraped series carry them.
            JsonNode result = get(port, "/api/v1/query?query="
                    + URLEncoder.encode("istio_requests_total", StandardCharsets.UTF_8)).path("data").path("result");
            assertThat(result).hasSize(1);
            assertThat(JSON.convertValue(result.get(0).path("metric"), Map.class)).containsEntry("namespace", "shop")
                    .containsEntry("pod", "waypoint-7f9c-abcde").containsEntry("reporter", "waypoint")
                    .containsEntry("app", "waypoint");
        } finally {
            app.stop(0);
            if (prometheus != null) {
                prometheus.destroy();
                if (!prometheus.waitFor(10, TimeUnit.SECONDS)) {
                    prometheus.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                }
            }
        }
    }
}
