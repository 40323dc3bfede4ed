package dev.ambit.waypoint.http;

import static dev.ambit.waypoint.http.Harness.CLUSTER;
import static dev.ambit.waypoint.http.Harness.ROUTE;
import static dev.ambit.waypoint.http.Harness.get;
import static dev.ambit.waypoint.http.Harness.routes;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.api.telemetry.MetricConfig;
import dev.ambit.testing.LeakCheck;
import dev.ambit.waypoint.ResponseFlag;
import dev.ambit.waypoint.config.FilterChain;
import dev.ambit.waypoint.config.TelemetryFieldsTestAccess;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The istio.stats filter and the access_log entries of a chain's HCM, applied by the request path
 * (seam T2): a label changed by an expression, a label removed, a metric dropped, access log
 * lines only for the requests the filter expression passes, none without access_log.
 */
class HttpTelemetryOverridesTest {

    private Harness h;
    private final List<String> accessLog = new CopyOnWriteArrayList<>();
    private final Logger access = Logger.getLogger("ambit.access");
    private final Handler capture = new Handler() {
        @Override
        public void publish(LogRecord r) {
            accessLog.add(r.getMessage());
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    };

    @BeforeEach
    void setUp() {
        LeakCheck.install();
        h = new Harness();
        h.config.route(routes(Route.newBuilder().setName("r").setMatch(RouteMatch.newBuilder().setPrefix("/"))
                .setRoute(RouteAction.newBuilder().setCluster(CLUSTER)).build()));
        access.addHandler(capture);
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        access.removeHandler(capture);
        h.close();
        LeakCheck.assertNoLeaks();
    }

    private void telemetry(MetricConfig metric, String filter) {
        var hcm = TelemetryFieldsTestAccess.hcm(metric, filter);
        h.chain = new FilterChain(ROUTE, FilterChain.Kind.HTTP, ROUTE, FilterChain.Codec.AUTO, "", ROUTE, hcm);
    }

    @Test
    void tagOverridesChangeAndRemoveLabelsAndTheFilterPicksLoggedRequests() {
        telemetry(MetricConfig.newBuilder().setName("requests_total")
                .putDimensions("request_protocol", "request.headers['x-proto'] | 'none'")
                .putDimensions("custom_label", "request.headers['x-custom'] | 'unknown'")
                .addTagsToRemove("destination_cluster").build(), "response.code >= 500");
        h.run(get("/", "x-proto", "h9", "x-custom", "blue"));
        assertThat(accessLog).isEmpty(); // 200: the filter says no
        h.upstreams.thenFail(ResponseFlag.UH, null);
        h.run(get("/"));
        assertThat(accessLog).singleElement().satisfies(l -> assertThat(l).contains("\"response_code\":503"));

        String scrape = h.metrics.scrape();
        assertThat(scrape.lines().filter(l -> l.startsWith("istio_requests_total{")))
                .anySatisfy(l -> assertThat(l).contains("request_protocol=\"h9\"", "response_code=\"200\"",
                        "destination_cluster=\"\"", ",custom_label=\"blue\"}"))
                .anySatisfy(l -> assertThat(l).contains("request_protocol=\"none\"", "response_code=\"503\"",
                        ",custom_label=\"unknown\"}"));
        // The added label on istio_requests_total only: the metric other metrics keep Istio's label set.
        assertThat(scrape.lines().filter(l -> l.startsWith("istio_response_bytes_count{")))
                .noneSatisfy(l -> assertThat(l).contains("custom_label"));
        // Other metrics keep Istio's labels.
        assertThat(scrape.lines().filter(l -> l.startsWith("istio_request_bytes_count{")))
                .allSatisfy(l -> assertThat(l).contains("request_protocol=\"http\"")).isNotEmpty();
    }

    @Test
    void aDroppedMetricIsNotReportedAndEveryRequestIsLoggedWithoutFilter() {
        telemetry(MetricConfig.newBuilder().setName("request_bytes").setDrop(true).build(), null);
        h.run(get("/"));
        assertThat(accessLog).hasSize(1);
        String scrape = h.metrics.scrape();
        assertThat(scrape).contains("istio_requests_total{").contains("istio_response_bytes_count{")
                .doesNotContain("istio_request_bytes_count{");
    }

    @Test
    void noAccessLogEntryNoLine() {
        h.run(get("/"));
        assertThat(accessLog).isEmpty();
        assertThat(h.metrics.scrape()).contains("istio_requests_total{");
    }

    @Test
    void aLogFormatRendersEnvoysOperatorsOnTheRequestPath() {
        var hcm = TelemetryFieldsTestAccess.hcm(MetricConfig.newBuilder().setName("request_bytes").build(), null,
                "\"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% "
                        + "%RESPONSE_CODE_DETAILS% \"%REQ(USER-AGENT):5%\" \"%REQ(X-NONE)%\" %UPSTREAM_CLUSTER% "
                        + "%ROUTE_NAME%\n");
        h.chain = new FilterChain(ROUTE, FilterChain.Kind.HTTP, ROUTE, FilterChain.Codec.AUTO, "", ROUTE, hcm);
        h.run(get("/a?b=1", "user-agent", "curl/8.5.0"));
        h.upstreams.thenFail(ResponseFlag.UH, null);
        h.run(get("/b"));
        assertThat(accessLog).containsExactly(
                "\"GET /a?b=1 HTTP/1.1\" 200 - via_upstream \"curl/\" \"-\" " + CLUSTER + " r",
                "\"GET /b HTTP/1.1\" 503 UH no_healthy_upstream \"-\" \"-\" " + CLUSTER + " r");
    }
}
