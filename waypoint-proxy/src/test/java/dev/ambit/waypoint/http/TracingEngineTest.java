package dev.ambit.waypoint.http;

import static dev.ambit.waypoint.http.FakeUpstreams.HOST_A;
import static dev.ambit.waypoint.http.FakeUpstreams.HOST_B;
import static dev.ambit.waypoint.http.Harness.CLUSTER;
import static dev.ambit.waypoint.http.Harness.get;
import static dev.ambit.waypoint.http.Harness.routes;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.UInt32Value;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.telemetry.trace.Tracers;
import dev.ambit.testing.LeakCheck;
import dev.ambit.waypoint.config.FilterChain;
import io.envoyproxy.envoy.config.core.v3.GrpcService;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.trace.v3.OpenTelemetryConfig;
import io.envoyproxy.envoy.config.trace.v3.Tracing;
import io.envoyproxy.envoy.config.trace.v3.ZipkinConfig;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.type.tracing.v3.CustomTag;
import io.envoyproxy.envoy.type.v3.Percent;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
import io.opentelemetry.proto.collector.trace.v1.TraceServiceGrpc;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 19, must-show 1 and 5 at component level: requests through the engine (request
 * processor, filters, router with retries and a mirror) with the HCM's {@code tracing} as
 * istiod-lite sends it (CONTRACT T1), spans exported to a REAL Zipkin server (found through its
 * own {@code /api/v2/trace/{id}}) and to an OTLP/gRPC receiver; sampling and incoming decisions;
 * a collector that is down or never answers leaves requests as fast as without it, drops counted.
 */
class TracingEngineTest {

    static final String ZIPKIN_CLUSTER = "outbound|9411||zipkin.istio-system.svc.cluster.local";
    static final String OTLP_CLUSTER = "outbound|4317||otel-collector.observability.svc.cluster.local";
    static final String OTLP_HTTP_CLUSTER = "outbound|4318||otel-collector.observability.svc.cluster.local";
    static final String MIRROR = "outbound|9080||reviews-shadow.default.svc.cluster.local";
    static final HttpTracing.Identity WAYPOINT = new HttpTracing.Identity(
            "waypoint~10.244.0.9~waypoint-7d9.default~default.svc.cluster.local", "", "waypoint", "latest", "default",
            "cluster.local", "waypoint.default", false);
    static final ObjectMapper JSON = new ObjectMapper();

    static ZipkinProcess zipkin;
    static Server otlp;
    /** An OTLP/HTTP receiver: protobuf {@code ExportTraceServiceRequest}s POSTed to /v1/traces. */
    static com.sun.net.httpserver.HttpServer otlpHttp;
    static final List<ExportTraceServiceRequest> otlpReceived = new CopyOnWriteArrayList<>();

    private Harness h;
    private Tracers tracers;
    private final MetricsRegistry metrics = MetricsRegistry.create();
    /** Collector cluster → its endpoint, as the waypoint reads it from EDS. */
    private final Map<String, InetSocketAddress> collectors = new java.util.concurrent.ConcurrentHashMap<>();

    @BeforeAll
    static void startCollectors() throws Exception {
        zipkin = ZipkinProcess.start();
        otlp = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .addService(new TraceServiceGrpc.TraceServiceImplBase() {
                    @Override
                    public void export(ExportTraceServiceRequest request,
                                       StreamObserver<ExportTraceServiceResponse> response) {
                        otlpReceived.add(request);
                        response.onNext(ExportTraceServiceResponse.getDefaultInstance());
                        response.onCompleted();
                    }
                }).build().start();
        otlpHttp = com.sun.net.httpserver.HttpServer.create(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
        otlpHttp.createContext("/v1/traces", exchange -> {
            try (exchange) {
                boolean ok = exchange.getRequestMethod().equals("POST") && "application/x-protobuf".equals(
                        exchange.getRequestHeaders().getFirst("Content-Type"));
                if (ok) {
                    otlpReceived.add(ExportTraceServiceRequest.parseFrom(exchange.getRequestBody().readAllBytes()));
                }
                byte[] body = ExportTraceServiceResponse.getDefaultInstance().toByteArray();
                exchange.getResponseHeaders().set("Content-Type", "application/x-protobuf");
                exchange.sendResponseHeaders(ok ? 200 : 400, body.length == 0 ? -1 : body.length);
                exchange.getResponseBody().write(body);
            }
        });
        otlpHttp.start();
    }

    @AfterAll
    static void stopCollectors() throws InterruptedException {
        if (otlpHttp != null) {
            otlpHttp.stop(0);
        }
        if (otlp != null) {
            otlp.shutdownNow().awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);
        }
        if (zipkin != null) {
            zipkin.close();
        }
    }

