package dev.ambit.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import java.io.IOException;
import java.io.UncheckedIOException;
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
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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
 * Issue 19, must-show 1 and 2: distributed tracing and the Telemetry API on a local mesh, with
 * the collectors users run. A user on the machine calls {@code tracing.example.com} through a
 * Gateway of class istio; the gateway routes to {@code frontend}, which calls {@code backend}
 * passing the trace headers on (resources/tracing/app.js); backend's Service goes through the
 * waypoint of {@code it-tracing-wp}. The collectors are pods outside the mesh, named by
 * MeshConfig {@code extensionProviders} (WaypointResilienceTest's mesh.yaml, whose cluster this
 * class shares): a real Zipkin server (io.zipkin:zipkin-server 3.5.1), asked through its own API
 * at its LoadBalancer address, and an OTLP/HTTP receiver whose bodies the test decodes. One root
 * Telemetry selects the provider, the sampling and a custom tag (switched between tests), enables
 * the {@code envoy} access log and adds Istio's {@code custom_label} example to
 * {@code istio_requests_total}; one in {@code it-tracing-wp} disables access logging there.
 * Backend's node agent adds its span of the waypoint's tunnel (identities, bytes) to the trace
 * (a DestinationRule gives each request its own tunnel), and {@code ambitctl dashboard --zipkin}
 * reads a trace from the same Zipkin.
 */
