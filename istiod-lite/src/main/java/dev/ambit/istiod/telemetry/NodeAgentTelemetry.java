package dev.ambit.istiod.telemetry;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.Http2ProtocolOptions;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.type.v3.Percent;

/**
 * What node agents learn of tracing (issue 19), in Envoy's types like everything a proxy is told:
 * the agents' Listener {@value #LISTENER} (Istio's name of the listener that terminates HBONE, on
 * 15008) with one HttpConnectionManager whose {@code tracing} is the mesh-wide tracing
 * ({@link ProxyScope#nodeAgent}) as {@link ProxyTelemetry#tracing()} writes it for waypoints, but
 * with {@code random_sampling} 0 (a node agent never starts a trace: Envoy then only honours the
 * incoming decision) and without {@code request_header} custom tags (a CONNECT carries no
 * application headers). The collector's Cluster and ClusterLoadAssignment go beside it, named by
 * {@link ProxyTelemetry#collectorClusters()}. No tracing provider: the listener has no
 * {@code tracing} and the agents record nothing.
 *
 * <p>Why a Listener and not a field of Istio's workload types: ztunnel has no tracing to follow,
 * and the agent then reads the very {@code tracing} message (and parser, proxy-core's
 * {@code TracingConfig}) the waypoints do, with EDS telling where the collector is.
 */
public final class NodeAgentTelemetry {

    /** The agents' listener. */
    public static final String LISTENER = "connect_terminate";
    static final int HBONE_PORT = 15008;
    static final String HCM = "envoy.filters.network.http_connection_manager";

    private NodeAgentTelemetry() {}

    /** The agents' listener for {@code telemetry}, resolved for {@link ProxyScope#nodeAgent}. */
    public static Listener listener(ProxyTelemetry telemetry) {
        requireNonNull(telemetry, "telemetry");
        HttpConnectionManager.Builder hcm = HttpConnectionManager.newBuilder()
                .setStatPrefix(LISTENER)
                .setCodecType(HttpConnectionManager.CodecType.HTTP2)
                .setRouteConfig(RouteConfiguration.newBuilder().setName(LISTENER))
                .addUpgradeConfigs(HttpConnectionManager.UpgradeConfig.newBuilder().setUpgradeType("CONNECT"))
                .setHttp2ProtocolOptions(Http2ProtocolOptions.newBuilder().setAllowConnect(true));
        telemetry.tracing().ifPresent(t -> {
            HttpConnectionManager.Tracing.Builder b = t.toBuilder()
                    .setRandomSampling(Percent.newBuilder().setValue(0));
            b.clearCustomTags();
            t.getCustomTagsList().stream().filter(c -> !c.hasRequestHeader()).forEach(b::addCustomTags);
            hcm.setTracing(b);
        });
        return Listener.newBuilder()
                .setName(LISTENER)
                .setAddress(Address.newBuilder().setSocketAddress(SocketAddress.newBuilder().setAddress("0.0.0.0")
                        .setPortValue(HBONE_PORT)))
                .addFilterChains(FilterChain.newBuilder().addFilters(Filter.newBuilder().setName(HCM)
                        .setTypedConfig(Any.pack(hcm.build()))))
                .build();
    }
}
