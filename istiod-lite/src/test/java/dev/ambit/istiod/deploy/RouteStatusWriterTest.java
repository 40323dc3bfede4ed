package dev.ambit.istiod.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.RouteParentStatus;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.CustomResourceDefinitionContext;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The mesh routes' {@code status.parents} written through {@link Fabric8ClusterWriter}'s status
 * path (a CRUD mock API server with the Gateway API CRDs' status subresource): Accepted and
 * ResolvedRefs per Service parent as Gateway API specifies, another controller's entry kept,
 * nothing written when nothing changed, and the stored (rejected) version described rather than
 * the snapshot's last accepted one.
 */
class RouteStatusWriterTest {

    private static final String NS = "shop";
    private static final Instant T0 = Instant.parse("2026-12-06T12:00:00Z");

    private KubernetesMockServer server;
    private KubernetesClient client;
    private MetricsRegistry metrics;
    private RouteStatusWriter writer;

    @BeforeEach
    void setUp() {
        List<CustomResourceDefinitionContext> crds = List.of(crd("HTTPRoute", "httproutes"),
                crd("GRPCRoute", "grpcroutes"));
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(crds), false);
        server.init();
        client = server.createClient();
        metrics = MetricsRegistry.create();
        writer = new RouteStatusWriter(Fabric8ClusterWriter.of(client), metrics, Clock.fixed(T0, ZoneOffset.UTC));
        for (String name : List.of("ratings", "ratings-v1")) {
            client.resource(new ServiceBuilder().withNewMetadata().withName(name).withNamespace(NS).endMetadata()
                    .withNewSpec().addNewPort().withName("grpc").withPort(7070).endPort().endSpec().build()).create();
        }
    }

    @AfterEach
    void tearDown() {
        client.close();
        server.destroy();
    }

    private static CustomResourceDefinitionContext crd(String kind, String plural) {
        return new CustomResourceDefinitionContext.Builder().withName(plural + ".gateway.networking.k8s.io")
                .withGroup("gateway.networking.k8s.io").withVersion("v1").withKind(kind).withPlural(plural)
                .withScope("Namespaced").withStatusSubresource(true).build();
    }

    private <T extends io.fabric8.kubernetes.api.model.HasMetadata> T create(Class<T> type, String yaml) {
        return client.resource(client.getKubernetesSerialization().unmarshal(yaml, type)).create();
    }

    /** What the Kubernetes source would deliver: the stored Services and routes. */
    private ConfigSnapshot snapshot() {
        ConfigSnapshot.Builder b = ConfigSnapshot.builder();
        client.services().inAnyNamespace().list().getItems().forEach(s -> b.put(Kind.SERVICE, s));
        client.resources(HTTPRoute.class).inAnyNamespace().list().getItems().forEach(r -> b.put(Kind.HTTP_ROUTE, r));
        client.resources(GRPCRoute.class).inAnyNamespace().list().getItems().forEach(r -> b.put(Kind.GRPC_ROUTE, r));
        return b.build();
    }

    private GRPCRoute grpcRoute(String name) {
        return client.resources(GRPCRoute.class).inNamespace(NS).withName(name).get();
    }

    private static Condition condition(RouteParentStatus p, String type) {
        return p.getConditions().stream().filter(c -> c.getType().equals(type)).findFirst().orElseThrow();
    }

    private double updates(String kind) {
        return metrics.value("ambit_deployer_route_status_updates_total", kind);
    }

    @Test
    void grpcRouteParentsGetAcceptedAndResolvedRefsAndUnchangedStatusIsNotRewritten() {
        create(GRPCRoute.class, """
                apiVersion: gateway.networking.k8s.io/v1
                kind: GRPCRoute
                metadata: {name: ratings, namespace: shop}
                spec:
                  parentRefs:
                  - {group: "", kind: Service, name: ratings, port: 7070}
                  - {kind: Service, name: gone}
                  - {name: public-gateway}
                  rules:
                  - matches: [{method: {service: helloworld.Greeter}}]
                    backendRefs:
                    - {name: ratings-v1, port: 7070, weight: 90}
                    - {name: ratings-v2, port: 7070, weight: 10}
                """);
        // Another implementation's entry for its Gateway parent: kept as it is.
        GRPCRoute stored = grpcRoute("ratings");
        RouteParentStatus theirs = new RouteParentStatus();
        theirs.setControllerName("example.com/gateway-controller");
        theirs.setParentRef(stored.getSpec().getParentRefs().get(2));
        theirs.setConditions(List.of(new io.fabric8.kubernetes.api.model.ConditionBuilder().withType("Accepted")
                .withStatus("True").withReason("Accepted").withMessage("theirs").withObservedGeneration(1L)
                .withLastTransitionTime("2026-01-01T00:00:00Z").build()));
        stored.setStatus(new io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRouteStatus(List.of(theirs)));
        client.resource(stored).status().update();

        writer.reconcile(snapshot());
        List<RouteParentStatus> parents = grpcRoute("ratings").getStatus().getParents();
        assertThat(parents).extracting(RouteParentStatus::getControllerName).containsExactly(
                "example.com/gateway-controller", RouteStatus.CONTROLLER, RouteStatus.CONTROLLER);
        RouteParentStatus ratings = parents.get(1);
        assertThat(ratings.getParentRef().getName()).isEqualTo("ratings");
        assertThat(ratings.getParentRef().getPort()).isEqualTo(7070);
        assertThat(condition(ratings, "Accepted")).satisfies(c -> {
            assertThat(c.getStatus()).isEqualTo("True");
            assertThat(c.getReason()).isEqualTo("Accepted");
            assertThat(c.getLastTransitionTime()).isEqualTo("2026-12-06T12:00:00Z");
        });
        assertThat(condition(ratings, "ResolvedRefs")).satisfies(c -> {
            assertThat(c.getStatus()).isEqualTo("False");
            assertThat(c.getReason()).isEqualTo("BackendNotFound");
            assertThat(c.getMessage()).isEqualTo("spec.rules[0].backendRefs[1]: Service shop/ratings-v2 does not exist");
        });
        assertThat(condition(parents.get(2), "Accepted")).satisfies(c -> {
            assertThat(c.getStatus()).isEqualTo("False");
            assertThat(c.getReason()).isEqualTo("NoMatchingParent");
            assertThat(c.getMessage()).isEqualTo("Service shop/gone does not exist");
        });
        assertThat(updates("GRPCRoute")).isEqualTo(1);

        writer.reconcile(snapshot());
        assertThat(updates("GRPCRoute")).as("nothing changed, nothing written").isEqualTo(1);

        // The missing backend appears: ResolvedRefs turns True.
        client.resource(new ServiceBuilder().withNewMetadata().withName("ratings-v2").withNamespace(NS)
                .endMetadata().withNewSpec().addNewPort().withPort(7070).endPort().endSpec().build()).create();
        writer.reconcile(snapshot());
        RouteParentStatus now = grpcRoute("ratings").getStatus().getParents().get(1);
        assertThat(condition(now, "ResolvedRefs").getStatus()).isEqualTo("True");
        assertThat(condition(now, "ResolvedRefs").getReason()).isEqualTo("ResolvedRefs");
        assertThat(updates("GRPCRoute")).isEqualTo(2);
    }

    @Test
    void aStoredRouteIstiodLiteRejectsIsNotAcceptedNamingTheField() {
        HTTPRoute good = create(HTTPRoute.class, """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: reviews, namespace: shop}
                spec:
                  parentRefs: [{kind: Service, name: ratings}]
                  rules:
                  - matches: [{path: {type: RegularExpression, value: "/r/[a-z]+"}}]
                    backendRefs: [{name: ratings, port: 7070}]
                """);
        ConfigSnapshot lastAccepted = snapshot();
        // Stored while the webhook was down: the source keeps the good version in its snapshots.
        good.getSpec().getRules().getFirst().getMatches().getFirst().getPath().setValue("/r/(?=x)");
        client.resource(good).update();

        writer.reconcile(lastAccepted);
        RouteParentStatus p = client.resources(HTTPRoute.class).inNamespace(NS).withName("reviews").get()
                .getStatus().getParents().getFirst();
        assertThat(condition(p, "Accepted")).satisfies(c -> {
            assertThat(c.getStatus()).isEqualTo("False");
            assertThat(c.getReason()).isEqualTo("UnsupportedValue");
            assertThat(c.getMessage()).startsWith("istiod-lite rejects the route: spec.rules[0].matches[0].path.value: "
                    + "invalid RE2 regex \"/r/(?=x)\"");
        });
        assertThat(condition(p, "ResolvedRefs").getStatus()).isEqualTo("True");
        assertThat(updates("HTTPRoute")).isEqualTo(1);
    }
}
