package dev.ambit.ctl.dashboard;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.ambit.ctl.local.Durations;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;
import java.util.regex.Pattern;

/**
 * The mesh view's web server: the page and its scripts (cytoscape bundled at build time, no
 * CDN) and the JSON the page fetches on a timer.
 *
 * <ul>
 *   <li>{@code GET /api/graph?namespace=a,b&window=5m}: {@code {generatedAt, window, namespaces,
 *       graph: {nodes, edges}, agents, errors}} ({@link MeshGraph}), always 200: a source that
 *       fails is named in {@code errors} and the rest is shown;</li>
 *   <li>{@code GET /api/traces?limit=N&window=5m} and {@code GET /api/trace/ID}: Zipkin's recent
 *       traces and one trace's spans, 404 when no Zipkin is configured;</li>
 *   <li>{@code GET /api/config}: what is configured;</li>
 *   <li>{@code GET /healthz/ready}: 200 once the sources can answer ({@link MeshSources#notReady}),
 *       else 503 with the reason (the Deployment's readiness probe).</li>
 * </ul>
 */
public final class DashboardServer implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern WINDOW = Pattern.compile("([1-9][0-9]{0,4})([smh])");
    private static final Pattern NAMESPACE = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");
    private static final Pattern TRACE_ID = Pattern.compile("[0-9a-f]{16}|[0-9a-f]{32}");
    private static final String WEB = "/dev/ambit/ctl/dashboard/web/";
    private static final Map<String, String> ASSETS = Map.of(
            "/", "index.html", "/index.html", "index.html", "/app.js", "app.js", "/style.css", "style.css",
            "/cytoscape.min.js", "cytoscape.min.js");

    private final HttpServer http;
    private final ExecutorService executor;
    private final MeshSources sources;
    private final Supplier<URI> prometheusUri;
    private PrometheusClient prometheus; // for prometheusSupplied, the URI last supplied; guarded by this
    private URI prometheusSupplied;
    private final ZipkinClient zipkin;
    private final Clock clock;

    private DashboardServer(Builder b) throws IOException {
        sources = b.sources;
        prometheusUri = b.prometheus;
        zipkin = b.zipkin == null ? null : ZipkinClient.of(b.zipkin, Duration.ofSeconds(5));
        clock = b.clock;
        executor = Executors.newFixedThreadPool(4, r -> {
            Thread t = new Thread(r, "ambit-dashboard");
            t.setDaemon(true);
            return t;
        });
        http = HttpServer.create(b.address, 16);
        http.setExecutor(executor);
        http.createContext("/", this::handle);
        http.start();
    }

    /** A server of the mesh {@code sources} describe. */
    public static Builder builder(MeshSources sources) {
        return new Builder(sources);
    }

    /** Where it listens (the port is the bound one when 0 was asked for). */
    public InetSocketAddress address() {
        return http.getAddress();
    }

    @Override
    public void close() {
        http.stop(0);
        executor.shutdownNow();
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            if (!ex.getRequestMethod().equals("GET")) {
                send(ex, 405, "text/plain", "method: " + ex.getRequestMethod() + " (expected: GET)");
                return;
            }
            String path = ex.getRequestURI().getPath();
            Map<String, String> query = query(ex.getRequestURI());
            try {
                if (ASSETS.containsKey(path)) {
                    asset(ex, ASSETS.get(path));
                } else if (path.equals("/api/graph")) {
                    json(ex, 200, graph(namespaces(query.get("namespace")), window(query.get("window"))));
                } else if (path.equals("/healthz/ready")) {
                    String why = sources.notReady();
                    send(ex, why == null ? 200 : 503, "text/plain", why == null ? "ready\n" : "not ready: " + why + "\n");
                } else if (path.equals("/api/config")) {
                    PrometheusClient prometheus = prometheus();
                    ObjectNode o = JSON.createObjectNode();
                    o.put("prometheus", prometheus == null ? "" : prometheus.base().toString());
                    o.put("zipkin", zipkin != null);
                    json(ex, 200, o);
                } else if (path.equals("/api/traces") || path.startsWith("/api/trace/")) {
                    traces(ex, path, query);
                } else {
                    send(ex, 404, "text/plain", "no such page: " + path);
                }
            } catch (IllegalArgumentException e) {
                json(ex, 400, JSON.createObjectNode().put("error", e.getMessage()));
            } catch (RuntimeException e) {
                // Such as the local cluster gone under the view: the page shows it and keeps polling.
                json(ex, 500, JSON.createObjectNode().put("error", String.valueOf(e.getMessage())));
            }
        }
    }

    /** The graph over {@code window} of the {@code namespaces} (all when empty). */
    ObjectNode graph(Set<String> namespaces, String window) {
        ObjectNode out = JSON.createObjectNode();
        Instant now = clock.instant();
        out.put("generatedAt", now.toString()).put("window", window);
        ArrayNode errors = out.putArray("errors");
        MeshGraph graph = new MeshGraph(namespaces);
        Set<String> seen = new TreeSet<>();

        List<MeshSources.AgentDump> agents = sources.agents();
        Set<String> enrolled = new HashSet<>();
        ArrayNode agentList = out.putArray("agents");
        for (MeshSources.AgentDump a : agents) {
            ObjectNode o = agentList.addObject().put("node", a.node()).put("ok", a.dump() != null);
            if (a.dump() == null) {
                o.put("error", a.error());
                errors.add("node agent " + a.node() + ": " + a.error());
                continue;
            }
            a.dump().path("pods").forEach(p -> enrolled.add(p.path("uid").asText()));
            o.put("enrolledPods", a.dump().path("pods").size());
            o.put("denialsTotal", a.dump().path("denials").path("total").asLong());
        }
        try {
            List<MeshGraph.Pod> pods = sources.pods();
            pods.forEach(p -> seen.add(p.namespace()));
            graph.pods(pods, enrolled);
        } catch (IOException e) {
            errors.add("pods: " + e.getMessage());
        }
        PrometheusClient prometheus = prometheus();
        if (prometheus == null) {
            errors.add("no Prometheus configured (ambitctl local addon enable prometheus, or --prometheus URL)");
        } else {
            try {
                String by = "reporter, source_workload, source_workload_namespace, destination_workload,"
                        + " destination_workload_namespace, destination_service, destination_service_name,"
                        + " destination_service_namespace, namespace, " + MeshGraph.GATEWAY_NAME_TARGET_LABEL;
                graph.requests(prometheus.vector("sum by (" + by + ", response_code) (rate(istio_requests_total["
                        + window + "]))"));
                graph.p99(prometheus.vector("histogram_quantile(0.99, sum by (" + by + ", le) (rate("
                        + "istio_request_duration_milliseconds_bucket[" + window + "])))"));
                graph.connections(prometheus.vector("sum by (reporter, source_workload, source_workload_namespace,"
                        + " destination_workload, destination_workload_namespace, destination_service,"
                        + " destination_service_name, destination_service_namespace, connection_security_policy)"
                        + " (rate(istio_tcp_connections_opened_total[" + window + "]))"));
            } catch (IOException e) {
                errors.add(e.getMessage());
            }
        }
        Instant since = now.minus(duration(window));
        for (MeshSources.AgentDump a : agents) {
            if (a.dump() != null) {
                graph.denials(a.node(), a.dump().path("denials"), since);
            }
        }
        ObjectNode g = graph.toJson();
        g.path("nodes").forEach(n -> {
            if (!n.path("namespace").asText().isEmpty()) {
                seen.add(n.path("namespace").asText());
            }
        });
        out.set("namespaces", JSON.valueToTree(seen));
        out.set("graph", g);
        return out;
    }

    /** The client of the Prometheus supplied now (an addon may come or go while the view runs); null without one. */
    private synchronized PrometheusClient prometheus() {
        URI uri = prometheusUri.get();
        if (uri == null) {
            return null;
        }
        if (!uri.equals(prometheusSupplied)) {
            prometheus = PrometheusClient.of(uri, Duration.ofSeconds(5));
            prometheusSupplied = uri;
        }
        return prometheus;
    }

    private void traces(HttpExchange ex, String path, Map<String, String> query) throws IOException {
        if (zipkin == null) {
            json(ex, 404, JSON.createObjectNode().put("error", "no Zipkin configured (ambitctl dashboard --zipkin URL)"));
            return;
        }
        try {
            if (path.equals("/api/traces")) {
                int limit = Integer.parseInt(query.getOrDefault("limit", "20"));
                if (limit < 1 || limit > 100) {
                    throw new IllegalArgumentException("limit: " + limit + " (expected: 1-100)");
                }
                json(ex, 200, zipkin.recent(limit, duration(window(query.get("window")))));
            } else {
                String id = path.substring("/api/trace/".length());
                if (!TRACE_ID.matcher(id).matches()) {
                    throw new IllegalArgumentException("trace id: " + id + " (expected: 16 or 32 lowercase hex digits)");
                }
                JsonNode trace = zipkin.trace(id);
                if (trace == null) {
                    json(ex, 404, JSON.createObjectNode().put("error", "trace " + id + " not found in Zipkin"));
                } else {
                    json(ex, 200, trace);
                }
            }
        } catch (IOException e) {
            json(ex, 502, JSON.createObjectNode().put("error", e.getMessage()));
        }
    }

    static Set<String> namespaces(String param) {
        Set<String> out = new TreeSet<>();
        if (param == null || param.isBlank()) {
            return out;
        }
        for (String ns : param.split(",")) {
            String s = ns.trim();
            if (!s.isEmpty() && !NAMESPACE.matcher(s).matches()) {
                throw new IllegalArgumentException("namespace: " + s + " (expected: a Kubernetes namespace name)");
            }
            if (!s.isEmpty()) {
                out.add(s);
            }
        }
        return out;
    }

    static String window(String param) {
        String w = param == null || param.isBlank() ? "5m" : param.trim();
        Duration d = WINDOW.matcher(w).matches() ? duration(w) : null;
        if (d == null || d.compareTo(Duration.ofSeconds(10)) < 0 || d.compareTo(Duration.ofDays(1)) > 0) {
            throw new IllegalArgumentException("window: " + w + " (expected: 10s-24h, such as 30s, 5m or 1h)");
        }
        return w;
    }

    /** A window {@link #window} accepted (Prometheus's range form, a subset of the flags' durations). */
    private static Duration duration(String window) {
        return Durations.parse("window", window);
    }

    private static Map<String, String> query(URI uri) {
        Map<String, String> out = new LinkedHashMap<>();
        String raw = uri.getRawQuery();
        if (raw == null) {
            return out;
        }
        Arrays.stream(raw.split("&")).filter(s -> !s.isEmpty()).forEach(kv -> {
            int eq = kv.indexOf('=');
            String k = URLDecoder.decode(eq < 0 ? kv : kv.substring(0, eq), StandardCharsets.UTF_8);
            String v = eq < 0 ? "" : URLDecoder.decode(kv.substring(eq + 1), StandardCharsets.UTF_8);
            out.putIfAbsent(k, v);
        });
        return out;
    }

    private static void asset(HttpExchange ex, String name) throws IOException {
        try (InputStream in = DashboardServer.class.getResourceAsStream(WEB + name)) {
            if (in == null) {
                send(ex, 500, "text/plain", "asset " + name + " is missing from the jar (was the web build skipped?)");
                return;
            }
            String type = name.endsWith(".html") ? "text/html; charset=utf-8"
                    : name.endsWith(".css") ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8";
            send(ex, 200, type, in.readAllBytes());
        }
    }

    private static void json(HttpExchange ex, int status, JsonNode body) throws IOException {
        send(ex, status, "application/json", JSON.writeValueAsBytes(body));
    }

    private static void send(HttpExchange ex, int status, String type, String body) throws IOException {
        send(ex, status, type, body.getBytes(StandardCharsets.UTF_8));
    }

    private static void send(HttpExchange ex, int status, String type, byte[] body) throws IOException {
        ex.getResponseHeaders().set("Content-Type", type);
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }

    /** Configures a {@link DashboardServer}. */
    public static final class Builder {
        private final MeshSources sources;
        private InetSocketAddress address = new InetSocketAddress("127.0.0.1", DashboardCommand.DEFAULT_PORT);
        private Supplier<URI> prometheus = () -> null;
        private URI zipkin;
        private Clock clock = Clock.systemUTC();

        private Builder(MeshSources sources) {
            this.sources = requireNonNull(sources, "sources");
        }

        /** Where to listen (default {@code 127.0.0.1:20001}, Kiali's port); port 0 picks one. */
        public Builder address(InetSocketAddress address) {
            this.address = requireNonNull(address, "address");
            return this;
        }

        /** Prometheus's base URL; without one the view shows pods and denials only. */
        public Builder prometheus(URI prometheus) {
            return prometheus(() -> prometheus);
        }

        /** Where Prometheus is, asked on every refresh (null: none now). */
        public Builder prometheus(Supplier<URI> prometheus) {
            this.prometheus = requireNonNull(prometheus, "prometheus");
            return this;
        }

        /** Zipkin's base URL (such as {@code http://127.0.0.1:9411}); without one no traces are shown. */
        public Builder zipkin(URI zipkin) {
            this.zipkin = zipkin;
            return this;
        }

        Builder clock(Clock clock) {
            this.clock = requireNonNull(clock, "clock");
            return this;
        }

        /** Binds and starts serving. */
        public DashboardServer start() throws IOException {
            return new DashboardServer(this);
        }
    }
}