    @BeforeEach
    void setUp() {
        LeakCheck.install();
        h = new Harness();
        h.config.clusters(MIRROR);
        collectors.put(ZIPKIN_CLUSTER, new InetSocketAddress(InetAddress.getLoopbackAddress(), zipkin.port));
        collectors.put(OTLP_CLUSTER, new InetSocketAddress(InetAddress.getLoopbackAddress(), otlp.getPort()));
        collectors.put(OTLP_HTTP_CLUSTER, otlpHttp.getAddress());
        tracers(Tracers.builder(metrics, collectors::get).scheduleDelay(Duration.ofMillis(100)));
    }

    private void tracers(Tracers.Builder b) {
        if (tracers != null) {
            tracers.close();
        }
        tracers = b.build();
        h.tracing = HttpTracing.of(tracers, WAYPOINT);
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        tracers.close();
        h.close();
        LeakCheck.assertNoLeaks();
    }

    /** The HCM istiod-lite writes for a Zipkin provider (CONTRACT T1). */
    static HttpConnectionManager zipkinHcm(double percent) {
        return hcm(percent, Tracing.Http.newBuilder().setName("envoy.tracers.zipkin").setTypedConfig(Any.pack(
                ZipkinConfig.newBuilder().setCollectorCluster(ZIPKIN_CLUSTER).setCollectorEndpoint("/api/v2/spans")
                        .setCollectorEndpointVersion(ZipkinConfig.CollectorEndpointVersion.HTTP_JSON)
                        .setTraceId128Bit(true).setSharedSpanContext(BoolValue.of(false))
                        .setCollectorHostname("zipkin.istio-system.svc.cluster.local").build())).build());
    }

    static HttpConnectionManager otlpHcm(double percent) {
        return hcm(percent, Tracing.Http.newBuilder().setName("envoy.tracers.opentelemetry").setTypedConfig(Any.pack(
                OpenTelemetryConfig.newBuilder().setGrpcService(GrpcService.newBuilder().setEnvoyGrpc(
                        GrpcService.EnvoyGrpc.newBuilder().setClusterName(OTLP_CLUSTER)
                                .setAuthority("otel-collector.observability.svc.cluster.local")))
                        .setServiceName("waypoint.default").build())).build());
    }

