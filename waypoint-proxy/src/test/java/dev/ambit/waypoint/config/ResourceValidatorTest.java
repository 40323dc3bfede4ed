package dev.ambit.waypoint.config;

import static dev.ambit.waypoint.config.Resources.CLUSTER;
import static dev.ambit.waypoint.config.Resources.HTTP_CHAIN;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.Struct;
import com.google.protobuf.UInt32Value;
import com.google.protobuf.UnknownFieldSet;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.cluster.v3.OutlierDetection;
import io.envoyproxy.envoy.config.core.v3.Metadata;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.DirectResponseAction;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.WeightedCluster;
import io.envoyproxy.envoy.extensions.filters.http.buffer.v3.Buffer;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.FaultAbort;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.type.matcher.v3.RegexMatcher;
import io.envoyproxy.envoy.type.v3.FractionalPercent;
import java.util.List;
import org.junit.jupiter.api.Test;

class ResourceValidatorTest {

    @Test
    void acceptsEveryFieldTheContractSends() {
        assertThat(ResourceValidator.validate("waypoint", Resources.listener())).isEmpty();
        assertThat(ResourceValidator.validate(HTTP_CHAIN, Resources.route())).isEmpty();
        assertThat(ResourceValidator.validate(CLUSTER, Resources.edsCluster(CLUSTER, false))).isEmpty();
        assertThat(ResourceValidator.validate("c2", Resources.edsCluster("c2", true))).isEmpty();
        assertThat(ResourceValidator.validate("inbound-passthrough", Resources.passthrough())).isEmpty();
        assertThat(ResourceValidator.validate(CLUSTER, Resources.assignment(CLUSTER, "10.244.1.5", "10.244.2.6")))
                .isEmpty();
    }

    @Test
    void aFieldTheWaypointDoesNotHonourIsNamedWithItsPath() {
        RouteConfiguration rc = Resources.route();
        RouteConfiguration.Builder b = rc.toBuilder();
        b.getVirtualHostsBuilder(0).getRoutesBuilder(2).setRoute(RouteAction.newBuilder()
                .setCluster(CLUSTER).addHashPolicy(RouteAction.HashPolicy.newBuilder().setFilterState(
                        RouteAction.HashPolicy.FilterState.newBuilder().setKey("x-user"))));
        assertThat(ResourceValidator.validate(HTTP_CHAIN, b.build())).containsExactly("RouteConfiguration "
                + HTTP_CHAIN + ": virtual_hosts[0].routes[2].route.hash_policy[0].filter_state: not supported by this "
                + "waypoint");
    }

    @Test
    void fieldsInsideTypedConfigsAreCheckedToo() {
        Listener.Builder l = Resources.listener().toBuilder();
        l.getFilterChainsBuilder(0).setFilters(0, Filter.newBuilder()
                .setName("envoy.filters.network.http_connection_manager")
                .setTypedConfig(Any.pack(Resources.hcm(HTTP_CHAIN).toBuilder()
                        .setSkipXffAppend(true).build())));
        assertThat(ResourceValidator.validate("waypoint", l.build())).containsExactly("Listener waypoint: "
                + "filter_chains[0].filters[0].typed_config.skip_xff_append: not supported by this waypoint");

        Route.Builder r = Resources.route().getVirtualHosts(0).getRoutes(1).toBuilder()
                .putTypedPerFilterConfig("envoy.filters.http.fault", Any.pack(HTTPFault.newBuilder()
                        .setAbort(FaultAbort.newBuilder().setGrpcStatus(14)).build()));
        assertThat(problems(r.build())).containsExactly("RouteConfiguration r: virtual_hosts[0].routes[0]"
                + ".typed_per_filter_config[\"envoy.filters.http.fault\"].abort.grpc_status: not supported by this waypoint",
                "RouteConfiguration r: virtual_hosts[0].routes[0].typed_per_filter_config[\"envoy.filters.http.fault\"]"
                        + ".abort.http_status: 0 (expected: 200-599)");
    }

