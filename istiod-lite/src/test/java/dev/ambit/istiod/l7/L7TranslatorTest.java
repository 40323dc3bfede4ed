package dev.ambit.istiod.l7;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.api.TypeUrls;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.model.MeshConfig;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Edge cases of the L7 translation beside the golden cases. */
class L7TranslatorTest {

    private static final String REVIEWS_RC = "inbound-vip|9080|http|reviews.shop.svc.cluster.local";
    private static final String SUBSETS = """
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: {name: reviews, namespace: shop}
            spec:
              host: reviews
              subsets:
              - {name: v1, labels: {version: v1}}
              - {name: v2, labels: {version: v2}}
            """;

    private final L7Translator translator = L7Translator.of(MeshConfig.defaults());

    @Test
    void proxylessGrpcGetsTheVirtualServiceSplitAndHeaderMatchWithoutDefaultRetries() {
        L7Resources r = translator.translate(Snapshots.of(Snapshots.base(), SUBSETS, """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: reviews, namespace: shop}
                spec:
                  hosts: [reviews]
                  http:
                  - match: [{headers: {x-user: {exact: tester}}}]
                    route: [{destination: {host: reviews, subset: v2}}]
                  - route:
                    - {destination: {host: reviews, subset: v1}, weight: 80}
                    - {destination: {host: reviews, subset: v2}, weight: 20}
                """));
        String name = "reviews.shop.svc.cluster.local:9080";
        Listener listener = (Listener) r.forGrpc().get(TypeUrls.LISTENER).get(name);
        assertThat(listener.getApiListener().hasApiListener()).isTrue();
        RouteConfiguration rc = (RouteConfiguration) r.forGrpc().get(TypeUrls.ROUTE_CONFIGURATION).get(name);
        assertThat(rc.getVirtualHosts(0).getDomainsList()).contains(name, "reviews.shop.svc.cluster.local",
                "reviews", "reviews:9080", "reviews.shop");
        List<Route> routes = rc.getVirtualHosts(0).getRoutesList();
        assertThat(routes).hasSize(2);
        assertThat(routes.get(0).getMatch().getHeaders(0).getStringMatch().getExact()).isEqualTo("tester");
        assertThat(routes.get(0).getRoute().getCluster()).isEqualTo("outbound|9080|v2|reviews.shop.svc.cluster.local");
        assertThat(routes.get(1).getRoute().getWeightedClusters().getClustersList())
                .extracting(c -> c.getName() + "=" + c.getWeight().getValue())
                .containsExactly("outbound|9080|v1|reviews.shop.svc.cluster.local=80",
                        "outbound|9080|v2|reviews.shop.svc.cluster.local=20");
        assertThat(routes).allSatisfy(route -> assertThat(route.getRoute().hasRetryPolicy()).isFalse());
        Cluster v2 = (Cluster) r.forGrpc().get(TypeUrls.CLUSTER).get("outbound|9080|v2|reviews.shop.svc.cluster.local");
        assertThat(v2.getLbPolicy()).isEqualTo(Cluster.LbPolicy.ROUND_ROBIN);
        ClusterLoadAssignment cla = (ClusterLoadAssignment) r.forGrpc().get(TypeUrls.CLUSTER_LOAD_ASSIGNMENT)
                .get("outbound|9080|v2|reviews.shop.svc.cluster.local");
        assertThat(cla.getEndpoints(0).getLbEndpointsList()).singleElement().satisfies(e -> {
            assertThat(e.getEndpoint().getAddress().getSocketAddress().getAddress()).isEqualTo("10.244.1.12");
            assertThat(e.getMetadata().getFilterMetadataMap()).doesNotContainKey("envoy.transport_socket_match");
        });
    }

    @Test
    void unknownSubsetWithoutAnEarlierVersionIsNotAppliedAndIsReported() {
        L7Resources r = translator.translate(Snapshots.of(Snapshots.base(), """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: reviews, namespace: shop}
                spec:
                  hosts: [reviews]
                  http: [{route: [{destination: {host: reviews, subset: nope}}]}]
                """));
        assertThat(routes(r, REVIEWS_RC)).extracting(Route::getName).containsExactly("default");
        assertThat(r.warnings()).anySatisfy(w -> assertThat(w).startsWith("test.yaml VirtualService shop/reviews: "
                + "field spec.http[0].route[0].destination.subset: unknown subset \"nope\"")
                .endsWith("(rejected; it is not applied until fixed)"));
    }

