package dev.ambit.istiod.xds;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.Message;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.ambit.api.TypeUrls;
import dev.ambit.istiod.l7.L7Resources;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.config.listener.v3.ApiListener;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Per-waypoint snapshots from L7 resources, node identification, and the L7 debug JSON. */
class L7SnapshotsTest {

    @Test
    void aWaypointIsNamedByNamespaceAndTheGatewayNameLabel() {
        assertThat(NodeMetadata.of(TestL7.waypointNode("shop", "wp")).waypointKey()).isEqualTo("shop/wp");
        assertThat(NodeMetadata.of(TestL7.grpcNode("g")).isProxylessGrpc()).isTrue();
        assertThat(NodeMetadata.of(TestL7.grpcNode("g")).waypointKey()).isEmpty();
        // The label without the namespace (or the other way round) names no waypoint.
        Node labelOnly = TestL7.waypointNode("shop", "wp").toBuilder()
                .setMetadata(TestL7.waypointNode("shop", "wp").getMetadata().toBuilder().removeFields("NAMESPACE"))
                .build();
        assertThat(NodeMetadata.of(labelOnly).waypointKey()).isEmpty();
        Node wrongShape = Node.newBuilder().setMetadata(Struct.newBuilder()
                .putFields("NAMESPACE", Value.newBuilder().setStringValue("shop").build())
                .putFields("LABELS", Value.newBuilder().setStringValue("not a struct").build())).build();
        assertThat(NodeMetadata.of(wrongShape).waypointKey()).isEmpty();
    }

    @Test
    void unknownWaypointsAndClientsWithoutOneGetTheFourTypesEmpty() {
        L7Snapshots s = L7Snapshots.of(new TestL7().waypoint("shop/wp", "a.shop.svc.cluster.local",
                "outbound|80||a.shop.svc.cluster.local", "10.0.0.1").build(), L7Snapshots.NONE);
        assertThat(s.waypoints()).containsOnlyKeys("shop/wp");
        assertThat(s.waypoint("shop/wp").resources(TypeUrls.CLUSTER)).containsOnlyKeys(
                "outbound|80||a.shop.svc.cluster.local");
        for (String key : List.of("", "shop/other")) {
            XdsSnapshot empty = s.waypoint(key);
            assertThat(empty.typeUrls()).containsExactlyElementsOf(L7Snapshots.ENVOY_TYPES);
            L7Snapshots.ENVOY_TYPES.forEach(t -> assertThat(empty.resources(t)).isEmpty());
        }
    }

    @Test
    void aMismatchedResourceIsLeftOutAndTheRestServed() {
        Map<String, Map<String, Message>> byType = Map.of(
                TypeUrls.CLUSTER, Map.of("good", Cluster.newBuilder().setName("good").build(),
                        "bad", Listener.newBuilder().setName("bad").build()),
                TypeUrls.ADDRESS, Map.of("x", Cluster.getDefaultInstance()));
        L7Snapshots s = L7Snapshots.of(L7Resources.of(Map.of("shop/wp", byType), Map.of(), List.of()),
                L7Snapshots.NONE);
        assertThat(s.waypoint("shop/wp").resources(TypeUrls.CLUSTER)).containsOnlyKeys("good");
        assertThat(s.waypoint("shop/wp").typeUrls()).doesNotContain(TypeUrls.ADDRESS);
        assertThat(s.problems()).hasSize(2).anySatisfy(p -> assertThat(p).contains("resource bad of "
                + TypeUrls.CLUSTER + ": envoy.config.listener.v3.Listener"));
    }

