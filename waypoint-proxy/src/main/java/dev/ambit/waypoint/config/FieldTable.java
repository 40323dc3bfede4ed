package dev.ambit.waypoint.config;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.EnumValueDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import io.envoyproxy.envoy.config.cluster.v3.CircuitBreakers;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.cluster.v3.OutlierDetection;
import io.envoyproxy.envoy.config.cluster.v3.UpstreamConnectionOptions;
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
import io.envoyproxy.envoy.config.core.v3.TcpKeepalive;
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
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtClaimToHeader;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtHeader;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtProvider;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtRequirement;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtRequirementAndList;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtRequirementOrList;
import io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.RequirementRule;
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
import io.envoyproxy.envoy.type.v3.Percent;
import io.envoyproxy.envoy.config.core.v3.HttpUri;
import io.envoyproxy.envoy.config.rbac.v3.Permission;
import io.envoyproxy.envoy.config.rbac.v3.Policy;
import io.envoyproxy.envoy.config.rbac.v3.Principal;
import io.envoyproxy.envoy.config.rbac.v3.RBAC;
import io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.AuthorizationRequest;
import io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.AuthorizationResponse;
import io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.ExtAuthz;
import io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.HttpService;
import io.envoyproxy.envoy.type.matcher.v3.DoubleMatcher;
import io.envoyproxy.envoy.type.matcher.v3.ListMatcher;
import io.envoyproxy.envoy.type.matcher.v3.ListStringMatcher;
import io.envoyproxy.envoy.type.matcher.v3.MetadataMatcher;
import io.envoyproxy.envoy.type.matcher.v3.OrMatcher;
import io.envoyproxy.envoy.type.matcher.v3.PathMatcher;
import io.envoyproxy.envoy.type.matcher.v3.ValueMatcher;
import io.envoyproxy.envoy.type.v3.DoubleRange;
import io.envoyproxy.envoy.type.v3.HttpStatus;
import io.envoyproxy.envoy.type.v3.Int32Range;
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
            "google.protobuf.BoolValue", "google.protobuf.Struct",
            "google.protobuf.UInt64Value"); // lb: ring_hash_lb_config sizes, maglev table_size

    /** {@code <message full name>.<field>} → the enum values honoured; enums not listed take any known value. */
    static final Map<String, Set<String>> ENUM_VALUES = new LinkedHashMap<>();

    /**
     * Network filter name → its typed_config type (a Listener's filter chains hold one terminal
     * filter; a tcp_proxy may follow {@code istio.stats}, issue 19: the TCP metrics' overrides).
     */
    public static final Map<String, Message> NETWORK_FILTERS = Map.of(
            "envoy.filters.network.http_connection_manager", HttpConnectionManager.getDefaultInstance(),
            "envoy.filters.network.tcp_proxy", TcpProxy.getDefaultInstance(),
            "istio.stats", dev.ambit.api.telemetry.StatsConfig.getDefaultInstance());

    /** HTTP filter name → its typed_config type, in the order the HttpConnectionManager may list them. */
    public static final Map<String, Message> HTTP_FILTERS = orderedMap(
            // telemetry (issue 19, seam T2): metric overrides, read by http.HttpTelemetry; first, never terminal.
            "istio.stats", dev.ambit.api.telemetry.StatsConfig.getDefaultInstance(),
            "envoy.filters.http.jwt_authn", JwtAuthentication.getDefaultInstance(),
            "envoy.filters.http.ext_authz", ExtAuthz.getDefaultInstance(),
            "envoy.filters.http.rbac", io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.getDefaultInstance(),
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
            // telemetry (issue 19, seam T2): HCM access logs to stdout, filtered by an attribute expression.
            "envoy.config.accesslog.v3.AccessLog.typed_config", Map.of("envoy.access_loggers.file",
                    io.envoyproxy.envoy.extensions.access_loggers.file.v3.FileAccessLog.getDefaultInstance()),
            "envoy.config.accesslog.v3.ExtensionFilter.typed_config", Map.of(
                    "envoy.access_loggers.extension_filters.cel",
                    io.envoyproxy.envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter.getDefaultInstance()),
            // Gateway mode (issue 16): TLS termination and SNI inspection.
            "envoy.config.core.v3.TransportSocket.typed_config", Gateway.TRANSPORT_SOCKETS,
            "envoy.config.listener.v3.ListenerFilter.typed_config", Gateway.LISTENER_FILTERS,
            "envoy.config.listener.v3.Filter.typed_config", NETWORK_FILTERS,
            "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter.typed_config", HTTP_FILTERS,
            "envoy.config.route.v3.Route.typed_per_filter_config", PER_FILTER_CONFIGS,
            "envoy.config.cluster.v3.Cluster.typed_extension_protocol_options", PROTOCOL_OPTIONS,
            "envoy.config.route.v3.RetryPolicy.RetryHostPredicate.typed_config", RETRY_HOST_PREDICATES,
            // tracing (issue 19, CONTRACT seam T1): the HCM's tracing provider.
            "envoy.config.trace.v3.Tracing.Http.typed_config", Tracing.PROVIDERS);

    /**
     * Envoy's {@code retry_on} conditions the router implements: Istio's retryOn values (HTTP and
     * the gRPC status names its default policy uses). A status number in Istio's retryOn arrives
     * as {@code retriable-status-codes} plus {@code retriable_status_codes}.
     */
    public static final Set<String> RETRY_ON = Set.of("5xx", "gateway-error", "reset", "connect-failure",
            "refused-stream", "retriable-status-codes", "retriable-4xx", "cancelled", "deadline-exceeded",
            "internal", "resource-exhausted", "unavailable");

    /** The typed configs only a gateway's listeners hold (CONTRACT seam 2). */
    public static final class Gateway {
        /** {@code FilterChain.transport_socket.name} → its typed config. */
        public static final Map<String, Message> TRANSPORT_SOCKETS = Map.of("envoy.transport_sockets.tls",
                io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext.getDefaultInstance());
        /** {@code Listener.listener_filters[].name} → its typed config. */
        public static final Map<String, Message> LISTENER_FILTERS = Map.of("envoy.filters.listener.tls_inspector",
                io.envoyproxy.envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector.getDefaultInstance());
        /** ALPN protocols a TLS chain may offer: the two the HTTP engine speaks. */
        public static final Set<String> ALPN = Set.of("h2", "http/1.1");

        private Gateway() {}
    }

    /** telemetry (issue 19, seam T2): access log entries and the istio.stats filter's StatsConfig. */
    private static void telemetry() {
        fields(io.envoyproxy.envoy.config.accesslog.v3.AccessLog.getDescriptor(), "name", "typed_config", "filter");
        fields(io.envoyproxy.envoy.config.accesslog.v3.AccessLogFilter.getDescriptor(), "extension_filter");
        fields(io.envoyproxy.envoy.config.accesslog.v3.ExtensionFilter.getDescriptor(), "name", "typed_config");
        fields(io.envoyproxy.envoy.extensions.access_loggers.file.v3.FileAccessLog.getDescriptor(), "path",
                "log_format"); // log_format: Envoy's command operators, http.AccessLogFormat
        fields(io.envoyproxy.envoy.config.core.v3.SubstitutionFormatString.getDescriptor(), "text_format",
                "text_format_source", "json_format", "omit_empty_values", "json_format_options");
        fields(io.envoyproxy.envoy.config.core.v3.JsonFormatOptions.getDescriptor(), "sort_properties");
        fields(io.envoyproxy.envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter.getDescriptor(),
                "expression");
        fields(dev.ambit.api.telemetry.StatsConfig.getDescriptor(), "metrics");
        fields(dev.ambit.api.telemetry.MetricConfig.getDescriptor(), "dimensions", "name", "tags_to_remove", "drop");
    }

    /** The HCM's {@code tracing} (issue 19, CONTRACT seam T1; read by {@link dev.ambit.proxy.telemetry.trace.TracingConfig}). */
    public static final class Tracing {
        /** {@code tracing.provider.name} → its typed config. */
        public static final Map<String, Message> PROVIDERS = Map.of(
                "envoy.tracers.zipkin", io.envoyproxy.envoy.config.trace.v3.ZipkinConfig.getDefaultInstance(),
                "envoy.tracers.opentelemetry",
                io.envoyproxy.envoy.config.trace.v3.OpenTelemetryConfig.getDefaultInstance());

        private Tracing() {}

        static void fields() {
            var hcm = HttpConnectionManager.Tracing.getDescriptor();
            FieldTable.fields(hcm, "random_sampling", "custom_tags", "max_path_tag_length", "provider");
            FieldTable.fields(io.envoyproxy.envoy.type.tracing.v3.CustomTag.getDescriptor(), "tag", "literal",
                    "environment", "request_header");
            FieldTable.fields(io.envoyproxy.envoy.type.tracing.v3.CustomTag.Literal.getDescriptor(), "value");
            FieldTable.fields(io.envoyproxy.envoy.type.tracing.v3.CustomTag.Environment.getDescriptor(), "name",
                    "default_value");
            FieldTable.fields(io.envoyproxy.envoy.type.tracing.v3.CustomTag.Header.getDescriptor(), "name",
                    "default_value");
            FieldTable.fields(io.envoyproxy.envoy.config.trace.v3.Tracing.Http.getDescriptor(), "name",
                    "typed_config");
            var zipkin = io.envoyproxy.envoy.config.trace.v3.ZipkinConfig.getDescriptor();
            FieldTable.fields(zipkin, "collector_cluster", "collector_endpoint", "collector_endpoint_version",
                    "trace_id_128bit", "shared_span_context", "collector_hostname");
            enumValues(zipkin, "collector_endpoint_version", "HTTP_JSON");
            FieldTable.fields(io.envoyproxy.envoy.config.trace.v3.OpenTelemetryConfig.getDescriptor(),
                    "grpc_service", "http_service", "service_name");
            FieldTable.fields(io.envoyproxy.envoy.config.core.v3.GrpcService.getDescriptor(), "envoy_grpc");
            FieldTable.fields(io.envoyproxy.envoy.config.core.v3.GrpcService.EnvoyGrpc.getDescriptor(),
                    "cluster_name", "authority");
            FieldTable.fields(io.envoyproxy.envoy.config.core.v3.HttpService.getDescriptor(), "http_uri");
        }
    }

    /** {@code filter_metadata} namespaces of an LbEndpoint and the keys read in each. */
    public static final Map<String, Set<String>> ENDPOINT_METADATA = Map.of(
            "envoy.transport_socket_match", Set.of("tunnel"),
            // Istio's tunnel target of a waypoint in front of a Service (istio.io/ingress-use-waypoint).
            "envoy.filters.listener.original_dst", Set.of("local", "waypoint"),
            "istio", Set.of("workload"));

    static {
        // ---------------------------------------------------------------- Listener (LDS)
        fields(Listener.getDescriptor(), "name", "address", "filter_chains", "default_filter_chain",
                "listener_filters"); // listener_filters: gateway mode's tls_inspector only
        fields(Address.getDescriptor(), "socket_address");
        fields(SocketAddress.getDescriptor(), "address", "port_value");
        fields(io.envoyproxy.envoy.config.listener.v3.FilterChain.getDescriptor(), "name", "filter_chain_match", "filters",
                "transport_socket"); // gateway mode: TLS termination
        fields(FilterChainMatch.getDescriptor(), "prefix_ranges", "destination_port", "server_names");
        gateway();
        fields(CidrRange.getDescriptor(), "address_prefix", "prefix_len");
        fields(Filter.getDescriptor(), "name", "typed_config");
        fields(HttpConnectionManager.getDescriptor(), "stat_prefix", "codec_type", "rds", "http_filters",
                "normalize_path", "merge_slashes", "path_with_escaped_slashes_action",
                // Downstream limits (http.Limits): Envoy's defaults when unset.
                "max_request_headers_kb", "common_http_protocol_options", "http2_protocol_options",
                "request_headers_timeout", "request_timeout", "stream_idle_timeout",
                // Gateway mode (http.IngressHeaders): the edge's x-forwarded-* and x-request-id.
                "use_remote_address", "xff_num_trusted_hops", "generate_request_id",
                // telemetry (issue 19): http.HttpTelemetry's access log lines; tracing: spans (Tracing below).
                "access_log", "tracing");
        telemetry();
        Tracing.fields();
        enumValues(HttpConnectionManager.getDescriptor(), "path_with_escaped_slashes_action",
                "IMPLEMENTATION_SPECIFIC_DEFAULT", "KEEP_UNCHANGED", "REJECT_REQUEST", "UNESCAPE_AND_REDIRECT",
                "UNESCAPE_AND_FORWARD");
        // Common HTTP options: downstream (http.Limits, from the HCM) and upstream (a cluster's
        // HttpProtocolOptions: idle_timeout, max_requests_per_connection in the pools).
        fields(io.envoyproxy.envoy.config.core.v3.HttpProtocolOptions.getDescriptor(), "idle_timeout",
                "max_connection_duration", "max_headers_count", "headers_with_underscores_action",
                "max_requests_per_connection");
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
        // jwt_authn as Istio writes it for RequestAuthentication (http/jwt/JwtAuthn): inline JWKS only.
        fields(JwtAuthentication.getDescriptor(), "providers", "rules", "bypass_cors_preflight");
        fields(JwtProvider.getDescriptor(), "issuer", "audiences", "local_jwks", "forward", "from_headers",
                "from_params", "from_cookies", "forward_payload_header", "payload_in_metadata",
                "normalize_payload_in_metadata", "claim_to_headers", "clock_skew_seconds");
        fields(JwtProvider.NormalizePayload.getDescriptor(), "space_delimited_claims");
        fields(JwtHeader.getDescriptor(), "name", "value_prefix");
        fields(JwtClaimToHeader.getDescriptor(), "header_name", "claim_name");
        fields(RequirementRule.getDescriptor(), "match", "requires");
        fields(JwtRequirement.getDescriptor(), "provider_name", "requires_any", "requires_all", "allow_missing",
                "allow_missing_or_failed");
        fields(JwtRequirementOrList.getDescriptor(), "requirements");
        fields(JwtRequirementAndList.getDescriptor(), "requirements");
        fields(com.google.protobuf.Empty.getDescriptor());
        authorization();

        // ---------------------------------------------------------------- RouteConfiguration (RDS)
        fields(RouteConfiguration.getDescriptor(), "name", "virtual_hosts");
        fields(VirtualHost.getDescriptor(), "name", "domains", "routes", "require_tls");
        // httpsRedirect: ALL answers a plaintext request 301 to https (RequestProcessor).
        enumValues(VirtualHost.getDescriptor(), "require_tls", "NONE", "ALL");
        fields(Route.getDescriptor(), "name", "match", "route", "redirect", "direct_response",
                "request_headers_to_add", "request_headers_to_remove", "response_headers_to_add",
                "response_headers_to_remove", "typed_per_filter_config");
        fields(RouteMatch.getDescriptor(), "prefix", "path", "safe_regex", "case_sensitive", "headers",
                "query_parameters");
        fields(HeaderMatcher.getDescriptor(), "name", "string_match", "present_match", "invert_match");
        fields(QueryParameterMatcher.getDescriptor(), "name", "string_match", "present_match");
        fields(StringMatcher.getDescriptor(), "exact", "prefix", "suffix", "safe_regex", "contains", "ignore_case");
        fields(RegexMatcher.getDescriptor(), "regex");
        fields(RouteAction.getDescriptor(), "cluster", "weighted_clusters", "timeout", "retry_policy",
                "request_mirror_policies", "prefix_rewrite", "regex_rewrite", "host_rewrite_literal", "hash_policy",
                "cluster_not_found_response_code"); // 500 for Gateway API's invalid backends' share
        // lb: Istio's consistentHash keys (http.HashPolicies); filter_state and regex_rewrite are not implemented.
        fields(RouteAction.HashPolicy.getDescriptor(), "header", "cookie", "connection_properties", "query_parameter",
                "terminal");
        fields(RouteAction.HashPolicy.Header.getDescriptor(), "header_name");
        fields(RouteAction.HashPolicy.Cookie.getDescriptor(), "name", "ttl", "path", "attributes");
        fields(RouteAction.HashPolicy.CookieAttribute.getDescriptor(), "name", "value");
        fields(RouteAction.HashPolicy.ConnectionProperties.getDescriptor(), "source_ip");
        fields(RouteAction.HashPolicy.QueryParameter.getDescriptor(), "name");
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
        fields(DataSource.getDescriptor(), "inline_string", "inline_bytes"); // inline_bytes: Secrets' PEM
        fields(HeaderValueOption.getDescriptor(), "header", "append_action");
        enumValues(HeaderValueOption.getDescriptor(), "append_action", "APPEND_IF_EXISTS_OR_ADD",
                "OVERWRITE_IF_EXISTS_OR_ADD");
        fields(HeaderValue.getDescriptor(), "key", "value");
        // Istio's corsPolicy, field for field (unmatchedPreflights → forward_not_matching_preflights).
        fields(CorsPolicy.getDescriptor(), "allow_origin_string_match", "allow_methods", "allow_headers",
                "expose_headers", "max_age", "allow_credentials", "filter_enabled", "forward_not_matching_preflights");

        // ---------------------------------------------------------------- Cluster (CDS)
        fields(Cluster.getDescriptor(), "name", "type", "eds_cluster_config", "connect_timeout", "lb_policy",
                "typed_extension_protocol_options",
                "round_robin_lb_config", "least_request_lb_config", "ring_hash_lb_config", "maglev_lb_config", // lb
                // resilience (issue 15): upstream.Resilience, CircuitBreakers, OutlierDetector.
                "circuit_breakers", "outlier_detection", "upstream_connection_options", "common_lb_config");
        enumValues(Cluster.getDescriptor(), "type", "EDS", "ORIGINAL_DST");
        // lb: every policy the upstream.EndpointPicker implements, per request over healthy endpoints.
        enumValues(Cluster.getDescriptor(), "lb_policy", "ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "RING_HASH", "MAGLEV",
                "CLUSTER_PROVIDED");
        fields(Cluster.RoundRobinLbConfig.getDescriptor(), "slow_start_config");
        fields(Cluster.LeastRequestLbConfig.getDescriptor(), "choice_count", "slow_start_config");
        // runtime_key: there is no runtime here, so default_value always applies (Envoy without an override).
        fields(Cluster.SlowStartConfig.getDescriptor(), "slow_start_window", "aggression", "min_weight_percent");
        fields(io.envoyproxy.envoy.config.core.v3.RuntimeDouble.getDescriptor(), "default_value", "runtime_key");
        fields(io.envoyproxy.envoy.type.v3.Percent.getDescriptor(), "value");
        fields(Cluster.RingHashLbConfig.getDescriptor(), "minimum_ring_size", "maximum_ring_size", "hash_function");
        enumValues(Cluster.RingHashLbConfig.getDescriptor(), "hash_function", "XX_HASH");
        fields(Cluster.MaglevLbConfig.getDescriptor(), "table_size");
        fields(Cluster.EdsClusterConfig.getDescriptor(), "eds_config", "service_name");
        fields(HttpProtocolOptions.getDescriptor(), "explicit_http_config", "use_downstream_protocol_config",
                "common_http_protocol_options");
        fields(HttpProtocolOptions.ExplicitHttpConfig.getDescriptor(), "http_protocol_options", "http2_protocol_options");
        fields(HttpProtocolOptions.UseDownstreamHttpConfig.getDescriptor(), "http_protocol_options",
                "http2_protocol_options");
        fields(Http1ProtocolOptions.getDescriptor());
        // Honoured on the downstream side (http.Limits: the HttpConnectionManager's); a cluster's
        // upstream options carry none of them today (istiod-lite sets none there).
        fields(Http2ProtocolOptions.getDescriptor(), "max_concurrent_streams", "initial_stream_window_size",
                "initial_connection_window_size", "max_outbound_control_frames",
                "max_consecutive_inbound_frames_with_empty_payload");
        // resilience (issue 15): circuit breakers of priority DEFAULT (the only one Istio writes).
        fields(CircuitBreakers.getDescriptor(), "thresholds");
        fields(CircuitBreakers.Thresholds.getDescriptor(), "priority", "max_connections", "max_pending_requests",
                "max_requests", "max_retries", "track_remaining");
        enumValues(CircuitBreakers.Thresholds.getDescriptor(), "priority", "DEFAULT");
        fields(UpstreamConnectionOptions.getDescriptor(), "tcp_keepalive");
        fields(TcpKeepalive.getDescriptor(), "keepalive_probes", "keepalive_time", "keepalive_interval");
        // Consecutive-failure detectors; enforcing_success_rate and enforcing_local_origin_success_rate
        // only switch off detectors the waypoint does not have (Istio always writes 0).
        fields(OutlierDetection.getDescriptor(), "consecutive_5xx", "interval", "base_ejection_time",
                "max_ejection_percent", "enforcing_consecutive_5xx", "enforcing_success_rate",
                "consecutive_gateway_failure", "enforcing_consecutive_gateway_failure",
                "split_external_local_origin_errors", "consecutive_local_origin_failure",
                "enforcing_consecutive_local_origin_failure", "enforcing_local_origin_success_rate",
                "max_ejection_time", "always_eject_one_host");
        // Istio's minHealthPercent: the picker's panic threshold.
        fields(Cluster.CommonLbConfig.getDescriptor(), "healthy_panic_threshold");

        // ---------------------------------------------------------------- ClusterLoadAssignment (EDS)
        fields(ClusterLoadAssignment.getDescriptor(), "cluster_name", "endpoints");
        fields(LocalityLbEndpoints.getDescriptor(), "lb_endpoints");
        fields(LbEndpoint.getDescriptor(), "endpoint", "health_status", "metadata", "load_balancing_weight"); // lb: weight
        enumValues(LbEndpoint.getDescriptor(), "health_status", "UNKNOWN", "HEALTHY", "UNHEALTHY");
        fields(Endpoint.getDescriptor(), "address");
        fields(Metadata.getDescriptor(), "filter_metadata");
    }

    private FieldTable() {}

    /**
     * Gateway mode (issue 16): a listener's TLS termination as Istio writes it for a Gateway
     * server (SDS by name over ADS, ALPN, TLS versions, client certificates for MUTUAL), the SNI
     * inspector, and SDS's Secret with inline PEM (a certificate and key, or a CA bundle).
     */
    private static void gateway() {
        fields(io.envoyproxy.envoy.config.listener.v3.ListenerFilter.getDescriptor(), "name", "typed_config");
        fields(io.envoyproxy.envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector.getDescriptor());
        fields(io.envoyproxy.envoy.config.core.v3.TransportSocket.getDescriptor(), "name", "typed_config");
        fields(io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext.getDescriptor(),
                "common_tls_context", "require_client_certificate");
        fields(io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext.getDescriptor(), "tls_params",
                "tls_certificate_sds_secret_configs", "validation_context_sds_secret_config", "alpn_protocols",
                "combined_validation_context");
        // Istio's client verification (MUTUAL, OPTIONAL_MUTUAL, ISTIO_MUTUAL): CA by SDS plus accepted SANs.
        fields(io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext
                .CombinedCertificateValidationContext.getDescriptor(), "default_validation_context",
                "validation_context_sds_secret_config");
        fields(io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher.getDescriptor(),
                "san_type", "matcher");
        enumValues(io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher.getDescriptor(),
                "san_type", "EMAIL", "DNS", "URI", "IP_ADDRESS");
        var params = io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.TlsParameters.getDescriptor();
        fields(params, "tls_minimum_protocol_version", "tls_maximum_protocol_version", "cipher_suites");
        enumValues(params, "tls_minimum_protocol_version", "TLS_AUTO", "TLSv1_2", "TLSv1_3");
        enumValues(params, "tls_maximum_protocol_version", "TLS_AUTO", "TLSv1_2", "TLSv1_3");
        fields(io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig.getDescriptor(), "name",
                "sds_config");
        fields(io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret.getDescriptor(), "name",
                "tls_certificate", "validation_context");
        fields(io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.TlsCertificate.getDescriptor(),
                "certificate_chain", "private_key");
        fields(io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext.getDescriptor(),
                "trusted_ca", "match_typed_subject_alt_names", "verify_certificate_spki", "verify_certificate_hash");
    }

    /**
     * L7 authorization (issue 15): Istio's RBAC filters (DENY, ALLOW, LOG; CUSTOM's shadow rules)
     * with the matchers Istio generates, and ext_authz with an HTTP service.
     */
    private static void authorization() {
        fields(io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.getDescriptor(), "rules", "shadow_rules",
                "shadow_rules_stat_prefix");
        fields(RBAC.getDescriptor(), "action", "policies");
        enumValues(RBAC.getDescriptor(), "action", "ALLOW", "DENY", "LOG");
        fields(Policy.getDescriptor(), "permissions", "principals");
        fields(Permission.getDescriptor(), "and_rules", "or_rules", "any", "header", "url_path", "destination_ip",
                "destination_port", "destination_port_range", "metadata", "not_rule", "requested_server_name");
        fields(Permission.Set.getDescriptor(), "rules");
        fields(Principal.getDescriptor(), "and_ids", "or_ids", "any", "authenticated", "source_ip",
                "direct_remote_ip", "remote_ip", "header", "url_path", "metadata", "not_id");
        fields(Principal.Set.getDescriptor(), "ids");
        fields(Principal.Authenticated.getDescriptor(), "principal_name");
        fields(PathMatcher.getDescriptor(), "path");
        fields(MetadataMatcher.getDescriptor(), "filter", "path", "value", "invert");
        fields(MetadataMatcher.PathSegment.getDescriptor(), "key");
        fields(ValueMatcher.getDescriptor(), "null_match", "double_match", "string_match", "bool_match",
                "present_match", "list_match", "or_match");
        fields(ValueMatcher.NullMatch.getDescriptor());
        fields(ListMatcher.getDescriptor(), "one_of");
        fields(OrMatcher.getDescriptor(), "value_matchers");
        fields(DoubleMatcher.getDescriptor(), "range", "exact");
        fields(DoubleRange.getDescriptor(), "start", "end");
        fields(Int32Range.getDescriptor(), "start", "end");

        fields(ExtAuthz.getDescriptor(), "http_service", "failure_mode_allow", "status_on_error",
                "transport_api_version", "filter_enabled_metadata");
        enumValues(ExtAuthz.getDescriptor(), "transport_api_version", "V3");
        fields(HttpService.getDescriptor(), "server_uri", "path_prefix", "authorization_request",
                "authorization_response");
        fields(HttpUri.getDescriptor(), "uri", "cluster", "timeout");
        fields(AuthorizationRequest.getDescriptor(), "allowed_headers", "headers_to_add");
        fields(AuthorizationResponse.getDescriptor(), "allowed_upstream_headers", "allowed_client_headers");
        fields(ListStringMatcher.getDescriptor(), "patterns");
        fields(HttpStatus.getDescriptor(), "code");
    }

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
