package dev.ambit.istiod.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.api.TypeUrls;
import dev.ambit.api.telemetry.StatsConfig;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.istiod.model.MeshConfigFile;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.trace.v3.OpenTelemetryConfig;
import io.envoyproxy.envoy.config.trace.v3.ZipkinConfig;
import io.envoyproxy.envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import org.junit.jupiter.api.Test;

/** Telemetry API → the waypoint HCM's tracing, istio.stats filter and access_log, and the collector cluster (issue 19). */
class TelemetryTranslationTest {

    private static final String REVIEWS = "inbound-vip|9080|http|reviews.shop.svc.cluster.local";
    private static final String COLLECTOR = "outbound|80||echo.other.svc.cluster.local";
    private static final MeshConfig MESH = MeshConfigFile.parse("""
            accessLogFile: /dev/stdout
            defaultConfig: {tracing: {sampling: 10}}
            defaultProviders: {tracing: [zipkin]}
            extensionProviders:
            - name: zipkin
              zipkin: {service: other/echo.other.svc.cluster.local, port: 80, maxTagLength: 99}
            - name: otel
              opentelemetry: {service: echo.other.svc.cluster.local, port: 80, http: {path: /otlp, timeout: 2s}}
            """, MeshConfig.defaults());

    private static HttpConnectionManager hcm(L7Resources r, String chain) throws Exception {
        Listener l = (Listener) r.forWaypoint("shop", "waypoint").get(TypeUrls.LISTENER).get("waypoint");
        FilterChain fc = l.getFilterChainsList().stream().filter(c -> c.getName().equals(chain)).findFirst()
                .orElseThrow();
        return fc.getFilters(0).getTypedConfig().unpack(HttpConnectionManager.class);
    }

    @Test
    void meshDefaultsGiveZipkinTracingTheCollectorClusterAndTheEnvoyAccessLog() throws Exception {
        L7Resources r = L7Translator.of(MESH).translate(Snapshots.of(Snapshots.base()));
        HttpConnectionManager hcm = hcm(r, REVIEWS);
        assertThat(hcm.getTracing().getRandomSampling().getValue()).isEqualTo(10.0);
        assertThat(hcm.getTracing().getMaxPathTagLength().getValue()).isEqualTo(99);
        assertThat(hcm.getTracing().getProvider().getName()).isEqualTo("envoy.tracers.zipkin");
        ZipkinConfig z = hcm.getTracing().getProvider().getTypedConfig().unpack(ZipkinConfig.class);
        assertThat(z.getCollectorCluster()).isEqualTo(COLLECTOR);
        assertThat(z.getCollectorEndpoint()).isEqualTo("/api/v2/spans");
        assertThat(z.getCollectorEndpointVersion()).isEqualTo(ZipkinConfig.CollectorEndpointVersion.HTTP_JSON);
        assertThat(z.getTraceId128Bit()).isTrue();
        assertThat(z.getSharedSpanContext().getValue()).isFalse();
        assertThat(z.getCollectorHostname()).isEqualTo("echo.other.svc.cluster.local");
        assertThat(r.forWaypoint("shop", "waypoint").get(TypeUrls.CLUSTER)).containsKey(COLLECTOR);
        assertThat(((Cluster) r.forWaypoint("shop", "waypoint").get(TypeUrls.CLUSTER).get(COLLECTOR)).getType())
                .isEqualTo(Cluster.DiscoveryType.EDS);
        assertThat(r.forWaypoint("shop", "waypoint").get(TypeUrls.CLUSTER_LOAD_ASSIGNMENT).get(COLLECTOR))
                .isInstanceOf(ClusterLoadAssignment.class);
        assertThat(hcm.getAccessLogList()).hasSize(1);
        assertThat(hcm.getAccessLog(0).getName()).isEqualTo("envoy.access_loggers.file");
        assertThat(hcm.getAccessLog(0).hasFilter()).isFalse();
        // Istio's standard metrics unchanged: no stats filter.
        assertThat(hcm.getHttpFiltersList()).noneMatch(f -> f.getName().equals("istio.stats"));
    }

