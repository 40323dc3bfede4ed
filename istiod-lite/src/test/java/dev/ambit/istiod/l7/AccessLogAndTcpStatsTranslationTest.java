package dev.ambit.istiod.l7;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.api.TypeUrls;
import dev.ambit.api.telemetry.MetricConfig;
import dev.ambit.api.telemetry.StatsConfig;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.istiod.model.MeshConfigFile;
import dev.ambit.istiod.model.TelemetryProviders;
import io.envoyproxy.envoy.config.core.v3.SubstitutionFormatString;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.access_loggers.file.v3.FileAccessLog;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * MeshConfig {@code envoyFileAccessLog.logFormat} and {@code accessLogEncoding}/{@code accessLogFormat}
 * → the access log's {@code log_format}; Telemetry {@code metrics.overrides} of the TCP metrics →
 * an {@code istio.stats} network filter before a TCP chain's {@code tcp_proxy} (issue 19).
 */
class AccessLogAndTcpStatsTranslationTest {

    private static final String REVIEWS = "inbound-vip|9080|http|reviews.shop.svc.cluster.local";
    private static final String DB = "inbound-vip|5432|tcp|db.shop.svc.cluster.local";

    private static FilterChain chain(L7Resources r, String name) {
        Listener l = (Listener) r.forWaypoint("shop", "waypoint").get(TypeUrls.LISTENER).get("waypoint");
        return l.getFilterChainsList().stream().filter(c -> c.getName().equals(name)).findFirst().orElseThrow();
    }

    private static List<SubstitutionFormatString> formats(String mesh) throws Exception {
        L7Resources r = L7Translator.of(MeshConfigFile.parse(mesh, MeshConfig.defaults()))
                .translate(Snapshots.of(Snapshots.base()));
        HttpConnectionManager hcm = chain(r, REVIEWS).getFilters(0).getTypedConfig()
                .unpack(HttpConnectionManager.class);
        List<SubstitutionFormatString> out = new java.util.ArrayList<>();
        for (var log : hcm.getAccessLogList()) {
            FileAccessLog f = log.getTypedConfig().unpack(FileAccessLog.class);
            out.add(f.hasLogFormat() ? f.getLogFormat() : null);
        }
        return out;
    }

    @Test
    void logFormatTextAndLabelsBecomeTheFileAccessLogsFormat() throws Exception {
        List<SubstitutionFormatString> f = formats("""
                defaultProviders: {accessLogging: [text, labels, plain]}
                extensionProviders:
                - name: text
                  envoyFileAccessLog: {path: /dev/stdout, logFormat: {text: "%REQ(:METHOD)% %RESPONSE_CODE%"}}
                - name: labels
                  envoyFileAccessLog:
                    path: /dev/stdout
                    logFormat: {labels: {z_code: "%RESPONSE_CODE%", a_method: "%REQ(:METHOD)%", peer: "%DOWNSTREAM_PEER_URI_SAN%"}}
                - name: plain
                  envoyFileAccessLog: {path: /dev/stdout}
                """);
        assertThat(f).hasSize(3);
        // Istio appends the newline a format string must end with.
        assertThat(f.get(0).getTextFormatSource().getInlineString()).isEqualTo("%REQ(:METHOD)% %RESPONSE_CODE%\n");
        assertThat(f.get(1).getJsonFormat().getFieldsMap().keySet()).containsExactly("z_code", "a_method", "peer");
        assertThat(f.get(1).getJsonFormat().getFieldsMap().get("z_code").getStringValue()).isEqualTo("%RESPONSE_CODE%");
        assertThat(f.get(1).getJsonFormatOptions().getSortProperties()).isFalse();
        assertThat(f.get(2)).as("no logFormat: the proxy's own JSON line").isNull();
    }

    @Test
    void accessLogEncodingAndFormatShapeTheBuiltInEnvoyProvider() throws Exception {
        assertThat(formats("accessLogFile: /dev/stdout\naccessLogEncoding: TEXT\n")).singleElement()
                .satisfies(s -> assertThat(s.getTextFormatSource().getInlineString())
                        .isEqualTo(TelemetryProviders.ISTIO_TEXT_FORMAT));
        assertThat(formats("accessLogFile: /dev/stdout\naccessLogFormat: \"[%START_TIME%] %RESPONSE_CODE%\\n\"\n"))
                .singleElement().satisfies(s -> assertThat(s.getTextFormatSource().getInlineString())
                        .isEqualTo("[%START_TIME%] %RESPONSE_CODE%\n"));
        assertThat(formats("""
                accessLogFile: /dev/stdout
                accessLogEncoding: JSON
                accessLogFormat: '{"code": "%RESPONSE_CODE%", "path": "%REQ(:PATH)%"}'
                """)).singleElement().satisfies(s -> assertThat(s.getJsonFormat().getFieldsMap().keySet())
                        .containsExactly("code", "path"));
        assertThat(formats("accessLogFile: /dev/stdout\naccessLogEncoding: JSON\n")).singleElement()
                .as("JSON without a format: the proxy's own JSON line").isNull();
        assertThat(formats("accessLogFile: /dev/stdout\n")).singleElement().isNull();
    }

