package dev.ambit.ctl.local;

import static dev.ambit.ctl.local.ControllerFixtures.parse;
import static dev.ambit.ctl.local.ControllerFixtures.pod;
import static dev.ambit.ctl.local.ControllerFixtures.running;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** LoadBalancer and NodePort Services: addresses, node ports, how they are shown and what listens. */
class LoadBalancerServicesTest {

    private final List<String> logged = new ArrayList<>();
    private final ServiceRegistry registry = new ServiceRegistry(IpPool.serviceAddresses(), logged::add);

    private static String lb(String name, String extra) {
        return """
                apiVersion: v1
                kind: Service
                metadata: {name: %s, namespace: demo}
                spec: {type: LoadBalancer, selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}, {name: dns, port: 53, protocol: UDP}]%s}
                ---
                """.formatted(name, extra);
    }

    @Test
    void aLoadBalancerGetsAnExternalAddressAndNodePortsAndListensOnBoth() {
        RunningPod web = running(parse(pod("demo", "w1", "web", 8080)).getFirst(), "node1", "10.244.1.7",
                "11111111-0000-0000-0000-000000000000");
        Map<String, ServiceView> views = registry.update(parse(lb("web", "")), List.of(web));

        ServiceView v = views.get("demo/web");
        assertThat(v.loadBalancerIp()).isEqualTo("10.250.0.200");
        assertThat(v.nodePorts()).isEqualTo(Map.of("80/TCP", 30000, "53/UDP", 30001));

        ObjectNode tree = Services.withAllocations(v.object().tree(), v);
        assertThat(tree.at("/status/loadBalancer/ingress/0/ip").asText()).isEqualTo("10.250.0.200");
        assertThat(tree.at("/spec/ports/0/nodePort").asInt()).isEqualTo(30000);
        assertThat(tree.at("/spec/ports/1/nodePort").asInt()).isEqualTo(30001);

        // The external address on the node network, the node port on every node; TCP only.
        List<ExternalForwards.Forward> plan = ExternalForwards.plan(views,
                List.of(ControllerFixtures.NODE1, ControllerFixtures.NODE2));
        assertThat(plan).extracting(ExternalForwards.Forward::listener).containsExactly(
                "ambit-l-net 10.250.0.200:80", "ambit-l-node1 0.0.0.0:30000", "ambit-l-node2 0.0.0.0:30000");
        assertThat(plan).allSatisfy(f -> assertThat(f.backends()).containsExactly("10.244.1.7:8080"));
        assertThat(ExternalForwards.externalAddresses(plan)).containsExactly("10.250.0.200");

        // Stable across ticks; the next Service gets the next ones.
        assertThat(registry.update(parse(lb("web", "") + lb("api", "")), List.of(web)))
                .hasEntrySatisfying("demo/web", w -> assertThat(w.loadBalancerIp()).isEqualTo("10.250.0.200"))
                .hasEntrySatisfying("demo/api", a -> {
                    assertThat(a.loadBalancerIp()).isEqualTo("10.250.0.201");
                    assertThat(a.nodePorts()).containsEntry("80/TCP", 30002);
                });
        assertThat(logged).isEmpty();
    }

    @Test
    void explicitNodePortAndLoadBalancerIpAreHonouredAndConflictsLoggedOnce() {
        String nodePort = """
                apiVersion: v1
                kind: Service
                metadata: {name: np, namespace: demo}
                spec: {type: NodePort, selector: {app: web}, ports: [{port: 80, nodePort: 31080}]}
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: np2, namespace: demo}
                spec: {type: NodePort, selector: {app: web}, ports: [{port: 80, nodePort: 31080}]}
                ---
                """;
        String manifests = nodePort + lb("fixed", ", loadBalancerIP: 10.250.0.222") + lb("outside", ", loadBalancerIP: 192.0.2.9");
        for (int tick = 0; tick < 3; tick++) {
            Map<String, ServiceView> views = registry.update(parse(manifests), List.of());
            assertThat(views.get("demo/np").nodePorts()).isEqualTo(Map.of("80/TCP", 31080));
            assertThat(views.get("demo/np").loadBalancerIp()).as("NodePort: no external address").isNull();
            assertThat(views.get("demo/np2").nodePorts()).as("taken: none").isEmpty();
            assertThat(views.get("demo/np2").vip()).as("still a ClusterIP Service").startsWith("10.96.");
            assertThat(views.get("demo/fixed").loadBalancerIp()).isEqualTo("10.250.0.222");
            assertThat(views.get("demo/outside").loadBalancerIp()).isNull();
        }
        assertThat(logged).containsExactly(
                "service demo/np2: port 80: nodePort 31080 is already allocated to demo/np/80/TCP (node ports"
                        + " (30000-32767)): give demo/np2/80/TCP another port, or leave nodePort empty to get a free one",
                "service demo/outside: spec.loadBalancerIP: 192.0.2.9 is not in the local pool (expected:"
                        + " 10.250.0.200-10.250.0.250, or empty)");
    }