    @Test
    void anUnknownFilterOrTypeIsRejectedNotSkipped() {
        HttpConnectionManager withBuffer = Resources.hcm(HTTP_CHAIN).toBuilder()
                .addHttpFilters(0, HttpFilter.newBuilder().setName("envoy.filters.http.buffer")
                        .setTypedConfig(Any.pack(Buffer.getDefaultInstance()))).build();
        assertThat(hcmProblems(withBuffer)).containsExactly("Listener waypoint: filter_chains[0].filters[0]"
                + ".typed_config.http_filters[0].name: \"envoy.filters.http.buffer\" not supported by this waypoint "
                + "(expected one of [istio.stats, envoy.filters.http.jwt_authn, envoy.filters.http.ext_authz, envoy.filters.http.rbac, "
                + "envoy.filters.http.fault, envoy.filters.http.cors, envoy.filters.http.router])");

        HttpConnectionManager wrongType = Resources.hcm(HTTP_CHAIN).toBuilder()
                .setHttpFilters(0, HttpFilter.newBuilder().setName("envoy.filters.http.fault")
                        .setTypedConfig(Any.pack(Buffer.getDefaultInstance()))).build();
        assertThat(hcmProblems(wrongType)).singleElement().asString()
                .contains("http_filters[0].typed_config: @type type.googleapis.com/envoy.extensions.filters.http.buffer"
                        + ".v3.Buffer not supported for \"envoy.filters.http.fault\"");

        HttpConnectionManager faultLast = Resources.hcm(HTTP_CHAIN).toBuilder()
                .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.fault")
                        .setTypedConfig(Any.pack(HTTPFault.getDefaultInstance())))
                .build();
        assertThat(hcmProblems(faultLast)).anySatisfy(p -> assertThat(p).contains("listed twice"))
                .anySatisfy(p -> assertThat(p).contains("expected: envoy.filters.http.router, the terminal filter"));
    }

    @Test
    void everyTypedConfigSiteKnowsItsNames() {
        RetryPolicy omitCanary = Resources.istioDefaultRetries().toBuilder()
                .addRetryHostPredicate(RetryPolicy.RetryHostPredicate.newBuilder()
                        .setName("envoy.retry_host_predicates.omit_canary_hosts")
                        .setTypedConfig(Any.pack(Buffer.getDefaultInstance())))
                .build();
        assertThat(problems(route(m -> m.setPrefix("/"), RouteAction.newBuilder().setCluster(CLUSTER)
                .setRetryPolicy(omitCanary).build()))).containsExactly("RouteConfiguration r: virtual_hosts[0].routes[0]"
                + ".route.retry_policy.retry_host_predicate[1].name: \"envoy.retry_host_predicates.omit_canary_hosts\" "
                + "not supported by this waypoint (expected one of [envoy.retry_host_predicates.previous_hosts])");

        Cluster tcpOptions = Resources.edsCluster(CLUSTER, true).toBuilder().putTypedExtensionProtocolOptions(
                "envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions", Any.pack(Buffer.getDefaultInstance())).build();
        assertThat(ResourceValidator.validate(CLUSTER, tcpOptions)).containsExactly("Cluster " + CLUSTER
                + ": typed_extension_protocol_options[\"envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions\"]: "
                + "\"envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions\" not supported by this waypoint (expected one "
                + "of [envoy.extensions.upstreams.http.v3.HttpProtocolOptions])");

        Listener.Builder l = Resources.listener().toBuilder();
        l.getFilterChainsBuilder(1).setFilters(0, Filter.newBuilder().setName("envoy.filters.network.redis_proxy")
                .setTypedConfig(Any.pack(Buffer.getDefaultInstance())));
        l.getFilterChainsBuilder(1).addFilters(Resources.tcpFilter("x", "y"));
        assertThat(ResourceValidator.validate("waypoint", l.build())).containsExactly(
                "Listener waypoint: filter_chains[1].filters[0].name: \"envoy.filters.network.redis_proxy\" not "
                        + "supported by this waypoint (expected one of " + FieldTable.NETWORK_FILTERS.keySet() + ")",
                "Listener waypoint: filter_chains[1].filters: 2 network filters (expected: exactly one of "
                        + "http_connection_manager, tcp_proxy; or istio.stats then tcp_proxy)");
    }

    @Test
    void valuesAreCheckedAsEnvoyChecksThem() {
        assertThat(problems(route(m -> m.setSafeRegex(RegexMatcher.newBuilder().setRegex("/a(?=b)")), null)))
                .singleElement().asString()
                .startsWith("RouteConfiguration r: virtual_hosts[0].routes[0].match.safe_regex.regex: \"/a(?=b)\" "
                        + "is not a valid RE2 regex");
        assertThat(problems(route(m -> m.setPrefix("/"), RouteAction.newBuilder().setWeightedClusters(
                WeightedCluster.newBuilder().addClusters(WeightedCluster.ClusterWeight.newBuilder().setName("a")
                        .setWeight(UInt32Value.of(0)))).build())))
                .containsExactly("RouteConfiguration r: virtual_hosts[0].routes[0].route.weighted_clusters.clusters: "
                        + "weights sum to 0 (expected: 1-4294967295)");
        assertThat(problems(route(m -> m.setPrefix("/"), RouteAction.newBuilder().setCluster(CLUSTER)
                .setRetryPolicy(RetryPolicy.newBuilder().setRetryOn("5xx,envoy-ratelimited")
                        .addRetriableStatusCodes(700)).build())))
                .containsExactly("RouteConfiguration r: virtual_hosts[0].routes[0].route.retry_policy.retry_on: "
                                + "\"envoy-ratelimited\" not supported by this waypoint (expected some of [5xx, cancelled, "
                                + "connect-failure, deadline-exceeded, gateway-error, internal, refused-stream, reset, "
                                + "resource-exhausted, retriable-4xx, retriable-status-codes, unavailable])",
                        "RouteConfiguration r: virtual_hosts[0].routes[0].route.retry_policy.retriable_status_codes[0]: "
                                + "700 (expected: 100-599)");
        Route directWithTooMuch = Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/"))
                .setDirectResponse(DirectResponseAction.newBuilder().setStatus(99))
                .putTypedPerFilterConfig("envoy.filters.http.fault", Any.pack(HTTPFault.newBuilder()
                        .setAbort(FaultAbort.newBuilder().setHttpStatus(503).setPercentage(FractionalPercent.newBuilder()
                                .setNumerator(101))).build()))
                .addRequestHeadersToRemove(":authority")
                .build();
        assertThat(problems(directWithTooMuch)).containsExactly(
                "RouteConfiguration r: virtual_hosts[0].routes[0].direct_response.status: 99 (expected: 200-599)",
                "RouteConfiguration r: virtual_hosts[0].routes[0].typed_per_filter_config[\"envoy.filters.http.fault\"]"
                        + ".abort.percentage.numerator: 101 (expected: 0-100 for denominator HUNDRED)",
                "RouteConfiguration r: virtual_hosts[0].routes[0].request_headers_to_remove[0]: \":authority\" cannot "
                        + "be changed (pseudo-headers and Host are the router's; use host_rewrite_literal)");
        assertThat(problems(Route.newBuilder().setMatch(RouteMatch.newBuilder()).build()))
                .containsExactly("RouteConfiguration r: virtual_hosts[0].routes[0].match: no path match (expected: "
                                + "prefix, path or safe_regex)",
                        "RouteConfiguration r: virtual_hosts[0].routes[0]: no action (expected: route, redirect or "
                                + "direct_response)");
    }

    @Test
    void clustersAndEndpointsHoldOnlyWhatTheWaypointDoes() {
        Cluster outlier = Resources.edsCluster(CLUSTER, false).toBuilder()
                .setOutlierDetection(OutlierDetection.newBuilder()
                        .setSuccessRateStdevFactor(com.google.protobuf.UInt32Value.of(1900))) // resilience: not implemented
                .setLbPolicy(Cluster.LbPolicy.LOAD_BALANCING_POLICY_CONFIG).build();
        assertThat(ResourceValidator.validate(CLUSTER, outlier)).containsExactlyInAnyOrder(
                "Cluster " + CLUSTER + ": lb_policy: LOAD_BALANCING_POLICY_CONFIG not supported by this waypoint "
                        + "(expected one of [CLUSTER_PROVIDED, LEAST_REQUEST, MAGLEV, RANDOM, RING_HASH, ROUND_ROBIN])",
                "Cluster " + CLUSTER + ": outlier_detection.success_rate_stdev_factor: not supported by this waypoint");
        Cluster unknownEnum = Resources.passthrough().toBuilder().setLbPolicyValue(42).build();
        assertThat(ResourceValidator.validate("inbound-passthrough", unknownEnum)).contains(
                "Cluster inbound-passthrough: lb_policy: unknown value 42 of envoy.config.cluster.v3.Cluster.LbPolicy");
        Cluster staticCluster = Cluster.newBuilder().setName("s").build();
        assertThat(ResourceValidator.validate("s", staticCluster))
                .containsExactly("Cluster s: type: not set, i.e. STATIC (expected: EDS or ORIGINAL_DST)");
        assertThat(ResourceValidator.validate("other", Resources.passthrough()))
                .containsExactly("Cluster other: name: \"inbound-passthrough\" (expected: the resource name \"other\")");

        ClusterLoadAssignment.Builder cla = Resources.assignment(CLUSTER, "10.244.1.5").toBuilder();
        cla.getEndpointsBuilder(0).getLbEndpointsBuilder(0).setMetadata(Metadata.newBuilder()
                .putFilterMetadata("envoy.transport_socket_match", Struct.newBuilder()
                        .putFields("tunnel", Value.newBuilder().setStringValue("h2").build()).build())
                .putFilterMetadata("envoy.lb", Struct.getDefaultInstance()));
        cla.getEndpointsBuilder(0).setPriority(1);
        assertThat(ResourceValidator.validate(CLUSTER, cla.build())).containsExactlyInAnyOrder(
                "ClusterLoadAssignment " + CLUSTER + ": endpoints[0].priority: not supported by this waypoint",
                "ClusterLoadAssignment " + CLUSTER + ": endpoints[0].lb_endpoints[0].metadata.filter_metadata"
                        + "[\"envoy.lb\"]: not supported by this waypoint (expected some of [envoy.filters.listener.original_dst, envoy.transport_socket_match, istio])",
                "ClusterLoadAssignment " + CLUSTER + ": endpoints[0].lb_endpoints[0].metadata.filter_metadata"
                        + "[\"envoy.transport_socket_match\"].tunnel: \"h2\" (expected: \"http\", HBONE)");

        // Istio's waypoint tunnel target (ingress-use-waypoint): an IP:port, and only on an HBONE endpoint.
        ClusterLoadAssignment.Builder viaWaypoint = Resources.assignment(CLUSTER, "10.244.1.50").toBuilder();
        viaWaypoint.getEndpointsBuilder(0).getLbEndpointsBuilder(0).setMetadata(Metadata.newBuilder()
                .putFilterMetadata("envoy.filters.listener.original_dst", Struct.newBuilder()
                        .putFields("local", Value.newBuilder().setStringValue("orders:8080").build())
                        .putFields("waypoint", Value.newBuilder().setStringValue("10.244.1.50:15008").build()).build()));
        assertThat(ResourceValidator.validate(CLUSTER, viaWaypoint.build())).containsExactlyInAnyOrder(
                "ClusterLoadAssignment " + CLUSTER + ": endpoints[0].lb_endpoints[0].metadata.filter_metadata"
                        + "[\"envoy.filters.listener.original_dst\"]: a tunnel destination without "
                        + "envoy.transport_socket_match tunnel: http (expected: only on HBONE endpoints)",
                "ClusterLoadAssignment " + CLUSTER + ": endpoints[0].lb_endpoints[0].metadata.filter_metadata"
                        + "[\"envoy.filters.listener.original_dst\"].local: \"orders:8080\" (expected: IP:port, the "
                        + "tunnel's destination)");
    }

    @Test
    void fieldsFromANewerEnvoyAreRejectedNotIgnored() {
        Cluster future = Resources.tcpCluster("c").toBuilder().setUnknownFields(UnknownFieldSet.newBuilder()
                .addField(9999, UnknownFieldSet.Field.newBuilder().addVarint(1).build()).build()).build();
        assertThat(ResourceValidator.validate("c", future)).containsExactly(
                "Cluster c: (resource): unknown field number(s) [9999] of envoy.config.cluster.v3.Cluster (newer than "
                        + "this waypoint)");
    }

    @Test
    void theTableNamesRealFieldsAndEveryTypedConfigType() {
        // Loading the class checks every listed field against its descriptor.
        assertThat(FieldTable.FIELDS).isNotEmpty();
        assertThat(FieldTable.anyTypes()).extracting(d -> d.getName()).containsExactlyInAnyOrder(
                "HttpConnectionManager", "TcpProxy", "HTTPFault", "Cors", "Router", "CorsPolicy", "HttpProtocolOptions",
                "PreviousHostsPredicate", "JwtAuthentication", "ExtAuthz", "RBAC",
                "DownstreamTlsContext", "TlsInspector", // gateway mode (issue 16)
                "StatsConfig", "ExpressionFilter", "FileAccessLog", // telemetry (issue 19)
                "ZipkinConfig", "OpenTelemetryConfig"); // tracing providers (issue 19)
        assertThat(FieldTable.honours(Route.getDescriptor(), "typed_per_filter_config")).isTrue();
        assertThat(FieldTable.honours(RouteAction.getDescriptor(), "hash_policy")).isTrue();
        assertThat(FieldTable.honours(RouteAction.HashPolicy.getDescriptor(), "filter_state")).isFalse();
    }

    @Test
    void problemsAreCappedSoANackStaysReadable() {
        RouteConfiguration.Builder b = RouteConfiguration.newBuilder().setName("r");
        var vh = b.addVirtualHostsBuilder().setName("v").addDomains("*");
        for (int i = 0; i < 50; i++) {
            vh.addRoutes(Route.newBuilder().setMatch(RouteMatch.newBuilder().setPrefix("/"))
                    .setRoute(RouteAction.newBuilder().setCluster("c").setAutoHostRewrite(
                            com.google.protobuf.BoolValue.of(true))));
        }
        assertThat(ResourceValidator.validate("r", b.build())).hasSize(ResourceValidator.MAX_PROBLEMS);
    }

    // ---------------------------------------------------------------- helpers

    private static List<String> hcmProblems(HttpConnectionManager hcm) {
        Listener.Builder l = Resources.listener().toBuilder();
        l.getFilterChainsBuilder(0).setFilters(0, Filter.newBuilder()
                .setName("envoy.filters.network.http_connection_manager").setTypedConfig(Any.pack(hcm)));
        return ResourceValidator.validate("waypoint", l.build());
    }

    private static Route route(java.util.function.Consumer<RouteMatch.Builder> match, RouteAction action) {
        RouteMatch.Builder m = RouteMatch.newBuilder();
        match.accept(m);
        return Route.newBuilder().setMatch(m).setRoute(action != null ? action
                : RouteAction.newBuilder().setCluster(CLUSTER).build()).build();
    }

    private static List<String> problems(Route route) {
        return ResourceValidator.validate("r", RouteConfiguration.newBuilder().setName("r")
                .addVirtualHosts(io.envoyproxy.envoy.config.route.v3.VirtualHost.newBuilder().setName("v")
                        .addDomains("*").addRoutes(route)).build());
    }
}
