package dev.ambit.waypoint.config;

import static dev.ambit.waypoint.config.Resources.CLUSTER;
import static dev.ambit.waypoint.config.Resources.HTTP_CHAIN;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import dev.ambit.api.TypeUrls;
import dev.ambit.common.json.JsonWriter;
import dev.ambit.proxy.xds.ResourceHandler;
import io.envoyproxy.envoy.admin.v3.ClientResourceStatus;
import io.envoyproxy.envoy.admin.v3.ClustersConfigDump;
import io.envoyproxy.envoy.admin.v3.ConfigDump;
import io.envoyproxy.envoy.admin.v3.EndpointsConfigDump;
import io.envoyproxy.envoy.admin.v3.ListenersConfigDump;
import io.envoyproxy.envoy.admin.v3.RoutesConfigDump;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class EnvoyConfigDumpTest {

    private final WaypointConfigStore store = WaypointConfigStore.builder()
            .clock(Clock.fixed(Instant.parse("2026-12-06T21:00:00Z"), ZoneOffset.UTC)).build();

    /** The store filled with the contract's resources, plus one NACKed cluster update. */
    static void fill(WaypointConfigStore store) {
        apply(store, TypeUrls.LISTENER, Map.of("waypoint", Resources.listener()));
        apply(store, TypeUrls.ROUTE_CONFIGURATION, Map.of(HTTP_CHAIN, Resources.route()));
        apply(store, TypeUrls.CLUSTER, Map.of(CLUSTER, Resources.edsCluster(CLUSTER, false),
                Resources.CLUSTER_V1, Resources.edsCluster(Resources.CLUSTER_V1, false),
                Resources.CLUSTER_V2, Resources.edsCluster(Resources.CLUSTER_V2, false),
                Resources.DB_CLUSTER, Resources.tcpCluster(Resources.DB_CLUSTER),
                "inbound-passthrough", Resources.passthrough()));
        apply(store, TypeUrls.CLUSTER_LOAD_ASSIGNMENT, Map.of(CLUSTER, Resources.assignment(CLUSTER, "10.244.1.5",
                "10.244.2.6"), Resources.CLUSTER_V1, Resources.assignment(Resources.CLUSTER_V1, "10.244.1.5"),
                Resources.CLUSTER_V2, Resources.assignment(Resources.CLUSTER_V2, "10.244.2.6"),
                Resources.DB_CLUSTER, Resources.assignment(Resources.DB_CLUSTER, "10.244.1.9")));
        apply(store, TypeUrls.CLUSTER, Map.of(Resources.DB_CLUSTER, Resources.tcpCluster(Resources.DB_CLUSTER)
                .toBuilder().setLbPolicy(Cluster.LbPolicy.LOAD_BALANCING_POLICY_CONFIG).build())); // lb: RANDOM is honoured now
    }

    @Test
    void dumpsTheFourTypesInEnvoysAdminShape() throws Exception {
        fill(store);
        ConfigDump dump = EnvoyConfigDump.of(store);

        assertThat(dump.getConfigsList()).extracting(a -> a.getTypeUrl()).containsExactly(
                "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
                "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
                "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
                "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump");
        ListenersConfigDump listeners = dump.getConfigs(0).unpack(ListenersConfigDump.class);
        assertThat(listeners.getDynamicListenersList()).singleElement().satisfies(l -> {
            assertThat(l.getName()).isEqualTo("waypoint");
            assertThat(l.getActiveState().getVersionInfo()).isEqualTo("1");
            assertThat(l.getActiveState().getListener().unpack(Listener.class)).isEqualTo(Resources.listener());
            assertThat(l.getActiveState().getLastUpdated().getSeconds())
                    .isEqualTo(Instant.parse("2026-12-06T21:00:00Z").getEpochSecond());
            assertThat(l.getClientStatus()).isEqualTo(ClientResourceStatus.ACKED);
        });
        RoutesConfigDump routes = dump.getConfigs(1).unpack(RoutesConfigDump.class);
        assertThat(routes.getDynamicRouteConfigs(0).getRouteConfig().unpack(RouteConfiguration.class))
                .isEqualTo(Resources.route());
        ClustersConfigDump clusters = dump.getConfigs(2).unpack(ClustersConfigDump.class);
        assertThat(clusters.getDynamicActiveClustersList()).hasSize(5);
        ClustersConfigDump.DynamicCluster db = clusters.getDynamicActiveClustersList().stream()
                .filter(c -> c.getErrorState().getDetails().length() > 0).findFirst().orElseThrow();
        assertThat(db.getClientStatus()).isEqualTo(ClientResourceStatus.NACKED);
        assertThat(db.getCluster().unpack(Cluster.class)).as("the one in force").isEqualTo(
                Resources.tcpCluster(Resources.DB_CLUSTER));
        assertThat(db.getErrorState().getDetails()).contains("lb_policy: LOAD_BALANCING_POLICY_CONFIG not supported by this waypoint");
        EndpointsConfigDump endpoints = dump.getConfigs(3).unpack(EndpointsConfigDump.class);
        assertThat(endpoints.getDynamicEndpointConfigsList()).hasSize(4);
    }

    @Test
    void printsAsEnvoyDoesAndParsesBack() throws Exception {
        fill(store);
        String json = EnvoyConfigDump.json(store);
        assertThat(json).startsWith("{\"configs\":[{\"@type\":\"type.googleapis.com/envoy.admin.v3.ListenersConfigDump\"")
                .contains("\"dynamic_listeners\":[{\"name\":\"waypoint\",\"active_state\":{\"version_info\":\"1\","
                        + "\"listener\":{\"@type\":\"type.googleapis.com/envoy.config.listener.v3.Listener\"")
                .contains("\"last_updated\":\"2026-12-06T21:00:00Z\"")
                .contains("\"typed_config\":{\"@type\":\"type.googleapis.com/envoy.extensions.filters.network"
                        + ".http_connection_manager.v3.HttpConnectionManager\",\"stat_prefix\":\"" + HTTP_CHAIN + "\"")
                .contains("\"dynamic_route_configs\":[", "\"dynamic_active_clusters\":[", "\"dynamic_endpoint_configs\":[")
                .contains("\"typed_per_filter_config\":{\"envoy.filters.http.cors\":{\"@type\":"
                        + "\"type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy\"")
                .contains("\"client_status\":\"NACKED\"");
        ConfigDump.Builder back = ConfigDump.newBuilder();
        JsonFormat.parser().usingTypeRegistry(EnvoyConfigDump.TYPES).merge(json, back);
        assertThat(back.build()).isEqualTo(EnvoyConfigDump.of(store));
    }

    @Test
    void theAdminSectionIsTheConfigsArray() throws Exception {
        fill(store);
        JsonWriter w = new JsonWriter().open('{').key("configs");
        EnvoyConfigDump.section(store).write(w);
        String section = w.close('}').toString();
        assertThat(section).isEqualTo(EnvoyConfigDump.json(store));
    }

    @Test
    void anEmptyStoreDumpsFourEmptyDumps() throws Exception {
        assertThat(EnvoyConfigDump.json(store)).isEqualTo("{\"configs\":["
                + "{\"@type\":\"type.googleapis.com/envoy.admin.v3.ListenersConfigDump\",\"version_info\":\"0\"},"
                + "{\"@type\":\"type.googleapis.com/envoy.admin.v3.RoutesConfigDump\"},"
                + "{\"@type\":\"type.googleapis.com/envoy.admin.v3.ClustersConfigDump\",\"version_info\":\"0\"},"
                + "{\"@type\":\"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump\"}]}");
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    static void apply(WaypointConfigStore store, String type, Map<String, ? extends Message> updates) {
        ResourceHandler h = store.handlers().stream().filter(x -> x.typeUrl().equals(type)).findFirst().orElseThrow();
        h.apply(updates, List.of());
    }
}
