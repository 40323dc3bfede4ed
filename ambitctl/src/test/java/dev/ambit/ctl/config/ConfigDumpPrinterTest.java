package dev.ambit.ctl.config;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ambit.ctl.local.Manifests;
import org.junit.jupiter.api.Test;

class ConfigDumpPrinterTest {

    // The shape of the node agent's /config_dump (AdminServer): maps keyed by uid / ns/host, bytes as base64.
    private static final String DUMP = """
            {"generation": 7,
             "workloads": {
               "Kubernetes//Pod/demo/client": {"uid": "Kubernetes//Pod/demo/client", "name": "client", "namespace": "demo",
                 "addresses": ["CvQBAw=="], "node": "node1", "tunnelProtocol": "HBONE", "serviceAccount": "default",
                 "status": "HEALTHY", "services": {}},
               "Kubernetes//Pod/demo/backend-1": {"uid": "Kubernetes//Pod/demo/backend-1", "name": "backend-1",
                 "namespace": "demo", "addresses": ["CvQCAg=="], "node": "node2", "tunnelProtocol": "NONE",
                 "serviceAccount": "default", "status": "HEALTHY",
                 "services": {"demo/backend.demo.svc.cluster.local": {"ports": [{"servicePort": 8080, "targetPort": 8080}]}}}},
             "services": {
               "demo/backend.demo.svc.cluster.local": {"name": "backend", "namespace": "demo",
                 "hostname": "backend.demo.svc.cluster.local", "addresses": [{"network": "", "address": "CmAACg=="}],
                 "ports": [{"servicePort": 8080, "targetPort": 8080}]}},
             "policies": {"istio-system/istio_converted_static_strict": {"name": "istio_converted_static_strict",
                 "namespace": "istio-system", "scope": "WORKLOAD_SELECTOR", "action": "DENY", "rules": [{}], "dryRun": false}},
             "certificates": [{"identity": "spiffe://cluster.local/ns/demo/sa/default", "state": "valid", "serial": "ab",
                 "notBefore": "2026-11-21T12:00:00Z", "notAfter": "2026-11-22T12:00:00Z", "secondsToExpiry": 86000,
                 "chainLength": 2},
               {"identity": "spiffe://cluster.local/ns/shop/sa/cart", "state": "pending"}],
             "xds": {"connected": true, "synced": true, "lastNack": ""}}
            """;

    private static JsonNode dump() throws Exception {
        return Manifests.JSON.readTree(DUMP);
    }

    @Test
    void workloadsDecodeAddresses() throws Exception {
        assertThat(ConfigDumpPrinter.table(dump(), ConfigDumpPrinter.Section.WORKLOADS)).isEqualTo("""
                NAMESPACE   POD NAME    ADDRESS      NODE    WAYPOINT   PROTOCOL   SERVICE ACCOUNT   STATUS
                demo        backend-1   10.244.2.2   node2   None       NONE       default           HEALTHY
                demo        client      10.244.1.3   node1   None       HBONE      default           HEALTHY
                """);
    }

    @Test
    void servicesCountTheirEndpoints() throws Exception {
        assertThat(ConfigDumpPrinter.table(dump(), ConfigDumpPrinter.Section.SERVICES))
                .contains("demo        backend.demo.svc.cluster.local   10.96.0.10    8080->8080   None       1/1");
    }

    @Test
    void policiesAndCerts() throws Exception {
        assertThat(ConfigDumpPrinter.table(dump(), ConfigDumpPrinter.Section.POLICIES))
                .contains("istio-system   istio_converted_static_strict   DENY     WORKLOAD_SELECTOR   1");
        String certs = ConfigDumpPrinter.table(dump(), ConfigDumpPrinter.Section.CERTS);
        assertThat(certs).contains("spiffe://cluster.local/ns/demo/sa/default   Available   ab")
                .contains("spiffe://cluster.local/ns/shop/sa/cart      Pending     -");
    }

    @Test
    void jsonIsTheRawSection() throws Exception {
        JsonNode w = Manifests.JSON.readTree(ConfigDumpPrinter.json(dump(), ConfigDumpPrinter.Section.WORKLOADS));
        assertThat(w.has("Kubernetes//Pod/demo/client")).isTrue();
        assertThat(ConfigDumpPrinter.Section.parse("certs")).isEqualTo(ConfigDumpPrinter.Section.CERTS);
    }
}
