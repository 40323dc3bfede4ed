package dev.ambit.waypoint.http;

import static dev.ambit.waypoint.http.FakeUpstreams.HOST_A;
import static dev.ambit.waypoint.http.FakeUpstreams.HOST_B;
import static dev.ambit.waypoint.http.Harness.CLUSTER;
import static dev.ambit.waypoint.http.Harness.get;
import static dev.ambit.waypoint.http.Harness.routes;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Duration;
import com.google.protobuf.UInt32Value;
import dev.ambit.testing.LeakCheck;
import dev.ambit.waypoint.ResponseFlag;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class RetryAndTimeoutTest {

    /** Istio's default retry policy. */
    static final RetryPolicy ISTIO_DEFAULT = RetryPolicy.newBuilder()
            .setRetryOn("connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes")
            .setNumRetries(UInt32Value.of(2))
            .addRetryHostPredicate(RetryPolicy.RetryHostPredicate.newBuilder()
                    .setName("envoy.retry_host_predicates.previous_hosts"))
            .setHostSelectionRetryMaxAttempts(5)
            .build();

    private Harness h;

    @BeforeEach
    void setUp() {
        LeakCheck.install();
        h = new Harness();
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        h.close();
        LeakCheck.assertNoLeaks();
    }

    private void route(RouteAction.Builder action) {
        h.config.route(routes(Route.newBuilder().setName("r").setMatch(RouteMatch.newBuilder().setPrefix("/"))
                .setRoute(action.setCluster(CLUSTER)).build()));
    }

    private static Duration millis(long ms) {
        return Duration.newBuilder().setSeconds(ms / 1000).setNanos((int) (ms % 1000) * 1_000_000).build();
    }

    @Test
    void fiveHundredsAreRetriedOnOtherHostsUntilOneAnswers() {
        route(RouteAction.newBuilder().setRetryPolicy(RetryPolicy.newBuilder().setRetryOn("5xx")
                .setNumRetries(UInt32Value.of(2)).addRetryHostPredicate(RetryPolicy.RetryHostPredicate.newBuilder()
                        .setName("envoy.retry_host_predicates.previous_hosts"))));
        h.upstreams.thenStatus(503, HOST_A).thenStatus(500, HOST_B).thenStatus(200, HOST_A);
        Harness.Result r = h.run(get("/"));
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.exchange().attempts()).isEqualTo(3);
        assertThat(r.exchange().flagsString()).isEqualTo("-");
        assertThat(h.upstreams.sent).extracting(FakeUpstreams.Sent::excluded)
                .containsExactly(Set.of(), Set.of(HOST_A), Set.of(HOST_A, HOST_B));
    }

    @Test
    void exhaustedRetriesReturnTheLastResponseWithUrx() {
        route(RouteAction.newBuilder().setRetryPolicy(RetryPolicy.newBuilder().setRetryOn("gateway-error")
                .setNumRetries(UInt32Value.of(1))));
        h.upstreams.thenStatus(502, HOST_A).thenStatus(503, HOST_B);
        Harness.Result r = h.run(get("/"));
        assertThat(r.status()).isEqualTo(503);
        assertThat(r.body()).isEqualTo("s503");
        assertThat(r.exchange().flagsString()).isEqualTo("URX");
        assertThat(h.upstreams.sent).hasSize(2);
    }

    @Test
    void retryOnDecidesWhatIsRetriable() {
        route(RouteAction.newBuilder().setRetryPolicy(RetryPolicy.newBuilder().setRetryOn("gateway-error")
                .setNumRetries(UInt32Value.of(3))));
        h.upstreams.thenStatus(500, HOST_A);
        assertThat(h.run(get("/")).status()).isEqualTo(500); // 500 is no gateway error
        assertThat(h.upstreams.sent).hasSize(1);
    }

    @Test
    void istiosDefaultRetriesConnectFailuresAndGrpcUnavailable() {
        route(RouteAction.newBuilder().setRetryPolicy(ISTIO_DEFAULT.toBuilder().addRetriableStatusCodes(418)));
        h.upstreams.thenFail(ResponseFlag.UF, HOST_A).then(r -> {
            var s = FakeUpstreams.ok(200, "", HOST_B);
            s.toCompletableFuture().join().response().headers().set("grpc-status", "14");
            return s;
        }).thenStatus(418, HOST_A);
        Harness.Result r = h.run(get("/"));
        // Three attempts, all retriable: the last answer with URX.
        assertThat(r.status()).isEqualTo(418);
        assertThat(r.exchange().flagsString()).isEqualTo("URX");
        assertThat(h.upstreams.sent).hasSize(3);

        h.upstreams.thenStatus(503, HOST_A); // a 503 is not in Istio's default
        assertThat(h.run(get("/")).status()).isEqualTo(503);
        assertThat(h.upstreams.sent).hasSize(4);
    }

    @Test
    void connectFailureExhaustedIs503WithEnvoysWordingAndFlags() {
        route(RouteAction.newBuilder().setRetryPolicy(ISTIO_DEFAULT));
        h.upstreams.thenFail(ResponseFlag.UF, HOST_A).thenFail(ResponseFlag.UF, HOST_B).thenFail(ResponseFlag.UF, HOST_A);
        Harness.Result r = h.run(get("/"));
        assertThat(r.status()).isEqualTo(503);
        assertThat(r.body()).isEqualTo(
                "upstream connect error or disconnect/reset before headers. reset reason: connection failure");
        assertThat(r.exchange().flags()).containsExactlyInAnyOrder(ResponseFlag.UF, ResponseFlag.URX);
    }

    @Test
    void noHealthyUpstreamIsNotRetried() {
        route(RouteAction.newBuilder().setRetryPolicy(ISTIO_DEFAULT));
        h.upstreams.thenFail(ResponseFlag.UH, null);
        Harness.Result r = h.run(get("/"));
        assertThat(r.status()).isEqualTo(503);
        assertThat(r.body()).isEqualTo("no healthy upstream");
        assertThat(r.exchange().flagsString()).isEqualTo("UH");
        assertThat(h.upstreams.sent).hasSize(1);
    }

    @Test
    void withoutRetryPolicyNothingIsRetried() {
        route(RouteAction.newBuilder());
        h.upstreams.thenFail(ResponseFlag.UR, HOST_A);
        Harness.Result r = h.run(get("/"));
        assertThat(r.status()).isEqualTo(503);
        assertThat(r.exchange().flagsString()).isEqualTo("UR");
        assertThat(h.upstreams.sent).hasSize(1);
    }

    @Test
    void virtualHostRetryPolicyAppliesWhenTheRouteHasNone() {
        h.config.route(io.envoyproxy.envoy.config.route.v3.RouteConfiguration.newBuilder().setName(Harness.ROUTE)
                .addVirtualHosts(VirtualHost.newBuilder().setName("vh").addDomains("*")
                        .setRetryPolicy(RetryPolicy.newBuilder().setRetryOn("reset").setNumRetries(UInt32Value.of(1)))
                        .setIncludeRequestAttemptCount(true)
                        .addRoutes(Harness.prefix("r", "/", CLUSTER))).build());
        h.upstreams.thenFail(ResponseFlag.UC, HOST_A).thenStatus(200, HOST_B);
        assertThat(h.run(get("/")).status()).isEqualTo(200);
        assertThat(h.upstreams.sent).extracting(s -> s.headers().get("x-envoy-attempt-count")).containsExactly("1", "2");
    }

    @Test
    void routeTimeoutAnswers504UpstreamRequestTimeout() {
        route(RouteAction.newBuilder().setTimeout(millis(50)));
        h.upstreams.thenHang();
        long start = System.nanoTime();
        Harness.Result r = h.run(get("/"));
        assertThat(r.status()).isEqualTo(504);
        assertThat(r.body()).isEqualTo("upstream request timeout");
        assertThat(r.exchange().flagsString()).isEqualTo("UT");
        assertThat((System.nanoTime() - start) / 1_000_000).isBetween(40L, 3000L);
        assertThat(h.upstreams.sent.get(0).timeout().toMillis()).isBetween(1L, 50L);
    }

    @Test
    void zeroTimeoutIsNoneAndPerTryTimeoutGoesToEachAttempt() {
        route(RouteAction.newBuilder().setTimeout(millis(0)).setRetryPolicy(RetryPolicy.newBuilder()
                .setRetryOn("5xx").setNumRetries(UInt32Value.of(1)).setPerTryTimeout(millis(200))));
        h.upstreams.thenFail(ResponseFlag.UT, HOST_A).thenStatus(200, HOST_B);
        Harness.Result r = h.run(get("/"));
        assertThat(r.status()).isEqualTo(200);
        assertThat(h.upstreams.sent).extracting(s -> s.timeout().toMillis()).containsExactly(200L, 200L);
    }

    @Test
    void unsetTimeoutIsEnvoys15Seconds() {
        route(RouteAction.newBuilder());
        h.run(get("/"));
        assertThat(h.upstreams.sent.get(0).timeout().toMillis()).isBetween(14_000L, 15_000L);
    }

    @Test
    void backoffIsFullyJitteredExponentialCappedAt250ms() {
        RetryState s = new RetryState(RetryState.Policy.of(RetryPolicy.newBuilder().setRetryOn("5xx")
                .setNumRetries(UInt32Value.of(10)).build()));
        long[] bounds = {25, 75, 175, 250, 250, 250};
        for (long bound : bounds) {
            long max = 0;
            RetryState probe;
            for (int i = 0; i < 200; i++) {
                probe = new RetryState(s.policy());
                long d = 0;
                for (int k = 0; k <= indexOf(bounds, bound); k++) {
                    d = probe.nextBackoffMillis();
                }
                assertThat(d).isBetween(0L, bound - 1);
                max = Math.max(max, d);
            }
            assertThat(max).as("spread up to the bound %s", bound).isGreaterThan(bound / 2);
        }
    }

    private static int indexOf(long[] a, long v) {
        for (int i = 0; i < a.length; i++) {
            if (a[i] == v) {
                return i;
            }
        }
        return -1;
    }
}
