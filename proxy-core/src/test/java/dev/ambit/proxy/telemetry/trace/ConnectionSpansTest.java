package dev.ambit.proxy.telemetry.trace;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.telemetry.ConnectionLabels;
import dev.ambit.proxy.telemetry.ConnectionLabels.Reporter;
import dev.ambit.proxy.telemetry.ConnectionLabels.SecurityPolicy;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Spans of traced tunnels (issue 19), exported through a real {@link Tracers} pipeline as Zipkin v2
 * JSON to a collector on loopback: only a sampled incoming context is recorded, as its child, with
 * the tunnel's identities, bytes and timing.
 */
class ConnectionSpansTest {

    private static final String CLUSTER = "outbound|9411||zipkin.obs.svc.cluster.local";
    private static final String PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
    private static final String PARENT_SPAN = "00f067aa0ba902b7";
    private static final Workload FRONTEND = workload("frontend");
    private static final Workload BACKEND = workload("backend");
    private static final ConnectionLabels LABELS = ConnectionLabels.builder(Reporter.DESTINATION)
            .source(FRONTEND).peer(SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/frontend"))
            .destination(BACKEND, null).security(SecurityPolicy.MUTUAL_TLS).build();
    private static final InetSocketAddress SOURCE = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
    private static final InetSocketAddress DESTINATION = new InetSocketAddress("10.0.0.7", 8080);

    private final List<String> bodies = new CopyOnWriteArrayList<>();
    private final MetricsRegistry metrics = MetricsRegistry.create();
    private HttpServer collector;
    private Tracers tracers;
    private final AtomicReference<Tracer> current = new AtomicReference<>();
    private ConnectionSpans spans;

    static Workload workload(String app) {
        return Workload.newBuilder().setUid("Kubernetes//Pod/shop/" + app + "-0").setName(app + "-0")
                .setWorkloadName(app).setNamespace("shop").setServiceAccount(app).setCanonicalName(app)
                .setTrustDomain("cluster.local").build();
    }

    @BeforeEach
    void start() throws IOException {
        collector = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        collector.createContext("/api/v2/spans", ex -> {
            bodies.add(new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
            ex.sendResponseHeaders(202, -1);
            ex.close();
        });
        collector.start();
        tracers = Tracers.builder(metrics, cluster -> cluster.equals(CLUSTER) ? collector.getAddress() : null)
                .scheduleDelay(Duration.ofMillis(50)).build();
        current.set(tracers.tracer(new TraceSettings(0, List.of(CustomTag.literal("cluster", "east"),
                CustomTag.requestHeader("user", "x-user", "nobody")), TraceSettings.DEFAULT_MAX_PATH_TAG_LENGTH,
                new Collector.Zipkin(CLUSTER, null), "ztunnel.istio-system")));
        spans = ConnectionSpans.of(current::get, "ztunnel~10.0.0.2~agent.istio-system~istio-system.svc.cluster.local");
    }

    @AfterEach
    void stop() {
        tracers.close();
        collector.stop(0);
    }

    private String exported() {
        tracers.flush(Duration.ofSeconds(5));
        return String.join("\n", bodies);
    }

    @Test
    void aSampledTunnelIsOneServerSpanUnderTheConnectsContextWithIdentitiesAndBytes() {
        Instant start = Instant.parse("2026-12-07T10:00:00.000001Z");
        spans.inbound("00-" + PARENT_TRACE + "-" + PARENT_SPAN + "-01", LABELS, SOURCE, DESTINATION, 1234, 5678,
                start, Duration.ofMillis(250), null);
        String json = exported();
        assertThat(json).contains("\"traceId\":\"" + PARENT_TRACE + "\"", "\"parentId\":\"" + PARENT_SPAN + "\"",
                "\"kind\":\"SERVER\"", "\"name\":\"inbound|8080||\"", "\"serviceName\":\"ztunnel.istio-system\"",
                // Zipkin's microseconds: the tunnel's start and how long it was open.
                "\"timestamp\":" + (start.getEpochSecond() * 1_000_000 + 1), "\"duration\":250000",
                "\"direction\":\"inbound\"", "\"src.addr\":\"127.0.0.1\"", "\"dst.addr\":\"10.0.0.7:8080\"",
                "\"src.identity\":\"spiffe://cluster.local/ns/shop/sa/frontend\"", "\"src.workload\":\"frontend\"",
                "\"src.namespace\":\"shop\"", "\"dst.identity\":\"spiffe://cluster.local/ns/shop/sa/backend\"",
                "\"dst.workload\":\"backend\"", "\"dst.namespace\":\"shop\"", "\"bytes_recv\":\"1234\"",
                "\"bytes_sent\":\"5678\"", "\"connection_security_policy\":\"mutual_tls\"",
                "\"response_flags\":\"-\"", "\"cluster\":\"east\"",
                "\"node_id\":\"ztunnel~10.0.0.2~agent.istio-system~istio-system.svc.cluster.local\"");
        assertThat(json).as("no request headers at L4: no header tag; a clean close is no error")
                .doesNotContain("\"user\"", "\"error\"", "close_reason");
    }

    @Test
    void aRefusedTunnelIsAnErrorSpanWithItsReason() {
        spans.inbound("00-" + PARENT_TRACE + "-" + PARENT_SPAN + "-01", LABELS.withResponseFlags("UF"), SOURCE,
                DESTINATION, 0, 0, Instant.now(), Duration.ZERO, null);
        spans.inbound("00-" + PARENT_TRACE + "-" + PARENT_SPAN + "-01", LABELS, SOURCE, DESTINATION, 0, 0,
                Instant.now(), Duration.ZERO, "deny policy shop/no-frontend");
        String json = exported();
        assertThat(json).contains("\"response_flags\":\"UF\"", "\"close_reason\":\"deny policy shop/no-frontend\"");
        assertThat(json.split("\"error\":\"true\"", -1)).as("both failed: %s", json).hasSize(3);
    }

    @Test
    void nothingIsRecordedWithoutASampledContextOrWithoutATracer() throws InterruptedException {
        spans.inbound(null, LABELS, SOURCE, DESTINATION, 1, 1, Instant.now(), Duration.ZERO, null);
        spans.inbound("00-" + PARENT_TRACE + "-" + PARENT_SPAN + "-00", LABELS, SOURCE, DESTINATION, 1, 1,
                Instant.now(), Duration.ZERO, null);
        spans.inbound("not a traceparent", LABELS, SOURCE, DESTINATION, 1, 1, Instant.now(), Duration.ZERO, null);
        current.set(null); // tracing turned off by the control plane
        spans.inbound("00-" + PARENT_TRACE + "-" + PARENT_SPAN + "-01", LABELS, SOURCE, DESTINATION, 1, 1,
                Instant.now(), Duration.ZERO, null);
        ConnectionSpans.NONE.inbound("00-" + PARENT_TRACE + "-" + PARENT_SPAN + "-01", LABELS, SOURCE, DESTINATION,
                1, 1, Instant.now(), Duration.ZERO, null);
        assertThat(tracers.pending()).isZero();
        assertThat(exported()).isEmpty();
    }

    @Test
    void aCollectorThatIsDownCostsTheTunnelNothingAndTheDropsAreCounted() {
        collector.stop(0); // nothing listens there now
        long start = System.nanoTime();
        for (int i = 0; i < 5000; i++) { // more than the queue holds
            spans.inbound("00-" + PARENT_TRACE + "-" + PARENT_SPAN + "-01", LABELS, SOURCE, DESTINATION, i, i,
                    Instant.now(), Duration.ZERO, null);
        }
        assertThat(Duration.ofNanos(System.nanoTime() - start)).as("5000 spans recorded without waiting")
                .isLessThan(Duration.ofSeconds(2));
        var m = java.util.regex.Pattern.compile("ambit_trace_spans_dropped_total\\{reason=\"queue_full\"} (\\S+)")
                .matcher(metrics.scrape());
        assertThat(m.find()).as("the drop counter").isTrue();
        assertThat(Double.parseDouble(m.group(1))).as("spans dropped, the queue full").isPositive();
    }
}
