package dev.ambit.proxy.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.api.workload.Service;
import dev.ambit.api.workload.TunnelProtocol;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.telemetry.ConnectionLabels.Reporter;
import dev.ambit.proxy.telemetry.ConnectionLabels.SecurityPolicy;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class TcpTelemetryTest {

    static final Workload FRONTEND = workload("frontend", "v1");
    static final Workload BACKEND = workload("backend", "v2");
    static final Service BACKEND_SERVICE = Service.newBuilder().setName("backend").setNamespace("shop")
            .setHostname("backend.shop.svc.cluster.local").build();

    private static final ConnectionLabels INBOUND = ConnectionLabels.builder(Reporter.DESTINATION)
            .source(FRONTEND)
            .peer(SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/frontend"))
            .destination(BACKEND, BACKEND_SERVICE)
            .security(SecurityPolicy.MUTUAL_TLS)
            .build();

    static Workload workload(String app, String version) {
        return Workload.newBuilder().setUid("Kubernetes//Pod/shop/" + app + "-0").setName(app + "-0")
                .setWorkloadName(app).setNamespace("shop").setServiceAccount(app).setCanonicalName(app)
                .setCanonicalRevision(version).setClusterId("Kubernetes").setTunnelProtocol(TunnelProtocol.HBONE)
                .build();
    }

    @Test
    void overridesDropAMetricAndRelabelTheOthersPerMetric() {
        MetricsRegistry metrics = MetricsRegistry.create();
        TcpTelemetry telemetry = TcpTelemetry.of(metrics);
        java.util.List<String> asked = new java.util.concurrent.CopyOnWriteArrayList<>();
        TcpTelemetry.Overrides overrides = (metric, values) -> {
            asked.add(metric);
            if (metric.equals(TcpTelemetry.SENT)) {
                return null; // disabled
            }
            String[] v = values.clone();
            v[0] = "changed"; // reporter, the first standard label
            return new TcpTelemetry.Labels(v, new String[] {"custom"}, new String[] {metric});
        };
        telemetry.opened(INBOUND, overrides);
        telemetry.closed(INBOUND, new InetSocketAddress("10.244.1.10", 40000), new InetSocketAddress("10.244.2.10", 9090),
                120, 4096, Instant.EPOCH, Duration.ofMillis(12), null, null, overrides);
        String text = metrics.scrape();
        assertThat(asked).containsExactlyInAnyOrder(TcpTelemetry.OPENED, TcpTelemetry.RECEIVED, TcpTelemetry.SENT,
                TcpTelemetry.CLOSED);
        assertThat(text).contains("istio_tcp_connections_opened_total{reporter=\"changed\",")
                .contains(",custom=\"tcp_connections_opened_total\"} 1\n")
                .contains(",custom=\"tcp_received_bytes_total\"} 120\n")
                .contains(",custom=\"tcp_connections_closed_total\"} 1\n")
                .doesNotContain("istio_tcp_sent_bytes_total{")
                .doesNotContain("reporter=\"destination\"");
    }

    @Test
    void countsWithIstiosNamesAndLabels() {
        MetricsRegistry metrics = MetricsRegistry.create();
        TcpTelemetry telemetry = TcpTelemetry.of(metrics);
        telemetry.opened(INBOUND);
        telemetry.closed(INBOUND, new InetSocketAddress("10.244.1.10", 40000), new InetSocketAddress("10.244.2.10", 9090),
                120, 4096, Instant.EPOCH, Duration.ofMillis(12), null);
        String text = metrics.scrape();
        String labels = "{reporter=\"destination\",source_workload=\"frontend\",source_workload_namespace=\"shop\","
                + "source_principal=\"spiffe://cluster.local/ns/shop/sa/frontend\",source_app=\"frontend\","
                + "source_version=\"v1\",source_canonical_service=\"frontend\",source_canonical_revision=\"v1\","
                + "source_cluster=\"Kubernetes\",destination_workload=\"backend\",destination_workload_namespace=\"shop\","
                + "destination_principal=\"spiffe://cluster.local/ns/shop/sa/backend\",destination_app=\"backend\","
                + "destination_version=\"v2\",destination_service=\"backend.shop.svc.cluster.local\","
                + "destination_service_name=\"backend\",destination_service_namespace=\"shop\","
                + "destination_canonical_service=\"backend\",destination_canonical_revision=\"v2\","
                + "destination_cluster=\"Kubernetes\",request_protocol=\"tcp\",connection_security_policy=\"mutual_tls\","
                + "response_flags=\"-\"}";
        assertThat(text).contains("istio_tcp_connections_opened_total" + labels + " 1\n")
                .contains("istio_tcp_connections_closed_total" + labels + " 1\n")
                .contains("istio_tcp_received_bytes_total" + labels + " 120\n")
                .contains("istio_tcp_sent_bytes_total" + labels + " 4096\n");
    }

    @Test
    void accessLineCarriesIdentitiesBytesAndDenial() {
        Workload backend = Workload.newBuilder().setName("backend").setNamespace("shop").setServiceAccount("backend")
                .build();
        ConnectionLabels denied = ConnectionLabels.builder(Reporter.DESTINATION)
                .destination(backend, null)
                .security(SecurityPolicy.NONE)
                .build()
                .withResponseFlags("UAEX");
        String line = TcpTelemetry.accessLine(denied, new InetSocketAddress("10.244.1.20", 51000),
                new InetSocketAddress("10.244.2.10", 9090), 0, 0, Instant.parse("2026-11-21T10:00:00Z"),
                Duration.ZERO, "STRICT: plaintext refused");
        assertThat(line).isEqualTo("{\"start\":\"2026-11-21T10:00:00Z\",\"reporter\":\"destination\","
                + "\"src.addr\":\"10.244.1.20:51000\",\"src.workload\":\"unknown\",\"src.namespace\":\"unknown\","
                + "\"src.identity\":\"unknown\",\"dst.addr\":\"10.244.2.10:9090\",\"dst.workload\":\"backend\","
                + "\"dst.namespace\":\"shop\",\"dst.identity\":\"spiffe://cluster.local/ns/shop/sa/backend\","
                + "\"dst.service\":\"unknown\",\"security\":\"none\",\"bytes_recv\":0,\"bytes_sent\":0,"
                + "\"duration_ms\":0,\"response_flags\":\"UAEX\",\"denied\":\"STRICT: plaintext refused\"}");
    }

    @Test
    void aTunnelsLineEndsWithTheTraceIdOfItsConnect() {
        String line = TcpTelemetry.accessLine(INBOUND, new InetSocketAddress("10.244.1.20", 51000),
                new InetSocketAddress("10.244.2.10", 9090), 5, 7, Instant.parse("2026-11-21T10:00:00Z"),
                Duration.ofMillis(3), null, "4bf92f3577b34da6a3ce929d0e0e4736");
        assertThat(line).endsWith(",\"denied\":null,\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}");
        assertThat(TcpTelemetry.accessLine(INBOUND, null, null, 0, 0, Instant.EPOCH, Duration.ZERO, null, null))
                .doesNotContain("trace_id");
    }

    @Test
    void reporterIsChecked() {
        assertThatThrownBy(() -> ConnectionLabels.builder(null))
                .isInstanceOf(NullPointerException.class)
                .hasMessage("reporter");
        assertThat(INBOUND.withResponseFlags("UF").values()[22]).isEqualTo("UF");
    }
}
