package dev.ambit.agent.tracing;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.Message;
import dev.ambit.api.TypeUrls;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.xds.ResourceHandler;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.trace.v3.ZipkinConfig;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.type.tracing.v3.CustomTag;
import io.envoyproxy.envoy.type.v3.Percent;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The agent's LDS/EDS handlers (issue 19): what it takes, and what it NACKs with the field named. */
class AgentTracingTest {

    private static final String COLLECTOR = "outbound|9411||zipkin.obs.svc.cluster.local";

    private final AgentTracing tracing = AgentTracing.of(MetricsRegistry.create(), AgentTracing.SERVICE_NAME, "n");

    @AfterEach
    void close() {
        tracing.close();
    }

    private static HttpConnectionManager.Tracing.Builder zipkin() {
        return HttpConnectionManager.Tracing.newBuilder().setRandomSampling(Percent.newBuilder().setValue(0))
                .setProvider(io.envoyproxy.envoy.config.trace.v3.Tracing.Http.newBuilder()
                        .setName("envoy.tracers.zipkin").setTypedConfig(Any.pack(ZipkinConfig.newBuilder()
                                .setCollectorCluster(COLLECTOR).setCollectorEndpoint("/api/v2/spans").build())));
    }

    private static Listener listener(UnaryOperator<HttpConnectionManager.Builder> edit) {
        HttpConnectionManager.Builder hcm = HttpConnectionManager.newBuilder().setStatPrefix("connect_terminate")
                .setTracing(zipkin());
        return Listener.newBuilder().setName("connect_terminate")
                .setAddress(Address.newBuilder().setSocketAddress(SocketAddress.newBuilder().setAddress("0.0.0.0")
                        .setPortValue(15008)))
                .addFilterChains(FilterChain.newBuilder().addFilters(Filter.newBuilder()
                        .setName("envoy.filters.network.http_connection_manager")
                        .setTypedConfig(Any.pack(edit.apply(hcm).build()))))
                .build();
    }

    @SuppressWarnings("unchecked")
    private <T extends Message> List<ResourceHandler.Rejection> apply(String typeUrl, Map<String, T> updates,
                                                                      List<String> removes) {
        ResourceHandler<T> h = (ResourceHandler<T>) tracing.handlers().stream().filter(x -> x.typeUrl()
                .equals(typeUrl)).findFirst().orElseThrow();
        return h.apply(updates, removes);
    }

    private List<ResourceHandler.Rejection> lds(Listener l) {
        return apply(TypeUrls.LISTENER, Map.of(l.getName(), l), List.of());
    }

    @Test
    void theConnectTerminateListenersTracingIsTakenAndItsRemovalTurnsTracingOff() {
        assertThat(tracing.settings()).isNull();
        assertThat(lds(listener(h -> h))).isEmpty();
        assertThat(tracing.settings()).isNotNull();
        assertThat(tracing.settings().collector().cluster()).isEqualTo(COLLECTOR);
        assertThat(lds(listener(h -> h.clearTracing()))).as("a listener without tracing").isEmpty();
        assertThat(tracing.settings()).isNull();
        assertThat(lds(listener(h -> h))).isEmpty();
        assertThat(apply(TypeUrls.LISTENER, Map.<String, Listener>of(), List.of("connect_terminate"))).isEmpty();
        assertThat(tracing.settings()).as("the listener removed").isNull();
    }

    @Test
    void whatTheAgentCannotHonourIsNackedNamingTheFieldAndTheLastGoodStays() {
        assertThat(lds(listener(h -> h))).isEmpty();
        var before = tracing.settings();
        assertThat(reason(lds(listener(h -> h.setTracing(zipkin().clearRandomSampling())))))
                .contains("tracing.random_sampling: unset (100)", "never starts a trace");
        assertThat(reason(lds(listener(h -> h.setTracing(zipkin().setRandomSampling(Percent.newBuilder()
                .setValue(1))))))).contains("tracing.random_sampling: 1.0");
        assertThat(reason(lds(listener(h -> h.setTracing(zipkin().addCustomTags(CustomTag.newBuilder().setTag("u")
                .setRequestHeader(CustomTag.Header.newBuilder().setName("x-user"))))))))
                .contains("tracing.custom_tags[u]: request_header");
        assertThat(reason(lds(listener(h -> h.setTracing(zipkin().setVerbose(true))))))
                .contains("tracing: verbose is set");
        assertThat(reason(lds(listener(h -> h.addHttpFilters(HttpFilter.newBuilder().setName("x"))))))
                .contains("http_filters is set");
        assertThat(reason(lds(listener(h -> h.setTracing(zipkin().setProvider(
                io.envoyproxy.envoy.config.trace.v3.Tracing.Http.newBuilder().setName("envoy.tracers.datadog")))))))
                .contains("tracing.provider.name: envoy.tracers.datadog");
        Listener other = listener(h -> h).toBuilder().setName("waypoint").build();
        assertThat(reason(lds(other))).contains("listener waypoint: not served by a node agent");
        Listener twoChains = listener(h -> h).toBuilder().addFilterChains(FilterChain.getDefaultInstance()).build();
        assertThat(reason(lds(twoChains))).contains("filter_chains: 2 (expected: 1)");
        assertThat(tracing.settings()).as("the last accepted configuration stays").isEqualTo(before);
    }

    @Test
    void edsGivesTheCollectorsEndpointAndAnAddressThatIsNoIpIsNacked() {
        ClusterLoadAssignment cla = ClusterLoadAssignment.newBuilder().setClusterName(COLLECTOR)
                .addEndpoints(LocalityLbEndpoints.newBuilder().addLbEndpoints(LbEndpoint.newBuilder()
                        .setEndpoint(Endpoint.newBuilder().setAddress(Address.newBuilder().setSocketAddress(
                                SocketAddress.newBuilder().setAddress("10.244.1.7").setPortValue(9411))))))
                .build();
        assertThat(apply(TypeUrls.CLUSTER_LOAD_ASSIGNMENT, Map.of(COLLECTOR, cla), List.of())).isEmpty();
        assertThat(AgentTracing.first(COLLECTOR, cla)).hasToString("/10.244.1.7:9411");
        ClusterLoadAssignment named = cla.toBuilder().setEndpoints(0, LocalityLbEndpoints.newBuilder()
                .addLbEndpoints(LbEndpoint.newBuilder().setEndpoint(Endpoint.newBuilder().setAddress(Address
                        .newBuilder().setSocketAddress(SocketAddress.newBuilder().setAddress("zipkin.obs")
                                .setPortValue(9411)))))).build();
        assertThat(reason(apply(TypeUrls.CLUSTER_LOAD_ASSIGNMENT, Map.of(COLLECTOR, named), List.of())))
                .contains("endpoint zipkin.obs:9411 (expected: an IP address");
        assertThat(AgentTracing.first(COLLECTOR, ClusterLoadAssignment.newBuilder().setClusterName(COLLECTOR)
                .build())).as("no endpoint now").isNull();
    }

    private static String reason(List<ResourceHandler.Rejection> rejections) {
        assertThat(rejections).hasSize(1);
        return rejections.get(0).reason();
    }
}
