package dev.ambit.waypoint.gateway;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.ByteString;
import com.google.protobuf.UInt32Value;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.AggregatedConfigSource;
import io.envoyproxy.envoy.config.core.v3.ApiVersion;
import io.envoyproxy.envoy.config.core.v3.ConfigSource;
import io.envoyproxy.envoy.config.core.v3.DataSource;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.FilterChainMatch;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.listener.v3.ListenerFilter;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.filters.http.cors.v3.Cors;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.Rds;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.TlsCertificate;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.TlsParameters;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** The Envoy resources istiod-lite sends a gateway (CONTRACT seam 2), built for tests. */
public final class GatewayResources {

    private GatewayResources() {}

    static ConfigSource ads() {
        return ConfigSource.newBuilder().setAds(AggregatedConfigSource.getDefaultInstance())
                .setResourceApiVersion(ApiVersion.V3).build();
    }

    /** A listener {@code 0.0.0.0_<port>} with these chains; the tls_inspector when one matches on SNI. */
    public static Listener listener(int port, FilterChain... chains) {
        Listener.Builder b = Listener.newBuilder().setName("0.0.0.0_" + port)
                .setAddress(Address.newBuilder().setSocketAddress(SocketAddress.newBuilder().setAddress("0.0.0.0")
                        .setPortValue(port)));
        boolean sni = false;
        for (FilterChain c : chains) {
            b.addFilterChains(c);
            sni |= c.getFilterChainMatch().getServerNamesCount() > 0;
        }
        if (sni) {
            b.addListenerFilters(ListenerFilter.newBuilder().setName("envoy.filters.listener.tls_inspector")
                    .setTypedConfig(Any.pack(TlsInspector.getDefaultInstance())));
        }
        return b.build();
    }

