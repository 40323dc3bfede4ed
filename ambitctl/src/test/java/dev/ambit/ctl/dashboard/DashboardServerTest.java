package dev.ambit.ctl.dashboard;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.ambit.api.security.Action;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Match;
import dev.ambit.api.security.Rule;
import dev.ambit.api.security.Scope;
import dev.ambit.api.security.StringMatch;
import dev.ambit.api.workload.Workload;
import dev.ambit.proxy.admin.AdminServer;
import dev.ambit.proxy.authz.Authorizer;
import dev.ambit.proxy.authz.ConnectionAttributes;
import dev.ambit.proxy.authz.Decision;
import dev.ambit.proxy.authz.PolicySet;
import dev.ambit.proxy.authz.RecentDenials;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The mesh view's JSON over real HTTP on loopback: the graph assembled from Prometheus's
 * answers (a Prometheus stand-in serving the query API), denials from a real node-agent admin
 * server whose {@code denials} section is a real {@link RecentDenials} fed by the real
 * {@link Authorizer}, enrolment from its {@code pods} section; the page's assets; Zipkin traces.
 */
class DashboardServerTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static final String NS = "shop";

    private final List<AutoCloseable> closeables = new ArrayList<>();
    private final List<String> queries = new CopyOnWriteArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : closeables.reversed()) {
            c.close();
        }
    }

    @Test
    void graphHasWaypointHopsRatesP99MtlsDenialsAndEnrolment() throws Exception {
        URI prometheus = prometheus(q -> {
            if (q.startsWith("histogram_quantile")) {
                return vector(sample(http("waypoint", "client", "web", ""), "87.5"));
            }
            if (q.contains("istio_requests_total")) {
                return vector(sample(http("waypoint", "client", "web", "200"), "3"),
                        sample(http("waypoint", "client", "web", "503"), "1"),
                        // another namespace's traffic: filtered out when asking for shop only
                        sample(Map.of("reporter", "source", "source_workload", "a", "source_workload_namespace", "other",
                                "destination_workload", "b", "destination_workload_namespace", "other",
                                "destination_service", "b.other.svc.cluster.local", "response_code", "200"), "5"));
            }
            if (q.contains("istio_tcp_connections_opened_total")) {
                return vector(
                        // the client's agent: to the waypoint, service web
                        sample(tcp("source", "client", "waypoint", "mutual_tls"), "0.5"),
                        // web's agent: from the waypoint; HBONE does not name the service
                        sample(tcpWithoutService("destination", "waypoint", "web", "mutual_tls"), "0.5"),
                        // the waypoint's own agent: its connection on to web, with the service
                        sample(tcp("source", "waypoint", "web", "mutual_tls"), "0.5"),
                        // a plaintext caller straight to web
                        sample(tcp("destination", "legacy", "web", "none"), "0.25"));
            }
            throw new AssertionError("unexpected query " + q);
        });
        URI agent = agentWithDenial();
        List<MeshGraph.Pod> pods = List.of(
                new MeshGraph.Pod(NS, "client-1", "uid-client", "client", "node1", "10.0.0.2", "Running", Map.of()),
                new MeshGraph.Pod(NS, "web-1", "uid-web", "web", "node2", "10.0.0.3", "Running", Map.of()),
                new MeshGraph.Pod(NS, "waypoint-1", "uid-wp", "waypoint", "node2", "10.0.0.4", "Running",
                        Map.of(MeshGraph.GATEWAY_CLASS_LABEL, MeshGraph.WAYPOINT_CLASS)),
                new MeshGraph.Pod("other", "a-1", "uid-a", "a", "node1", "10.0.0.9", "Running", Map.of()));
        DashboardServer server = start(DashboardServer.builder(MeshSources.http(() -> pods, Map.of("node2", agent)))
                .prometheus(prometheus));

        JsonNode g = get(server, "/api/graph?namespace=shop&window=1m", 200);
        assertThat(g.path("errors")).as("%s", g).isEmpty();
        assertThat(g.path("window").asText()).isEqualTo("1m");
        assertThat(queries).allMatch(q -> q.contains("[1m]"));
        JsonNode graph = g.path("graph");
        assertThat(ids(graph.path("nodes"))).containsExactlyInAnyOrder("svc:web.shop.svc.cluster.local",
                "wl:shop/client", "wl:shop/intruder", "wl:shop/legacy", "wl:shop/waypoint", "wl:shop/web");
        assertThat(node(graph, "wl:shop/waypoint").path("kind").asText()).isEqualTo("waypoint");
        assertThat(node(graph, "svc:web.shop.svc.cluster.local").path("kind").asText()).isEqualTo("service");

        // client → waypoint → service → web: the waypoint is a hop of the HTTP requests.
        assertThat(ids(graph.path("edges"))).containsExactlyInAnyOrder(
                "wl:shop/client->wl:shop/waypoint", "wl:shop/waypoint->svc:web.shop.svc.cluster.local",
                "svc:web.shop.svc.cluster.local->wl:shop/web", "wl:shop/legacy->svc:web.shop.svc.cluster.local",
                "wl:shop/intruder->wl:shop/web");
        JsonNode hop = edge(graph, "wl:shop/waypoint->svc:web.shop.svc.cluster.local");
        assertThat(hop.path("rps").asDouble()).isEqualTo(4.0);
        assertThat(hop.path("errorRate").asDouble()).isEqualTo(0.25);
        assertThat(hop.path("p99").asDouble()).isEqualTo(87.5);
        assertThat(hop.path("cps").asDouble()).isEqualTo(0.5);
        assertThat(hop.path("mtls").asBoolean()).isTrue();
        JsonNode first = edge(graph, "wl:shop/client->wl:shop/waypoint");
        assertThat(first.path("mtls").asBoolean()).isTrue();
        assertThat(first.path("rps").asDouble()).isEqualTo(4.0);
        // The legacy caller's service hop carries plaintext only: no lock.
        assertThat(edge(graph, "wl:shop/legacy->svc:web.shop.svc.cluster.local").path("mtls").asBoolean()).isFalse();
        // The last hop has web's plaintext connections and the waypoint's mTLS ones: not all mTLS, no lock.
        assertThat(edge(graph, "svc:web.shop.svc.cluster.local->wl:shop/web").path("mtls").asBoolean()).isFalse();

        JsonNode denied = edge(graph, "wl:shop/intruder->wl:shop/web");
        assertThat(denied.path("denied").asBoolean()).isTrue();
        assertThat(denied.path("denials")).hasSize(1);
        JsonNode d = denied.path("denials").get(0);
        assertThat(d.path("policy").asText()).isEqualTo("shop/deny-intruder");
        assertThat(d.path("rule").asInt()).isZero();
        assertThat(d.path("ruleText").asText()).contains("cluster.local/ns/shop/sa/intruder");
        assertThat(d.path("reason").asText()).isEqualTo("policy_denied");
        assertThat(d.path("count").asInt()).isEqualTo(2);
        assertThat(d.path("agent").asText()).isEqualTo("node2");

        // Enrolment: the agent lists web and the waypoint, not the client.
        assertThat(node(graph, "wl:shop/web").path("pods").get(0).path("enrolment").asText()).isEqualTo("enrolled");
        assertThat(node(graph, "wl:shop/client").path("pods").get(0).path("enrolment").asText()).isEqualTo("not enrolled");
        assertThat(node(graph, "wl:shop/client").path("pods").get(0).path("node").asText()).isEqualTo("node1");
        assertThat(g.path("agents").get(0).path("denialsTotal").asLong()).isEqualTo(2);
        assertThat(g.path("namespaces")).extracting(JsonNode::asText).contains("other", "shop");

        // Without a filter the other namespace's traffic shows too.
        JsonNode all = get(server, "/api/graph?window=30s", 200).path("graph");
        assertThat(ids(all.path("edges"))).contains("wl:other/a->svc:b.other.svc.cluster.local");
    }

    @Test
    void aSourceThatFailsIsNamedAndTheRestIsShown() throws Exception {
        URI prometheus = prometheus(q -> {
            throw new IllegalStateException("boom");
        });
        DashboardServer server = start(DashboardServer.builder(MeshSources.http(List::of,
                Map.of("node1", URI.create("http://127.0.0.1:1")))).prometheus(prometheus));
        JsonNode g = get(server, "/api/graph", 200);
        assertThat(g.path("errors").toString()).contains("node agent node1", "prometheus", "HTTP 500");
        assertThat(g.path("agents").get(0).path("ok").asBoolean()).isFalse();
        assertThat(g.path("graph").path("nodes")).isEmpty();
    }

    @Test
    void badParametersAreRefusedNamingTheParameter() throws Exception {
        DashboardServer server = start(DashboardServer.builder(MeshSources.http(List::of, Map.of())));
        assertThat(get(server, "/api/graph?window=2x", 400).path("error").asText())
                .isEqualTo("window: 2x (expected: 10s-24h, such as 30s, 5m or 1h)");
        assertThat(get(server, "/api/graph?window=5s", 400).path("error").asText()).startsWith("window: 5s");
        assertThat(get(server, "/api/graph?namespace=Bad_NS", 400).path("error").asText())
                .isEqualTo("namespace: Bad_NS (expected: a Kubernetes namespace name)");
        // No Prometheus configured: said, not failed.
        assertThat(get(server, "/api/graph", 200).path("errors").get(0).asText()).startsWith("no Prometheus configured");
        assertThat(get(server, "/api/config", 200).path("prometheus").asText()).isEmpty();
        // No Zipkin: nothing to show.
        assertThat(get(server, "/api/traces", 404).path("error").asText()).startsWith("no Zipkin configured");
        assertThat(get(server, "/api/config", 200).path("zipkin").asBoolean()).isFalse();
    }

    @Test
    void prometheusIsLookedUpOnEveryRefreshSoAnAddonEnabledLaterIsUsed() throws Exception {
        URI prometheus = prometheus(q -> vector());
        java.util.concurrent.atomic.AtomicReference<URI> where = new java.util.concurrent.atomic.AtomicReference<>();
        DashboardServer server = start(DashboardServer.builder(MeshSources.http(List::of, Map.of())).prometheus(where::get));
        assertThat(get(server, "/api/graph", 200).path("errors").get(0).asText()).startsWith("no Prometheus configured");
        where.set(prometheus);
        assertThat(get(server, "/api/graph", 200).path("errors")).isEmpty();
        assertThat(queries).hasSize(3);
    }

    @Test
    void servesThePageAndTheBundledGraphLibrary() throws Exception {
        DashboardServer server = start(DashboardServer.builder(MeshSources.http(List::of, Map.of())));
        HttpResponse<String> page = raw(server, "/");
        assertThat(page.statusCode()).isEqualTo(200);
        assertThat(page.headers().firstValue("content-type")).hasValue("text/html; charset=utf-8");
        assertThat(page.body()).contains("<script src=\"cytoscape.min.js\"></script>", "app.js")
                .doesNotContain("http://", "https://"); // nothing from a CDN
        HttpResponse<String> lib = raw(server, "/cytoscape.min.js");
        assertThat(lib.statusCode()).as("cytoscape bundled by the build (src/main/web)").isEqualTo(200);
        assertThat(lib.body()).contains("cytoscape").hasSizeGreaterThan(100_000);
        assertThat(raw(server, "/app.js").body()).contains("api/graph");
        assertThat(raw(server, "/nope").statusCode()).isEqualTo(404);
    }

    @Test
    void tracesComeFromZipkin() throws Exception {
        String trace = """
                [{"traceId":"0123456789abcdef0123456789abcdef","id":"a1","name":"get /","timestamp":1000,"duration":5000,
                  "kind":"SERVER","localEndpoint":{"serviceName":"istio-ingressgateway"}},
                 {"traceId":"0123456789abcdef0123456789abcdef","id":"b2","parentId":"a1","name":"get /api",
                  "timestamp":2000,"duration":2000,"kind":"CLIENT","localEndpoint":{"serviceName":"frontend"}}]""";
        URI zipkin = serve(ex -> {
            String path = ex.getRequestURI().getPath();
            if (path.equals("/api/v2/traces")) {
                return "[" + trace + "]";
            }
            return path.equals("/api/v2/trace/0123456789abcdef0123456789abcdef") ? trace : null;
        });
        DashboardServer server = start(DashboardServer.builder(MeshSources.http(List::of, Map.of())).zipkin(zipkin));
        JsonNode list = get(server, "/api/traces?limit=5", 200);
        assertThat(list).hasSize(1);
        assertThat(list.get(0).path("service").asText()).isEqualTo("istio-ingressgateway");
        assertThat(list.get(0).path("name").asText()).isEqualTo("get /");
        assertThat(list.get(0).path("durationMs").asDouble()).isEqualTo(5.0);
        assertThat(list.get(0).path("spans").asInt()).isEqualTo(2);
        assertThat(get(server, "/api/trace/0123456789abcdef0123456789abcdef", 200)).hasSize(2);
        assertThat(get(server, "/api/trace/ffffffffffffffff", 404).path("error").asText()).contains("not found");
        assertThat(get(server, "/api/trace/xyz", 400).path("error").asText()).startsWith("trace id: xyz");
        assertThat(get(server, "/api/config", 200).path("zipkin").asBoolean()).isTrue();
    }

    // ------------------------------------------------------------------ fixtures

    /** A node agent's admin server (proxy-core's) with a pods section and a real denial ring holding two denials. */
    private URI agentWithDenial() throws Exception {
        Authorization deny = Authorization.newBuilder().setNamespace(NS).setName("deny-intruder")
                .setScope(Scope.NAMESPACE).setAction(Action.DENY)
                .addRules(Rule.newBuilder().addClauses(dev.ambit.api.security.Clause.newBuilder()
                        .addMatches(Match.newBuilder().addPrincipals(StringMatch.newBuilder()
                                .setExact("cluster.local/ns/shop/sa/intruder"))))).build();
        PolicySet policies = PolicySet.of(deny);
        RecentDenials ring = RecentDenials.of(policies, 16);
        Workload web = Workload.newBuilder().setUid("uid-web").setName("web-1").setWorkloadName("web").setNamespace(NS)
                .build();
        ConnectionAttributes c = ConnectionAttributes.mtls("spiffe://cluster.local/ns/shop/sa/intruder",
                InetAddress.getByName("10.0.0.5"), InetAddress.getByName("10.0.0.3"), 8080);
        Decision decision = Authorizer.of(policies).authorize(c, web);
        ring.record(decision, c, web, "intruder", NS);
        ring.record(decision, c, web, "intruder", NS);
        AdminServer admin = AdminServer.builder()
                .section("pods", json -> json.open('[').open('{').key("uid").value("uid-web").close('}')
                        .open('{').key("uid").value("uid-wp").close('}').close(']'))
                .section("denials", ring::write)
                .address(new InetSocketAddress("127.0.0.1", 0)).start();
        closeables.add(admin::close);
        return URI.create("http://127.0.0.1:" + admin.localAddress().getPort());
    }

    private static Map<String, String> http(String reporter, String src, String dst, String code) {
        Map<String, String> m = new java.util.HashMap<>(Map.of("reporter", reporter, "source_workload", src,
                "source_workload_namespace", NS, "destination_workload", dst, "destination_workload_namespace", NS,
                "destination_service", "web.shop.svc.cluster.local", "destination_service_name", "web",
                "destination_service_namespace", NS, "namespace", NS));
        m.put(MeshGraph.GATEWAY_NAME_TARGET_LABEL, "waypoint");
        if (!code.isEmpty()) {
            m.put("response_code", code);
        }
        return m;
    }

    private static Map<String, String> tcp(String reporter, String src, String dst, String security) {
        return Map.of("reporter", reporter, "source_workload", src, "source_workload_namespace", NS,
                "destination_workload", dst, "destination_workload_namespace", NS,
                "destination_service", "web.shop.svc.cluster.local", "destination_service_name", "web",
                "destination_service_namespace", NS, "connection_security_policy", security);
    }

    private static Map<String, String> tcpWithoutService(String reporter, String src, String dst, String security) {
        Map<String, String> m = new java.util.HashMap<>(tcp(reporter, src, dst, security));
        m.put("destination_service", "unknown");
        m.put("destination_service_name", "unknown");
        m.put("destination_service_namespace", "unknown");
        return m;
    }

    private static String sample(Map<String, String> labels, String value) {
        try {
            return "{\"metric\":" + JSON.writeValueAsString(labels) + ",\"value\":[1765116000.0,\"" + value + "\"]}";
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private static String vector(String... samples) {
        return "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[" + String.join(",", samples)
                + "]}}";
    }

    /** A stand-in for Prometheus's query API: {@code answer} maps the PromQL to the JSON body. */
    private URI prometheus(Function<String, String> answer) throws IOException {
        return serve(ex -> {
            if (!ex.getRequestURI().getPath().equals("/api/v1/query")) {
                return null;
            }
            String q = URLDecoder.decode(ex.getRequestURI().getRawQuery().substring("query=".length()),
                    StandardCharsets.UTF_8);
            queries.add(q);
            return answer.apply(q);
        });
    }

    private interface Answer {
        String body(HttpExchange ex) throws Exception;
    }

    private URI serve(Answer answer) throws IOException {
        HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 8);
        s.createContext("/", ex -> {
            try (ex) {
                String body;
                int status = 200;
                try {
                    body = answer.body(ex);
                    if (body == null) {
                        status = 404;
                        body = "{}";
                    }
                } catch (Exception e) {
                    status = 500;
                    body = "{\"status\":\"error\",\"error\":\"" + e.getMessage() + "\"}";
                }
                byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
                ex.sendResponseHeaders(status, bytes.length);
                ex.getResponseBody().write(bytes);
            }
        });
        s.start();
        closeables.add(() -> s.stop(0));
        return URI.create("http://127.0.0.1:" + s.getAddress().getPort());
    }

    private DashboardServer start(DashboardServer.Builder b) throws IOException {
        DashboardServer server = b.address(new InetSocketAddress("127.0.0.1", 0)).start();
        closeables.add(server);
        return server;
    }

    private static HttpResponse<String> raw(DashboardServer server, String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.address().getPort() + path))
                .build(), HttpResponse.BodyHandlers.ofString());
    }

    private static JsonNode get(DashboardServer server, String path, int status) throws Exception {
        HttpResponse<String> r = raw(server, path);
        assertThat(r.statusCode()).as("GET %s: %s", path, r.body()).isEqualTo(status);
        return JSON.readTree(r.body());
    }

    private static List<String> ids(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.path("id").asText()));
        return out;
    }

    private static JsonNode node(JsonNode graph, String id) {
        return find(graph.path("nodes"), id);
    }

    private static JsonNode edge(JsonNode graph, String id) {
        return find(graph.path("edges"), id);
    }

    private static JsonNode find(JsonNode array, String id) {
        for (JsonNode n : array) {
            if (n.path("id").asText().equals(id)) {
                return n;
            }
        }
        throw new AssertionError(id + " not in " + array);
    }
}
