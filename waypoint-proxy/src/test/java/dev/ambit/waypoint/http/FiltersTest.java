package dev.ambit.waypoint.http;

import static dev.ambit.waypoint.http.Harness.CLUSTER;
import static dev.ambit.waypoint.http.Harness.get;
import static dev.ambit.waypoint.http.Harness.routes;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.Duration;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.TunnelProtocol;
import dev.ambit.api.workload.Workload;
import dev.ambit.testing.LeakCheck;
import dev.ambit.waypoint.ResponseFlag;
import io.envoyproxy.envoy.config.core.v3.RuntimeFractionalPercent;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.extensions.filters.common.fault.v3.FaultDelay;
import io.envoyproxy.envoy.extensions.filters.http.cors.v3.CorsPolicy;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.FaultAbort;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.envoyproxy.envoy.type.v3.FractionalPercent;
import io.netty.handler.codec.http.HttpMethod;
import java.net.InetAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class FiltersTest {

    private static final String SHADOW = "outbound|9080||reviews-shadow.default.svc.cluster.local";
    private Harness h;

    @BeforeEach
    void setUp() {
        LeakCheck.install();
        h = new Harness();
        h.config.clusters(SHADOW);
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        h.close();
        LeakCheck.assertNoLeaks();
    }

    private void route(Route.Builder r) {
        h.config.route(routes(r.setName("r").setMatch(RouteMatch.newBuilder().setPrefix("/")).build()));
    }

    private static Route.Builder toCluster() {
        return Route.newBuilder().setRoute(RouteAction.newBuilder().setCluster(CLUSTER));
    }

    private static FractionalPercent percent(int p) {
        return FractionalPercent.newBuilder().setNumerator(p).setDenominator(FractionalPercent.DenominatorType.HUNDRED)
                .build();
    }

    @Test
    void faultAbortAnswersWithItsStatusAndFi() {
        route(toCluster().putTypedPerFilterConfig(Faults.NAME, Any.pack(HTTPFault.newBuilder()
                .setAbort(FaultAbort.newBuilder().setHttpStatus(503).setPercentage(percent(100))).build())));
        Harness.Result r = h.run(get("/"));
        assertThat(r.status()).isEqualTo(503);
        assertThat(r.body()).isEqualTo("fault filter abort");
        assertThat(r.exchange().flagsString()).isEqualTo("FI");
        assertThat(h.upstreams.sent).isEmpty();
    }

    @Test
    void faultAbortOfAGrpcCallIsAGrpcStatus() {
        route(toCluster().putTypedPerFilterConfig(Faults.NAME, Any.pack(HTTPFault.newBuilder()
                .setAbort(FaultAbort.newBuilder().setHttpStatus(503).setPercentage(percent(100))).build())));
        Harness.Result r = h.run(get("/pkg.Svc/M", "content-type", "application/grpc"));
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.header("grpc-status")).isEqualTo("14");
        assertThat(r.header("grpc-message")).isEqualTo("fault filter abort");
        assertThat(r.header(LocalReplies.MARKER)).isNull();
    }

    @Test
    void accessLogLineIsOneJsonObjectWithEnvoysFields() {
        route(toCluster());
        Harness.Result r = h.run(get("/path?q=1", "x-request-id", "rid-1",
                "traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        String line = HttpTelemetry.accessLine(r.exchange(), HttpTelemetry.of(h.metrics, h.state).labels(r.exchange()),
                200, "-", 3_000_000, 2, "rid-1", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assertThat(line).startsWith("{").endsWith("}")
                .contains("\"method\":\"GET\"", "\"authority\":\"reviews:9080\"", "\"path\":\"/path?q=1\"",
                        "\"protocol\":\"HTTP/1.1\"", "\"response_code\":200", "\"response_flags\":\"-\"",
                        "\"duration_ms\":3", "\"bytes_sent\":2", "\"upstream_host\":\"10.244.1.5:8080\"",
                        "\"upstream_cluster\":\"" + CLUSTER.replace("|", "|") + "\"", "\"route_name\":\"r\"",
                        "\"source_principal\":\"spiffe://cluster.local/ns/default/sa/productpage\"",
                        "\"x_request_id\":\"rid-1\"", "\"traceparent\":\"00-4bf92f3577b34da6a3ce929d0e0e4736");
    }

    @Test
    void faultDelayHoldsTheRequestAndFlagsDi() {
        route(toCluster().putTypedPerFilterConfig(Faults.NAME, Any.pack(HTTPFault.newBuilder()
                .setDelay(FaultDelay.newBuilder().setFixedDelay(Duration.newBuilder().setNanos(100_000_000))
                        .setPercentage(percent(100))).build())));
        long start = System.nanoTime();
        Harness.Result r = h.run(get("/"));
        assertThat((System.nanoTime() - start) / 1_000_000).isGreaterThanOrEqualTo(90);
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.exchange().flagsString()).isEqualTo("DI");
    }

    @Test
    void faultPercentageSelectsAboutThatShare() {
        route(toCluster().putTypedPerFilterConfig(Faults.NAME, Any.pack(HTTPFault.newBuilder()
                .setAbort(FaultAbort.newBuilder().setHttpStatus(500).setPercentage(percent(30))).build())));
        int aborted = 0;
        for (int i = 0; i < 1000; i++) {
            if (h.run(get("/")).exchange().flags().contains(ResponseFlag.FI)) {
                aborted++;
            }
        }
        assertThat(aborted).isBetween(230, 370);
    }

    @Test
    void corsPreflightIsAnsweredAndSimpleRequestsGetTheHeaders() {
        route(toCluster().putTypedPerFilterConfig(Cors.NAME, Any.pack(CorsPolicy.newBuilder()
                .addAllowOriginStringMatch(StringMatcher.newBuilder().setExact("https://shop.example"))
                .setAllowMethods("GET,POST").setAllowHeaders("content-type").setMaxAge("600")
                .setExposeHeaders("x-trace").setAllowCredentials(BoolValue.of(true)).build())));
        var preflight = get("/", "origin", "https://shop.example", "access-control-request-method", "POST");
        preflight.setMethod(HttpMethod.OPTIONS);
        Harness.Result p = h.run(preflight);
        assertThat(p.status()).isEqualTo(200);
        assertThat(p.header("access-control-allow-origin")).isEqualTo("https://shop.example");
        assertThat(p.header("access-control-allow-methods")).isEqualTo("GET,POST");
        assertThat(p.header("access-control-allow-headers")).isEqualTo("content-type");
        assertThat(p.header("access-control-max-age")).isEqualTo("600");
        assertThat(h.upstreams.sent).isEmpty();

        Harness.Result simple = h.run(get("/", "origin", "https://shop.example"));
        assertThat(simple.header("access-control-allow-origin")).isEqualTo("https://shop.example");
        assertThat(simple.header("access-control-allow-credentials")).isEqualTo("true");
        assertThat(simple.header("access-control-expose-headers")).isEqualTo("x-trace");

        Harness.Result other = h.run(get("/", "origin", "https://evil.example"));
        assertThat(other.header("access-control-allow-origin")).isNull();
    }

    @Test
    void mirrorSendsACopyToTheShadowWithShadowHostAndIgnoresItsAnswer() {
        route(Route.newBuilder().setRoute(RouteAction.newBuilder().setCluster(CLUSTER)
                .addRequestMirrorPolicies(RouteAction.RequestMirrorPolicy.newBuilder().setCluster(SHADOW))));
        h.upstreams.fallback = r -> r.cluster().equals(SHADOW)
                ? CompletableFuture.failedFuture(new IllegalStateException("shadow down"))
                : FakeUpstreams.ok(200, "primary", FakeUpstreams.HOST_A);
        var post = get("/reviews", "content-type", "text/plain");
        post.setMethod(HttpMethod.POST);
        post.content().writeBytes("body".getBytes());
        Harness.Result r = h.run(post);
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("primary");
        assertThat(h.upstreams.sent).hasSize(2);
        FakeUpstreams.Sent shadow = h.upstreams.sent.stream().filter(s -> s.cluster().equals(SHADOW)).findFirst()
                .orElseThrow();
        assertThat(shadow.headers().get("host")).isEqualTo("reviews-shadow:9080");
        assertThat(shadow.body()).isEqualTo("body");
        assertThat(h.upstreams.sent).filteredOn(s -> s.cluster().equals(CLUSTER))
                .singleElement().satisfies(s -> assertThat(s.headers().get("host")).isEqualTo("reviews:9080"));
    }

    @Test
    void mirrorFractionZeroSendsNoCopy() {
        route(Route.newBuilder().setRoute(RouteAction.newBuilder().setCluster(CLUSTER)
                .addRequestMirrorPolicies(RouteAction.RequestMirrorPolicy.newBuilder().setCluster(SHADOW)
                        .setRuntimeFraction(RuntimeFractionalPercent.newBuilder().setDefaultValue(percent(0))))));
        h.run(get("/"));
        assertThat(h.upstreams.sent).extracting(FakeUpstreams.Sent::cluster).containsExactly(CLUSTER);
    }

    @Test
    void authorizationSlotDeniesBeforeAnythingElse() {
        h.authorizer = ex -> CompletableFuture.completedFuture(ex.path().startsWith("/admin") ? "denied" : null);
        route(toCluster());
        Harness.Result denied = h.run(get("/admin"));
        assertThat(denied.status()).isEqualTo(403);
        assertThat(denied.body()).isEqualTo("RBAC: access denied");
        assertThat(denied.exchange().flagsString()).isEqualTo("RBAC");
        assertThat(h.run(get("/ok")).status()).isEqualTo(200);
        assertThat(h.upstreams.sent).hasSize(1);
    }

    @Test
    void telemetryCountsWithIstiosLabelsAndTheAnsweringEndpointAsDestination() {
        Workload reviews = Workload.newBuilder().setUid("Kubernetes//Pod/default/reviews-v2-0").setName("reviews-v2-0")
                .setWorkloadName("reviews-v2").setNamespace("default").setServiceAccount("bookinfo-reviews")
                .setCanonicalName("reviews").setCanonicalRevision("v2").setClusterId("Kubernetes")
                .setTunnelProtocol(TunnelProtocol.HBONE)
                .addAddresses(com.google.protobuf.ByteString.copyFrom(FakeUpstreams.HOST_A.getAddress().getAddress()))
                .build();
        h.state.applyAddresses(Map.of(reviews.getUid(), Address.newBuilder().setWorkload(reviews).build()), List.of());
        route(toCluster());
        h.run(get("/"));
        h.run(get("/")); // the same labels again: the same series
        h.upstreams.thenFail(ResponseFlag.UH, null);
        h.run(get("/"));

        String[] ok = labels("200", "-", "spiffe://cluster.local/ns/default/sa/bookinfo-reviews", "reviews-v2",
                "default", "reviews", "v2");
        assertThat(h.metrics.value("istio_requests_total", ok)).isEqualTo(2.0);
        String[] uh = labels("503", "UH", "unknown", "unknown", "unknown", "unknown", "unknown");
        assertThat(h.metrics.value("istio_requests_total", uh)).isEqualTo(1.0);
        String scrape = h.metrics.scrape();
        assertThat(scrape).contains("istio_request_duration_milliseconds_bucket{")
                .contains("istio_request_bytes_bucket{").contains("istio_response_bytes_bucket{")
                .contains("le=\"0.5\"").contains("le=\"3600000\"");
    }

    /** Label values in the order of ConnectionLabels.HTTP_NAMES for this harness's client and service. */
    private static String[] labels(String code, String flags, String dstPrincipal, String dstWorkload, String dstNs,
                                   String dstCanonical, String dstRevision) {
        return new String[] {"waypoint",
            "unknown", "unknown", "spiffe://cluster.local/ns/default/sa/productpage", "unknown", "unknown",
            "unknown", "unknown", "unknown",
            dstWorkload, dstNs, dstPrincipal, dstCanonical, dstRevision,
            "reviews.default.svc.cluster.local", "reviews", "default", dstCanonical, dstRevision,
            dstWorkload.equals("unknown") ? "unknown" : "Kubernetes",
            "http", "mutual_tls", flags, code, ""};
    }

    static InetAddress ip(String s) {
        try {
            return InetAddress.getByName(s);
        } catch (java.net.UnknownHostException e) {
            throw new AssertionError(e);
        }
    }
}
