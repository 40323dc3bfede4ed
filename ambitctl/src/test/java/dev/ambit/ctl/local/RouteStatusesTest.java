package dev.ambit.ctl.local;

import static dev.ambit.ctl.local.ControllerFixtures.parse;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The mesh routes' {@code status.parents} as the local controller writes them (istiod-lite's
 * {@code RouteStatus}, as on a cluster): conditions per Service parent, transition times kept
 * while a condition's status holds, routes of other gateways left without a status of ours.
 */
class RouteStatusesTest {

    private static final String OBJECTS = """
            apiVersion: v1
            kind: Service
            metadata: {name: ratings, namespace: shop}
            spec: {ports: [{name: grpc, port: 7070}]}
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: GRPCRoute
            metadata: {name: ratings, namespace: shop}
            spec:
              parentRefs: [{kind: Service, name: ratings, port: 7070}]
              rules:
              - backendRefs: [{name: ratings, port: 7070, weight: 9}, {name: ratings-v2, port: 7070, weight: 1}]
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: {name: ingress, namespace: shop}
            spec:
              parentRefs: [{name: public-gateway}]
              rules: [{backendRefs: [{name: ratings, port: 7070}]}]
            """;

    private final AtomicReference<Instant> now = new AtomicReference<>(Instant.parse("2026-12-06T10:00:00Z"));

    private static JsonNode condition(KubeObject route, String type) {
        for (JsonNode c : route.tree().at("/status/parents/0/conditions")) {
            if (c.path("type").asText().equals(type)) {
                return c;
            }
        }
        throw new AssertionError("no condition " + type + " in " + route.tree());
    }

    @Test
    void meshRoutesGetTheirParentsConditionsAndTransitionTimesHold() {
        RouteStatuses statuses = new RouteStatuses(now::get);
        List<KubeObject> routes = statuses.update(parse(OBJECTS));
        assertThat(routes).as("only the mesh route (Service parent)").singleElement().satisfies(r -> {
            assertThat(r.kind()).isEqualTo("GRPCRoute");
            assertThat(r.tree().at("/status/parents/0/controllerName").asText()).isEqualTo("istio.io/mesh-controller");
            assertThat(r.tree().at("/status/parents/0/parentRef/name").asText()).isEqualTo("ratings");
            assertThat(condition(r, "Accepted").path("status").asText()).isEqualTo("True");
            assertThat(condition(r, "ResolvedRefs").path("reason").asText()).isEqualTo("BackendNotFound");
            assertThat(condition(r, "ResolvedRefs").path("message").asText())
                    .isEqualTo("spec.rules[0].backendRefs[1]: Service shop/ratings-v2 does not exist");
        });

        // Later, the missing Service exists: ResolvedRefs turns True at the new time, Accepted keeps its time.
        now.set(Instant.parse("2026-12-06T10:05:00Z"));
        List<KubeObject> objects = new ArrayList<>(parse(OBJECTS));
        objects.addAll(parse("""
                apiVersion: v1
                kind: Service
                metadata: {name: ratings-v2, namespace: shop}
                spec: {ports: [{name: grpc, port: 7070}]}
                """));
        KubeObject r = statuses.update(objects).getFirst();
        assertThat(condition(r, "ResolvedRefs").path("status").asText()).isEqualTo("True");
        assertThat(condition(r, "ResolvedRefs").path("lastTransitionTime").asText()).isEqualTo("2026-12-06T10:05:00Z");
        assertThat(condition(r, "Accepted").path("lastTransitionTime").asText()).isEqualTo("2026-12-06T10:00:00Z");
    }
}