    @Test
    void badFormatsAreRejectedNamingTheKey() {
        assertThatThrownBy(() -> MeshConfigFile.parse("accessLogEncoding: XML\n", MeshConfig.defaults()))
                .hasMessageContaining("accessLogEncoding: XML (expected: TEXT or JSON)");
        assertThatThrownBy(() -> MeshConfigFile.parse("accessLogEncoding: JSON\naccessLogFormat: '[1, 2]'\n",
                MeshConfig.defaults())).hasMessageContaining("accessLogFormat: [1, 2] (expected: a JSON object");
        assertThatThrownBy(() -> MeshConfigFile.parse("""
                extensionProviders:
                - name: both
                  envoyFileAccessLog: {path: /dev/stdout, logFormat: {text: "%DURATION%", labels: {d: "%DURATION%"}}}
                """, MeshConfig.defaults())).hasMessageContaining("logFormat: both text and labels");
        assertThatThrownBy(() -> MeshConfigFile.parse("""
                extensionProviders:
                - name: nested
                  envoyFileAccessLog: {path: /dev/stdout, logFormat: {labels: {d: [1]}}}
                """, MeshConfig.defaults())).hasMessageContaining("extensionProviders[0].envoyFileAccessLog.logFormat"
                + ".labels.d: ");
    }

    @Test
    void tcpMetricOverridesPutIstioStatsBeforeTheTcpProxy() throws Exception {
        L7Resources plain = L7Translator.of(MeshConfig.defaults()).translate(Snapshots.of(Snapshots.base()));
        assertThat(chain(plain, DB).getFiltersList()).extracting(f -> f.getName())
                .containsExactly("envoy.filters.network.tcp_proxy");

        L7Resources r = L7Translator.of(MeshConfig.defaults()).translate(Snapshots.of(Snapshots.base(), """
                apiVersion: telemetry.istio.io/v1
                kind: Telemetry
                metadata: {name: tcp, namespace: shop}
                spec:
                  metrics:
                  - overrides:
                    - match: {metric: TCP_OPENED_CONNECTIONS}
                      tagOverrides:
                        custom_label: {value: "upstream_peer.app | 'none'"}
                        source_principal: {operation: REMOVE}
                    - match: {metric: TCP_SENT_BYTES}
                      disabled: true
                    - match: {metric: ALL_METRICS}
                      tagOverrides: {destination_cluster: {operation: REMOVE}}
                """));
        assertThat(r.warnings()).isEmpty();
        FilterChain db = chain(r, DB);
        assertThat(db.getFiltersList()).extracting(f -> f.getName())
                .containsExactly("istio.stats", "envoy.filters.network.tcp_proxy");
        assertThat(db.getFilters(1).getTypedConfig().unpack(TcpProxy.class).getCluster())
                .isEqualTo("outbound|5432||db.shop.svc.cluster.local");
        StatsConfig stats = db.getFilters(0).getTypedConfig().unpack(StatsConfig.class);
        MetricConfig opened = metric(stats, "tcp_connections_opened_total");
        assertThat(opened.getDimensionsMap()).containsEntry("custom_label", "upstream_peer.app | 'none'");
        assertThat(opened.getTagsToRemoveList()).containsExactly("destination_cluster", "source_principal");
        assertThat(metric(stats, "tcp_sent_bytes_total").getDrop()).isTrue();
        assertThat(metric(stats, "tcp_received_bytes_total").getDrop()).isFalse();
        assertThat(metric(stats, "tcp_connections_closed_total")
                .getTagsToRemoveList()).containsExactly("destination_cluster");
        // The HTTP chain's HCM carries the same config as its first HTTP filter.
        HttpConnectionManager hcm = chain(r, REVIEWS).getFilters(0).getTypedConfig().unpack(HttpConnectionManager.class);
        assertThat(hcm.getHttpFilters(0).getTypedConfig().unpack(StatsConfig.class)).isEqualTo(stats);
    }

    private static MetricConfig metric(StatsConfig s, String name) {
        return s.getMetricsList().stream().filter(m -> m.getName().equals(name)).findFirst().orElseThrow();
    }
}
