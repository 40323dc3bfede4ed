package dev.ambit.ctl.local;

import static dev.ambit.ctl.local.ControllerFixtures.parse;
import static dev.ambit.ctl.local.ControllerFixtures.pod;
import static dev.ambit.ctl.local.ControllerFixtures.running;
import static dev.ambit.ctl.local.ControllerFixtures.service;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ServiceRegistryTest {

    private final List<String> logged = new ArrayList<>();
    private final ServiceRegistry registry = new ServiceRegistry(IpPool.serviceAddresses(), logged::add);

    @Test
    void aServiceGetsAVipAndTheReadyPodsItSelectsAsEndpoints() {
        List<KubeObject> manifests = parse(service("demo", "web", "web", 80, 8080));
        RunningPod ready = running(parse(pod("demo", "w1", "web", 8080)).getFirst(), "node1", "10.244.1.7",
                "11111111-0000-0000-0000-000000000000");
        RunningPod pending = running(parse(pod("demo", "w2", "web", 8080)).getFirst(), "node1", "10.244.1.8",
                "22222222-0000-0000-0000-000000000000");
        pending.phase = "Pending"; // waiting for its agent: not yet an endpoint
        RunningPod otherNs = running(parse(pod("other", "w3", "web", 8080)).getFirst(), "node2", "10.244.2.9",
                "33333333-0000-0000-0000-000000000000");

        Map<String, ServiceView> views = registry.update(manifests, List.of(ready, pending, otherNs));

        ServiceView web = views.get("demo/web");
        assertThat(web.vip()).isEqualTo("10.96.0.10");
        assertThat(web.endpoints()).containsExactly("10.244.1.7:8080");
        assertThat(web.backends()).containsExactly(Map.entry("10.96.0.10:80", List.of("10.244.1.7:8080")));
        assertThat(ServiceRegistry.backends(views)).isEqualTo(web.backends());
        assertThat(registry.createdAt("demo/web")).isNotEmpty();
        // The same VIP on the next tick.
        assertThat(registry.update(manifests, List.of(ready)).get("demo/web").vip()).isEqualTo("10.96.0.10");
    }

    @Test
    void explicitAndHeadlessClusterIpsAreKeptAndAConflictIsLeftOut() {
        List<KubeObject> manifests = parse("""
                apiVersion: v1
                kind: Service
                metadata: {name: fixed, namespace: demo}
                spec: {clusterIP: 10.96.1.1, selector: {app: a}, ports: [{port: 80}]}
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: headless, namespace: demo}
                spec: {clusterIP: None, selector: {app: a}, ports: [{port: 80}]}
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: clash, namespace: demo}
                spec: {clusterIP: 10.96.1.1, selector: {app: a}, ports: [{port: 80}]}
                """);
        Map<String, ServiceView> views = registry.update(manifests, List.of());
        assertThat(views.get("demo/fixed").vip()).isEqualTo("10.96.1.1");
        assertThat(views.get("demo/headless").vip()).isEqualTo("None");
        assertThat(views.get("demo/headless").backends()).isEmpty();
        assertThat(views).doesNotContainKey("demo/clash");
        assertThat(logged).singleElement().asString().startsWith("service demo/clash: ");
    }

    @Test
    void aServiceGoneFreesItsVip() {
        registry.update(parse(service("demo", "a", "a", 80, 80)), List.of());
        assertThat(registry.update(List.of(), List.of())).isEmpty();
        assertThat(registry.createdAt("demo/a")).isEmpty();
        assertThat(registry.update(parse(service("demo", "b", "b", 80, 80)), List.of()).get("demo/b").vip())
                .isEqualTo("10.96.0.10");
    }
}