    /** Istio's gateway HCM: RDS {@code route}, use_remote_address, no trusted hops, request ids, fault/cors/router. */
    public static HttpConnectionManager hcm(String route) {
        return HttpConnectionManager.newBuilder().setStatPrefix(route)
                .setCodecType(HttpConnectionManager.CodecType.AUTO)
                .setRds(Rds.newBuilder().setRouteConfigName(route).setConfigSource(ads()))
                .setUseRemoteAddress(BoolValue.of(true))
                .setXffNumTrustedHops(0)
                .setGenerateRequestId(BoolValue.of(true))
                .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.fault")
                        .setTypedConfig(Any.pack(HTTPFault.getDefaultInstance())))
                .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.cors")
                        .setTypedConfig(Any.pack(Cors.getDefaultInstance())))
                .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.router")
                        .setTypedConfig(Any.pack(Router.getDefaultInstance())))
                // telemetry (issue 19): the access log istiod-lite sends when MeshConfig accessLogFile is set.
                .addAccessLog(io.envoyproxy.envoy.config.accesslog.v3.AccessLog.newBuilder()
                        .setName("envoy.access_loggers.file").setTypedConfig(Any.pack(
                                io.envoyproxy.envoy.extensions.access_loggers.file.v3.FileAccessLog.newBuilder()
                                        .setPath("/dev/stdout").build())))
                .build();
    }

    /** A plain HTTP server's chain. */
    public static FilterChain httpChain(String route) {
        return FilterChain.newBuilder().setName(route).addFilters(Filter.newBuilder()
                .setName("envoy.filters.network.http_connection_manager").setTypedConfig(Any.pack(hcm(route)))).build();
    }

    /**
     * An HTTPS server's chain: SIMPLE with {@code secret}, MUTUAL when {@code mutual} (its
     * {@code -cacert} companion verifies clients); {@code tls}: TLS range (null: Istio's default).
     */
    public static FilterChain httpsChain(String route, List<String> serverNames, String secret, boolean mutual,
                                         TlsParameters tls) {
        CommonTlsContext.Builder common = CommonTlsContext.newBuilder()
                .addTlsCertificateSdsSecretConfigs(SdsSecretConfig.newBuilder().setName(secret).setSdsConfig(ads()))
                .addAlpnProtocols("h2").addAlpnProtocols("http/1.1");
        if (tls != null) {
            common.setTlsParams(tls);
        }
        DownstreamTlsContext.Builder d = DownstreamTlsContext.newBuilder();
        if (mutual) {
            common.setValidationContextSdsSecretConfig(SdsSecretConfig.newBuilder().setName(secret + "-cacert")
                    .setSdsConfig(ads()));
            d.setRequireClientCertificate(BoolValue.of(true));
        }
        d.setCommonTlsContext(common);
        return FilterChain.newBuilder().setName(route)
                .setFilterChainMatch(FilterChainMatch.newBuilder().addAllServerNames(serverNames))
                .setTransportSocket(TransportSocket.newBuilder().setName("envoy.transport_sockets.tls")
                        .setTypedConfig(Any.pack(d.build())))
                .addFilters(Filter.newBuilder().setName("envoy.filters.network.http_connection_manager")
                        .setTypedConfig(Any.pack(hcm(route)))).build();
    }

    /** An HTTPS server's chain with this TLS context as it is (modes beyond SIMPLE/MUTUAL). */
    public static FilterChain httpsChain(String route, List<String> serverNames, DownstreamTlsContext tls) {
        return FilterChain.newBuilder().setName(route)
                .setFilterChainMatch(FilterChainMatch.newBuilder().addAllServerNames(serverNames))
                .setTransportSocket(TransportSocket.newBuilder().setName("envoy.transport_sockets.tls")
                        .setTypedConfig(Any.pack(tls)))
                .addFilters(Filter.newBuilder().setName("envoy.filters.network.http_connection_manager")
                        .setTypedConfig(Any.pack(hcm(route)))).build();
    }

    /**
     * A context verifying clients as Istio's gateway does: certificate {@code secret}, CA {@code ca}
     * (both SDS names) in a {@code combined_validation_context} with these SAN matchers and pins.
     */
    public static DownstreamTlsContext verifying(String secret, String ca, boolean require,
                                                 CertificateValidationContext defaults, TlsParameters params) {
        CommonTlsContext.Builder common = CommonTlsContext.newBuilder()
                .addTlsCertificateSdsSecretConfigs(SdsSecretConfig.newBuilder().setName(secret).setSdsConfig(ads()))
                .addAlpnProtocols("h2").addAlpnProtocols("http/1.1");
        if (params != null) {
            common.setTlsParams(params);
        }
        if (ca != null) {
            common.setCombinedValidationContext(CommonTlsContext.CombinedCertificateValidationContext.newBuilder()
                    .setDefaultValidationContext(defaults)
                    .setValidationContextSdsSecretConfig(SdsSecretConfig.newBuilder().setName(ca).setSdsConfig(ads())));
        }
        return DownstreamTlsContext.newBuilder().setCommonTlsContext(common)
                .setRequireClientCertificate(BoolValue.of(require)).build();
    }

    /** A PASSTHROUGH server's chain: {@code serverNames} relayed as they are to {@code cluster}. */
    public static FilterChain passthroughChain(List<String> serverNames, String cluster) {
        return FilterChain.newBuilder().setName("passthrough|" + cluster)
                .setFilterChainMatch(FilterChainMatch.newBuilder().addAllServerNames(serverNames))
                .addFilters(Filter.newBuilder().setName("envoy.filters.network.tcp_proxy").setTypedConfig(Any.pack(
                        TcpProxy.newBuilder().setStatPrefix(cluster).setCluster(cluster).build()))).build();
    }

    /** A route configuration: per host, a virtual host {@code host:port} with domains [host, host:port] → cluster. */
    public static RouteConfiguration routes(String name, int port, String cluster, String... hosts) {
        RouteConfiguration.Builder b = RouteConfiguration.newBuilder().setName(name);
        for (String h : hosts) {
            b.addVirtualHosts(VirtualHost.newBuilder().setName(h + ":" + port).addDomains(h).addDomains(h + ":" + port)
                    .addRoutes(Route.newBuilder().setName("default").setMatch(RouteMatch.newBuilder().setPrefix("/"))
                            .setRoute(RouteAction.newBuilder().setCluster(cluster))));
        }
        return b.build();
    }

    /** Istio's httpsRedirect: a virtual host for {@code host} that requires TLS. */
    public static VirtualHost redirectHost(String host, int port, String cluster) {
        return VirtualHost.newBuilder().setName(host + ":" + port).addDomains(host).addDomains(host + ":" + port)
                .setRequireTls(VirtualHost.TlsRequirementType.ALL)
                .addRoutes(Route.newBuilder().setName("default").setMatch(RouteMatch.newBuilder().setPrefix("/"))
                        .setRoute(RouteAction.newBuilder().setCluster(cluster))).build();
    }

    public static Cluster cluster(String name) {
        return Cluster.newBuilder().setName(name).setType(Cluster.DiscoveryType.EDS)
                .setEdsClusterConfig(Cluster.EdsClusterConfig.newBuilder().setEdsConfig(ads()))
                .setLbPolicy(Cluster.LbPolicy.ROUND_ROBIN)
                .setConnectTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(2)).build();
    }

    public static ClusterLoadAssignment endpoints(String cluster, InetSocketAddress... addresses) {
        LocalityLbEndpoints.Builder l = LocalityLbEndpoints.newBuilder();
        for (InetSocketAddress a : addresses) {
            l.addLbEndpoints(LbEndpoint.newBuilder().setHealthStatus(HealthStatus.HEALTHY).setEndpoint(
                    Endpoint.newBuilder().setAddress(Address.newBuilder().setSocketAddress(SocketAddress.newBuilder()
                            .setAddress(a.getAddress().getHostAddress()).setPortValue(a.getPort())))));
        }
        return ClusterLoadAssignment.newBuilder().setClusterName(cluster).addEndpoints(l).build();
    }

    /** A {@code kubernetes.io/tls} Secret as SDS sends it. */
    public static Secret certificate(String name, String certificatePem, String keyPem) {
        return Secret.newBuilder().setName(name).setTlsCertificate(TlsCertificate.newBuilder()
                .setCertificateChain(DataSource.newBuilder().setInlineBytes(bytes(certificatePem)))
                .setPrivateKey(DataSource.newBuilder().setInlineBytes(bytes(keyPem)))).build();
    }

    /** The {@code -cacert} Secret: the CA client certificates must chain to. */
    public static Secret caCertificate(String name, String caPem) {
        return Secret.newBuilder().setName(name).setValidationContext(CertificateValidationContext.newBuilder()
                .setTrustedCa(DataSource.newBuilder().setInlineBytes(bytes(caPem)))).build();
    }

    public static TlsParameters tlsRange(TlsParameters.TlsProtocol min, TlsParameters.TlsProtocol max) {
        return TlsParameters.newBuilder().setTlsMinimumProtocolVersion(min).setTlsMaximumProtocolVersion(max).build();
    }

    static UInt32Value u32(int v) {
        return UInt32Value.of(v);
    }

    private static ByteString bytes(String s) {
        return ByteString.copyFrom(s, StandardCharsets.UTF_8);
    }
}