    /** OTLP over HTTP as istiod-lite writes it: {@code http_service.http_uri} with the collector's cluster. */
    static HttpConnectionManager otlpHttpHcm(double percent) {
        return hcm(percent, Tracing.Http.newBuilder().setName("envoy.tracers.opentelemetry").setTypedConfig(Any.pack(
                OpenTelemetryConfig.newBuilder().setHttpService(io.envoyproxy.envoy.config.core.v3.HttpService
                        .newBuilder().setHttpUri(io.envoyproxy.envoy.config.core.v3.HttpUri.newBuilder()
                                .setUri("http://otel-collector.observability.svc.cluster.local:4318/v1/traces")
                                .setCluster(OTLP_HTTP_CLUSTER)
                                .setTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(5))))
                        .setServiceName("waypoint.default").build())).build());
    }

    private static HttpConnectionManager hcm(double percent, Tracing.Http provider) {
        return HttpConnectionManager.newBuilder().setStatPrefix(Harness.ROUTE)
                .setTracing(HttpConnectionManager.Tracing.newBuilder()
                        .setRandomSampling(Percent.newBuilder().setValue(percent))
                        .setMaxPathTagLength(UInt32Value.of(256))
                        .addCustomTags(CustomTag.newBuilder().setTag("team")
                                .setLiteral(CustomTag.Literal.newBuilder().setValue("reviews-owners")))
                        .addCustomTags(CustomTag.newBuilder().setTag("end-user")
                                .setRequestHeader(CustomTag.Header.newBuilder().setName("x-user")
                                        .setDefaultValue("anonymous")))
                        .setProvider(provider))
                .build();
    }

    private void chain(HttpConnectionManager hcm) {
        h.chain = new FilterChain(Harness.ROUTE, FilterChain.Kind.HTTP, Harness.ROUTE, FilterChain.Codec.AUTO, "",
                Harness.ROUTE, hcm);
    }

    /** A route retrying 5xx once, mirrored to {@link #MIRROR}; the first attempt gets 503, the retry 200. */
    private void retryingMirroredRoute() {
        h.config.route(routes(Route.newBuilder().setName("r").setMatch(RouteMatch.newBuilder().setPrefix("/"))
                .setRoute(RouteAction.newBuilder().setCluster(CLUSTER)
                        .setRetryPolicy(RetryPolicy.newBuilder().setRetryOn("5xx").setNumRetries(UInt32Value.of(1)))
                        .addRequestMirrorPolicies(RouteAction.RequestMirrorPolicy.newBuilder().setCluster(MIRROR)))
                .build()));
        AtomicInteger attempts = new AtomicInteger();
        h.upstreams.fallback = r -> r.cluster().equals(MIRROR) ? FakeUpstreams.ok(200, "shadow", HOST_B)
                : attempts.getAndIncrement() == 0 ? FakeUpstreams.ok(503, "busy", HOST_A)
                : FakeUpstreams.ok(200, "ok", HOST_B);
    }

    private static String randomHex(int bytes) {
        byte[] b = new byte[bytes];
        new java.security.SecureRandom().nextBytes(b);
        b[0] |= 1;
        return HexFormat.of().formatHex(b);
    }

    @Test
    void zipkinHasOneTraceWithTheServerSpanAndAClientSpanPerAttemptAndMirror() throws Exception {
        chain(zipkinHcm(100));
        retryingMirroredRoute();
        String traceId = randomHex(16);
        String callerSpan = randomHex(8);

        var result = h.run(get("/reviews/1?x=y", "traceparent", "00-" + traceId + "-" + callerSpan + "-01",
                "x-request-id", "req-42", "x-user", "jason"));
        assertThat(result.status()).isEqualTo(200);

        // The upstream requests carry their attempt's span: same trace, parent = the server span.
        List<FakeUpstreams.Sent> main = h.upstreams.sent.stream().filter(s -> s.cluster().equals(CLUSTER)).toList();
        assertThat(main).hasSize(2);
        String serverSpan = main.get(0).headers().get("x-b3-parentspanid");
        for (FakeUpstreams.Sent s : h.upstreams.sent) {
            assertThat(s.headers().get("x-b3-traceid")).isEqualTo(traceId);
            assertThat(s.headers().get("x-b3-parentspanid")).isEqualTo(serverSpan);
            assertThat(s.headers().get("x-b3-sampled")).isEqualTo("1");
            assertThat(s.headers().get("traceparent"))
                    .isEqualTo("00-" + traceId + "-" + s.headers().get("x-b3-spanid") + "-01");
        }
        assertThat(main.get(0).headers().get("x-b3-spanid")).isNotEqualTo(main.get(1).headers().get("x-b3-spanid"));

        JsonNode trace = awaitTrace(traceId, 4);
        Map<String, JsonNode> byId = new java.util.HashMap<>();
        trace.forEach(s -> byId.put(s.get("id").asText(), s));
        JsonNode server = byId.get(serverSpan);
        assertThat(server).as("server span %s in %s", serverSpan, trace).isNotNull();
        assertThat(server.get("kind").asText()).isEqualTo("SERVER");
        assertThat(server.get("parentId").asText()).isEqualTo(callerSpan);
        assertThat(server.get("name").asText()).isEqualTo("reviews:9080/*");
        assertThat(server.get("localEndpoint").get("serviceName").asText()).isEqualTo("waypoint.default");
        JsonNode tags = server.get("tags");
        assertThat(tags.get("http.method").asText()).isEqualTo("GET");
        assertThat(tags.get("http.url").asText()).isEqualTo("http://reviews:9080/reviews/1?x=y");
        assertThat(tags.get("http.status_code").asText()).isEqualTo("200");
        assertThat(tags.get("upstream_cluster").asText()).isEqualTo(CLUSTER);
        assertThat(tags.get("guid:x-request-id").asText()).isEqualTo("req-42");
        assertThat(tags.get("node_id").asText()).isEqualTo(WAYPOINT.nodeId());
        assertThat(tags.get("istio.namespace").asText()).isEqualTo("default");
        assertThat(tags.get("istio.mesh_id").asText()).isEqualTo("cluster.local");
        assertThat(tags.get("istio.canonical_service").asText()).isEqualTo("waypoint");
        assertThat(tags.get("response_flags").asText()).isEqualTo("-");
        assertThat(tags.get("peer.address").asText()).isEqualTo("10.244.0.7:0");
        assertThat(tags.get("team").asText()).isEqualTo("reviews-owners");
        assertThat(tags.get("end-user").asText()).isEqualTo("jason");

        for (FakeUpstreams.Sent s : h.upstreams.sent) {
            JsonNode attempt = byId.get(s.headers().get("x-b3-spanid"));
            assertThat(attempt).as("span of the attempt to %s", s.cluster()).isNotNull();
            assertThat(attempt.get("kind").asText()).isEqualTo("CLIENT");
            assertThat(attempt.get("parentId").asText()).isEqualTo(serverSpan);
            assertThat(attempt.get("name").asText()).isEqualTo(s.cluster());
        }
        assertThat(statuses(trace, CLUSTER)).containsExactlyInAnyOrder("503", "200");
        assertThat(statuses(trace, MIRROR)).containsExactly("200");
    }

    private static List<String> statuses(JsonNode trace, String name) {
        List<String> out = new ArrayList<>();
        trace.forEach(s -> {
            if (s.get("name").asText().equals(name)) {
                out.add(s.get("tags").get("http.status_code").asText());
            }
        });
        return out;
    }

    @Test
    void otlpGrpcReceiverGetsTheSameSpans() throws Exception {
        chain(otlpHcm(100));
        retryingMirroredRoute();
        String traceId = randomHex(16);
        String callerSpan = randomHex(8);
        var result = h.run(get("/reviews/2", "x-b3-traceid", traceId, "x-b3-spanid", callerSpan,
                "x-b3-sampled", "1"));
        assertThat(result.status()).isEqualTo(200);

        List<io.opentelemetry.proto.trace.v1.Span> spans = awaitOtlp(traceId, 4);
        var server = spans.stream().filter(s -> s.getKind()
                == io.opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_SERVER).toList();
        assertThat(server).hasSize(1);
        assertThat(hex(server.get(0).getParentSpanId())).isEqualTo(callerSpan);
        assertThat(server.get(0).getName()).isEqualTo("reviews:9080/*");
        String serverId = hex(server.get(0).getSpanId());
        var clients = spans.stream().filter(s -> s.getKind()
                == io.opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_CLIENT).toList();
        assertThat(clients).hasSize(3).allSatisfy(c -> assertThat(hex(c.getParentSpanId())).isEqualTo(serverId));
        assertThat(clients.stream().map(io.opentelemetry.proto.trace.v1.Span::getName).toList())
                .containsExactlyInAnyOrder(CLUSTER, CLUSTER, MIRROR);
        var resource = otlpReceived.stream().flatMap(r -> r.getResourceSpansList().stream())
                .filter(rs -> rs.getScopeSpansList().stream().flatMap(ss -> ss.getSpansList().stream())
                        .anyMatch(s -> hex(s.getTraceId()).equals(traceId)))
                .findFirst().orElseThrow().getResource();
        assertThat(resource.getAttributesList()).anySatisfy(a -> {
            assertThat(a.getKey()).isEqualTo("service.name");
            assertThat(a.getValue().getStringValue()).isEqualTo("waypoint.default");
        });
    }

    @Test
    void otlpHttpReceiverGetsTheServerAndClientSpans() throws Exception {
        chain(otlpHttpHcm(100));
        h.config.route(routes(Harness.prefix("r", "/", CLUSTER).build()));
        String traceId = randomHex(16);
        String callerSpan = randomHex(8);
        assertThat(h.run(get("/ratings/7", "traceparent", "00-" + traceId + "-" + callerSpan + "-01")).status())
                .isEqualTo(200);
        List<io.opentelemetry.proto.trace.v1.Span> spans = awaitOtlp(traceId, 2);
        var server = spans.stream().filter(s -> s.getKind()
                == io.opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_SERVER).findFirst().orElseThrow();
        var client = spans.stream().filter(s -> s.getKind()
                == io.opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_CLIENT).findFirst().orElseThrow();
        assertThat(hex(server.getParentSpanId())).isEqualTo(callerSpan);
        assertThat(hex(client.getParentSpanId())).isEqualTo(hex(server.getSpanId()));
        assertThat(client.getName()).isEqualTo(CLUSTER);
        assertThat(h.upstreams.sent.getLast().headers().get("traceparent"))
                .isEqualTo("00-" + traceId + "-" + hex(client.getSpanId()) + "-01");
    }

    @Test
    void atZeroPercentNothingIsExportedButAnIncomingSampledDecisionIsHonoured() throws Exception {
        chain(zipkinHcm(0));
        h.config.route(routes(Harness.prefix("r", "/", CLUSTER).build()));
        List<String> unsampled = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            h.run(get("/a"));
            var sent = h.upstreams.sent.getLast();
            assertThat(sent.headers().get("x-b3-sampled")).isEqualTo("0");
            assertThat(sent.headers().get("traceparent")).endsWith("-00");
            assertThat(sent.headers().get("x-request-id")).isNotEmpty();
            unsampled.add(sent.headers().get("x-b3-traceid"));
        }
        String traceId = randomHex(16);
        h.run(get("/b", "b3", traceId + "-" + randomHex(8) + "-1"));
        assertThat(h.upstreams.sent.getLast().headers().get("x-b3-sampled")).isEqualTo("1");
        assertThat(h.upstreams.sent.getLast().headers().get("b3")).startsWith(traceId + "-");
        assertThat(awaitTrace(traceId, 2)).hasSize(2);
        tracers.flush(Duration.ofSeconds(5));
        for (String id : unsampled) {
            assertThat(zipkin.get("/api/v2/trace/" + id).statusCode()).as("trace %s", id).isEqualTo(404);
        }
        // And an incoming "not sampled" wins over 100 %.
        chain(zipkinHcm(100));
        String notSampled = randomHex(16);
        h.run(get("/c", "traceparent", "00-" + notSampled + "-" + randomHex(8) + "-00"));
        assertThat(h.upstreams.sent.getLast().headers().get("x-b3-sampled")).isEqualTo("0");
        tracers.flush(Duration.ofSeconds(5));
        assertThat(zipkin.get("/api/v2/trace/" + notSampled).statusCode()).isEqualTo(404);
    }

    @Test
    void withoutTracingInTheHcmHeadersPassUntouchedAndNothingIsExported() throws Exception {
        h.config.route(routes(Harness.prefix("r", "/", CLUSTER).build()));
        String traceparent = "00-" + randomHex(16) + "-" + randomHex(8) + "-01";
        h.run(get("/a", "traceparent", traceparent));
        var headers = h.upstreams.sent.getLast().headers();
        assertThat(headers.get("traceparent")).isEqualTo(traceparent);
        assertThat(headers.contains("x-b3-traceid")).isFalse();
        assertThat(headers.get("x-request-id")).isNotEmpty();
        assertThat(tracers.pending()).isZero();
    }

    @Test
    void aCollectorThatNeverAnswersOrIsDownNeitherSlowsNorFailsRequests() throws Exception {
        try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            List<Socket> accepted = new CopyOnWriteArrayList<>();
            Thread acceptor = Thread.ofVirtual().start(() -> {
                while (!silent.isClosed()) {
                    try {
                        accepted.add(silent.accept()); // and never read nor answer
                    } catch (java.io.IOException e) {
                        return;
                    }
                }
            });
            collectors.put(ZIPKIN_CLUSTER, (InetSocketAddress) silent.getLocalSocketAddress());
            tracers(Tracers.builder(metrics, collectors::get).queueSize(8).scheduleDelay(Duration.ofMillis(20))
                    .exportTimeout(Duration.ofMillis(500)));
            chain(zipkinHcm(100));
            h.config.route(routes(Harness.prefix("r", "/", CLUSTER).build()));
            long worst = runMany(200);
            assertThat(worst).as("slowest request, ms").isLessThan(250);
            assertThat(dropped("queue_full")).isPositive();
            awaitDropped("export_failed");
            for (Socket s : accepted) {
                s.close();
            }
            acceptor.interrupt();
        }
        // Down: nothing listens on the collector's port.
        int closedPort;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closedPort = s.getLocalPort();
        }
        collectors.put(ZIPKIN_CLUSTER, new InetSocketAddress(InetAddress.getLoopbackAddress(), closedPort));
        double failedBefore = dropped("export_failed");
        tracers(Tracers.builder(metrics, collectors::get).queueSize(8).scheduleDelay(Duration.ofMillis(20))
                .exportTimeout(Duration.ofMillis(500)));
        assertThat(runMany(50)).isLessThan(250);
        long end = System.nanoTime() + 10_000_000_000L;
        while (dropped("export_failed") <= failedBefore && System.nanoTime() < end) {
            Thread.sleep(20);
        }
        assertThat(dropped("export_failed")).isGreaterThan(failedBefore);
        assertThat(metrics.scrape()).contains("ambit_trace_spans_dropped_total{reason=\"queue_full\"}");
    }

    /** Runs {@code n} requests, each answered 200; returns the slowest one's milliseconds. */
    private long runMany(int n) {
        long worst = 0;
        for (int i = 0; i < n; i++) {
            long t0 = System.nanoTime();
            assertThat(h.run(get("/r" + i)).status()).isEqualTo(200);
            worst = Math.max(worst, (System.nanoTime() - t0) / 1_000_000);
        }
        return worst;
    }

    private double dropped(String reason) {
        return metrics.value("ambit_trace_spans_dropped_total", reason);
    }

    private void awaitDropped(String reason) throws InterruptedException {
        long end = System.nanoTime() + 10_000_000_000L;
        while (dropped(reason) == 0 && System.nanoTime() < end) {
            Thread.sleep(20);
        }
        assertThat(dropped(reason)).as(reason).isPositive();
    }

    /** Zipkin's {@code /api/v2/trace/{id}} once it holds at least {@code spans} spans (at most 15 s). */
    private JsonNode awaitTrace(String traceId, int spans) throws Exception {
        long end = System.nanoTime() + 15_000_000_000L;
        JsonNode last = null;
        while (System.nanoTime() < end) {
            var r = zipkin.get("/api/v2/trace/" + traceId);
            if (r.statusCode() == 200) {
                last = JSON.readTree(r.body());
                if (last.size() >= spans) {
                    return last;
                }
            }
            Thread.sleep(100);
        }
        throw new AssertionError("trace " + traceId + " has not " + spans + " spans in Zipkin: " + last);
    }

    private List<io.opentelemetry.proto.trace.v1.Span> awaitOtlp(String traceId, int spans)
            throws InterruptedException {
        long end = System.nanoTime() + 15_000_000_000L;
        Function<List<ExportTraceServiceRequest>, List<io.opentelemetry.proto.trace.v1.Span>> of = rs -> rs.stream()
                .flatMap(r -> r.getResourceSpansList().stream())
                .flatMap(r -> r.getScopeSpansList().stream())
                .flatMap(s -> s.getSpansList().stream())
                .filter(s -> hex(s.getTraceId()).equals(traceId))
                .collect(Collectors.toList());
        while (System.nanoTime() < end) {
            var found = of.apply(otlpReceived);
            if (found.size() >= spans) {
                return found;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("trace " + traceId + ": " + of.apply(otlpReceived).size() + " spans over OTLP");
    }

    private static String hex(com.google.protobuf.ByteString b) {
        return HexFormat.of().formatHex(b.toByteArray());
    }
}
