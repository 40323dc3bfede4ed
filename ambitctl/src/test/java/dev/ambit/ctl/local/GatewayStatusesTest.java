package dev.ambit.ctl.local;

import static dev.ambit.ctl.local.ControllerFixtures.parse;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A waypoint Gateway's status as the controller writes it, Gateway API semantics. */
class GatewayStatusesTest {

    @TempDir
    Path dir;

    private final AtomicReference<Instant> now = new AtomicReference<>(Instant.parse("2026-12-06T10:00:00Z"));
    private final Waypoints waypoints = new Waypoints(WaypointsTest.LAUNCH);

    private static JsonNode condition(KubeObject gw, String type) {
        return KubectlPrinter.condition(gw.tree(), type);
    }

    private static JsonNode listenerCondition(JsonNode listener, String type) {
        for (JsonNode c : listener.path("conditions")) {
            if (c.path("type").asText().equals(type)) {
                return c;
            }
        }
        throw new AssertionError("no condition " + type + " in " + listener);
    }

    @Test
    void acceptedThenProgrammedOnceThePodIsReadyWithTheServiceVipAsAddress() throws Exception {
        Path jar = Files.createFile(dir.resolve("waypoint-proxy.jar"));
        GatewayStatuses statuses = new GatewayStatuses(jar, now::get);
        Waypoints.Expansion e = waypoints.expand(parse(WaypointsTest.GATEWAY));
        KubeObject service = e.objects().get(2);

        // No VIP yet: accepted, not programmed, no address.
        KubeObject gw = statuses.update(e.objects(), e.problems(), Map.of(), List.of()).getFirst();
        assertThat(condition(gw, "Accepted").path("status").asText()).isEqualTo("True");
        assertThat(condition(gw, "Programmed").path("reason").asText()).isEqualTo("AddressNotAssigned");
        assertThat(gw.tree().at("/status/addresses")).isEmpty();

        // A VIP, the pod running but its probe not passed: the address, Programmed False, Pending.
        Map<String, ServiceView> views = Map.of("shop/waypoint",
                new ServiceView(service, "10.96.0.20", Services.ports(service), List.of(), Map.of()));
        DesiredPod d = new DesiredPods(List.of("node1"), new Random(1)).of(List.of(e.objects().get(3)), Map.of())
                .values().iterator().next();
        RunningPod pod = new RunningPod(d, "0123abcd-0000-0000-0000-000000000000", "node1", "10.244.1.9", dir);
        RunningPod.ContainerRun c = new RunningPod.ContainerRun(d.template().containers().getFirst());
        pod.containers.add(c);
        c.process = new ProcessBuilder("sleep", "30").start();
        try {
            now.set(now.get().plusSeconds(5));
            gw = statuses.update(e.objects(), e.problems(), views, List.of(pod)).getFirst();
            assertThat(gw.tree().at("/status/addresses/0/type").asText()).isEqualTo("IPAddress");
            assertThat(gw.tree().at("/status/addresses/0/value").asText()).isEqualTo("10.96.0.20");
            JsonNode programmed = condition(gw, "Programmed");
            assertThat(programmed.path("status").asText()).isEqualTo("False");
            assertThat(programmed.path("reason").asText()).isEqualTo("Pending");
            assertThat(programmed.path("message").asText()).contains(pod.key(), "/healthz/ready").doesNotContain("not built");
            assertThat(programmed.path("lastTransitionTime").asText()).as("still False: no transition")
                    .isEqualTo("2026-12-06T10:00:00Z");

            c.probeReady = true;
            now.set(now.get().plusSeconds(5));
            gw = statuses.update(e.objects(), e.problems(), views, List.of(pod)).getFirst();
            programmed = condition(gw, "Programmed");
            assertThat(programmed.path("status").asText()).isEqualTo("True");
            assertThat(programmed.path("reason").asText()).isEqualTo("Programmed");
            assertThat(programmed.path("lastTransitionTime").asText()).isEqualTo("2026-12-06T10:00:10Z");
            assertThat(condition(gw, "Accepted").path("lastTransitionTime").asText()).isEqualTo("2026-12-06T10:00:00Z");

            assertThat(gw.tree().at("/status/addresses/1/type").asText()).isEqualTo("Hostname");
            assertThat(gw.tree().at("/status/addresses/1/value").asText()).isEqualTo("waypoint.shop.svc.cluster.local");
            assertThat(condition(gw, "ResolvedRefs").path("status").asText()).isEqualTo("True");
            JsonNode listener = gw.tree().at("/status/listeners/0");
            assertThat(listener.path("name").asText()).isEqualTo("mesh");
            assertThat(listener.path("attachedRoutes").asInt()).isZero();
            assertThat(listenerCondition(listener, "Programmed").path("status").asText()).isEqualTo("True");
            assertThat(new Admission().check(gw)).as("istiod-lite reads the status as written").isEmpty();

            // Unchanged inputs, later: the very same object (nothing for istiod-lite to push).
            now.set(now.get().plusSeconds(60));
            assertThat(statuses.update(e.objects(), e.problems(), views, List.of(pod)).getFirst()).isEqualTo(gw);
        } finally {
            c.process.destroyForcibly();
        }
    }