    @Test
    void lastGoodVersionIsForgottenOnceTheObjectIsDeleted() {
        String good = """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: reviews, namespace: shop}
                spec:
                  hosts: [reviews]
                  http: [{route: [{destination: {host: reviews, subset: v1}}]}]
                """;
        String bad = good.replace("subset: v1", "subset: v9");
        assertThat(routes(translator.translate(Snapshots.of(Snapshots.base(), SUBSETS, good)), REVIEWS_RC))
                .extracting(Route::getName).containsExactly("shop/reviews/0");
        assertThat(routes(translator.translate(Snapshots.of(Snapshots.base(), SUBSETS, bad)), REVIEWS_RC))
                .extracting(rt -> rt.getRoute().getCluster())
                .containsExactly("outbound|9080|v1|reviews.shop.svc.cluster.local");
        translator.translate(Snapshots.of(Snapshots.base(), SUBSETS));
        assertThat(routes(translator.translate(Snapshots.of(Snapshots.base(), SUBSETS, bad)), REVIEWS_RC))
                .extracting(Route::getName).containsExactly("default");
    }

    @Test
    void waypointForWorkloadServesNoServicesAndOptOutsAndOtherWaypointsAreRespected() {
        ConfigSnapshot s = Snapshots.of(Snapshots.base().replace("istio.io/waypoint-for: service",
                "istio.io/waypoint-for: workload"));
        Listener l = listener(translator.translate(s));
        assertThat(l.getFilterChainsList()).isEmpty();
        assertThat(l.getDefaultFilterChain().getName()).isEqualTo("inbound-passthrough");

        String optOut = Snapshots.base().replace("metadata: {name: db, namespace: shop}",
                "metadata: {name: db, namespace: shop, labels: {istio.io/use-waypoint: none}}")
                .replace("metadata: {name: echo, namespace: other}", "metadata: {name: echo, namespace: other, "
                        + "labels: {istio.io/use-waypoint: waypoint, istio.io/use-waypoint-namespace: shop}}");
        assertThat(listener(translator.translate(Snapshots.of(optOut))).getFilterChainsList())
                .extracting(c -> c.getName())
                .contains("inbound-vip|80|http|echo.other.svc.cluster.local")
                .doesNotContain("inbound-vip|5432|tcp|db.shop.svc.cluster.local");
    }

    @Test
    void wildcardHostAndHttpRoutePortAndNoWaypointsGiveNothingForUnknownWaypoints() {
        L7Resources r = translator.translate(Snapshots.of(Snapshots.base(), """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: all, namespace: shop}
                spec:
                  hosts: ["*.shop.svc.cluster.local"]
                  http: [{directResponse: {status: 204}}]
                """));
        assertThat(routes(r, REVIEWS_RC)).singleElement()
                .satisfies(rt -> assertThat(rt.getDirectResponse().getStatus()).isEqualTo(204));
        assertThat(routes(r, "inbound-vip|8080|http|ratings.shop.svc.cluster.local")).singleElement()
                .satisfies(rt -> assertThat(rt.getDirectResponse().getStatus()).isEqualTo(204));
        assertThat(r.forWaypoint("shop", "nope")).isEmpty();
        assertThat(r.waypoints()).containsExactly("shop/waypoint");

        L7Resources h = translator.translate(Snapshots.of(Snapshots.base(), """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: ratings, namespace: shop}
                spec:
                  parentRefs: [{kind: Service, name: ratings, port: 8080}]
                  rules: [{backendRefs: [{name: reviews, port: 9080}]}]
                """));
        assertThat(routes(h, "inbound-vip|8080|http|ratings.shop.svc.cluster.local"))
                .extracting(rt -> rt.getRoute().getCluster())
                .containsExactly("outbound|9080||reviews.shop.svc.cluster.local");
        assertThat(routes(h, "inbound-vip|7070|http|ratings.shop.svc.cluster.local"))
                .extracting(Route::getName).containsExactly("default");

        L7Resources section = translator.translate(Snapshots.of(Snapshots.base(), """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: ratings, namespace: shop}
                spec:
                  parentRefs: [{kind: Service, name: ratings, sectionName: grpc-api}]
                  rules: [{backendRefs: [{name: reviews, port: 9080}]}]
                """));
        assertThat(routes(section, "inbound-vip|7070|http|ratings.shop.svc.cluster.local"))
                .extracting(rt -> rt.getRoute().getCluster())
                .containsExactly("outbound|9080||reviews.shop.svc.cluster.local");
        assertThat(routes(section, "inbound-vip|8080|http|ratings.shop.svc.cluster.local"))
                .extracting(Route::getName).containsExactly("default");
    }

    @Test
    void vsRoutesThatMatchNothingOnAPortFallBackToTheDefaultButOtherwiseNoCatchAllIsAdded() {
        L7Resources r = translator.translate(Snapshots.of(Snapshots.base(), """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: reviews, namespace: shop}
                spec:
                  hosts: [reviews]
                  http: [{match: [{uri: {prefix: /only}}], route: [{destination: {host: reviews}}]}]
                """));
        assertThat(routes(r, REVIEWS_RC)).singleElement()
                .satisfies(rt -> assertThat(rt.getMatch().getPrefix()).isEqualTo("/only"));
    }