    @Test
    void typeChangesAndDeletionsFreeWhatWasAllocated() {
        registry.update(parse(lb("web", "")), List.of());
        String clusterIp = """
                apiVersion: v1
                kind: Service
                metadata: {name: web, namespace: demo}
                spec: {selector: {app: web}, ports: [{port: 80}]}
                ---
                """;
        ServiceView plain = registry.update(parse(clusterIp), List.of()).get("demo/web");
        assertThat(plain.loadBalancerIp()).isNull();
        assertThat(plain.nodePorts()).isEmpty();
        assertThat(Services.withAllocations(plain.object().tree(), plain).has("status")).isFalse();
        ServiceView other = registry.update(parse(clusterIp + lb("api", "")), List.of()).get("demo/api");
        assertThat(other.loadBalancerIp()).as("freed by the type change").isEqualTo("10.250.0.200");
        assertThat(other.nodePorts()).containsEntry("80/TCP", 30000);

        registry.update(List.of(), List.of());
        ServiceView noNodePorts = registry.update(parse(lb("x", ", allocateLoadBalancerNodePorts: false")), List.of())
                .get("demo/x");
        assertThat(noNodePorts.loadBalancerIp()).as("freed by the deletion").isEqualTo("10.250.0.200");
        assertThat(noNodePorts.nodePorts()).isEmpty();
    }

    @Test
    void anExhaustedPoolLeavesTheServicePending() {
        ServiceRegistry small = new ServiceRegistry(IpPool.serviceAddresses(),
                IpPool.of("lb", "10.250.0.200", "10.250.0.200"), PortPool.nodePorts(), logged::add);
        Map<String, ServiceView> views = small.update(parse(lb("a", "") + lb("b", "")), List.of());
        assertThat(views.get("demo/a").loadBalancerIp()).isEqualTo("10.250.0.200");
        ServiceView b = views.get("demo/b");
        assertThat(b.loadBalancerIp()).isNull();
        ObjectNode tree = Services.withAllocations(b.object().tree(), b);
        assertThat(tree.at("/status/loadBalancer").isObject()).isTrue();
        assertThat(tree.at("/status/loadBalancer/ingress").isMissingNode()).isTrue();
        assertThat(logged).singleElement().asString().contains("all 1 addresses are in use");

        ClusterStatus.Service pending = new ClusterStatus.Service("demo", "b", "LoadBalancer", b.vip(), "80:30002/TCP",
                Map.of(), Map.of(), Instant.now().toString(), List.of(), tree);
        assertThat(KubectlPrinter.externalIp(pending)).isEqualTo("<pending>");
        ServiceView a = views.get("demo/a");
        ClusterStatus.Service served = new ClusterStatus.Service("demo", "a", "LoadBalancer", a.vip(), "80:30000/TCP",
                Map.of(), Map.of(), Instant.now().toString(), List.of(), Services.withAllocations(a.object().tree(), a));
        assertThat(KubectlPrinter.externalIp(served)).isEqualTo("10.250.0.200");
        assertThat(KubectlPrinter.services(List.of(served), KubectlPrinter.Format.TABLE, false, Instant.now()))
                .contains("LoadBalancer").contains("10.250.0.200").contains("80:30000/TCP");
    }

    @Test
    void theApiServersChecksOfTypesAndNodePorts() {
        assertThatThrownBy(() -> Services.validate(parse("""
                apiVersion: v1
                kind: Service
                metadata: {name: a, namespace: demo}
                spec: {ports: [{port: 80, nodePort: 30080}]}
                """).getFirst())).hasMessageContaining("spec.ports[0].nodePort: 30080 (expected: unset for type ClusterIP");
        assertThatThrownBy(() -> Services.validate(parse("""
                apiVersion: v1
                kind: Service
                metadata: {name: a, namespace: demo}
                spec: {type: NodePort, ports: [{port: 80, nodePort: 8080}]}
                """).getFirst())).hasMessageContaining("spec.ports[0].nodePort: 8080 (expected: 30000-32767");
        assertThatThrownBy(() -> Services.validate(parse("""
                apiVersion: v1
                kind: Service
                metadata: {name: a, namespace: demo}
                spec: {type: Balancer, ports: [{port: 80}]}
                """).getFirst())).hasMessageContaining("spec.type: Balancer (expected: ClusterIP, NodePort or LoadBalancer)");
        assertThatThrownBy(() -> Services.validate(parse("""
                apiVersion: v1
                kind: Service
                metadata: {name: a, namespace: demo}
                spec: {type: LoadBalancer, loadBalancerIP: ten, ports: [{port: 80}]}
                """).getFirst())).hasMessageContaining("spec.loadBalancerIP: ten");
        Services.validate(parse(lb("ok", ", loadBalancerIP: 10.250.0.201")).getFirst());
    }
}