    @Test
    void noProvidersNoTelemetryLeavesTheHcmAsBefore() throws Exception {
        L7Resources r = L7Translator.of(MeshConfig.defaults()).translate(Snapshots.of(Snapshots.base()));
        HttpConnectionManager hcm = hcm(r, REVIEWS);
        assertThat(hcm.hasTracing()).isFalse();
        assertThat(hcm.getAccessLogList()).isEmpty();
        assertThat(hcm.getHttpFiltersList()).noneMatch(f -> f.getName().equals("istio.stats"));
        assertThat(r.forWaypoint("shop", "waypoint").get(TypeUrls.CLUSTER)).doesNotContainKey(COLLECTOR);
    }

    @Test
    void namespaceAndWaypointTelemetriesOverrideTheMeshPerField() throws Exception {
        L7Resources r = L7Translator.of(MESH).translate(Snapshots.of(Snapshots.base(), """
                apiVersion: telemetry.istio.io/v1
                kind: Telemetry
                metadata: {name: mesh-default, namespace: istio-system}
                spec:
                  tracing: [{randomSamplingPercentage: 100, customTags: {env: {literal: {value: prod}}}}]
                  metrics:
                  - overrides:
                    - match: {metric: REQUEST_COUNT}
                      tagOverrides: {custom_label: {value: "request.headers['x-custom'] | 'unknown'"}}
                ---
                apiVersion: telemetry.istio.io/v1
                kind: Telemetry
                metadata: {name: shop, namespace: shop}
                spec:
                  accessLogging: [{filter: {expression: "response.code >= 400"}}]
                ---
                apiVersion: telemetry.istio.io/v1
                kind: Telemetry
                metadata: {name: waypoint, namespace: shop}
                spec:
                  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: waypoint}]
                  tracing:
                  - providers: [{name: otel}]
                    customTags: {user: {header: {name: x-user, defaultValue: anon}}}
                  metrics:
                  - overrides:
                    - match: {metric: ALL_METRICS, mode: SERVER}
                      tagOverrides: {request_protocol: {operation: REMOVE}}
                    - match: {metric: REQUEST_SIZE, mode: CLIENT}
                      disabled: true
                """));
        assertThat(r.warnings()).isEmpty();
        HttpConnectionManager hcm = hcm(r, REVIEWS);
        assertThat(hcm.getTracing().getRandomSampling().getValue()).isEqualTo(100.0);
        assertThat(hcm.getTracing().getCustomTagsList()).extracting(t -> t.getTag())
                .containsExactly("env", "user");
        assertThat(hcm.getTracing().getCustomTags(1).getRequestHeader().getDefaultValue()).isEqualTo("anon");
        assertThat(hcm.getTracing().getProvider().getName()).isEqualTo("envoy.tracers.opentelemetry");
        OpenTelemetryConfig otel = hcm.getTracing().getProvider().getTypedConfig().unpack(OpenTelemetryConfig.class);
        assertThat(otel.getHttpService().getHttpUri().getUri()).isEqualTo("http://echo.other.svc.cluster.local:80/otlp");
        assertThat(otel.getHttpService().getHttpUri().getCluster()).isEqualTo(COLLECTOR);
        assertThat(otel.getHttpService().getHttpUri().getTimeout().getSeconds()).isEqualTo(2);
        assertThat(otel.getServiceName()).isEqualTo("waypoint.shop");
        assertThat(hcm.getTracing().hasMaxPathTagLength()).isFalse();

        assertThat(hcm.getHttpFilters(0).getName()).isEqualTo("istio.stats");
        StatsConfig stats = hcm.getHttpFilters(0).getTypedConfig().unpack(StatsConfig.class);
        var requests = stats.getMetricsList().stream().filter(m -> m.getName().equals("requests_total")).findFirst()
                .orElseThrow();
        assertThat(requests.getDimensionsMap()).containsEntry("custom_label", "request.headers['x-custom'] | 'unknown'");
        assertThat(requests.getTagsToRemoveList()).containsExactly("request_protocol");
        // mode CLIENT does not apply to a waypoint (it reports as the server side).
        assertThat(stats.getMetricsList()).noneMatch(m -> m.getDrop());

        assertThat(hcm.getAccessLogList()).hasSize(1);
        ExpressionFilter filter = hcm.getAccessLog(0).getFilter().getExtensionFilter().getTypedConfig()
                .unpack(ExpressionFilter.class);
        assertThat(filter.getExpression()).isEqualTo("response.code >= 400");
    }

