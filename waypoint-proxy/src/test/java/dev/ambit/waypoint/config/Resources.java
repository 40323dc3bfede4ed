package dev.ambit.waypoint.config;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.Duration;
import com.google.protobuf.Struct;
import com.google.protobuf.UInt32Value;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.AggregatedConfigSource;
import io.envoyproxy.envoy.config.core.v3.ApiVersion;
import io.envoyproxy.envoy.config.core.v3.CidrRange;
import io.envoyproxy.envoy.config.core.v3.ConfigSource;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
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
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
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

/**
 * The resources istiod-lite sends a waypoint, in CONTRACT.md's shapes, with every field the
 * waypoint honours set somewhere: a waypoint {@code waypoint} in {@code shop} serving
 * {@code reviews} (VIP 10.96.0.10, HTTP port 9080) and {@code db} (VIP 10.96.0.20, TCP 5432).
 */
final class Resources {

    static final String HOST = "reviews.shop.svc.cluster.local";
    static final String HTTP_CHAIN = "inbound-vip|9080|http|" + HOST;
    static final String TCP_CHAIN = "inbound-vip|5432|tcp|db.shop.svc.cluster.local";
    static final String CLUSTER = "outbound|9080||" + HOST;
    static final String CLUSTER_V1 = "outbound|9080|v1|" + HOST;
    static final String CLUSTER_V2 = "outbound|9080|v2|" + HOST;
    static final String DB_CLUSTER = "outbound|5432||db.shop.svc.cluster.local";

    private Resources() {}

    static ConfigSource ads() {
        return ConfigSource.newBuilder().setAds(AggregatedConfigSource.getDefaultInstance())
                .setResourceApiVersion(ApiVersion.V3).build();
    }

    static Listener listener() {
        return Listener.newBuilder().setName("waypoint")
                .setAddress(address("0.0.0.0", 15008))
                .addFilterChains(FilterChain.newBuilder().setName(HTTP_CHAIN)
                        .setFilterChainMatch(match("10.96.0.10", 32, 9080).toBuilder()
                                .addPrefixRanges(CidrRange.newBuilder().setAddressPrefix("fd00::10")
                                        .setPrefixLen(UInt32Value.of(128))))
                        .addFilters(Filter.newBuilder().setName("envoy.filters.network.http_connection_manager")
                                .setTypedConfig(Any.pack(hcm(HTTP_CHAIN)))))
                .addFilterChains(tcpChain(TCP_CHAIN, match("10.96.0.20", 32, 5432), DB_CLUSTER))
                .setDefaultFilterChain(FilterChain.newBuilder().setName("inbound-passthrough")
                        .addFilters(tcpFilter("inbound-passthrough", "inbound-passthrough")))
                .build();
    }