    @Test
    void destinationRulesForOneHostMergeOldestFirst() {
        L7Resources r = translator.translate(Snapshots.of(Snapshots.base(), """
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: b-old, namespace: shop, creationTimestamp: "2024-01-01T00:00:00Z"}
                spec:
                  host: reviews
                  trafficPolicy: {loadBalancer: {simple: RANDOM}}
                  subsets: [{name: v1, labels: {version: v1}}]
                ---
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata: {name: a-new, namespace: other, creationTimestamp: "2024-02-01T00:00:00Z"}
                spec:
                  host: reviews.shop.svc.cluster.local
                  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
                  subsets: [{name: v1, labels: {version: v2}}, {name: v3, labels: {version: v3}}]
                """));
        var clusters = r.forWaypoint("shop", "waypoint").get(TypeUrls.CLUSTER);
        assertThat(((Cluster) clusters.get("outbound|9080||reviews.shop.svc.cluster.local")).getLbPolicy())
                .isEqualTo(Cluster.LbPolicy.RANDOM);
        assertThat(clusters).containsKeys("outbound|9080|v1|reviews.shop.svc.cluster.local",
                "outbound|9080|v3|reviews.shop.svc.cluster.local");
        ClusterLoadAssignment v1 = (ClusterLoadAssignment) r.forWaypoint("shop", "waypoint")
                .get(TypeUrls.CLUSTER_LOAD_ASSIGNMENT).get("outbound|9080|v1|reviews.shop.svc.cluster.local");
        assertThat(v1.getEndpoints(0).getLbEndpointsList()).singleElement().satisfies(e -> assertThat(
                e.getEndpoint().getAddress().getSocketAddress().getAddress()).isEqualTo("10.244.1.11"));
        assertThat(r.warnings()).contains(
                "test.yaml DestinationRule other/a-new: field spec.trafficPolicy: an older DestinationRule for "
                        + "reviews.shop.svc.cluster.local already sets the traffic policy; this one is not applied",
                "test.yaml DestinationRule other/a-new: field spec.subsets[0]: subset \"v1\" of "
                        + "reviews.shop.svc.cluster.local is already defined by an older DestinationRule; this one "
                        + "is ignored");
    }

    @Test
    void olderHttpRouteBeatsYoungerVirtualServiceForTheSameHost() {
        L7Resources r = translator.translate(Snapshots.of(Snapshots.base(), """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: reviews, namespace: shop, creationTimestamp: "2024-01-01T00:00:00Z"}
                spec:
                  parentRefs: [{kind: Service, name: reviews}]
                  rules: [{backendRefs: [{name: ratings, port: 8080}]}]
                ---
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata: {name: reviews, namespace: shop, creationTimestamp: "2024-03-01T00:00:00Z"}
                spec:
                  hosts: [reviews]
                  http: [{route: [{destination: {host: reviews}}]}]
                """));
        assertThat(routes(r, REVIEWS_RC)).extracting(rt -> rt.getRoute().getCluster())
                .containsExactly("outbound|8080||ratings.shop.svc.cluster.local");
        assertThat(r.warnings()).contains("test.yaml VirtualService shop/reviews: conflicts with the older HTTPRoute "
                + "shop/reviews for host reviews.shop.svc.cluster.local (as Istio, the oldest applies); not applied "
                + "to that host");
    }

    @Test
    void translationIsRepeatableAndInternalErrorsDoNotEscape() {
        ConfigSnapshot s = Snapshots.of(Snapshots.base(), SUBSETS);
        L7Resources a = L7Translator.of(MeshConfig.defaults()).translate(s);
        L7Resources b = L7Translator.of(MeshConfig.defaults()).translate(s);
        assertThat(a.forWaypoint("shop", "waypoint")).isEqualTo(b.forWaypoint("shop", "waypoint"));
        assertThat(a.forGrpc()).isEqualTo(b.forGrpc());
        assertThat(L7Translator.of(MeshConfig.defaults()).translate(ConfigSnapshot.builder().build()).waypoints())
                .isEmpty();
    }

    private static Listener listener(L7Resources r) {
        return (Listener) r.forWaypoint("shop", "waypoint").get(TypeUrls.LISTENER).get("waypoint");
    }

    private static List<Route> routes(L7Resources r, String name) {
        RouteConfiguration rc = (RouteConfiguration) r.forWaypoint("shop", "waypoint")
                .get(TypeUrls.ROUTE_CONFIGURATION).get(name);
        return rc.getVirtualHosts(0).getRoutesList();
    }
}