    @Test
    void changesAreOnlyThoseOfTheWaypointThatChanged() {
        TestL7 l7 = new TestL7()
                .waypoint("shop/a", "x.shop.svc.cluster.local", "outbound|80||x.shop.svc.cluster.local", "10.0.0.1")
                .waypoint("bank/b", "y.bank.svc.cluster.local", "outbound|80||y.bank.svc.cluster.local", "10.0.0.2");
        L7Snapshots before = L7Snapshots.of(l7.build(), L7Snapshots.NONE);
        L7Snapshots after = L7Snapshots.of(l7.reroute("shop/a", "x.shop.svc.cluster.local", "outbound|80|v2|x")
                .build(), before);
        var changes = after.changesFrom(before);
        assertThat(changes.get("shop/a").get(TypeUrls.ROUTE_CONFIGURATION).changed())
                .containsExactly(TestL7.chain("x.shop.svc.cluster.local"));
        assertThat(changes.get("shop/a").get(TypeUrls.CLUSTER).isEmpty()).isTrue();
        L7Snapshots.ENVOY_TYPES.forEach(t -> assertThat(changes.get("bank/b").get(t).isEmpty()).isTrue());
        // Unchanged resources are the very objects of the previous snapshot.
        assertThat(after.waypoint("bank/b").resources(TypeUrls.CLUSTER).values())
                .containsExactlyElementsOf(before.waypoint("bank/b").resources(TypeUrls.CLUSTER).values());
        assertThat(after.sameContent(before)).isFalse();
        assertThat(L7Snapshots.of(l7.build(), after).sameContent(after)).isTrue();
    }

    @Test
    void debugJsonShowsResourcesWithTheirPackedConfigs() {
        HttpConnectionManager hcm = HttpConnectionManager.newBuilder().setStatPrefix("echo:7070")
                .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.router")
                        .setTypedConfig(Any.pack(Router.getDefaultInstance())))
                .build();
        Map<String, Map<String, Message>> grpc = Map.of(TypeUrls.LISTENER, Map.of("echo:7070",
                Listener.newBuilder().setName("echo:7070")
                        .setApiListener(ApiListener.newBuilder().setApiListener(Any.pack(hcm))).build()));
        L7Resources l7 = L7Resources.of(Map.of("shop/wp", Map.of(TypeUrls.CLUSTER,
                Map.of("c", Cluster.newBuilder().setName("c").build()))), grpc, List.of("VirtualService x: bad"));

        String all = L7DebugJson.render(l7, "");
        assertThat(all).contains("\"warnings\":[\"VirtualService x: bad\"]")
                .contains("\"shop/wp\":{\"" + TypeUrls.CLUSTER + "\":{\"c\":{\"name\":\"c\"}}}")
                .contains("\"@type\":\"type.googleapis.com/envoy.extensions.filters.network.http_connection_manager"
                        + ".v3.HttpConnectionManager\"")
                .contains("\"statPrefix\":\"echo:7070\"");
        assertThat(L7DebugJson.render(l7, "shop/other")).doesNotContain("shop/wp").doesNotContain("grpc");
    }

    /** Every config istiod-lite packs into an HCM (tracing, RBAC, JWT, ext_authz) shows in the debug JSON. */
    @Test
    void debugJsonShowsTracingAndSecurityFilters() {
        HttpConnectionManager hcm = HttpConnectionManager.newBuilder().setStatPrefix("wp")
                .setTracing(HttpConnectionManager.Tracing.newBuilder().setProvider(
                        io.envoyproxy.envoy.config.trace.v3.Tracing.Http.newBuilder().setName("envoy.tracers.zipkin")
                                .setTypedConfig(Any.pack(io.envoyproxy.envoy.config.trace.v3.ZipkinConfig.newBuilder()
                                        .setCollectorCluster("zipkin").build()))))
                .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.rbac").setTypedConfig(Any.pack(
                        io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC.getDefaultInstance())))
                .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.jwt_authn").setTypedConfig(Any.pack(
                        io.envoyproxy.envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication.getDefaultInstance())))
                .addHttpFilters(HttpFilter.newBuilder().setName("envoy.filters.http.ext_authz").setTypedConfig(Any.pack(
                        io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.ExtAuthz.getDefaultInstance())))
                .build();
        L7Resources l7 = L7Resources.of(Map.of("shop/wp", Map.of(TypeUrls.LISTENER, Map.of("main",
                Listener.newBuilder().setName("main").setApiListener(ApiListener.newBuilder().setApiListener(Any.pack(hcm)))
                        .build()))), Map.of(), List.of());

        assertThat(L7DebugJson.render(l7, "shop/wp")).contains("\"collectorCluster\":\"zipkin\"")
                .contains("envoy.extensions.filters.http.rbac.v3.RBAC")
                .contains("envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication")
                .contains("envoy.extensions.filters.http.ext_authz.v3.ExtAuthz");
    }
}
