package dev.ambit.proxy.telemetry.trace;

import com.google.protobuf.InvalidProtocolBufferException;
import io.envoyproxy.envoy.config.trace.v3.OpenTelemetryConfig;
import io.envoyproxy.envoy.config.trace.v3.ZipkinConfig;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;

/**
 * An HttpConnectionManager's {@code tracing} (CONTRACT seam T1) as proxy-core's
 * {@link TraceSettings}: {@code random_sampling} (percent; unset: Envoy's 100), {@code custom_tags},
 * {@code max_path_tag_length}, and the provider ({@code envoy.tracers.zipkin} →
 * {@link Collector.Zipkin}; {@code envoy.tracers.opentelemetry} with {@code grpc_service} →
 * {@link Collector.OtlpGrpc}, with {@code http_service} → {@link Collector.OtlpHttp}). Only
 * fields a proxy accepts reach here: its validator NACKed the rest (the waypoint's
 * {@code FieldTable}, the node agent's {@code AgentTracing}). Moved here from waypoint-proxy
 * (issue 19): the node agent reads the same {@code tracing}.
 */
public final class TracingConfig {

    private TracingConfig() {}

    /**
     * The settings of {@code hcm}'s tracing, or null when it has none (no spans). {@code serviceName}
     * names the spans' service unless the provider says otherwise (OpenTelemetry's {@code service_name}).
     *
     * @throws IllegalArgumentException a provider this waypoint cannot use, named
     */
    public static TraceSettings settings(HttpConnectionManager hcm, String serviceName) {
        if (!hcm.hasTracing()) {
            return null;
        }
        HttpConnectionManager.Tracing t = hcm.getTracing();
        if (!t.hasProvider()) {
            throw new IllegalArgumentException("tracing.provider: missing (expected: envoy.tracers.zipkin or "
                    + "envoy.tracers.opentelemetry)");
        }
        double percent = t.hasRandomSampling() ? t.getRandomSampling().getValue() : 100.0;
        List<CustomTag> tags = new ArrayList<>();
        for (var c : t.getCustomTagsList()) {
            tags.add(switch (c.getTypeCase()) {
                case LITERAL -> CustomTag.literal(c.getTag(), c.getLiteral().getValue());
                case ENVIRONMENT -> CustomTag.environment(c.getTag(), c.getEnvironment().getName(),
                        c.getEnvironment().getDefaultValue());
                case REQUEST_HEADER -> CustomTag.requestHeader(c.getTag(), c.getRequestHeader().getName(),
                        c.getRequestHeader().getDefaultValue());
                default -> throw new IllegalArgumentException("tracing.custom_tags[" + c.getTag() + "]: "
                        + c.getTypeCase() + " (expected: literal, environment or request_header)");
            });
        }
        int maxPath = t.hasMaxPathTagLength() ? t.getMaxPathTagLength().getValue()
                : TraceSettings.DEFAULT_MAX_PATH_TAG_LENGTH;
        var provider = t.getProvider();
        Collector collector;
        String service = serviceName;
        try {
            switch (provider.getName()) {
                case "envoy.tracers.zipkin" -> {
                    ZipkinConfig z = provider.getTypedConfig().unpack(ZipkinConfig.class);
                    collector = new Collector.Zipkin(require(z.getCollectorCluster(), "collector_cluster"),
                            z.getCollectorEndpoint());
                }
                case "envoy.tracers.opentelemetry" -> {
                    OpenTelemetryConfig o = provider.getTypedConfig().unpack(OpenTelemetryConfig.class);
                    if (o.hasGrpcService()) {
                        collector = new Collector.OtlpGrpc(require(o.getGrpcService().getEnvoyGrpc().getClusterName(),
                                "grpc_service.envoy_grpc.cluster_name"));
                    } else if (o.hasHttpService()) {
                        var uri = o.getHttpService().getHttpUri();
                        String path = uri.getUri().isEmpty() ? "" : URI.create(uri.getUri()).getRawPath();
                        collector = new Collector.OtlpHttp(require(uri.getCluster(), "http_service.http_uri.cluster"),
                                path);
                    } else {
                        throw new IllegalArgumentException("tracing.provider opentelemetry: neither grpc_service nor "
                                + "http_service (expected: one)");
                    }
                    if (!o.getServiceName().isEmpty()) {
                        service = o.getServiceName();
                    }
                }
                default -> throw new IllegalArgumentException("tracing.provider.name: " + provider.getName()
                        + " (expected: envoy.tracers.zipkin or envoy.tracers.opentelemetry)");
            }
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalArgumentException("tracing.provider.typed_config of " + provider.getName() + ": "
                    + e.getMessage(), e);
        }
        return new TraceSettings(percent, tags, maxPath, collector, service);
    }

    private static String require(String v, String field) {
        if (v.isEmpty()) {
            throw new IllegalArgumentException("tracing.provider " + field + ": empty (expected: a cluster name)");
        }
        return v;
    }
}
