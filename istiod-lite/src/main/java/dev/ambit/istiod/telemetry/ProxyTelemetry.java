package dev.ambit.istiod.telemetry;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.UInt32Value;
import dev.ambit.api.telemetry.MetricConfig;
import dev.ambit.api.telemetry.StatsConfig;
import dev.ambit.istiod.model.TelemetryProviders;
import io.envoyproxy.envoy.config.accesslog.v3.AccessLogFilter;
import io.envoyproxy.envoy.config.accesslog.v3.ExtensionFilter;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.config.core.v3.GrpcService;
import io.envoyproxy.envoy.config.core.v3.JsonFormatOptions;
import io.envoyproxy.envoy.config.core.v3.SubstitutionFormatString;
import io.envoyproxy.envoy.config.core.v3.HttpService;
import io.envoyproxy.envoy.config.core.v3.HttpUri;
import io.envoyproxy.envoy.config.trace.v3.OpenTelemetryConfig;
import io.envoyproxy.envoy.config.trace.v3.ZipkinConfig;
import io.envoyproxy.envoy.extensions.access_loggers.file.v3.FileAccessLog;
import io.envoyproxy.envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.type.tracing.v3.CustomTag;
import io.envoyproxy.envoy.type.v3.Percent;
import io.fabric8.istio.api.api.telemetry.v1alpha1.MetricSelectorCustomMetric;
import io.fabric8.istio.api.api.telemetry.v1alpha1.MetricSelectorIstioMetric;
import io.fabric8.istio.api.api.telemetry.v1alpha1.MetricSelectorMetric;
import io.fabric8.istio.api.api.telemetry.v1alpha1.MetricsOverrides;
import io.fabric8.istio.api.api.telemetry.v1alpha1.MetricsOverridesTagOverrideOperation;
import io.fabric8.istio.api.api.telemetry.v1alpha1.TracingCustomTag;
import io.fabric8.istio.api.api.telemetry.v1alpha1.TracingCustomTagEnvironment;
import io.fabric8.istio.api.api.telemetry.v1alpha1.TracingCustomTagHeader;
import io.fabric8.istio.api.api.telemetry.v1alpha1.TracingCustomTagLiteral;
import io.fabric8.istio.api.telemetry.v1.Telemetry;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * What one HTTP connection manager of a waypoint or gateway reports, resolved from the Telemetry
 * API ({@link Telemetries#resolve}), and its Envoy form (CONTRACT seams T1, T2):
 * <ul>
 *   <li>{@code tracing} (T1): {@code random_sampling}, {@code custom_tags}, {@code max_path_tag_length}
 *       (zipkin {@code maxTagLength}) and the provider, {@code envoy.tracers.zipkin} or
 *       {@code envoy.tracers.opentelemetry}, sending to the collector cluster
 *       {@code outbound|<port>||<host>}; absent when no tracing provider is selected.</li>
 *   <li>the {@code istio.stats} HTTP filter, first in {@code http_filters}, with
 *       {@code ambit.telemetry.v1.StatsConfig} (T2), when the metrics differ from Istio's standard
 *       ones (overrides, or no {@code prometheus} provider: every metric dropped); the same as a
 *       network filter before a TCP chain's {@code tcp_proxy} ({@link #tcpStats}).</li>
 *   <li>{@code access_log} (T2): one {@code envoy.access_loggers.file} per enabled provider, with a
 *       CEL {@code extension_filter} when the Telemetry gave {@code filter.expression}.</li>
 * </ul>
 */
public final class ProxyTelemetry {

    /** The HTTP filter carrying {@link StatsConfig}. */
    public static final String STATS_FILTER = "istio.stats";
    static final String ZIPKIN = "envoy.tracers.zipkin";
    static final String OPENTELEMETRY = "envoy.tracers.opentelemetry";
    static final String FILE_ACCESS_LOG = "envoy.access_loggers.file";
    static final String CEL_FILTER = "envoy.access_loggers.extension_filters.cel";
    /** An OTLP/HTTP provider's {@code http.timeout} when the MeshConfig leaves it unset (Istio's default). */
    static final java.time.Duration OTLP_HTTP_TIMEOUT = java.time.Duration.ofSeconds(3);

    /** Istio's standard metrics by the Telemetry API's name, as the stats filter names them (no {@code istio_}). */
    static final Map<MetricSelectorIstioMetric, String> METRIC_NAMES = orderedNames();

    /** The selected tracing provider, sampling percent and custom tags. */
    record TracingSettings(TelemetryProviders.Provider provider, double sampling, Map<String, TracingCustomTag> tags) {
    }

    /** One applicable {@code metrics[].overrides[]} entry and where it was written. */
    record MetricOverride(Telemetry telemetry, String field, MetricsOverrides override) {
    }

    /** Whether prometheus is selected and the overrides, root first. */
    record MetricsSettings(boolean prometheus, List<MetricOverride> overrides) {
    }

    /** An enabled file access log and its filter expression ("" = every request). */
    record AccessLog(TelemetryProviders.FileAccessLog provider, String filter) {
    }

    private final ProxyScope scope;
    private final TracingSettings tracing;
    private final MetricsSettings metrics;
    private final List<AccessLog> accessLogs;

    ProxyTelemetry(ProxyScope scope, TracingSettings tracing, MetricsSettings metrics, List<AccessLog> accessLogs) {
        this.scope = requireNonNull(scope, "scope");
        this.tracing = tracing;
        this.metrics = requireNonNull(metrics, "metrics");
        this.accessLogs = List.copyOf(accessLogs);
    }

    /** Sets tracing and access logs on {@code hcm} and adds the stats filter; call before adding other filters. */
    public void apply(HttpConnectionManager.Builder hcm) {
        requireNonNull(hcm, "hcm");
        stats().ifPresent(s -> hcm.addHttpFilters(HttpFilter.newBuilder().setName(STATS_FILTER)
                .setTypedConfig(Any.pack(s))));
        tracing().ifPresent(hcm::setTracing);
        for (AccessLog log : accessLogs) {
            var entry = io.envoyproxy.envoy.config.accesslog.v3.AccessLog.newBuilder().setName(FILE_ACCESS_LOG)
                    .setTypedConfig(Any.pack(fileAccessLog(log.provider())));
            if (!log.filter().isEmpty()) {
                entry.setFilter(AccessLogFilter.newBuilder().setExtensionFilter(ExtensionFilter.newBuilder()
                        .setName(CEL_FILTER)
                        .setTypedConfig(Any.pack(ExpressionFilter.newBuilder().setExpression(log.filter()).build()))));
            }
            hcm.addAccessLog(entry);
        }
    }

    /**
     * Envoy's {@code FileAccessLog} of a provider, as Istio writes it: {@code logFormat.text} as
     * {@code log_format.text_format_source} (a newline appended when missing, as Istio does),
     * {@code logFormat.labels} as {@code log_format.json_format} (keys in order,
     * {@code sort_properties} false); neither: no {@code log_format}, the proxy's own JSON line.
     */
    static FileAccessLog fileAccessLog(TelemetryProviders.FileAccessLog p) {
        FileAccessLog.Builder f = FileAccessLog.newBuilder().setPath(p.path());
        if (!p.text().isEmpty()) {
            String text = p.text().endsWith("\n") ? p.text() : p.text() + "\n";
            f.setLogFormat(SubstitutionFormatString.newBuilder().setTextFormatSource(DataSource.newBuilder()
                    .setInlineString(text)));
        } else if (!p.labels().isEmpty()) {
            Struct.Builder labels = Struct.newBuilder();
            p.labels().forEach((k, v) -> labels.putFields(k, Value.newBuilder().setStringValue(v).build()));
            f.setLogFormat(SubstitutionFormatString.newBuilder().setJsonFormat(labels)
                    .setJsonFormatOptions(JsonFormatOptions.newBuilder().setSortProperties(false)));
        }
        return f.build();
    }

    /**
     * The network filter {@code istio.stats} of a TCP chain, before its {@code tcp_proxy}, as
     * Istio puts it there: the same {@link StatsConfig} as the HTTP filter's (the proxy applies its
     * {@code tcp_*} entries and the all-metrics one to the TCP metrics); empty when Istio's
     * standard metrics apply unchanged.
     */
    public Optional<io.envoyproxy.envoy.config.listener.v3.Filter> tcpStats() {
        return stats().map(s -> io.envoyproxy.envoy.config.listener.v3.Filter.newBuilder().setName(STATS_FILTER)
                .setTypedConfig(Any.pack(s)).build());
    }

    /** The collector clusters the proxy must have ({@code outbound|<port>||<host>}). */
    public Set<String> collectorClusters() {
        Set<String> out = new LinkedHashSet<>();
        if (tracing != null) {
            out.add(collectorCluster(tracing.provider()));
        }
        return out;
    }

    /** The HCM's {@code tracing}, when a tracing provider is selected. */
    public Optional<HttpConnectionManager.Tracing> tracing() {
        if (tracing == null) {
            return Optional.empty();
        }
        HttpConnectionManager.Tracing.Builder t = HttpConnectionManager.Tracing.newBuilder()
                .setRandomSampling(Percent.newBuilder().setValue(tracing.sampling()));
        new TreeMap<>(tracing.tags()).forEach((name, tag) -> customTag(name, tag).ifPresent(t::addCustomTags));
        String cluster = collectorCluster(tracing.provider());
        var http = io.envoyproxy.envoy.config.trace.v3.Tracing.Http.newBuilder();
        switch (tracing.provider()) {
            case TelemetryProviders.Zipkin z -> {
                if (z.maxTagLength() > 0) {
                    t.setMaxPathTagLength(UInt32Value.of(z.maxTagLength()));
                }
                http.setName(ZIPKIN).setTypedConfig(Any.pack(ZipkinConfig.newBuilder()
                        .setCollectorCluster(cluster)
                        .setCollectorEndpoint(z.path())
                        .setCollectorEndpointVersion(ZipkinConfig.CollectorEndpointVersion.HTTP_JSON)
                        .setTraceId128Bit(true)
                        .setSharedSpanContext(BoolValue.of(false))
                        .setCollectorHostname(z.service())
                        .build()));
            }
            case TelemetryProviders.OpenTelemetry o -> {
                OpenTelemetryConfig.Builder c = OpenTelemetryConfig.newBuilder().setServiceName(scope.tracingServiceName());
                if (o.http()) {
                    HttpUri.Builder uri = HttpUri.newBuilder().setUri("http://" + o.service() + ":" + o.port()
                            + o.httpPath()).setCluster(cluster);
                    // Envoy requires http_uri.timeout (the proxies NACK it missing); unset, Istio's 3 s.
                    java.time.Duration timeout = o.timeout().isZero() ? OTLP_HTTP_TIMEOUT : o.timeout();
                    uri.setTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(timeout.getSeconds())
                            .setNanos(timeout.getNano()));
                    c.setHttpService(HttpService.newBuilder().setHttpUri(uri));
                } else {
                    c.setGrpcService(GrpcService.newBuilder().setEnvoyGrpc(GrpcService.EnvoyGrpc.newBuilder()
                            .setClusterName(cluster).setAuthority(o.service())));
                }
                http.setName(OPENTELEMETRY).setTypedConfig(Any.pack(c.build()));
            }
            default -> throw new IllegalStateException("not a tracing provider: " + tracing.provider());
        }
        return Optional.of(t.setProvider(http).build());
    }

    /** {@code outbound|<port>||<host>}, Istio's name of a provider's collector cluster. */
    static String collectorCluster(TelemetryProviders.Provider p) {
        return switch (p) {
            case TelemetryProviders.Zipkin z -> "outbound|" + z.port() + "||" + z.service();
            case TelemetryProviders.OpenTelemetry o -> "outbound|" + o.port() + "||" + o.service();
            default -> throw new IllegalArgumentException("provider " + p.name() + " has no collector");
        };
    }

    private static Optional<CustomTag> customTag(String name, TracingCustomTag tag) {
        if (tag == null || tag.getType() == null) {
            return Optional.empty();
        }
        CustomTag.Builder b = CustomTag.newBuilder().setTag(name);
        switch (tag.getType()) {
            case TracingCustomTagLiteral l when l.getLiteral() != null -> b.setLiteral(CustomTag.Literal.newBuilder()
                    .setValue(nonNull(l.getLiteral().getValue())));
            case TracingCustomTagEnvironment e when e.getEnvironment() != null -> b.setEnvironment(
                    CustomTag.Environment.newBuilder().setName(nonNull(e.getEnvironment().getName()))
                            .setDefaultValue(nonNull(e.getEnvironment().getDefaultValue())));
            case TracingCustomTagHeader h when h.getHeader() != null -> b.setRequestHeader(CustomTag.Header.newBuilder()
                    .setName(nonNull(h.getHeader().getName()))
                    .setDefaultValue(nonNull(h.getHeader().getDefaultValue())));
            default -> {
                return Optional.empty();
            }
        }
        return Optional.of(b.build());
    }

    /**
     * The stats filter's configuration: empty when Istio's standard metrics apply unchanged.
     * Overrides are merged per metric here, as Istio merges them, so the proxy gets one entry per
     * changed metric: {@code disabled} (the last one set wins), then tags, a later UPSERT or
     * REMOVE of a tag replacing an earlier one.
     */
    public Optional<StatsConfig> stats() {
        if (!metrics.prometheus()) {
            return Optional.of(StatsConfig.newBuilder().addMetrics(MetricConfig.newBuilder().setName("")
                    .setDrop(true)).build());
        }
        if (metrics.overrides().isEmpty()) {
            return Optional.empty();
        }
        Map<String, Boolean> drop = new LinkedHashMap<>();
        Map<String, Map<String, String>> tags = new LinkedHashMap<>(); // metric → tag → expression, null = remove
        for (MetricOverride o : metrics.overrides()) {
            for (String metric : metricNames(o.override())) {
                if (o.override().getDisabled() != null) {
                    drop.put(metric, o.override().getDisabled());
                }
                if (o.override().getTagOverrides() != null) {
                    o.override().getTagOverrides().forEach((tag, to) -> {
                        boolean remove = to != null && to.getOperation() == MetricsOverridesTagOverrideOperation.REMOVE;
                        tags.computeIfAbsent(metric, m -> new LinkedHashMap<>()).put(tag,
                                remove ? null : to == null || to.getValue() == null ? "" : to.getValue());
                    });
                }
            }
        }
        StatsConfig.Builder out = StatsConfig.newBuilder();
        Set<String> names = new LinkedHashSet<>(drop.keySet());
        names.addAll(tags.keySet());
        for (String metric : names) {
            MetricConfig.Builder m = MetricConfig.newBuilder().setName(metric)
                    .setDrop(drop.getOrDefault(metric, false));
            new TreeMap<>(tags.getOrDefault(metric, Map.of())).forEach((tag, expr) -> {
                if (expr == null) {
                    m.addTagsToRemove(tag);
                } else {
                    m.putDimensions(tag, expr);
                }
            });
            out.addMetrics(m);
        }
        return Optional.of(out.build());
    }

    /** The standard metrics (stats names) an override's {@code match} picks: all of them without a match. */
    static List<String> metricNames(MetricsOverrides o) {
        var match = o.getMatch();
        if (match == null || match.getMetricMatch() == null) {
            return List.copyOf(new LinkedHashSet<>(METRIC_NAMES.values()));
        }
        return switch (match.getMetricMatch()) {
            case MetricSelectorMetric m when m.getMetric() == null
                    || m.getMetric() == MetricSelectorIstioMetric.ALL_METRICS ->
                    List.copyOf(new LinkedHashSet<>(METRIC_NAMES.values()));
            case MetricSelectorMetric m -> List.of(METRIC_NAMES.get(m.getMetric()));
            case MetricSelectorCustomMetric c -> List.of(nonNull(c.getCustomMetric()));
            default -> List.of();
        };
    }

    private static Map<MetricSelectorIstioMetric, String> orderedNames() {
        Map<MetricSelectorIstioMetric, String> m = new LinkedHashMap<>();
        m.put(MetricSelectorIstioMetric.REQUEST_COUNT, "requests_total");
        m.put(MetricSelectorIstioMetric.REQUEST_DURATION, "request_duration_milliseconds");
        m.put(MetricSelectorIstioMetric.REQUEST_SIZE, "request_bytes");
        m.put(MetricSelectorIstioMetric.RESPONSE_SIZE, "response_bytes");
        m.put(MetricSelectorIstioMetric.TCP_OPENED_CONNECTIONS, "tcp_connections_opened_total");
        m.put(MetricSelectorIstioMetric.TCP_CLOSED_CONNECTIONS, "tcp_connections_closed_total");
        m.put(MetricSelectorIstioMetric.TCP_SENT_BYTES, "tcp_sent_bytes_total");
        m.put(MetricSelectorIstioMetric.TCP_RECEIVED_BYTES, "tcp_received_bytes_total");
        m.put(MetricSelectorIstioMetric.GRPC_REQUEST_MESSAGES, "request_messages_total");
        m.put(MetricSelectorIstioMetric.GRPC_RESPONSE_MESSAGES, "response_messages_total");
        return java.util.Collections.unmodifiableMap(m);
    }

    /** The access logs, for tests and debugging. */
    List<AccessLog> accessLogs() {
        return accessLogs;
    }

    private static String nonNull(String s) {
        return s == null ? "" : s;
    }

    @Override
    public String toString() {
        return "ProxyTelemetry{" + scope.tracingServiceName() + ", tracing=" + (tracing != null) + ", stats="
                + stats().isPresent() + ", accessLogs=" + accessLogs.size() + "}";
    }
}
