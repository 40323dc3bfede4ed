package dev.ambit.ctl.proxyconfig;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ambit.ctl.local.Manifests;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

/**
 * Golden tests: a dump captured from a waypoint's admin endpoint (waypoint-proxy's
 * WaypointAdminDumpTest writes it) printed as each table, compared with the reviewed output in
 * {@code src/test/resources/proxyconfig/<kind>.txt}. The actual output also goes to
 * {@code target/proxyconfig/<kind>.txt}, to review a change and copy it over.
 */
class ProxyConfigPrinterTest {

    static final String DUMP = "/proxyconfig/waypoint-config-dump.json";

    static JsonNode dump() throws IOException {
        return Manifests.JSON.readTree(resource(DUMP));
    }

    @ParameterizedTest
    @EnumSource(ProxyConfigPrinter.Kind.class)
    void tablesMatchTheGoldenFiles(ProxyConfigPrinter.Kind kind) throws Exception {
        String actual = ProxyConfigPrinter.table(dump(), kind);
        String name = kind.name().toLowerCase(java.util.Locale.ROOT) + ".txt";
        Path out = Path.of("target", "proxyconfig", name);
        Files.createDirectories(out.getParent());
        Files.writeString(out, actual);
        assertThat(actual).isEqualTo(resource("/proxyconfig/" + name));
    }

    @Test
    void jsonIsTheKindsDumpAsTheWaypointHasIt() throws Exception {
        JsonNode routes = Manifests.JSON.readTree(ProxyConfigPrinter.json(dump(), ProxyConfigPrinter.Kind.ROUTES));
        assertThat(routes.path("@type").asText()).isEqualTo("type.googleapis.com/envoy.admin.v3.RoutesConfigDump");
        assertThat(routes.path("dynamic_route_configs").get(0).path("route_config").path("virtual_hosts").get(0)
                .path("routes").size()).isEqualTo(5);
    }

    @Test
    void matchesReadAsIstioctlWritesThem() throws Exception {
        assertThat(ProxyConfigPrinter.match(Manifests.JSON.readTree("{\"prefix\":\"/\"}"))).isEqualTo("/*");
        assertThat(ProxyConfigPrinter.match(Manifests.JSON.readTree("{\"path\":\"/old\"}"))).isEqualTo("/old");
        assertThat(ProxyConfigPrinter.match(Manifests.JSON.readTree("{\"safe_regex\":{\"regex\":\"/v[0-9]+\"},"
                + "\"headers\":[{\"name\":\"end-user\",\"string_match\":{\"exact\":\"jason\"}}],"
                + "\"query_parameters\":[{\"name\":\"flag\",\"present_match\":true}]}")))
                .isEqualTo("/v[0-9]+ [end-user=jason, ?flag present]");
        assertThat(ProxyConfigPrinter.virtualService("shop/reviews/canary")).isEqualTo("reviews.shop");
        assertThat(ProxyConfigPrinter.virtualService("default")).isEqualTo("-");
    }

    @Test
    void aDumpWithoutEnvoySectionsIsNamedNotPrintedEmpty() throws Exception {
        JsonNode agentDump = Manifests.JSON.readTree("{\"workloads\":{}}");
        assertThatThrownBy(() -> ProxyConfigPrinter.table(agentDump, ProxyConfigPrinter.Kind.CLUSTERS))
                .hasMessageContaining("no envoy.admin.v3.ClustersConfigDump");
        assertThatThrownBy(() -> ProxyConfigPrinter.Kind.parse("secrets"))
                .hasMessage("secrets (expected: listeners, routes, clusters, endpoints or all)");
    }

    static String resource(String name) throws IOException {
        try (InputStream in = ProxyConfigPrinterTest.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IOException(name + ": missing test resource");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
