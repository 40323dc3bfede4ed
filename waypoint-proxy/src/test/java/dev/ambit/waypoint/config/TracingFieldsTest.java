package dev.ambit.waypoint.config;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.UInt32Value;
import dev.ambit.proxy.telemetry.trace.Collector;
import dev.ambit.proxy.telemetry.trace.CustomTag;
import dev.ambit.proxy.telemetry.trace.TraceSettings;
import dev.ambit.proxy.telemetry.trace.TracingConfig;
import io.envoyproxy.envoy.config.core.v3.GrpcService;
import io.envoyproxy.envoy.config.core.v3.HttpService;
import io.envoyproxy.envoy.config.core.v3.HttpUri;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.trace.v3.OpenTelemetryConfig;
import io.envoyproxy.envoy.config.trace.v3.Tracing;
import io.envoyproxy.envoy.config.trace.v3.ZipkinConfig;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.type.v3.Percent;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * CONTRACT seam T1: the HCM {@code tracing} shapes istiod-lite writes (Zipkin, OTLP gRPC, OTLP
 * HTTP) are accepted and read into {@link TraceSettings}; any other tracing field or provider is
 * NACKed naming its path.
 */
class TracingFieldsTest {

    static final String ZIPKIN = "outbound|9411||zipkin.istio-system.svc.cluster.local";
    static final String OTEL = "outbound|4317||otel.observability.svc.cluster.local";

    static HttpConnectionManager.Tracing.Builder tracing(Tracing.Http.Builder provider) {
        return HttpConnectionManager.Tracing.newBuilder()
                .setRandomSampling(Percent.newBuilder().setValue(1.0))
                .setMaxPathTagLength(UInt32Value.of(64))
                .addCustomTags(io.envoyproxy.envoy.type.tracing.v3.CustomTag.newBuilder().setTag("cluster")
                        .setEnvironment(io.envoyproxy.envoy.type.tracing.v3.CustomTag.Environment.newBuilder()
                                .setName("CLUSTER_ID").setDefaultValue("Kubernetes")))
                .setProvider(provider);
    }

    static Tracing.Http.Builder zipkin() {
        return Tracing.Http.newBuilder().setName("envoy.tracers.zipkin").setTypedConfig(Any.pack(ZipkinConfig
                .newBuilder().setCollectorCluster(ZIPKIN).setCollectorEndpoint("/api/v2/spans")
                .setCollectorEndpointVersion(ZipkinConfig.CollectorEndpointVersion.HTTP_JSON).setTraceId128Bit(true)
                .setSharedSpanContext(BoolValue.of(false)).setCollectorHostname("zipkin.istio-system.svc.cluster.local")
                .build()));
    }

    static Tracing.Http.Builder otlp(boolean http) {
        OpenTelemetryConfig.Builder c = OpenTelemetryConfig.newBuilder().setServiceName("waypoint.shop");
        if (http) {
            c.setHttpService(HttpService.newBuilder().setHttpUri(HttpUri.newBuilder()
                    .setUri("http://otel.observability.svc.cluster.local:4318/otlp/v1/traces").setCluster(OTEL)
                    .setTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(3))));
        } else {
            c.setGrpcService(GrpcService.newBuilder().setEnvoyGrpc(GrpcService.EnvoyGrpc.newBuilder()
                    .setClusterName(OTEL).setAuthority("otel.observability.svc.cluster.local")));
        }
        return Tracing.Http.newBuilder().setName("envoy.tracers.opentelemetry").setTypedConfig(Any.pack(c.build()));
    }

    static HttpConnectionManager hcm(HttpConnectionManager.Tracing.Builder tracing) {
        return Resources.hcm(Resources.HTTP_CHAIN).toBuilder().setTracing(tracing).build();
    }

    private static Listener with(HttpConnectionManager hcm) {
        Listener l = Resources.listener();
        var chain = l.getFilterChains(0).toBuilder().setFilters(0, Filter.newBuilder()
                .setName("envoy.filters.network.http_connection_manager").setTypedConfig(Any.pack(hcm)));
        return l.toBuilder().setFilterChains(0, chain).build();
    }

    @Test
    void theThreeProviderShapesAreAcceptedAndRead() {
        for (var provider : List.of(zipkin(), otlp(false), otlp(true))) {
            assertThat(ResourceValidator.validate("waypoint", with(hcm(tracing(provider))))).isEmpty();
        }
        TraceSettings z = TracingConfig.settings(hcm(tracing(zipkin())), "waypoint.shop");
        assertThat(z).isEqualTo(new TraceSettings(1.0, List.of(CustomTag.environment("cluster", "CLUSTER_ID",
                "Kubernetes")), 64, new Collector.Zipkin(ZIPKIN, "/api/v2/spans"), "waypoint.shop"));
        assertThat(TracingConfig.settings(hcm(tracing(otlp(false))), "x").collector())
                .isEqualTo(new Collector.OtlpGrpc(OTEL));
        TraceSettings h = TracingConfig.settings(hcm(tracing(otlp(true))), "x");
        assertThat(h.collector()).isEqualTo(new Collector.OtlpHttp(OTEL, "/otlp/v1/traces"));
        assertThat(h.serviceName()).isEqualTo("waypoint.shop");
        assertThat(TracingConfig.settings(Resources.hcm(Resources.HTTP_CHAIN), "x")).as("no tracing").isNull();
    }

    @Test
    void otherTracingFieldsAndProvidersAreNacked() {
        var spawn = tracing(zipkin()).setSpawnUpstreamSpan(BoolValue.of(true));
        assertThat(ResourceValidator.validate("waypoint", with(hcm(spawn))))
                .anyMatch(p -> p.contains("tracing.spawn_upstream_span"));
        var split = tracing(Tracing.Http.newBuilder().setName("envoy.tracers.zipkin").setTypedConfig(Any.pack(
                ZipkinConfig.newBuilder().setCollectorCluster(ZIPKIN).setSplitSpansForRequest(true).build())));
        assertThat(ResourceValidator.validate("waypoint", with(hcm(split))))
                .anyMatch(p -> p.contains("split_spans_for_request"));
        var datadog = tracing(Tracing.Http.newBuilder().setName("envoy.tracers.datadog")
                .setTypedConfig(Any.pack(ZipkinConfig.newBuilder().setCollectorCluster(ZIPKIN).build())));
        assertThat(ResourceValidator.validate("waypoint", with(hcm(datadog))))
                .anyMatch(p -> p.contains("envoy.tracers.datadog"));
        var noCluster = tracing(Tracing.Http.newBuilder().setName("envoy.tracers.zipkin")
                .setTypedConfig(Any.pack(ZipkinConfig.newBuilder().setCollectorEndpoint("/api/v2/spans").build())));
        assertThat(ResourceValidator.validate("waypoint", with(hcm(noCluster))))
                .anyMatch(p -> p.contains("collector_cluster"));
    }
}
