package dev.ambit.waypoint.config;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.EnumValueDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.AggregatedConfigSource;
import io.envoyproxy.envoy.config.core.v3.CidrRange;
import io.envoyproxy.envoy.config.core.v3.ConfigSource;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.core.v3.Http1ProtocolOptions;
import io.envoyproxy.envoy.config.core.v3.Http2ProtocolOptions;
import io.envoyproxy.envoy.config.core.v3.Metadata;
import io.envoyproxy.envoy.config.core.v3.RuntimeFractionalPercent;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChainMatch;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.DirectResponseAction;
import io.envoyproxy.envoy.config.route.v3.HeaderMatcher;
import io.envoyproxy.envoy.config.route.v3.QueryParameterMatcher;
import io.envoyproxy.envoy.config.route.v3.RedirectAction;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.config.route.v3.WeightedCluster;
import io.envoyproxy.envoy.extensions.filters.common.fault.v3.FaultDelay;
import io.envoyproxy.envoy.extensions.filters.http.cors.v3.Cors;
import io.envoyproxy.envoy.extensions.filters.http.cors.v3.CorsPolicy;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.FaultAbort;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.Rds;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.envoyproxy.envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatchAndSubstitute;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.envoyproxy.envoy.type.v3.FractionalPercent;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What the waypoint implements of Envoy's xDS types, as one table: per message type the
 * fields it honours, per extension point the names and {@code @type}s it knows, per enum
 * field the values it honours. Everything else set in a resource is NACKed by
 * {@link ResourceValidator}, naming the field: a field the waypoint would silently ignore
 * (a hash policy, an outlier detection) is a behaviour the user asked for and would not get.
 *
 * <p>This is exactly what CONTRACT.md lists (what istiod-lite sends and the engine
 * implements). To implement a field (issue 15: load balancing, outlier detection, circuit
 * breakers, L7 authorization), add it here and make the engine read it; nothing else
 * changes. The lists are checked against the descriptors when the class loads, so a typo
 * fails the build's tests instead of rejecting a real field.
 */
public final class FieldTable {

    /** Message full name → the fields honoured. Types not listed here are {@link #LEAVES} or unsupported. */
    static final Map<String, Set<String>> FIELDS = new LinkedHashMap<>();

    /**
     * Well-known types read whole by whoever reads the field that holds them (a Duration, a
     * wrapped number, a Struct of metadata whose keys {@link ResourceValidator} checks): not walked.
     */
    static final Set<String> LEAVES = Set.of("google.protobuf.Duration", "google.protobuf.UInt32Value",
            "google.protobuf.BoolValue", "google.protobuf.Struct");

    /** {@code <message full name>.<field>} → the enum values honoured; enums not listed take any known value. */
    static final Map<String, Set<String>> ENUM_VALUES = new LinkedHashMap<>();

    /** Network filter name → its typed_config type (a Listener's filter chains hold exactly one). */
    public static final Map<String, Message> NETWORK_FILTERS = Map.of(
            "envoy.filters.network.http_connection_manager", HttpConnectionManager.getDefaultInstance(),
            "envoy.filters.network.tcp_proxy", TcpProxy.getDefaultInstance());

    /** HTTP filter name → its typed_config type, in the order the HttpConnectionManager may list them. */
    public static final Map<String, Message> HTTP_FILTERS = orderedMap(
            "envoy.filters.http.fault", HTTPFault.getDefaultInstance(),
            "envoy.filters.http.cors", Cors.getDefaultInstance(),
            "envoy.filters.http.router", Router.getDefaultInstance());

    /** {@code typed_per_filter_config} key (on a route or virtual host) → its type. */
    public static final Map<String, Message> PER_FILTER_CONFIGS = Map.of(
            "envoy.filters.http.fault", HTTPFault.getDefaultInstance(),
            "envoy.filters.http.cors", CorsPolicy.getDefaultInstance());

