package dev.ambit.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 19's Prometheus: {@code ambitctl local addon enable prometheus} runs Debian's real
 * Prometheus in the cluster (Service {@code istio-system/prometheus}, LoadBalancer, reached from
 * the machine), scraping with Istio's sample conventions: the node agents as {@code app=ztunnel}
 * pods with their {@code node}, istiod-lite as {@code app=istiod}, and a waypoint as soon as its
 * pod runs (the controller's targets follow pods). After HTTP and TCP traffic through the
 * waypoint, {@code istio_requests_total} (reporter waypoint) and {@code istio_tcp_*} (reporter
 * destination) carry Istio's labels. Every query of the {@code dashboards/} folder parses
 * (Prometheus's {@code format_query}), selects only metric names this real scrape has, and returns
 * data. When the namespace goes, its waypoint's target goes. The shared cluster; the addon is
 * disabled at the end (its pod and files gone).
 */
@Order(10) // on the default cluster, with the classes ordered 1-20 (LocalMesh)
class PrometheusAddonTest {

    @RegisterExtension
    static final LocalMesh mesh = LocalMesh.nodes(2);

    private static final String NS = "it-prom";
    private static final Pattern READY = Pattern.compile("ready at (http://[0-9.]+:9090)");
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void prometheusScrapesTheMeshWithIstiosConventionsAndEveryDashboardQueryFindsData() {
        try {
            Ambitctl.Result enable = addon(Duration.ofSeconds(100), "enable", "prometheus",
                    "--scrape-interval", "1s", "--timeout", "60s");
            if (!enable.ok()) { // diagnostics only on failure: they cost five commands
                throw new AssertionError("addon enable: " + enable + "\n" + mesh.diagnostics());
            }
            Matcher m = READY.matcher(enable.out());
            assertThat(m.find()).as("where Prometheus answers: %s", enable).isTrue();
            String prometheus = m.group(1);

            // The daemons, as the pods they are on Kubernetes.
            mesh.eventually("both node agents and istiod-lite up", Duration.ofSeconds(20), () -> {
                List<JsonNode> agents = vector(prometheus, "up{job=\"kubernetes-pods\", namespace=\"istio-system\","
                        + " app=\"ztunnel\"} == 1");
                List<JsonNode> istiod = vector(prometheus, "up{job=\"kubernetes-pods\", app=\"istiod\", istio=\"pilot\"} == 1");
                Set<String> nodes = new TreeSet<>();
                agents.forEach(a -> nodes.add(a.at("/metric/node").asText() + " " + a.at("/metric/pod").asText()));
                return nodes.equals(Set.of("node1 ztunnel-node1", "node2 ztunnel-node2")) && istiod.size() == 1;
            });

            mesh.apply(Yaml.namespace(NS, true) + Yaml.serviceAccount(NS, "client")
                    + Yaml.serverPod(NS, "web", "default", "node2", Map.of()) + Yaml.service(NS, "web", "web")
                    + Yaml.clientPod(NS, "client", "client", "node1", Map.of()));
            mesh.awaitRunning(NS, 2, Duration.ofSeconds(40));
            mesh.awaitEnrolled(NS, "client");
            mesh.awaitEnrolled(NS, "web");
            Ambitctl.Result waypoint = Ambitctl.run(Duration.ofSeconds(60), "waypoint", "apply", "-n", NS,
                    "--enroll-namespace", "--wait");
            if (!waypoint.ok()) {
                throw new AssertionError("waypoint apply: " + waypoint + "\n" + mesh.diagnostics());
            }

            // The waypoint's pod becomes a target of its own (annotations prometheus.io/*).
            mesh.eventually("the waypoint scraped", Duration.ofSeconds(20), () -> vector(prometheus,
                    "up{job=\"kubernetes-pods\", namespace=\"" + NS + "\", gateway_networking_k8s_io_gateway_name=\"waypoint\"}"
                            + " == 1").size() == 1);

            // HTTP (8080) and TCP (9000) through the waypoint, until both metrics are in Prometheus.
            String wanted = "{reporter=\"waypoint\", source_workload=\"client\", source_workload_namespace=\"" + NS
                    + "\", destination_workload=\"web\", destination_workload_namespace=\"" + NS
                    + "\", destination_service=\"web." + NS + ".svc.cluster.local\", response_code=\"200\","
                    + " request_protocol=\"http\", job=\"kubernetes-pods\", namespace=\"" + NS + "\"}";
            String tcp = "{reporter=\"destination\", destination_workload=\"web\", destination_workload_namespace=\"" + NS
                    + "\", connection_security_policy=\"mutual_tls\", app=\"ztunnel\", node=\"node2\"}";
            mesh.eventually("istio_requests_total and istio_tcp_* after traffic", Duration.ofSeconds(40), () -> {
                mesh.sh(NS, "client", Duration.ofSeconds(20), "for i in 1 2 3; do curl -sS -m 3 http://web:8080/ >/dev/null;"
                        + " echo hi | socat -t 1 - TCP:web:9000 >/dev/null; done");
                return !vector(prometheus, "istio_requests_total" + wanted + " > 0").isEmpty()
                        && !vector(prometheus, "istio_request_duration_milliseconds_bucket" + wanted).isEmpty()
                        && !vector(prometheus, "istio_tcp_connections_opened_total" + tcp + " > 0").isEmpty()
                        && !vector(prometheus, "istio_tcp_sent_bytes_total" + tcp + " > 0").isEmpty()
                        && !vector(prometheus, "istio_tcp_received_bytes_total" + tcp + " > 0").isEmpty()
                        && !vector(prometheus, "istio_tcp_connections_closed_total" + tcp + " > 0").isEmpty();
            });

            checkDashboards(prometheus);

            // The namespace goes: so does its waypoint's target.
            mesh.deleteNamespace(NS);
            mesh.eventually("no target left in " + NS, Duration.ofSeconds(30), () -> {
                JsonNode targets = get(prometheus, "/api/v1/targets?state=active").path("data").path("activeTargets");
                return targets.valueStream().noneMatch(t -> t.at("/labels/namespace").asText().equals(NS));
            });
        } finally {
            mesh.deleteNamespace(NS);
            Ambitctl.Result disable = addon(Duration.ofSeconds(90), "disable", "prometheus");
            assertThat(disable.ok()).as("addon disable: %s", disable).isTrue();
        }
        assertThat(mesh.pods("istio-system")).noneMatch(p -> LocalMesh.name(p).startsWith("prometheus-"));
    }

    /**
     * Every dashboard query parses, names only metrics of this scrape, and returns data; all
     * failures are reported together. Polled briefly: a rate needs two scrapes of a new series.
     */
    private static void checkDashboards(String prometheus) {
        List<Dashboards.Query> queries = new ArrayList<>();
        for (Path f : Dashboards.files(Ambitctl.REPO.resolve("dashboards"))) {
            queries.addAll(Dashboards.queries(f));
        }
        assertThat(queries).hasSizeGreaterThan(50);
        for (Dashboards.Query q : queries) {
            JsonNode parsed = get(prometheus, "/api/v1/format_query?query=" + encode(q.expr()));
            assertThat(parsed.path("status").asText()).as("PromQL of %s: %s", q, parsed).isEqualTo("success");
        }
        Set<String> scraped = new TreeSet<>();
        get(prometheus, "/api/v1/label/__name__/values").path("data").forEach(n -> scraped.add(n.asText()));
        List<String> unknown = new ArrayList<>();
        for (Dashboards.Query q : queries) {
            for (String name : Dashboards.metricNames(q.expr())) {
                if (!scraped.contains(name)) {
                    unknown.add(name + " (" + q + ")");
                }
            }
        }
        assertThat(unknown).as("metric names no scrape of the mesh has (scraped: %s)", scraped).isEmpty();
        mesh.eventually("every dashboard query returning data", Duration.ofSeconds(15), () -> {
            List<String> empty = new ArrayList<>();
            for (Dashboards.Query q : queries) {
                JsonNode r = get(prometheus, "/api/v1/query?query=" + encode(q.expr()));
                if (!r.path("status").asText().equals("success") || r.at("/data/result").isEmpty()) {
                    empty.add(q + " -> " + r);
                }
            }
            assertThat(empty).as("queries without data").isEmpty();
            return true;
        });
    }

    /** {@code ambitctl local addon SUB --state-dir=... ARGS} (the state flag after the addon's subcommand). */
    private static Ambitctl.Result addon(Duration timeout, String sub, String... args) {
        List<String> cmd = new ArrayList<>(List.of("local", "addon", sub, "--state-dir=" + Ambitctl.STATE));
        cmd.addAll(List.of(args));
        return Ambitctl.raw(timeout, cmd);
    }

    /** An instant query's result vector. */
    private static List<JsonNode> vector(String prometheus, String query) {
        JsonNode r = get(prometheus, "/api/v1/query?query=" + encode(query));
        assertThat(r.path("status").asText()).as("query %s: %s", query, r).isEqualTo("success");
        List<JsonNode> out = new ArrayList<>();
        r.at("/data/result").forEach(out::add);
        return out;
    }

    /** Prometheus's HTTP API from the machine, as a user's browser or Grafana reaches it; errors are JSON too. */
    private static JsonNode get(String prometheus, String pathAndQuery) {
        try {
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(prometheus + pathAndQuery))
                    .timeout(Duration.ofSeconds(5)).GET().build(), HttpResponse.BodyHandlers.ofString());
            return LocalMesh.JSON.readTree(r.body());
        } catch (IOException e) {
            throw new AssertionError("GET " + prometheus + pathAndQuery + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static String encode(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }
}
