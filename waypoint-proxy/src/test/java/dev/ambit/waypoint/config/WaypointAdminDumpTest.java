package dev.ambit.waypoint.config;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.proxy.admin.AdminServer;
import dev.ambit.proxy.admin.ConfigDumpSections;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.waypoint.WaypointAdmin;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * The waypoint's admin endpoint over HTTP: {@code /config_dump} is Envoy's {@code configs}
 * followed by Ambit's sections. The dump is saved to {@code target/waypoint-config-dump.json}:
 * ambitctl's proxy-config golden tests use a copy of it.
 */
class WaypointAdminDumpTest {

    @Test
    void configDumpIsEnvoysConfigsThenAmbitsSections() throws Exception {
        WaypointConfigStore store = WaypointConfigStore.builder()
                .clock(Clock.fixed(Instant.parse("2026-12-06T21:00:00Z"), ZoneOffset.UTC)).build();
        EnvoyConfigDumpTest.fill(store);
        SpiffeId id = SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/waypoint");
        try (CertificateManager certificates = CertificateManager.builder(i -> new CompletableFuture<>())
                     .metrics(dev.ambit.common.metrics.MetricsRegistry.create()).build();
             AdminServer admin = WaypointAdmin.builder(store, ProxyState.create(), certificates,
                             () -> new ConfigDumpSections.XdsStatus(true, true, ""))
                     .address(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                     .start()) {
            certificates.fetch(id);
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(
                    "http://127.0.0.1:" + admin.localAddress().getPort() + "/config_dump")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(200);
            JsonNode dump = new ObjectMapper().readTree(r.body());
            assertThat(dump.properties()).extracting(e -> e.getKey()).containsExactly("configs", "waypoint",
                    "workloads", "services", "policies", "certificates", "xds", "upstream");
            assertThat(dump.path("configs").get(0).path("@type").asText())
                    .isEqualTo("type.googleapis.com/envoy.admin.v3.ListenersConfigDump");
            assertThat(dump.path("configs").get(2).path("dynamic_active_clusters").size()).isEqualTo(5);
            assertThat(dump.path("waypoint").path("version").asLong()).isEqualTo(4);
            assertThat(dump.path("waypoint").path("filterChains").get(0).path("routeName").asText())
                    .isEqualTo(Resources.HTTP_CHAIN);
            assertThat(dump.path("waypoint").path("filterChains").get(1).path("kind").asText()).isEqualTo("TCP");
            assertThat(dump.path("waypoint").path("filterChains").get(2).path("cluster").asText())
                    .isEqualTo("inbound-passthrough");
            assertThat(dump.path("certificates").get(0).path("state").asText()).isEqualTo("pending");
            Path out = Path.of("target", "waypoint-config-dump.json");
            Files.createDirectories(out.getParent());
            Files.writeString(out, new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(dump) + "\n");
        }
    }
}