@Order(21)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class TracingTest {

    @RegisterExtension
    static final LocalMesh mesh = LocalMesh.nodes(2).meshConfig(
            Ambitctl.REPO.resolve("integration/src/test/resources/waypoint-resilience/mesh.yaml")).noIngress();

    static final String NS = "it-tracing";
    static final String WP_NS = "it-tracing-wp";
    static final String OBS_NS = "it-tracing-obs";
    static final String HOST = "tracing.example.com";
    private static final Path RESOURCES = Ambitctl.REPO.resolve("integration/src/test/resources/tracing");
    private static final Path ZIPKIN_JAR = Ambitctl.REPO.resolve("integration/target/zipkin/zipkin-server.jar");
    private static final String GW_SERVICE = "tracing-gw-istio." + NS;
    private static final String WP_SERVICE = "waypoint." + WP_NS;
    private static final String FRONTEND_CLUSTER = "outbound|8080||frontend." + NS + ".svc.cluster.local";
    private static final String BACKEND_CLUSTER = "outbound|8080||backend." + NS + ".svc.cluster.local";
    /** The node agents' spans (issue 19): their service, and the inbound tunnel's name. */
    private static final String AGENT_SERVICE = "ztunnel.istio-system";
    private static final String AGENT_SPAN = "inbound|8080||";
    private static final Pattern DASHBOARD_URL = Pattern.compile("mesh view: (http://127\\.0\\.0\\.1:[0-9]+/)");
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();

    private static String gateway;
    private static String zipkin;
    private static String otlp;
    private static String gatewayPod;
    private static String waypointPod;

    /** The root Telemetry: tracing provider, sampling, a literal custom tag; access log on; custom_label. */
    static String rootTelemetry(String provider, int sampling, String phase) {
        return """
                apiVersion: telemetry.istio.io/v1
                kind: Telemetry
                metadata: {name: mesh-default, namespace: istio-system}
                spec:
                  tracing:
                  - providers: [{name: %s}]
                    randomSamplingPercentage: %d
                    customTags:
                      phase: {literal: {value: "%s"}}
                  accessLogging:
                  - providers: [{name: envoy}]
                  metrics:
                  - providers: [{name: prometheus}]
                    overrides:
                    - match: {metric: REQUEST_COUNT}
                      tagOverrides:
                        custom_label: {value: "request.headers['x-custom'] | 'unknown'"}
                ---
                """.formatted(provider, sampling, phase);
    }

    static final String QUIET_WAYPOINT = """
            apiVersion: telemetry.istio.io/v1
            kind: Telemetry
            metadata: {name: quiet, namespace: %s}
            spec:
              accessLogging: [{disabled: true}]
            ---
            """.formatted(WP_NS);

    @BeforeAll
    static void deploy() {
        assertThat(ZIPKIN_JAR).as("copied by the integration module's build (process-test-resources)").isRegularFile();
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        // One apply: everything starts at once (Zipkin, the gateway and the waypoint are JVMs).
        // istio-system holds the root Telemetry (this cluster has no ingress, so maybe no namespace).
        mesh.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: istio-system}\n---\n"
                + resource("app.yaml").replace("${JAVA}", java).replace("${ZIPKIN_JAR}", ZIPKIN_JAR.toString())
                        .replace("${OTLP}", RESOURCES.resolve("otlp.js").toString())
                        .replace("${APP}", RESOURCES.resolve("app.js").toString())
                + rootTelemetry("zipkin", 100, "zipkin-100") + QUIET_WAYPOINT);
        Map<String, String> addresses = mesh.eventually("the LoadBalancer addresses", Duration.ofSeconds(60), () -> {
            Map<String, String> a = new TreeMap<>();
            for (JsonNode svc : LocalMesh.json(Ambitctl.local("get", "svc", "-A", "-o", "json")).path("items")) {
                String ip = svc.path("status").path("loadBalancer").path("ingress").path(0).path("ip").asText();
                if (!ip.isEmpty()) {
                    a.put(svc.path("metadata").path("namespace").asText() + "/"
                            + svc.path("metadata").path("name").asText(), ip);
                }
            }
            return a.keySet().containsAll(List.of(NS + "/tracing-gw-istio", OBS_NS + "/zipkin",
                    OBS_NS + "/otel-collector")) ? a : null;
        });
        gateway = addresses.get(NS + "/tracing-gw-istio");
        zipkin = "http://" + addresses.get(OBS_NS + "/zipkin") + ":9411";
        otlp = "http://" + addresses.get(OBS_NS + "/otel-collector") + ":4318";
        mesh.eventually("the gateway's and the waypoint's pods Running", Duration.ofSeconds(60), () -> {
            gatewayPod = pod(NS, "tracing-gw-istio-");
            waypointPod = pod(WP_NS, "waypoint-");
            return true;
        });
        mesh.awaitEnrolled(NS, "frontend"); // its calls to backend captured, so through the waypoint
        awaitPhase("zipkin-100");
        mesh.eventually("Zipkin answering /health", Duration.ofSeconds(90), () -> get(zipkin + "/health").statusCode() == 200);
        // frontend -> backend's answer comes through the waypoint's HBONE tunnel to backend (enrolled).
        mesh.eventually("the user's request answered through gateway, frontend, waypoint and backend",
                Duration.ofSeconds(60), () -> call("/ready", Map.of()).startsWith("frontend -> backend /ready"));
    }

    @AfterAll
    static void cleanUp() {
        // One delete: the root Telemetry and the three namespaces (with all in them).
        StringBuilder yaml = new StringBuilder(rootTelemetry("zipkin", 100, "x"));
        for (String ns : List.of(NS, WP_NS, OBS_NS)) {
            yaml.append("apiVersion: v1\nkind: Namespace\nmetadata: {name: ").append(ns).append("}\n---\n");
        }
        mesh.delete(yaml.toString());
    }

    // ------------------------------------------------------------------ tracing (must-show 1)

    @Test
    @Order(1)
    @Timeout(value = 1, unit = TimeUnit.MINUTES)
    void oneRequestIsOneTraceInZipkinWithTheGatewayAndWaypointSpansChained() {
        String path = "/t/" + UUID.randomUUID();
        assertThat(call(path, Map.of("x-custom", "blue"))).isEqualTo("frontend -> backend " + path + "\n");
        // The proxies' four spans, and the node agent's of the waypoint's tunnel to backend.
        List<JsonNode> trace = zipkinTrace(path, spans -> proxySpans(spans).size() == 4 && backendAgentSpan(spans) != null);
        Map<String, JsonNode> byName = proxySpans(trace).stream().collect(Collectors.toMap(s -> s.path("name").asText(),
                s -> s));
        // Zipkin lower-cases span names.
        JsonNode edge = byName.get(HOST + ":80/*");
        JsonNode toFrontend = byName.get(FRONTEND_CLUSTER);
        JsonNode server = byName.get("backend:8080/*");
        JsonNode toBackend = byName.get(BACKEND_CLUSTER);
        assertThat(List.of(edge, toFrontend, server, toBackend)).as("the four spans: %s", trace).doesNotContainNull();

        // The gateway traces as Istio's gateways do: CLIENT spans, the request's the root.
        assertThat(edge.has("parentId")).as("the gateway's span is the root: %s", edge).isFalse();
        assertThat(service(edge)).isEqualTo(GW_SERVICE);
        assertThat(edge.path("kind").asText()).isEqualTo("CLIENT");
        assertThat(tag(edge, "http.url")).isEqualTo("http://" + HOST + path);
        assertThat(tag(edge, "http.method")).isEqualTo("GET");
        assertThat(tag(edge, "http.status_code")).isEqualTo("200");
        assertThat(tag(edge, "upstream_cluster")).isEqualTo(FRONTEND_CLUSTER);
        assertThat(tag(edge, "istio.namespace")).isEqualTo(NS);
        assertThat(tag(edge, "phase")).as("the Telemetry's custom tag").isEqualTo("zipkin-100");

        assertThat(toFrontend.path("parentId").asText()).isEqualTo(edge.path("id").asText());
        assertThat(service(toFrontend)).isEqualTo(GW_SERVICE);
        assertThat(toFrontend.path("kind").asText()).isEqualTo("CLIENT");
        assertThat(tag(toFrontend, "http.status_code")).isEqualTo("200");
        assertThat(tag(toFrontend, "peer.address")).startsWith(LocalMesh.ip(mesh.pod(NS, "frontend")) + ":8080");

        // frontend passed the gateway's context on: the waypoint's span is the attempt's child.
        assertThat(server.path("parentId").asText()).as("the waypoint continues the gateway's attempt")
                .isEqualTo(toFrontend.path("id").asText());
        assertThat(service(server)).isEqualTo(WP_SERVICE);
        assertThat(server.path("kind").asText()).isEqualTo("SERVER");
        assertThat(tag(server, "http.url")).isEqualTo("http://backend:8080" + path);
        assertThat(tag(server, "upstream_cluster")).isEqualTo(BACKEND_CLUSTER);
        assertThat(tag(server, "istio.namespace")).isEqualTo(WP_NS);
        assertThat(tag(server, "phase")).isEqualTo("zipkin-100");
        assertThat(tag(server, "node_id")).startsWith("waypoint~");

        assertThat(toBackend.path("parentId").asText()).isEqualTo(server.path("id").asText());
        assertThat(toBackend.path("kind").asText()).isEqualTo("CLIENT");
        assertThat(tag(toBackend, "peer.address")).isEqualTo(LocalMesh.ip(mesh.pod(NS, "backend")) + ":8080");
        assertThat(tag(toBackend, "http.status_code")).isEqualTo("200");

        // One x-request-id, generated at the edge and carried by frontend, on every proxy's span.
        String requestId = tag(edge, "guid:x-request-id");
        assertThat(requestId).isNotEmpty();
        assertThat(proxySpans(trace)).allSatisfy(s -> assertThat(tag(s, "guid:x-request-id")).isEqualTo(requestId));

        // Issue 19: backend's node agent adds the L4 view of the waypoint's tunnel (its CONNECT
        // carried the attempt's context): a SERVER span under the waypoint's client span, with
        // both identities, the destination and the bytes.
        JsonNode tunnel = backendAgentSpan(trace);
        assertThat(tunnel.path("parentId").asText()).as("under the waypoint's attempt: %s", tunnel)
                .isEqualTo(toBackend.path("id").asText());
        assertThat(tunnel.path("kind").asText()).isEqualTo("SERVER");
        assertThat(tunnel.path("name").asText()).isEqualTo(AGENT_SPAN);
        assertThat(tag(tunnel, "direction")).isEqualTo("inbound");
        assertThat(tag(tunnel, "src.identity")).startsWith("spiffe://cluster.local/ns/" + WP_NS + "/sa/");
        assertThat(tag(tunnel, "dst.identity")).isEqualTo("spiffe://cluster.local/ns/" + NS + "/sa/backend");
        assertThat(tag(tunnel, "dst.namespace")).isEqualTo(NS);
        assertThat(tag(tunnel, "dst.addr")).isEqualTo(LocalMesh.ip(mesh.pod(NS, "backend")) + ":8080");
        assertThat(tag(tunnel, "connection_security_policy")).isEqualTo("mutual_tls");
        assertThat(tag(tunnel, "response_flags")).isEqualTo("-");
        assertThat(tag(tunnel, "node_id")).startsWith("ztunnel~");
        assertThat(tag(tunnel, "phase")).as("the Telemetry's literal custom tag").isEqualTo("zipkin-100");
        // The request's bytes in, the response's out (headers and "backend <path>" at least).
        assertThat(Long.parseLong(tag(tunnel, "bytes_recv"))).isGreaterThan(path.length());
        assertThat(Long.parseLong(tag(tunnel, "bytes_sent"))).isGreaterThan(path.length());
        assertThat(micros(tunnel, "timestamp")).isGreaterThanOrEqualTo(micros(server, "timestamp"));
        // Nested in time as well: each child within its parent.
        assertThat(micros(server, "timestamp")).isGreaterThanOrEqualTo(micros(edge, "timestamp"));
        assertThat(micros(edge, "duration")).isGreaterThanOrEqualTo(micros(toBackend, "duration"));
    }

    /**
     * Issue 19's mesh view against the real Zipkin: {@code ambitctl dashboard --zipkin} serves a
     * request's trace (the page's {@code /api/trace/ID}) with the spans Zipkin has, and lists it
     * among the recent traces ({@code /api/traces}).
     */
    @Test
    @Order(2)
    @Timeout(value = 1, unit = TimeUnit.MINUTES)
    void theMeshViewsTracePanelReadsTheTraceFromTheRealZipkin() {
        String path = "/view/" + UUID.randomUUID();
        call(path, Map.of());
        List<JsonNode> trace = zipkinTrace(path, spans -> proxySpans(spans).size() == 4);
        String traceId = trace.get(0).path("traceId").asText();
        Ambitctl.Background dashboard = Ambitctl.start("dashboard", "--port=0", "--no-open", "--zipkin", zipkin);
        try {
            String url = mesh.eventually("the dashboard's URL", Duration.ofSeconds(20), () -> {
                Matcher m = DASHBOARD_URL.matcher(dashboard.outSoFar());
                assertThat(dashboard.process().isAlive()).as("dashboard running: %s", dashboard.outSoFar()).isTrue();
                return m.find() ? m.group(1) : null;
            });
            JsonNode spans = json(get(url + "api/trace/" + traceId));
            List<String> ids = new ArrayList<>();
            spans.forEach(s -> ids.add(s.path("id").asText()));
            assertThat(ids).as("the trace's spans as Zipkin has them: %s", spans)
                    .containsAll(trace.stream().map(s -> s.path("id").asText()).toList());
            assertThat(spans).allSatisfy(s -> assertThat(s.path("traceId").asText()).isEqualTo(traceId));
            JsonNode recent = json(get(url + "api/traces?limit=50&window=5m"));
            assertThat(recent.findValuesAsText("traceId")).as("recent traces: %s", recent).contains(traceId);
            assertThat(get(url + "api/trace/" + "0".repeat(31) + "1").statusCode()).as("an unknown trace")
                    .isEqualTo(404);
        } finally {
            dashboard.kill();
        }
    }

    // ------------------------------------------------------------------ Telemetry API (must-show 2)

    @Test
    @Order(3)
    @Timeout(value = 1, unit = TimeUnit.MINUTES)
    void tagOverridesCustomLabelAppearsOnIstioRequestsTotal() {
        call("/label/" + UUID.randomUUID(), Map.of("x-custom", "blue"));
        call("/label/" + UUID.randomUUID(), Map.of());
        Metrics m = mesh.eventually("custom_label on the waypoint's istio_requests_total", Duration.ofSeconds(15), () -> {
            Metrics w = metrics(WP_NS, waypointPod);
            return w.sum("istio_requests_total", s -> s.label("custom_label").equals("blue")) > 0 ? w : null;
        });
        assertThat(m.sum("istio_requests_total", s -> s.label("custom_label").equals("unknown")
                && s.label("destination_service").equals("backend." + NS + ".svc.cluster.local")))
                .as("the expression's default without the header: %s", m.text()).isPositive();
        // REQUEST_COUNT only: the other metrics keep Istio's labels.
        assertThat(m.text()).doesNotContain("istio_request_duration_milliseconds_count{custom_label")
                .doesNotContainPattern("istio_request_duration_milliseconds_count\\{[^}]*custom_label");
        Metrics g = metrics(NS, gatewayPod);
        assertThat(g.sum("istio_requests_total", s -> s.label("custom_label").equals("blue")
                && s.label("reporter").equals("source"))).as("the gateway too: %s", g.text()).isPositive();
    }

    @Test
    @Order(4)
    @Timeout(value = 1, unit = TimeUnit.MINUTES)
    void aNamespaceAccessLoggingDisableSilencesOnlyThatNamespace() {
        String path = "/log/" + UUID.randomUUID();
        call(path, Map.of());
        // The gateway (it-tracing, the root's envoy log) logs the request...
        mesh.eventually("the gateway's access log line for " + path, Duration.ofSeconds(15),
                () -> Ambitctl.localOk("logs", "-n", NS, gatewayPod).out().contains(path));
        // ...the waypoint (it-tracing-wp, disabled there) served it and logged nothing of it.
        Metrics m = metrics(WP_NS, waypointPod);
        assertThat(m.sum("istio_requests_total", s -> s.label("destination_service")
                .equals("backend." + NS + ".svc.cluster.local"))).isPositive();
        String waypointLog = Ambitctl.localOk("logs", "-n", WP_NS, waypointPod).out();
        assertThat(waypointLog).as("the waypoint's log").doesNotContain(path);
    }

    @Test
    @Order(5)
    @Timeout(value = 1, unit = TimeUnit.MINUTES)
    void atZeroPercentNothingIsTracedButAnIncomingSampledDecisionIs() {
        mesh.apply(rootTelemetry("zipkin", 0, "zipkin-0"));
        awaitPhase("zipkin-0");
        List<String> unsampled = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            String path = "/zero/" + UUID.randomUUID();
            unsampled.add(path);
            assertThat(call(path, Map.of())).endsWith(path + "\n");
        }
        // The caller's sampled decision wins over 0 % (Envoy honours x-b3-sampled / traceparent).
        String traceId = UUID.randomUUID().toString().replace("-", "");
        String sampled = "/sampled/" + UUID.randomUUID();
        call(sampled, Map.of("traceparent", "00-" + traceId + "-00f067aa0ba902b7-01"));
        List<JsonNode> trace = zipkinTrace(sampled, spans -> proxySpans(spans).size() == 4);
        assertThat(trace).allSatisfy(s -> assertThat(s.path("traceId").asText()).isEqualTo(traceId));
        assertThat(trace).filteredOn(s -> s.path("name").asText().equals(HOST + ":80/*")).singleElement()
                .satisfies(s -> assertThat(s.path("parentId").asText()).isEqualTo("00f067aa0ba902b7"));
        // Custom tags go on the request's span (Envoy's), not on the upstream attempts'.
        assertThat(trace).filteredOn(s -> s.path("name").asText().endsWith("/*"))
                .hasSize(2).allSatisfy(s -> assertThat(tag(s, "phase")).isEqualTo("zipkin-0"));
        // Everything the proxies exported before that trace is in Zipkin by now: none of the ten.
        JsonNode all = json(get(zipkin + "/api/v2/traces?lookback=600000&limit=10000&serviceName=" + GW_SERVICE));
        for (String path : unsampled) {
            assertThat(all.toString()).as("no span of an unsampled request").doesNotContain(path);
        }
    }

    @Test
    @Order(6)
    @Timeout(value = 1, unit = TimeUnit.MINUTES)
    void theSameTraceReachesAnOtlpReceiverWhenTheTelemetrySelectsOpenTelemetry() {
        mesh.apply(rootTelemetry("otel", 100, "otel-100"));
        awaitPhase("otel-100");
        String path = "/otlp/" + UUID.randomUUID();
        assertThat(call(path, Map.of())).isEqualTo("frontend -> backend " + path + "\n");
        List<OtlpSpan> trace = mesh.eventually("the request's four spans at the OTLP receiver", Duration.ofSeconds(20),
                () -> {
                    List<OtlpSpan> spans = otlpSpans();
                    String traceId = spans.stream().filter(s -> s.attribute("http.url").endsWith(path))
                            .map(OtlpSpan::traceId).findFirst().orElse(null);
                    // The proxies' four (backend's node agent adds its own to the trace: not counted here).
                    List<OtlpSpan> of = spans.stream().filter(s -> s.traceId().equals(traceId)
                            && !s.service().equals(AGENT_SERVICE)).toList();
                    return of.size() == 4 ? of : null;
                });
        Map<String, OtlpSpan> byName = trace.stream().collect(Collectors.toMap(OtlpSpan::name, s -> s));
        OtlpSpan edge = byName.get(HOST + ":80/*");
        OtlpSpan toFrontend = byName.get(FRONTEND_CLUSTER);
        OtlpSpan server = byName.get("backend:8080/*");
        OtlpSpan toBackend = byName.get(BACKEND_CLUSTER);
        assertThat(List.of(edge, toFrontend, server, toBackend)).as("%s", trace).doesNotContainNull();
        assertThat(edge.parentId()).isEmpty();
        assertThat(edge.kind()).isEqualTo(Span.SpanKind.SPAN_KIND_CLIENT);
        assertThat(edge.service()).isEqualTo(GW_SERVICE);
        assertThat(toFrontend.parentId()).isEqualTo(edge.id());
        assertThat(server.parentId()).isEqualTo(toFrontend.id());
        assertThat(server.kind()).isEqualTo(Span.SpanKind.SPAN_KIND_SERVER);
        assertThat(server.service()).isEqualTo(WP_SERVICE);
        assertThat(toBackend.parentId()).isEqualTo(server.id());
        assertThat(toBackend.kind()).isEqualTo(Span.SpanKind.SPAN_KIND_CLIENT);
        assertThat(List.of(edge, server)).allSatisfy(s -> assertThat(s.attribute("phase")).isEqualTo("otel-100"));
        assertThat(server.attribute("http.status_code")).isEqualTo("200");
    }

    @Test
    @Order(7)
    @Timeout(value = 1, unit = TimeUnit.MINUTES)
    void withTheCollectorGoneRequestsStillSucceedAtOnceAndTheDroppedSpansAreCounted() {
        // must-show 5: the OTLP receiver (still the Telemetry's provider) is deleted.
        Ambitctl.localOk("delete", "pod", "-n", OBS_NS, "otel-collector");
        double before = dropped();
        for (int i = 0; i < 10; i++) {
            long start = System.nanoTime();
            String path = "/down/" + i;
            assertThat(call(path, Map.of())).isEqualTo("frontend -> backend " + path + "\n");
            // curl from the machine, through two proxies and two apps: well under a second when
            // nothing waits for the collector (the export timeout is 5 s).
            assertThat(Duration.ofNanos(System.nanoTime() - start)).as("request %s", i).isLessThan(Duration.ofSeconds(2));
        }
        mesh.eventually("the waypoint counting the spans it could not export", Duration.ofSeconds(20),
                () -> dropped() > before);
    }

    private static double dropped() {
        return metrics(WP_NS, waypointPod).sum("ambit_trace_spans_dropped_total", s -> true);
    }

    // ------------------------------------------------------------------ helpers

    /** The user's call: curl on the machine to the gateway's address; the body. */
    private static String call(String path, Map<String, String> headers) {
        List<String> cmd = new ArrayList<>(List.of("curl", "-sS", "-m", "10", "--resolve", HOST + ":80:" + gateway));
        headers.forEach((k, v) -> cmd.addAll(List.of("-H", k + ": " + v)));
        cmd.add("http://" + HOST + path);
        Ambitctl.Result r = Ambitctl.host(Duration.ofSeconds(20), cmd.toArray(String[]::new));
        Ambitctl.trace(r);
        if (!r.ok()) {
            throw new AssertionError("curl " + path + ": " + r);
        }
        return r.out();
    }

    /** The spans of the waypoint and the gateway (not the node agents'). */
    private static List<JsonNode> proxySpans(List<JsonNode> trace) {
        return trace.stream().filter(s -> !service(s).equals(AGENT_SERVICE)).toList();
    }

    /** Backend's node agent's span of the tunnel to backend, or null. */
    private static JsonNode backendAgentSpan(List<JsonNode> trace) {
        return trace.stream().filter(s -> service(s).equals(AGENT_SERVICE) && tag(s, "dst.workload").equals("backend"))
                .findFirst().orElse(null);
    }

    /** The trace of the request to {@code path} in Zipkin, once {@code complete} holds for its spans. */
    private static List<JsonNode> zipkinTrace(String path, Predicate<List<JsonNode>> complete) {
        String query = URLEncoder.encode("http.url=http://" + HOST + path, StandardCharsets.UTF_8);
        return mesh.eventually("the spans of " + path + " in Zipkin", Duration.ofSeconds(20), () -> {
            JsonNode found = json(get(zipkin + "/api/v2/traces?lookback=600000&limit=10&annotationQuery=" + query));
            if (found.size() != 1) {
                return null;
            }
            String traceId = found.path(0).path(0).path("traceId").asText();
            JsonNode trace = json(get(zipkin + "/api/v2/trace/" + traceId));
            List<JsonNode> out = new ArrayList<>();
            trace.forEach(out::add);
            return complete.test(out) ? out : null;
        });
    }

    /** Waits until the gateway's and the waypoint's config carries the root Telemetry's {@code phase} tag. */
    private static void awaitPhase(String phase) {
        // Polled: 60 s only bounds a slow start (two proxy JVMs on a loaded machine took 50 s to sync).
        mesh.eventually("tracing phase " + phase + " in the gateway and the waypoint", Duration.ofSeconds(60),
                () -> configDump(NS, gatewayPod).contains("\"" + phase + "\"")
                        && configDump(WP_NS, waypointPod).contains("\"" + phase + "\""));
    }

    private static String configDump(String ns, String pod) {
        Ambitctl.Result r = mesh.exec(ns, pod, Duration.ofSeconds(10), "curl", "-sS", "-m", "5",
                "http://127.0.0.1:15000/config_dump");
        return r.ok() ? r.out() : "";
    }

    private static Metrics metrics(String ns, String pod) {
        Ambitctl.Result r = mesh.exec(ns, pod, Duration.ofSeconds(10), "curl", "-sS", "-m", "5",
                "http://127.0.0.1:15020/metrics");
        assertThat(r.ok()).as("metrics of %s/%s: %s", ns, pod, r).isTrue();
        return Metrics.parse(r.out());
    }

    private static String pod(String ns, String prefix) {
        return mesh.pods(ns).stream().filter(p -> p.path("status").path("phase").asText().equals("Running"))
                .map(LocalMesh::name).filter(n -> n.startsWith(prefix)).findFirst()
                .orElseThrow(() -> new AssertionError("no running pod " + ns + "/" + prefix + "*"));
    }

    private static HttpResponse<String> get(String url) {
        try {
            return HTTP.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).build(),
                    HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static JsonNode json(HttpResponse<String> r) {
        if (r.statusCode() != 200) {
            throw new AssertionError(r.uri() + " answered " + r.statusCode() + ": " + r.body());
        }
        try {
            return LocalMesh.JSON.readTree(r.body());
        } catch (IOException e) {
            throw new AssertionError("not JSON from " + r.uri() + ": " + r.body(), e);
        }
    }

    private static String service(JsonNode span) {
        return span.path("localEndpoint").path("serviceName").asText();
    }

    private static String tag(JsonNode span, String name) {
        return span.path("tags").path(name).asText();
    }

    private static long micros(JsonNode span, String field) {
        return span.path(field).asLong();
    }

    /** One span as the OTLP receiver got it. */
    record OtlpSpan(String service, String traceId, String id, String parentId, String name, Span.SpanKind kind,
                    Map<String, String> attributes) {
        String attribute(String key) {
            return attributes.getOrDefault(key, "");
        }
    }

    /** Every span the OTLP receiver has been sent (its bodies, decoded as ExportTraceServiceRequest). */
    private static List<OtlpSpan> otlpSpans() {
        JsonNode bodies = json(get(otlp + "/_received"));
        List<OtlpSpan> out = new ArrayList<>();
        HexFormat hex = HexFormat.of();
        for (JsonNode b : bodies) {
            ExportTraceServiceRequest req;
            try {
                req = ExportTraceServiceRequest.parseFrom(Base64.getDecoder().decode(b.asText()));
            } catch (IOException e) {
                throw new AssertionError("the receiver got a body that is no ExportTraceServiceRequest", e);
            }
            for (ResourceSpans rs : req.getResourceSpansList()) {
                String service = attributes(rs.getResource().getAttributesList()).getOrDefault("service.name", "");
                for (ScopeSpans ss : rs.getScopeSpansList()) {
                    for (Span s : ss.getSpansList()) {
                        out.add(new OtlpSpan(service, hex.formatHex(s.getTraceId().toByteArray()),
                                hex.formatHex(s.getSpanId().toByteArray()),
                                hex.formatHex(s.getParentSpanId().toByteArray()), s.getName(), s.getKind(),
                                attributes(s.getAttributesList())));
                    }
                }
            }
        }
        return out;
    }

    private static Map<String, String> attributes(List<KeyValue> list) {
        Map<String, String> out = new TreeMap<>();
        for (KeyValue kv : list) {
            var v = kv.getValue();
            out.put(kv.getKey(), v.hasStringValue() ? v.getStringValue() : v.hasIntValue()
                    ? Long.toString(v.getIntValue()) : Objects.toString(v, ""));
        }
        return out;
    }

    private static String resource(String name) {
        try {
            return Files.readString(RESOURCES.resolve(name), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