    @Test
    void anInvalidWaypointIsNotAcceptedAndAMissingJarIsNamed() {
        GatewayStatuses statuses = new GatewayStatuses(dir.resolve("absent.jar"), now::get);
        Waypoints.Expansion bad = waypoints.expand(parse(WaypointsTest.GATEWAY.replace("port: 15008", "port: 80")));
        KubeObject gw = statuses.update(bad.objects(), bad.problems(), Map.of(), List.of()).getFirst();
        assertThat(condition(gw, "Accepted").path("status").asText()).isEqualTo("False");
        assertThat(condition(gw, "Accepted").path("reason").asText()).isEqualTo("ListenersNotValid");
        assertThat(condition(gw, "Programmed").path("status").asText()).isEqualTo("False");

        Waypoints.Expansion ok = waypoints.expand(parse(WaypointsTest.GATEWAY));
        KubeObject service = ok.objects().get(2);
        Map<String, ServiceView> views = Map.of("shop/waypoint",
                new ServiceView(service, "10.96.0.20", Services.ports(service), List.of(), Map.of()));
        gw = statuses.update(ok.objects(), ok.problems(), views, List.of()).getFirst();
        assertThat(condition(gw, "Programmed").path("message").asText())
                .contains("waypoint-proxy is not built: " + dir.resolve("absent.jar"));
    }

    @Test
    void anExtraListenerIsReportedButTheWaypointIsDeployedAndRoutesAttachedToItsListenerAreCounted() {
        GatewayStatuses statuses = new GatewayStatuses(dir.resolve("x.jar"), now::get);
        List<KubeObject> objects = parse(WaypointsTest.GATEWAY.replace("listeners: [{name: mesh, port: 15008, protocol: HBONE}]",
                "listeners: [{name: mesh, port: 15008, protocol: HBONE}, {name: http, port: 80, protocol: HTTP}]") + """
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: to-waypoint, namespace: shop}
                spec: {parentRefs: [{name: waypoint, sectionName: mesh}], rules: [{backendRefs: [{name: web, port: 80}]}]}
                ---
                apiVersion: gateway.networking.k8s.io/v1
                kind: HTTPRoute
                metadata: {name: to-service, namespace: shop}
                spec: {parentRefs: [{group: "", kind: Service, name: waypoint}], rules: [{backendRefs: [{name: web, port: 80}]}]}
                """);
        Waypoints.Expansion e = waypoints.expand(objects);
        assertThat(e.problems()).isEmpty();
        assertThat(e.objects()).extracting(KubeObject::key).contains("deployment/shop/waypoint");
        KubeObject gw = statuses.update(e.objects(), e.problems(), Map.of(), List.of()).getFirst();
        JsonNode accepted = condition(gw, "Accepted");
        assertThat(accepted.path("status").asText()).isEqualTo("True");
        assertThat(accepted.path("reason").asText()).isEqualTo("ListenersNotValid");
        assertThat(accepted.path("message").asText()).contains("spec.listeners[1] (http): port 80, protocol HTTP");
        assertThat(gw.tree().at("/status/listeners/0/attachedRoutes").asInt()).isEqualTo(1);
        assertThat(listenerCondition(gw.tree().at("/status/listeners/1"), "Accepted").path("reason").asText())
                .isEqualTo("UnsupportedProtocol");
    }

    @Test
    void otherGatewaysArePassedAsTheyAre() {
        GatewayStatuses statuses = new GatewayStatuses(dir.resolve("x.jar"), now::get);
        List<KubeObject> objects = parse(WaypointsTest.GATEWAY.replace("istio-waypoint", "istio"));
        assertThat(statuses.update(objects, Map.of(), Map.of(), List.of())).containsExactlyElementsOf(objects);
    }
}
