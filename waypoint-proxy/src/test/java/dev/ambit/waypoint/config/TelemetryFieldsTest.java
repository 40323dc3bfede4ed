package dev.ambit.waypoint.config;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import dev.ambit.api.telemetry.MetricConfig;
import dev.ambit.api.telemetry.StatsConfig;
import io.envoyproxy.envoy.config.accesslog.v3.AccessLog;
import io.envoyproxy.envoy.config.accesslog.v3.AccessLogFilter;
import io.envoyproxy.envoy.config.accesslog.v3.ExtensionFilter;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.access_loggers.file.v3.FileAccessLog;
import io.envoyproxy.envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import org.junit.jupiter.api.Test;

/** Seam T2 (issue 19): the istio.stats filter and HCM access logs are accepted; what the waypoint cannot honour NACKs. */
class TelemetryFieldsTest {

    static HttpConnectionManager withTelemetry(MetricConfig metric, String filter, String path) {
        HttpConnectionManager base = Resources.hcm(Resources.HTTP_CHAIN);
        AccessLog.Builder log = AccessLog.newBuilder().setName("envoy.access_loggers.file")
                .setTypedConfig(Any.pack(FileAccessLog.newBuilder().setPath(path).build()));
        if (filter != null) {
            log.setFilter(AccessLogFilter.newBuilder().setExtensionFilter(ExtensionFilter.newBuilder()
                    .setName("envoy.access_loggers.extension_filters.cel")
                    .setTypedConfig(Any.pack(ExpressionFilter.newBuilder().setExpression(filter).build()))));
        }
        return base.toBuilder().clearHttpFilters()
                .addHttpFilters(HttpFilter.newBuilder().setName("istio.stats")
                        .setTypedConfig(Any.pack(StatsConfig.newBuilder().addMetrics(metric).build())))
                .addAllHttpFilters(base.getHttpFiltersList())
                .addAccessLog(log)
                .build();
    }

    private static Listener with(HttpConnectionManager hcm) {
        Listener l = Resources.listener();
        var chain = l.getFilterChains(0).toBuilder().setFilters(0, Filter.newBuilder()
                .setName("envoy.filters.network.http_connection_manager").setTypedConfig(Any.pack(hcm)));
        return l.toBuilder().setFilterChains(0, chain).build();
    }

    @Test
    void statsOverridesAndFilteredAccessLogsAreAccepted() {
        MetricConfig m = MetricConfig.newBuilder().setName("requests_total")
                .putDimensions("request_protocol", "request.headers['x-proto'] | 'unknown'")
                .putDimensions("custom_label", "request.headers['x-custom'] | 'unknown'")
                .addTagsToRemove("destination_cluster").build();
        assertThat(ResourceValidator.validate("waypoint", with(withTelemetry(m, "response.code >= 400",
                "/dev/stdout")))).isEmpty();
        assertThat(ResourceValidator.validate("waypoint", with(withTelemetry(MetricConfig.newBuilder().setDrop(true)
                .build(), null, "/dev/stdout")))).isEmpty();
    }

    @Test
    void whatTheWaypointCannotHonourIsNackedByField() {
        MetricConfig m = MetricConfig.newBuilder().setName("requests_totl")
                .putDimensions("bad-label", "'x'")
                .putDimensions("request_protocol", "request.nope")
                .addTagsToRemove("nope").build();
        assertThat(ResourceValidator.validate("waypoint", with(withTelemetry(m, "response.code >=", "/var/log/a"))))
                .anySatisfy(p -> assertThat(p).contains(".metrics[0].name: \"requests_totl\""))
                .anySatisfy(p -> assertThat(p).contains("dimensions[\"bad-label\"]: \"bad-label\" is not a "
                        + "Prometheus label name"))
                .anySatisfy(p -> assertThat(p).contains("dimensions[\"request_protocol\"]: unknown attribute "
                        + "request.nope"))
                .anySatisfy(p -> assertThat(p).contains("tags_to_remove: \"nope\""))
                .anySatisfy(p -> assertThat(p).contains("filter.extension_filter.typed_config.expression: unexpected "
                        + "end of expression at position 16"))
                .anySatisfy(p -> assertThat(p).contains("access_log[0].typed_config.path: \"/var/log/a\""));
        // istio.stats after another filter.
        HttpConnectionManager ok = withTelemetry(MetricConfig.newBuilder().setDrop(true).build(), null, "/dev/stdout");
        HttpConnectionManager late = ok.toBuilder().clearHttpFilters()
                .addHttpFilters(ok.getHttpFilters(1)).addHttpFilters(ok.getHttpFilters(0))
                .addAllHttpFilters(ok.getHttpFiltersList().subList(2, ok.getHttpFiltersCount())).build();
        assertThat(ResourceValidator.validate("waypoint", with(late)))
                .anySatisfy(p -> assertThat(p).contains("http_filters[1].name: istio.stats (expected: first)"));
    }

