package dev.ambit.proxy.telemetry;

import static dev.ambit.proxy.telemetry.TcpTelemetryTest.BACKEND;
import static dev.ambit.proxy.telemetry.TcpTelemetryTest.BACKEND_SERVICE;
import static dev.ambit.proxy.telemetry.TcpTelemetryTest.FRONTEND;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.api.workload.TunnelProtocol;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.proxy.telemetry.ConnectionLabels.Reporter;
import dev.ambit.proxy.telemetry.ConnectionLabels.SecurityPolicy;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ConnectionLabelsTest {

    private static Map<String, String> map(ConnectionLabels labels) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < ConnectionLabels.NAMES.length; i++) {
            m.put(ConnectionLabels.NAMES[i], labels.values()[i]);
        }
        return m;
    }

    @Test
    void sourceReportsBothWorkloadsAndTheServiceOfATunnel() {
        ConnectionLabels labels = ConnectionLabels.builder(Reporter.SOURCE)
                .source(FRONTEND)
                .destination(BACKEND, BACKEND_SERVICE)
                .security(SecurityPolicy.MUTUAL_TLS)
                .build();
        assertThat(labels.reporter()).isEqualTo(Reporter.SOURCE);
        assertThat(Arrays.asList(labels.values())).containsExactly("source",
                "frontend", "shop", "spiffe://cluster.local/ns/shop/sa/frontend", "frontend", "v1", "frontend", "v1",
                "Kubernetes",
                "backend", "shop", "spiffe://cluster.local/ns/shop/sa/backend", "backend", "v2",
                "backend.shop.svc.cluster.local", "backend", "shop", "backend", "v2", "Kubernetes",
                "tcp", "mutual_tls", "-");
    }

    @Test
    void sourceKnowsTheDestinationsPrincipalOnlyOverHbone() {
        Workload plain = BACKEND.toBuilder().setTunnelProtocol(TunnelProtocol.NONE).build();
        ConnectionLabels labels = ConnectionLabels.builder(Reporter.SOURCE).source(FRONTEND)
                .destination(plain, null).build();
        assertThat(map(labels)).containsEntry("destination_principal", "unknown")
                .containsEntry("destination_workload", "backend")
                .containsEntry("destination_service", "unknown")
                .containsEntry("connection_security_policy", "unknown");
    }

    @Test
    void unknownWorkloadsAreUnknown() {
        ConnectionLabels labels = ConnectionLabels.builder(Reporter.SOURCE).build();
        assertThat(Arrays.asList(labels.values()).subList(1, 20)).containsOnly("unknown");
        assertThat(map(labels)).containsEntry("request_protocol", "tcp").containsEntry("response_flags", "-");
    }

    @Test
    void destinationReportsTheProvenPeerAndItsOwnIdentity() {
        SpiffeId proven = SpiffeId.parse("spiffe://cluster.local/ns/other/sa/client");
        ConnectionLabels labels = ConnectionLabels.builder(Reporter.DESTINATION)
                .peer(proven)
                .destination(BACKEND.toBuilder().setTunnelProtocol(TunnelProtocol.NONE).build(), null)
                .security(SecurityPolicy.MUTUAL_TLS)
                .build();
        assertThat(map(labels)).containsEntry("reporter", "destination")
                .containsEntry("source_workload", "unknown")
                .containsEntry("source_principal", proven.uri())
                .containsEntry("destination_principal", "spiffe://cluster.local/ns/shop/sa/backend");
    }

    @Test
    void destinationWithoutProofHasNoSourcePrincipal() {
        ConnectionLabels labels = ConnectionLabels.builder(Reporter.DESTINATION)
                .source(FRONTEND)
                .destination(BACKEND, null)
                .security(SecurityPolicy.NONE)
                .build();
        assertThat(map(labels)).containsEntry("source_workload", "frontend")
                .containsEntry("source_principal", "unknown")
                .containsEntry("connection_security_policy", "none");
    }

    @Test
    void workloadNameFallsBackToThePodsAndIdentityToDefaults() {
        Workload pod = Workload.newBuilder().setName("job-x1").setNamespace("batch").build();
        ConnectionLabels labels = ConnectionLabels.builder(Reporter.SOURCE).source(pod).build();
        assertThat(map(labels)).containsEntry("source_workload", "job-x1")
                .containsEntry("source_principal", "spiffe://cluster.local/ns/batch/sa/default")
                .containsEntry("source_app", "unknown");
    }

    @Test
    void responseFlagsMakeANewValue() {
        ConnectionLabels ok = ConnectionLabels.builder(Reporter.SOURCE).source(FRONTEND).build();
        ConnectionLabels failed = ok.withResponseFlags("UF");
        assertThat(map(failed)).containsEntry("response_flags", "UF");
        assertThat(map(ok)).containsEntry("response_flags", "-");
        assertThat(failed.withResponseFlags(null)).isEqualTo(ok).hasSameHashCodeAs(ok);
        assertThat(failed.toString()).contains("reporter=source", "response_flags=UF");
    }

    @Test
    void waypointReportsHttpLabelsWithTheProvenPeerAndTheServiceByName() {
        ConnectionLabels labels = ConnectionLabels.builder(Reporter.WAYPOINT)
                .source(FRONTEND)
                .peer(SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/frontend"))
                .destination(BACKEND, null)
                .destinationService("backend.shop.svc.cluster.local", "backend", "shop")
                .requestProtocol("grpc")
                .security(SecurityPolicy.MUTUAL_TLS)
                .build();
        String[] v = labels.httpValues(200, "14", "URX");
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < v.length; i++) {
            m.put(ConnectionLabels.HTTP_NAMES.get(i), v[i]);
        }
        assertThat(m).containsEntry("reporter", "waypoint")
                .containsEntry("source_principal", "spiffe://cluster.local/ns/shop/sa/frontend")
                .containsEntry("destination_principal", "spiffe://cluster.local/ns/shop/sa/backend")
                .containsEntry("destination_service", "backend.shop.svc.cluster.local")
                .containsEntry("destination_service_name", "backend")
                .containsEntry("destination_service_namespace", "shop")
                .containsEntry("request_protocol", "grpc")
                .containsEntry("response_code", "200")
                .containsEntry("grpc_response_status", "14")
                .containsEntry("response_flags", "URX")
                .containsEntry("connection_security_policy", "mutual_tls");
        assertThat(labels.httpValues(404, null, null)).endsWith("-", "404", "");
        assertThat(labels.value("request_protocol")).isEqualTo("grpc");
        assertThat(labels.value("response_flags")).isEqualTo("-");
    }
}