    static HttpConnectionManager hcm(String name) {
        return HttpConnectionManager.newBuilder().setStatPrefix(name)
                .setCodecType(HttpConnectionManager.CodecType.AUTO)
                .setRds(Rds.newBuilder().setRouteConfigName(name).setConfigSource(ads()))
                .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.fault")
                        .setTypedConfig(Any.pack(HTTPFault.getDefaultInstance())))
                .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.cors")
                        .setTypedConfig(Any.pack(Cors.getDefaultInstance())))
                .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.router")
                        .setTypedConfig(Any.pack(Router.getDefaultInstance())))
                .build();
    }

    static FilterChain tcpChain(String name, FilterChainMatch match, String cluster) {
        return FilterChain.newBuilder().setName(name).setFilterChainMatch(match).addFilters(tcpFilter(name, cluster))
                .build();
    }

    static Filter tcpFilter(String statPrefix, String cluster) {
        return Filter.newBuilder().setName("envoy.filters.network.tcp_proxy")
                .setTypedConfig(Any.pack(TcpProxy.newBuilder().setStatPrefix(statPrefix).setCluster(cluster).build()))
                .build();
    }

    static FilterChainMatch match(String ip, int bits, int port) {
        return FilterChainMatch.newBuilder()
                .addPrefixRanges(CidrRange.newBuilder().setAddressPrefix(ip).setPrefixLen(UInt32Value.of(bits)))
                .setDestinationPort(UInt32Value.of(port)).build();
    }

    static Address address(String ip, int port) {
        return Address.newBuilder().setSocketAddress(SocketAddress.newBuilder().setAddress(ip).setPortValue(port))
                .build();
    }

    /** Routes in Istio's order: a header match to v2, a regex with retries and a fault, a redirect, a 418, the default. */
    static RouteConfiguration route() {
        Route canary = Route.newBuilder().setName("shop/reviews/canary")
                .setMatch(RouteMatch.newBuilder().setPrefix("/").setCaseSensitive(BoolValue.of(true))
                        .addHeaders(HeaderMatcher.newBuilder().setName("end-user")
                                .setStringMatch(StringMatcher.newBuilder().setExact("jason")))
                        .addHeaders(HeaderMatcher.newBuilder().setName(":method")
                                .setStringMatch(StringMatcher.newBuilder().setExact("GET")))
                        .addHeaders(HeaderMatcher.newBuilder().setName("x-debug").setPresentMatch(true)
                                .setInvertMatch(true))
                        .addQueryParameters(QueryParameterMatcher.newBuilder().setName("v")
                                .setStringMatch(StringMatcher.newBuilder().setPrefix("2")))
                        .addQueryParameters(QueryParameterMatcher.newBuilder().setName("flag").setPresentMatch(true)))
                .setRoute(RouteAction.newBuilder()
                        .setWeightedClusters(WeightedCluster.newBuilder()
                                .addClusters(WeightedCluster.ClusterWeight.newBuilder().setName(CLUSTER_V1)
                                        .setWeight(UInt32Value.of(90)))
                                .addClusters(WeightedCluster.ClusterWeight.newBuilder().setName(CLUSTER_V2)
                                        .setWeight(UInt32Value.of(10))))
                        .setTimeout(Duration.newBuilder().setSeconds(2))
                        .setRetryPolicy(istioDefaultRetries().toBuilder().setPerTryTimeout(Duration.newBuilder()
                                .setNanos(500_000_000)).addRetriableStatusCodes(503))
                        .addRequestMirrorPolicies(RouteAction.RequestMirrorPolicy.newBuilder().setCluster(CLUSTER_V2)
                                .setRuntimeFraction(RuntimeFractionalPercent.newBuilder().setDefaultValue(
                                        FractionalPercent.newBuilder().setNumerator(500_000)
                                                .setDenominator(FractionalPercent.DenominatorType.MILLION))))
                        .setPrefixRewrite("/v2/")
                        .setHostRewriteLiteral("reviews-v2"))
                .addRequestHeadersToAdd(header("x-canary", "true", HeaderValueOption.HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD))
                .addRequestHeadersToAdd(header("x-trail", "wp", HeaderValueOption.HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD))
                .addRequestHeadersToRemove("x-internal")
                .addResponseHeadersToAdd(header("x-served-by", "waypoint",
                        HeaderValueOption.HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD))
                .addResponseHeadersToRemove("server")
                .putTypedPerFilterConfig("envoy.filters.http.cors", Any.pack(CorsPolicy.newBuilder()
                        .addAllowOriginStringMatch(StringMatcher.newBuilder().setExact("https://shop.example"))
                        .setAllowMethods("GET,POST").setAllowHeaders("x-a").setExposeHeaders("x-b").setMaxAge("60")
                        .setAllowCredentials(BoolValue.of(true))
                        .setFilterEnabled(RuntimeFractionalPercent.newBuilder().setDefaultValue(
                                FractionalPercent.newBuilder().setNumerator(100)))
                        .build()))
                .build();
        Route regex = Route.newBuilder().setName("shop/reviews/1")
                .setMatch(RouteMatch.newBuilder().setSafeRegex(RegexMatcher.newBuilder().setRegex("/api/v[0-9]+/.*")))
                .setRoute(RouteAction.newBuilder().setCluster(CLUSTER)
                        .setRegexRewrite(RegexMatchAndSubstitute.newBuilder()
                                .setPattern(RegexMatcher.newBuilder().setRegex("^/api/(.*)$")).setSubstitution("/\\1")))
                .putTypedPerFilterConfig("envoy.filters.http.fault", Any.pack(HTTPFault.newBuilder()
                        .setDelay(FaultDelay.newBuilder().setFixedDelay(Duration.newBuilder().setSeconds(1))
                                .setPercentage(FractionalPercent.newBuilder().setNumerator(100_000)
                                        .setDenominator(FractionalPercent.DenominatorType.MILLION)))
                        .setAbort(FaultAbort.newBuilder().setHttpStatus(503)
                                .setPercentage(FractionalPercent.newBuilder().setNumerator(10)))
                        .build()))
                .build();
        Route redirect = Route.newBuilder().setName("shop/reviews/old")
                .setMatch(RouteMatch.newBuilder().setPath("/old"))
                .setRedirect(RedirectAction.newBuilder().setSchemeRedirect("https").setHostRedirect("new.example")
                        .setPortRedirect(8443).setPathRedirect("/new")
                        .setResponseCode(RedirectAction.RedirectResponseCode.PERMANENT_REDIRECT))
                .build();
        Route teapot = Route.newBuilder().setName("shop/reviews/teapot")
                .setMatch(RouteMatch.newBuilder().setPrefix("/tea"))
                .setDirectResponse(DirectResponseAction.newBuilder().setStatus(418)
                        .setBody(DataSource.newBuilder().setInlineString("I'm a teapot")))
                .build();
        Route fallback = Route.newBuilder().setName("default")
                .setMatch(RouteMatch.newBuilder().setPrefix("/"))
                .setRoute(RouteAction.newBuilder().setCluster(CLUSTER).setTimeout(Duration.getDefaultInstance())
                        .setRetryPolicy(istioDefaultRetries()))
                .build();
        return RouteConfiguration.newBuilder().setName(HTTP_CHAIN)
                .addVirtualHosts(VirtualHost.newBuilder().setName(HOST + ":9080").addDomains("*")
                        .addRoutes(canary).addRoutes(regex).addRoutes(redirect).addRoutes(teapot).addRoutes(fallback))
                .build();
    }

    static RetryPolicy istioDefaultRetries() {
        return RetryPolicy.newBuilder()
                .setRetryOn("connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes")
                .setNumRetries(UInt32Value.of(2))
                .addRetryHostPredicate(RetryPolicy.RetryHostPredicate.newBuilder()
                        .setName("envoy.retry_host_predicates.previous_hosts")
                        .setTypedConfig(Any.pack(PreviousHostsPredicate.getDefaultInstance())))
                .setHostSelectionRetryMaxAttempts(5)
                .build();
    }

    static HeaderValueOption header(String key, String value, HeaderValueOption.HeaderAppendAction action) {
        return HeaderValueOption.newBuilder().setHeader(HeaderValue.newBuilder().setKey(key).setValue(value))
                .setAppendAction(action).build();
    }

    static Cluster edsCluster(String name, boolean http2) {
        HttpProtocolOptions options = http2
                ? HttpProtocolOptions.newBuilder().setExplicitHttpConfig(HttpProtocolOptions.ExplicitHttpConfig.newBuilder()
                        .setHttp2ProtocolOptions(Http2ProtocolOptions.getDefaultInstance())).build()
                : HttpProtocolOptions.newBuilder().setUseDownstreamProtocolConfig(
                        HttpProtocolOptions.UseDownstreamHttpConfig.newBuilder()
                                .setHttpProtocolOptions(Http1ProtocolOptions.getDefaultInstance())
                                .setHttp2ProtocolOptions(Http2ProtocolOptions.getDefaultInstance())).build();
        return Cluster.newBuilder().setName(name).setType(Cluster.DiscoveryType.EDS)
                .setEdsClusterConfig(Cluster.EdsClusterConfig.newBuilder().setEdsConfig(ads()).setServiceName(name))
                .setConnectTimeout(Duration.newBuilder().setSeconds(10))
                .setLbPolicy(Cluster.LbPolicy.LEAST_REQUEST)
                .putTypedExtensionProtocolOptions("envoy.extensions.upstreams.http.v3.HttpProtocolOptions", Any.pack(options))
                .build();
    }

    static Cluster tcpCluster(String name) {
        return Cluster.newBuilder().setName(name).setType(Cluster.DiscoveryType.EDS)
                .setEdsClusterConfig(Cluster.EdsClusterConfig.newBuilder().setEdsConfig(ads()).setServiceName(name))
                .setConnectTimeout(Duration.newBuilder().setSeconds(10))
                .setLbPolicy(Cluster.LbPolicy.ROUND_ROBIN)
                .build();
    }

    static Cluster passthrough() {
        return Cluster.newBuilder().setName("inbound-passthrough").setType(Cluster.DiscoveryType.ORIGINAL_DST)
                .setLbPolicy(Cluster.LbPolicy.CLUSTER_PROVIDED).setConnectTimeout(Duration.newBuilder().setSeconds(10))
                .build();
    }

    static ClusterLoadAssignment assignment(String cluster, String... ips) {
        LocalityLbEndpoints.Builder l = LocalityLbEndpoints.newBuilder();
        for (int i = 0; i < ips.length; i++) {
            l.addLbEndpoints(LbEndpoint.newBuilder()
                    .setEndpoint(Endpoint.newBuilder().setAddress(address(ips[i], 9080)))
                    .setHealthStatus(i == 0 ? HealthStatus.HEALTHY : HealthStatus.UNHEALTHY)
                    .setMetadata(Metadata.newBuilder()
                            .putFilterMetadata("envoy.transport_socket_match", Struct.newBuilder()
                                    .putFields("tunnel", Value.newBuilder().setStringValue("http").build()).build())
                            .putFilterMetadata("istio", Struct.newBuilder().putFields("workload", Value.newBuilder()
                                    .setStringValue("reviews-" + i + ";shop;reviews;v1;Kubernetes").build()).build())));
        }
        return ClusterLoadAssignment.newBuilder().setClusterName(cluster).addEndpoints(l).build();
    }
}