    /** {@code hcm}'s access log entry with {@code format} as its {@code log_format} (a text format source). */
    static HttpConnectionManager withLogFormat(HttpConnectionManager hcm, String format) {
        AccessLog log = hcm.getAccessLog(0);
        FileAccessLog file;
        try {
            file = log.getTypedConfig().unpack(FileAccessLog.class);
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new AssertionError(e);
        }
        file = file.toBuilder().setLogFormat(io.envoyproxy.envoy.config.core.v3.SubstitutionFormatString.newBuilder()
                .setTextFormatSource(io.envoyproxy.envoy.config.core.v3.DataSource.newBuilder()
                        .setInlineString(format))).build();
        return hcm.toBuilder().setAccessLog(0, log.toBuilder().setTypedConfig(Any.pack(file))).build();
    }

    @Test
    void logFormatWithEnvoysOperatorsIsAcceptedAndAnUnknownOperatorIsNackedByName() {
        HttpConnectionManager ok = withTelemetry(MetricConfig.newBuilder().setDrop(true).build(), null, "/dev/stdout");
        assertThat(ResourceValidator.validate("waypoint", with(withLogFormat(ok,
                "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%\" %RESPONSE_CODE%\n")))).isEmpty();
        assertThat(ResourceValidator.validate("waypoint", with(withLogFormat(ok, "%RESPONSE_CODE% %UPSTREAM_HOSTNAME_X%"))))
                .singleElement().satisfies(p -> assertThat(p).contains("access_log[0].typed_config.log_format"
                        + ".text_format_source.inline_string: %UPSTREAM_HOSTNAME_X%: unknown command operator "
                        + "UPSTREAM_HOSTNAME_X"));
        // A field of SubstitutionFormatString the proxy does not honour is NACKed like any other.
        HttpConnectionManager typed = withLogFormat(ok, "%RESPONSE_CODE%");
        FileAccessLog file;
        try {
            file = typed.getAccessLog(0).getTypedConfig().unpack(FileAccessLog.class);
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new AssertionError(e);
        }
        file = file.toBuilder().setLogFormat(file.getLogFormat().toBuilder().setContentType("text/plain")).build();
        HttpConnectionManager withContentType = typed.toBuilder().setAccessLog(0, typed.getAccessLog(0).toBuilder()
                .setTypedConfig(Any.pack(file))).build();
        assertThat(ResourceValidator.validate("waypoint", with(withContentType)))
                .anySatisfy(p -> assertThat(p).contains("log_format.content_type"));
    }

    @Test
    void aTcpChainMayCarryIstioStatsBeforeItsTcpProxyAndTheChainGetsItsConfig() {
        Listener l = Resources.listener();
        int tcp = 1; // Resources.listener(): the HTTP chain, then the TCP chain
        StatsConfig stats = StatsConfig.newBuilder().addMetrics(MetricConfig.newBuilder()
                .setName("tcp_sent_bytes_total").setDrop(true)).build();
        Filter statsFilter = Filter.newBuilder().setName("istio.stats").setTypedConfig(Any.pack(stats)).build();
        var chain = l.getFilterChains(tcp).toBuilder().clearFilters().addFilters(statsFilter)
                .addAllFilters(l.getFilterChains(tcp).getFiltersList()).build();
        Listener ok = l.toBuilder().setFilterChains(tcp, chain).build();
        assertThat(ResourceValidator.validate("waypoint", ok)).isEmpty();
        assertThat(FilterChainTable.chain(chain).tcpStats()).isEqualTo(stats);
        assertThat(FilterChainTable.chain(l.getFilterChains(tcp)).tcpStats())
                .isEqualTo(StatsConfig.getDefaultInstance());

        Listener alone = l.toBuilder().setFilterChains(tcp, chain.toBuilder().removeFilters(1)).build();
        assertThat(ResourceValidator.validate("waypoint", alone))
                .anySatisfy(p -> assertThat(p).contains("filters[0].name: istio.stats alone (expected: followed by "
                        + "envoy.filters.network.tcp_proxy)"));
        Listener beforeHcm = l.toBuilder().setFilterChains(0, l.getFilterChains(0).toBuilder().clearFilters()
                .addFilters(statsFilter).addAllFilters(l.getFilterChains(0).getFiltersList())).build();
        assertThat(ResourceValidator.validate("waypoint", beforeHcm))
                .anySatisfy(p -> assertThat(p).contains("2 network filters (expected: exactly one of"));
        StatsConfig bad = StatsConfig.newBuilder().addMetrics(MetricConfig.newBuilder()
                .setName("tcp_sent_bytes_totl")).build();
        Listener badName = l.toBuilder().setFilterChains(tcp, chain.toBuilder().setFilters(0, statsFilter.toBuilder()
                .setTypedConfig(Any.pack(bad)))).build();
        assertThat(ResourceValidator.validate("waypoint", badName))
                .anySatisfy(p -> assertThat(p).contains(".metrics[0].name: \"tcp_sent_bytes_totl\""));
    }
}
