package dev.ambit.istiod.l7;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.Message;
import com.google.protobuf.UInt32Value;
import dev.ambit.istiod.config.Cidr;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.istiod.telemetry.ProxyTelemetry;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.CidrRange;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.listener.v3.ApiListener;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.FilterChainMatch;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.http.cors.v3.Cors;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.Rds;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import java.util.List;

/** The waypoint's HBONE listener and the proxyless gRPC api_listeners, in the shapes CONTRACT.md gives. */
final class Listeners {

    static final String WAYPOINT_LISTENER = "waypoint";
    static final int WAYPOINT_PORT = 15008;
    static final String HCM = "envoy.filters.network.http_connection_manager";
    static final String TCP_PROXY = "envoy.filters.network.tcp_proxy";
    static final String ROUTER = "envoy.filters.http.router";

    private Listeners() {}

    /** {@code inbound-vip|P|http|HOST} or {@code inbound-vip|P|tcp|HOST}. */
    static String chainName(int port, boolean http, String host) {
        return "inbound-vip|" + port + "|" + (http ? "http" : "tcp") + "|" + host;
    }

    /** One filter chain of the waypoint listener: the service's VIPs and port, HTTP (RDS) or TCP. */
    static FilterChain chain(String name, List<String> vips, int port, boolean http, String tcpCluster) {
        return chain(name, vips, port, http, tcpCluster, List.of(), MeshConfig.PathNormalization.DEFAULT, null);
    }

    /**
     * As above; an HTTP chain's HCM lists {@code authz} (authz, issue 15: Istio's CUSTOM, AUDIT, DENY,
     * ALLOW filters) before fault, CORS and router, and normalizes paths as {@code normalization} says;
     * {@code telemetry} (issue 19, null = none) adds the HCM's tracing, access logs and stats filter.
     */
    static FilterChain chain(String name, List<String> vips, int port, boolean http, String tcpCluster,
                             List<HttpFilter> authz, MeshConfig.PathNormalization normalization,
                             ProxyTelemetry telemetry) {
        FilterChainMatch.Builder match = FilterChainMatch.newBuilder().setDestinationPort(UInt32Value.of(port));
        for (String vip : vips) {
            Cidr c = Cidr.parse(vip);
            match.addPrefixRanges(CidrRange.newBuilder().setAddressPrefix(vip)
                    .setPrefixLen(UInt32Value.of(c.address().length * 8)));
        }
        FilterChain.Builder chain = FilterChain.newBuilder().setName(name).setFilterChainMatch(match);
        if (http) {
            return chain.addFilters(filter(HCM, waypointHcm(name, authz, normalization, telemetry))).build();
        }
        if (telemetry != null) {
            telemetry.tcpStats().ifPresent(chain::addFilters); // issue 19: TCP metric overrides, before tcp_proxy
        }
        return chain.addFilters(filter(TCP_PROXY, tcpProxy(name, tcpCluster))).build();
    }

    static Listener waypoint(List<FilterChain> chains) {
        return Listener.newBuilder()
                .setName(WAYPOINT_LISTENER)
                .setAddress(Address.newBuilder().setSocketAddress(
                        SocketAddress.newBuilder().setAddress("0.0.0.0").setPortValue(WAYPOINT_PORT)))
                .addAllFilterChains(chains)
                .setDefaultFilterChain(FilterChain.newBuilder().setName(ClusterTranslator.PASSTHROUGH)
                        .addFilters(filter(TCP_PROXY, tcpProxy(ClusterTranslator.PASSTHROUGH,
                                ClusterTranslator.PASSTHROUGH))))
                .build();
    }

    private static HttpConnectionManager waypointHcm(String routeName, List<HttpFilter> authz,
                                                     MeshConfig.PathNormalization normalization,
                                                     ProxyTelemetry telemetry) {
        HttpConnectionManager.Builder hcm = HttpConnectionManager.newBuilder()
                .setStatPrefix(routeName)
                .setCodecType(HttpConnectionManager.CodecType.AUTO)
                .setRds(Rds.newBuilder().setRouteConfigName(routeName).setConfigSource(ClusterTranslator.ADS));
        normalization(hcm, normalization);
        if (telemetry != null) {
            telemetry.apply(hcm); // telemetry (issue 19): first filter istio.stats, tracing, access_log
        }
        return hcm.addAllHttpFilters(authz)
                .addHttpFilters(httpFilter(RouteTranslator.FAULT_FILTER, HTTPFault.getDefaultInstance()))
                .addHttpFilters(httpFilter(RouteTranslator.CORS_FILTER, Cors.getDefaultInstance()))
                .addHttpFilters(httpFilter(ROUTER, Router.getDefaultInstance()))
                .build();
    }

    /**
     * Istio's mapping of {@code pathNormalization} onto the HCM (its listener builder):
     * escaped slashes kept unless DECODE_AND_MERGE_SLASHES (unescaped and forwarded); NONE
     * turns {@code normalize_path} off; BASE (the default) on; MERGE_SLASHES and
     * DECODE_AND_MERGE_SLASHES also merge slashes.
     */
    static void normalization(HttpConnectionManager.Builder hcm, MeshConfig.PathNormalization n) {
        hcm.setPathWithEscapedSlashesAction(HttpConnectionManager.PathWithEscapedSlashesAction.KEEP_UNCHANGED);
        switch (n) {
            case NONE -> hcm.setNormalizePath(BoolValue.of(false));
            case MERGE_SLASHES -> hcm.setNormalizePath(BoolValue.of(true)).setMergeSlashes(true);
            case DECODE_AND_MERGE_SLASHES -> hcm.setNormalizePath(BoolValue.of(true)).setMergeSlashes(true)
                    .setPathWithEscapedSlashesAction(HttpConnectionManager.PathWithEscapedSlashesAction
                            .UNESCAPE_AND_FORWARD);
            default -> hcm.setNormalizePath(BoolValue.of(true));
        }
    }

    private static TcpProxy tcpProxy(String statPrefix, String cluster) {
        return TcpProxy.newBuilder().setStatPrefix(statPrefix).setCluster(cluster).build();
    }

    /** The api_listener a proxyless gRPC client asks for with {@code xds:///host:port}. */
    static Listener grpc(String name) {
        HttpConnectionManager hcm = HttpConnectionManager.newBuilder()
                .setRds(Rds.newBuilder().setRouteConfigName(name).setConfigSource(ClusterTranslator.ADS))
                .addHttpFilters(httpFilter(ROUTER, Router.getDefaultInstance()))
                .build();
        return Listener.newBuilder().setName(name)
                .setApiListener(ApiListener.newBuilder().setApiListener(Any.pack(hcm)))
                .build();
    }

    private static Filter filter(String name, Message config) {
        return Filter.newBuilder().setName(name).setTypedConfig(Any.pack(config)).build();
    }

    private static HttpFilter httpFilter(String name, Message config) {
        return HttpFilter.newBuilder().setName(name).setTypedConfig(Any.pack(config)).build();
    }
}