    /** {@code Cluster.typed_extension_protocol_options} key → its type. */
    public static final Map<String, Message> PROTOCOL_OPTIONS = Map.of(
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions", HttpProtocolOptions.getDefaultInstance());

    /** {@code RetryPolicy.retry_host_predicate[].name} → its typed_config type. */
    public static final Map<String, Message> RETRY_HOST_PREDICATES = Map.of(
            "envoy.retry_host_predicates.previous_hosts", PreviousHostsPredicate.getDefaultInstance());

    /**
     * Where an {@code Any} may appear ({@code <message full name>.<field>}) and what it may hold
     * there, chosen by the map key (map fields) or the message's {@code name} (others). An
     * unknown name or another {@code @type} is NACKed: an unknown filter would be skipped.
     */
    static final Map<String, Map<String, Message>> ANY_SITES = Map.of(
            "envoy.config.listener.v3.Filter.typed_config", NETWORK_FILTERS,
            "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter.typed_config", HTTP_FILTERS,
            "envoy.config.route.v3.Route.typed_per_filter_config", PER_FILTER_CONFIGS,
            "envoy.config.cluster.v3.Cluster.typed_extension_protocol_options", PROTOCOL_OPTIONS,
            "envoy.config.route.v3.RetryPolicy.RetryHostPredicate.typed_config", RETRY_HOST_PREDICATES);

    /**
     * Envoy's {@code retry_on} conditions the router implements: Istio's retryOn values (HTTP and
     * the gRPC status names its default policy uses). A status number in Istio's retryOn arrives
     * as {@code retriable-status-codes} plus {@code retriable_status_codes}.
     */
    public static final Set<String> RETRY_ON = Set.of("5xx", "gateway-error", "reset", "connect-failure",
            "refused-stream", "retriable-status-codes", "retriable-4xx", "cancelled", "deadline-exceeded",
            "internal", "resource-exhausted", "unavailable");

    /** {@code filter_metadata} namespaces of an LbEndpoint and the keys read in each. */
    public static final Map<String, Set<String>> ENDPOINT_METADATA = Map.of(
            "envoy.transport_socket_match", Set.of("tunnel"),
            "istio", Set.of("workload"));

    static {
        // ---------------------------------------------------------------- Listener (LDS)
        fields(Listener.getDescriptor(), "name", "address", "filter_chains", "default_filter_chain");
        fields(Address.getDescriptor(), "socket_address");
        fields(SocketAddress.getDescriptor(), "address", "port_value");
        fields(io.envoyproxy.envoy.config.listener.v3.FilterChain.getDescriptor(), "name", "filter_chain_match", "filters");
        fields(FilterChainMatch.getDescriptor(), "prefix_ranges", "destination_port");
        fields(CidrRange.getDescriptor(), "address_prefix", "prefix_len");
        fields(Filter.getDescriptor(), "name", "typed_config");
        fields(HttpConnectionManager.getDescriptor(), "stat_prefix", "codec_type", "rds", "http_filters",
                // Downstream limits (http.Limits): Envoy's defaults when unset.
                "max_request_headers_kb", "common_http_protocol_options", "http2_protocol_options",
                "request_headers_timeout", "request_timeout", "stream_idle_timeout");
        fields(io.envoyproxy.envoy.config.core.v3.HttpProtocolOptions.getDescriptor(), "idle_timeout",
                "max_connection_duration", "max_headers_count", "headers_with_underscores_action");
        enumValues(HttpConnectionManager.getDescriptor(), "codec_type", "AUTO", "HTTP1", "HTTP2");
        fields(Rds.getDescriptor(), "route_config_name", "config_source");
        // resource_api_version: Istio always writes V3, the only version there is to honour.
        fields(ConfigSource.getDescriptor(), "ads", "resource_api_version");
        enumValues(ConfigSource.getDescriptor(), "resource_api_version", "V3");
        fields(AggregatedConfigSource.getDescriptor());
        fields(HttpFilter.getDescriptor(), "name", "typed_config");
        fields(TcpProxy.getDescriptor(), "stat_prefix", "cluster");
        // Filter-level configs: empty in the contract; per-route configs carry the policy.
        fields(HTTPFault.getDescriptor(), "delay", "abort");
        fields(FaultDelay.getDescriptor(), "fixed_delay", "percentage");
        fields(FaultAbort.getDescriptor(), "http_status", "percentage");
        fields(FractionalPercent.getDescriptor(), "numerator", "denominator");
        fields(Cors.getDescriptor());
        fields(Router.getDescriptor());

        // ---------------------------------------------------------------- RouteConfiguration (RDS)
        fields(RouteConfiguration.getDescriptor(), "name", "virtual_hosts");
        fields(VirtualHost.getDescriptor(), "name", "domains", "routes");
        fields(Route.getDescriptor(), "name", "match", "route", "redirect", "direct_response",
                "request_headers_to_add", "request_headers_to_remove", "response_headers_to_add",
                "response_headers_to_remove", "typed_per_filter_config");
        fields(RouteMatch.getDescriptor(), "prefix", "path", "safe_regex", "case_sensitive", "headers",
                "query_parameters");
        fields(HeaderMatcher.getDescriptor(), "name", "string_match", "present_match", "invert_match");
        fields(QueryParameterMatcher.getDescriptor(), "name", "string_match", "present_match");
        fields(StringMatcher.getDescriptor(), "exact", "prefix", "suffix", "safe_regex");
        fields(RegexMatcher.getDescriptor(), "regex");
        fields(RouteAction.getDescriptor(), "cluster", "weighted_clusters", "timeout", "retry_policy",
                "request_mirror_policies", "prefix_rewrite", "regex_rewrite", "host_rewrite_literal");
        fields(WeightedCluster.getDescriptor(), "clusters");
        fields(WeightedCluster.ClusterWeight.getDescriptor(), "name", "weight");
        fields(RetryPolicy.getDescriptor(), "retry_on", "num_retries", "per_try_timeout", "retriable_status_codes",
                "retry_host_predicate", "host_selection_retry_max_attempts");
        fields(RetryPolicy.RetryHostPredicate.getDescriptor(), "name", "typed_config");
        fields(PreviousHostsPredicate.getDescriptor());
        fields(RouteAction.RequestMirrorPolicy.getDescriptor(), "cluster", "runtime_fraction");
        fields(RuntimeFractionalPercent.getDescriptor(), "default_value");
        fields(RegexMatchAndSubstitute.getDescriptor(), "pattern", "substitution");
        fields(RedirectAction.getDescriptor(), "scheme_redirect", "host_redirect", "port_redirect", "path_redirect",
                "prefix_rewrite", "response_code");
        fields(DirectResponseAction.getDescriptor(), "status", "body");
        fields(DataSource.getDescriptor(), "inline_string");
        fields(HeaderValueOption.getDescriptor(), "header", "append_action");
        enumValues(HeaderValueOption.getDescriptor(), "append_action", "APPEND_IF_EXISTS_OR_ADD",
                "OVERWRITE_IF_EXISTS_OR_ADD");
        fields(HeaderValue.getDescriptor(), "key", "value");
        // Istio's corsPolicy, field for field (unmatchedPreflights → forward_not_matching_preflights).
        fields(CorsPolicy.getDescriptor(), "allow_origin_string_match", "allow_methods", "allow_headers",
                "expose_headers", "max_age", "allow_credentials", "filter_enabled", "forward_not_matching_preflights");

        // ---------------------------------------------------------------- Cluster (CDS)
        fields(Cluster.getDescriptor(), "name", "type", "eds_cluster_config", "connect_timeout", "lb_policy",
                "typed_extension_protocol_options");
        enumValues(Cluster.getDescriptor(), "type", "EDS", "ORIGINAL_DST");
        // Both balance per request over healthy endpoints; how is issue 15's EndpointPicker.
        enumValues(Cluster.getDescriptor(), "lb_policy", "ROUND_ROBIN", "LEAST_REQUEST", "CLUSTER_PROVIDED");
        fields(Cluster.EdsClusterConfig.getDescriptor(), "eds_config", "service_name");
        fields(HttpProtocolOptions.getDescriptor(), "explicit_http_config", "use_downstream_protocol_config");
        fields(HttpProtocolOptions.ExplicitHttpConfig.getDescriptor(), "http_protocol_options", "http2_protocol_options");
        fields(HttpProtocolOptions.UseDownstreamHttpConfig.getDescriptor(), "http_protocol_options",
                "http2_protocol_options");
        fields(Http1ProtocolOptions.getDescriptor());
        // Honoured on the downstream side (http.Limits: the HttpConnectionManager's); a cluster's
        // upstream options carry none of them today (istiod-lite sets none there).
        fields(Http2ProtocolOptions.getDescriptor(), "max_concurrent_streams", "initial_stream_window_size",
                "initial_connection_window_size", "max_outbound_control_frames",
                "max_consecutive_inbound_frames_with_empty_payload");

        // ---------------------------------------------------------------- ClusterLoadAssignment (EDS)
        fields(ClusterLoadAssignment.getDescriptor(), "cluster_name", "endpoints");
        fields(LocalityLbEndpoints.getDescriptor(), "lb_endpoints");
        fields(LbEndpoint.getDescriptor(), "endpoint", "health_status", "metadata");
        enumValues(LbEndpoint.getDescriptor(), "health_status", "UNKNOWN", "HEALTHY", "UNHEALTHY");
        fields(Endpoint.getDescriptor(), "address");
        fields(Metadata.getDescriptor(), "filter_metadata");
    }

    private FieldTable() {}

    /** Whether {@code field} of {@code type} is honoured; false for a type not in the table. */
    public static boolean honours(Descriptor type, String field) {
        Set<String> f = FIELDS.get(type.getFullName());
        return f != null && f.contains(field);
    }

    /** The type URL of a message descriptor, as {@code Any} carries it. */
    static String typeUrl(Descriptor d) {
        return "type.googleapis.com/" + d.getFullName();
    }

    /** Every message type an {@code Any} in an accepted resource can hold (for a JSON TypeRegistry). */
    public static List<Descriptor> anyTypes() {
        java.util.LinkedHashSet<Descriptor> all = new java.util.LinkedHashSet<>();
        for (Map<String, Message> site : ANY_SITES.values()) {
            site.values().forEach(m -> all.add(m.getDescriptorForType()));
        }
        return List.copyOf(all);
    }

    private static void fields(Descriptor type, String... names) {
        for (String n : names) {
            if (type.findFieldByName(n) == null) {
                throw new IllegalStateException("FieldTable: " + type.getFullName() + " has no field " + n);
            }
        }
        if (FIELDS.putIfAbsent(type.getFullName(), Set.of(names)) != null) {
            throw new IllegalStateException("FieldTable: " + type.getFullName() + " listed twice");
        }
    }

    private static void enumValues(Descriptor type, String field, String... values) {
        FieldDescriptor f = type.findFieldByName(field);
        if (f == null || f.getType() != FieldDescriptor.Type.ENUM) {
            throw new IllegalStateException("FieldTable: " + type.getFullName() + "." + field + " is not an enum field");
        }
        for (String v : values) {
            EnumValueDescriptor e = f.getEnumType().findValueByName(v);
            if (e == null) {
                throw new IllegalStateException("FieldTable: " + f.getEnumType().getFullName() + " has no value " + v);
            }
        }
        ENUM_VALUES.put(type.getFullName() + "." + field, Set.of(values));
    }

    private static Map<String, Message> orderedMap(Object... kv) {
        Map<String, Message> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], (Message) kv[i + 1]);
        }
        return java.util.Collections.unmodifiableMap(m);
    }
}
