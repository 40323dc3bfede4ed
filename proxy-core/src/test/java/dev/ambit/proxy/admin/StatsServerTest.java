package dev.ambit.proxy.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.proxy.xds.XdsClient;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class StatsServerTest {

    private static final InetSocketAddress ANY_LOOPBACK = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);

    private final MetricsRegistry metrics = MetricsRegistry.create();
    private StatsServer server;

    @AfterEach
    void close() {
        if (server != null) {
            server.close();
        }
    }

    private StatsServer start(Readiness readiness) {
        server = StatsServer.builder(metrics, readiness)
                .statsAddress(ANY_LOOPBACK)
                .readinessAddress(ANY_LOOPBACK)
                .start();
        return server;
    }

    @Test
    void metricsServesTheRegistryInPrometheusFormat() throws Exception {
        metrics.counter("ambit_test_requests_total", "Requests seen by the test.", "kind").labels("tcp").inc(3);
        start(Readiness.builder().build());

        HttpResponse<String> r = Http.get(server.statsAddress(), "/metrics");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValueSatisfying(v -> assertThat(v).contains("0.0.4"));
        assertThat(r.body())
                .contains("# TYPE ambit_test_requests_total counter")
                .contains("ambit_test_requests_total{kind=\"tcp\"} 3");
        // The registry is read per scrape, not copied at start.
        metrics.counter("ambit_test_requests_total", "Requests seen by the test.", "kind").labels("tcp").inc();
        assertThat(Http.get(server.statsAddress(), "/metrics").body())
                .contains("ambit_test_requests_total{kind=\"tcp\"} 4");
        // Istio's path on 15020 (what the waypoints' and gateways' prometheus.io/path annotations name).
        HttpResponse<String> istio = Http.get(server.statsAddress(), "/stats/prometheus");
        assertThat(istio.statusCode()).isEqualTo(200);
        assertThat(istio.body()).contains("ambit_test_requests_total{kind=\"tcp\"} 4");
    }

    @Test
    void anExtraReadOnlyRouteIsServedOnTheStatsPortOnly() throws Exception {
        AtomicReference<String> view = new AtomicReference<>("{\"pods\":[]}");
        server = StatsServer.builder(metrics, Readiness.builder().build())
                .statsAddress(ANY_LOOPBACK)
                .readinessAddress(ANY_LOOPBACK)
                .get("/mesh_view", req -> dev.ambit.common.http.HttpEndpoints.Response.json(view.get()))
                .start();
        HttpResponse<String> r = Http.get(server.statsAddress(), "/mesh_view");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("{\"pods\":[]}");
        view.set("{\"pods\":[1]}"); // asked on every request
        assertThat(Http.get(server.statsAddress(), "/mesh_view").body()).isEqualTo("{\"pods\":[1]}");
        assertThat(Http.get(server.readinessAddress(), "/mesh_view").statusCode()).isEqualTo(404);
        assertThat(Http.get(server.statsAddress(), "/metrics").statusCode()).isEqualTo(200);
        assertThatThrownBy(() -> StatsServer.builder(metrics, Readiness.builder().build())
                .get("/metrics", req -> null)).hasMessageContaining("/metrics");
    }

    @Test
    void readinessFlipsFrom503To200WhenEveryConditionHolds() throws Exception {
        AtomicBoolean synced = new AtomicBoolean();
        AtomicBoolean certs = new AtomicBoolean();
        start(Readiness.builder()
                .condition("xds synced", synced::get)
                .condition("certificates", certs::get)
                .build());

        HttpResponse<String> r = Http.get(server.readinessAddress(), "/healthz/ready");
        assertThat(r.statusCode()).isEqualTo(503);
        assertThat(r.body()).contains("xds synced").contains("certificates");

        synced.set(true);
        r = Http.get(server.readinessAddress(), "/healthz/ready");
        assertThat(r.statusCode()).isEqualTo(503);
        assertThat(r.body()).doesNotContain("xds synced").contains("certificates");

        certs.set(true);
        r = Http.get(server.readinessAddress(), "/healthz/ready");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("ready\n");
    }

    @Test
    void aConditionWithAReasonAnswersNameAndReasonWhileItDoesNotHold() throws Exception {
        AtomicReference<String> problem = new AtomicReference<>("bpffs: /tmp/x is not one");
        Readiness readiness = Readiness.builder()
                .conditionWithReason("kernel", problem::get)
                .condition("xds synced", () -> false)
                .build();
        start(readiness);

        HttpResponse<String> r = Http.get(server.readinessAddress(), "/healthz/ready");
        assertThat(r.statusCode()).isEqualTo(503);
        assertThat(r.body()).isEqualTo("not ready:\nkernel: bpffs: /tmp/x is not one\nxds synced\n");
        assertThat(readiness.notReady()).containsExactly("kernel", "xds synced");

        problem.set(null);
        assertThat(readiness.notReady()).containsExactly("xds synced");
        assertThat(Http.get(server.readinessAddress(), "/healthz/ready").body()).isEqualTo("not ready:\nxds synced\n");
    }

    @Test
    void aThrowingConditionIsNotReadyRatherThanAnError() throws Exception {
        start(Readiness.builder().condition("broken", () -> {
            throw new IllegalStateException("boom");
        }).build());

        HttpResponse<String> r = Http.get(server.readinessAddress(), "/healthz/ready");

        assertThat(r.statusCode()).isEqualTo(503);
        assertThat(r.body()).contains("broken");
    }

    @Test
    void xdsSyncedIsNotReadyBeforeTheClientSynced() throws Exception {
        ManagedChannel nowhere = NettyChannelBuilder.forAddress("127.0.0.1", 1).usePlaintext().build();
        try (XdsClient xds = XdsClient.builder(nowhere).handlers(ProxyState.create().handlers()).build()) {
            // Never started, so never synced.
            start(Readiness.builder().xdsSynced(xds).build());

            HttpResponse<String> r = Http.get(server.readinessAddress(), "/healthz/ready");

            assertThat(r.statusCode()).isEqualTo(503);
            assertThat(r.body()).contains("xds synced");
        } finally {
            nowhere.shutdownNow();
        }
    }

    @Test
    void eachPortServesOnlyItsOwnPaths() throws Exception {
        start(Readiness.builder().build());

        assertThat(Http.get(server.statsAddress(), "/healthz/ready").statusCode()).isEqualTo(404);
        assertThat(Http.get(server.readinessAddress(), "/metrics").statusCode()).isEqualTo(404);
        assertThat(Http.get(server.statsAddress(), "/nope").statusCode()).isEqualTo(404);
        assertThat(Http.get(server.readinessAddress(), "/healthz/ready").statusCode()).isEqualTo(200);
    }

    @Test
    void rejectsDuplicateAndBlankConditionNames() {
        assertThatThrownBy(() -> Readiness.builder().condition("a", () -> true).condition("a", () -> true))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("a");
        assertThatThrownBy(() -> Readiness.builder().condition(" ", () -> true))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
