package dev.ambit.proxy.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.common.metrics.MetricsRegistry;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class TcpTelemetryTest {

    private static final ConnectionLabels INBOUND = new ConnectionLabels("destination",
            "frontend", "shop", "spiffe://cluster.local/ns/shop/sa/frontend", "frontend", "v1", "frontend", "v1",
            "Kubernetes", "backend", "shop", "spiffe://cluster.local/ns/shop/sa/backend", "backend", "v2",
            "backend.shop.svc.cluster.local", "backend", "shop", "backend", "v2", "Kubernetes", "mutual_tls", null);

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
        ConnectionLabels denied = new ConnectionLabels("destination", null, null, null, null, null, null, null,
                null, "backend", "shop", "spiffe://cluster.local/ns/shop/sa/backend", null, null, null, null, null,
                null, null, null, "none", "UAEX");
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
    void reporterIsChecked() {
        assertThatThrownBy(() -> new ConnectionLabels("client", null, null, null, null, null, null, null, null,
                null, null, null, null, null, null, null, null, null, null, null, null, null))
                .hasMessageContaining("reporter: client (expected: source or destination)");
        assertThat(INBOUND.withResponseFlags("UF").values()[22]).isEqualTo("UF");
    }
}