    @Test
    void aNamespaceDisableSilencesOnlyThatNamespacesWaypoint() throws Exception {
        L7Resources r = L7Translator.of(MESH).translate(Snapshots.of(Snapshots.base(), """
                apiVersion: telemetry.istio.io/v1
                kind: Telemetry
                metadata: {name: quiet, namespace: shop}
                spec:
                  accessLogging: [{disabled: true}]
                  metrics: [{providers: [{name: zipkin}]}]
                """));
        HttpConnectionManager hcm = hcm(r, REVIEWS);
        assertThat(hcm.getAccessLogList()).isEmpty();
        // zipkin is no metrics provider: without prometheus every metric is dropped.
        StatsConfig stats = hcm.getHttpFilters(0).getTypedConfig().unpack(StatsConfig.class);
        assertThat(stats.getMetricsList()).singleElement().satisfies(m -> {
            assertThat(m.getName()).isEmpty();
            assertThat(m.getDrop()).isTrue();
        });
    }

    @Test
    void aDisableNamingNoProviderTurnsOffWhatTheRootTurnedOn() throws Exception {
        // No accessLogFile: the root's Telemetry turns envoy on; {disabled: true} without providers
        // means the providers of the entry before it (Istio's mergeLogs), not MeshConfig's defaults.
        String root = """
                apiVersion: telemetry.istio.io/v1
                kind: Telemetry
                metadata: {name: mesh-default, namespace: istio-system}
                spec:
                  accessLogging: [{providers: [{name: envoy}]}]
                ---
                """;
        MeshConfig mesh = MeshConfig.defaults();
        HttpConnectionManager on = hcm(L7Translator.of(mesh).translate(Snapshots.of(Snapshots.base(), root)), REVIEWS);
        assertThat(on.getAccessLogList()).hasSize(1);
        HttpConnectionManager off = hcm(L7Translator.of(mesh).translate(Snapshots.of(Snapshots.base(), root + """
                apiVersion: telemetry.istio.io/v1
                kind: Telemetry
                metadata: {name: quiet, namespace: shop}
                spec:
                  accessLogging: [{disabled: true}]
                """)), REVIEWS);
        assertThat(off.getAccessLogList()).isEmpty();
    }

    @Test
    void anOtlpHttpProviderWithoutTimeoutGetsIstiosThreeSecondsWhichEnvoyRequires() throws Exception {
        MeshConfig mesh = MeshConfigFile.parse("""
                extensionProviders:
                - name: otel
                  opentelemetry: {service: echo.other.svc.cluster.local, port: 80, http: {path: /v1/traces}}
                """, MeshConfig.defaults());
        HttpConnectionManager hcm = hcm(L7Translator.of(mesh).translate(Snapshots.of(Snapshots.base(), """
                apiVersion: telemetry.istio.io/v1
                kind: Telemetry
                metadata: {name: mesh-default, namespace: istio-system}
                spec:
                  tracing: [{providers: [{name: otel}]}]
                """)), REVIEWS);
        OpenTelemetryConfig otel = hcm.getTracing().getProvider().getTypedConfig().unpack(OpenTelemetryConfig.class);
        assertThat(otel.getHttpService().getHttpUri().hasTimeout()).isTrue();
        assertThat(otel.getHttpService().getHttpUri().getTimeout().getSeconds()).isEqualTo(3);
    }
}
