package dev.ambit.istiod.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentStatusBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRouteBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.RouteParentStatus;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import io.fabric8.kubernetes.api.model.networking.v1.IngressBuilder;
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
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Gateways of class istio deployed by {@link WaypointDeployer} as Istio's gateway controller does,
 * against fabric8's mock API server (the tests play the load balancer and the Deployment
 * controller), with Gateway, route and Ingress status.
 */
class IstioGatewayDeployerTest {

    private static final String NS = "ingress";

    private KubernetesMockServer server;
    private KubernetesClient client;
    private WaypointDeployer deployer;

    @BeforeEach
    void setUp() {
        List<CustomResourceDefinitionContext> crds = List.of(crd("Gateway", "gateways"), crd("HTTPRoute", "httproutes"));
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(crds), false);
        server.init();
        client = server.createClient();
        deployer = WaypointDeployer.builder(Fabric8ClusterWriter.of(client), MetricsRegistry.create())
                .image("registry.example/ambit/waypoint:1.2.3")
                .istiodAddress("istiod.istio-system.svc:15012")
                .clock(Clock.fixed(Instant.parse("2026-12-07T04:00:00Z"), ZoneOffset.UTC))
                .secrets(snapshot -> (ns, name) -> name.equals("broken") ? "Secret " + ns + "/" + name
                        + ": tls.key is missing" : null)
                .build();
    }

    @AfterEach
    void tearDown() {
        deployer.close();
        client.close();
        server.destroy();
    }

    private static CustomResourceDefinitionContext crd(String kind, String plural) {
        return new CustomResourceDefinitionContext.Builder().withName(plural + ".gateway.networking.k8s.io")
                .withGroup("gateway.networking.k8s.io").withVersion("v1").withKind(kind).withPlural(plural)
                .withScope("Namespaced").withStatusSubresource(true).build();
    }

    private boolean reconcile() {
        ConfigSnapshot.Builder b = ConfigSnapshot.builder();
        client.resources(Gateway.class).inAnyNamespace().list().getItems().forEach(g -> b.put(Kind.GATEWAY, g));
        client.resources(HTTPRoute.class).inAnyNamespace().list().getItems().forEach(r -> b.put(Kind.HTTP_ROUTE, r));
        client.services().inAnyNamespace().list().getItems().forEach(s -> b.put(Kind.SERVICE, s));
        client.network().v1().ingresses().inAnyNamespace().list().getItems().forEach(i -> b.put(Kind.INGRESS, i));
        return deployer.reconcile(b.build());
    }

    private static Condition condition(List<Condition> conditions, String type) {
        return conditions.stream().filter(c -> c.getType().equals(type)).findFirst().orElseThrow();
    }

    private Gateway gateway() {
        return client.resources(Gateway.class).inNamespace(NS).withName("web").get();
    }

    @Test
    void deploysServiceAccountDeploymentAndLoadBalancerServiceThenReportsTheAddress() {
        client.resource(new GatewayBuilder().withNewMetadata().withName("web").withNamespace(NS).endMetadata()
                .withNewSpec().withGatewayClassName("istio")
                .addNewListener().withName("http").withPort(80).withProtocol("HTTP").endListener()
                .addNewListener().withName("https").withPort(443).withProtocol("HTTPS").withNewTls()
                .addNewCertificateRef().withName("broken").endCertificateRef().endTls().endListener()
                .endSpec().build()).create();
        client.resource(new HTTPRouteBuilder().withNewMetadata().withName("app").withNamespace(NS).endMetadata()
                .withNewSpec().addNewParentRef().withName("web").endParentRef()
                .addNewRule().addNewBackendRef().withName("missing").withPort(8080).endBackendRef().endRule()
                .endSpec().build()).create();

        assertThat(reconcile()).as("pending: no load-balancer address yet").isTrue();
        ServiceAccount sa = client.serviceAccounts().inNamespace(NS).withName("web-istio").get();
        Deployment d = client.apps().deployments().inNamespace(NS).withName("web-istio").get();
        Service svc = client.services().inNamespace(NS).withName("web-istio").get();
        assertThat(sa).isNotNull();
        assertThat(sa.getMetadata().getOwnerReferences()).singleElement().satisfies(o -> {
            assertThat(o.getKind()).isEqualTo("Gateway");
            assertThat(o.getName()).isEqualTo("web");
        });
        var pod = d.getSpec().getTemplate();
        assertThat(pod.getMetadata().getLabels()).containsEntry("gateway.networking.k8s.io/gateway-name", "web")
                .containsEntry("gateway.istio.io/managed", "istio.io-gateway-controller");
        assertThat(pod.getSpec().getServiceAccountName()).isEqualTo("web-istio");
        assertThat(pod.getSpec().getContainers().get(0).getArgs()).contains("--mode=gateway", "--name=web-istio",
                "--label=gateway.networking.k8s.io/gateway-name=web", "--service-account=web-istio");
        assertThat(pod.getSpec().getSecurityContext().getSysctls()).singleElement()
                .satisfies(s -> assertThat(s.getName()).isEqualTo("net.ipv4.ip_unprivileged_port_start"));
        assertThat(svc.getSpec().getType()).isEqualTo("LoadBalancer");
        assertThat(svc.getSpec().getPorts()).extracting(ServicePort::getPort).containsExactly(15021, 80, 443);
        assertThat(svc.getSpec().getSelector()).containsEntry("gateway.networking.k8s.io/gateway-name", "web");
        assertThat(condition(gateway().getStatus().getConditions(), "Programmed").getReason())
                .isEqualTo("AddressNotAssigned");

        // The load balancer assigns an address, the pod becomes ready.
        client.resource(new ServiceBuilder(svc).withNewStatus().withNewLoadBalancer().addNewIngress()
                .withIp("172.18.255.7").endIngress().endLoadBalancer().endStatus().build()).updateStatus();
        client.apps().deployments().inNamespace(NS).withName("web-istio").editStatus(x -> {
            x.setStatus(new DeploymentStatusBuilder().withReplicas(1).withAvailableReplicas(1).build());
            return x;
        });
        assertThat(reconcile()).isFalse();
        Gateway gw = gateway();
        assertThat(condition(gw.getStatus().getConditions(), "Programmed").getStatus()).isEqualTo("True");
        assertThat(gw.getStatus().getAddresses()).singleElement().satisfies(a -> assertThat(a.getValue())
                .isEqualTo("172.18.255.7"));
        var https = gw.getStatus().getListeners().stream().filter(l -> l.getName().equals("https")).findFirst()
                .orElseThrow();
        assertThat(condition(https.getConditions(), "ResolvedRefs").getReason()).isEqualTo("InvalidCertificateRef");
        assertThat(gw.getStatus().getListeners().get(0).getAttachedRoutes()).isEqualTo(1);

        RouteParentStatus parent = client.resources(HTTPRoute.class).inNamespace(NS).withName("app").get()
                .getStatus().getParents().get(0);
        assertThat(parent.getControllerName()).isEqualTo("istio.io/gateway-controller");
        assertThat(condition(parent.getConditions(), "ResolvedRefs").getReason()).isEqualTo("BackendNotFound");
    }

    @Test
    void istioIngressesGetTheIngressGatewayAddress() {
        client.resource(new ServiceBuilder().withNewMetadata().withName("istio-ingressgateway")
                .withNamespace("istio-system").endMetadata().withNewSpec().withType("LoadBalancer")
                .addNewPort().withName("http2").withPort(80).endPort().endSpec().build()).create();
        Service gwSvc = client.services().inNamespace("istio-system").withName("istio-ingressgateway").get();
        client.resource(new ServiceBuilder(gwSvc).withNewStatus().withNewLoadBalancer().addNewIngress()
                .withIp("172.18.255.1").endIngress().endLoadBalancer().endStatus().build()).updateStatus();
        client.resource(new IngressBuilder().withNewMetadata().withName("shop").withNamespace("shop")
                .withAnnotations(Map.of("kubernetes.io/ingress.class", "istio")).endMetadata()
                .withNewSpec().endSpec().build()).create();
        client.resource(new IngressBuilder().withNewMetadata().withName("other").withNamespace("shop").endMetadata()
                .withNewSpec().withIngressClassName("nginx").endSpec().build()).create();
        reconcile();
        Ingress ours = client.network().v1().ingresses().inNamespace("shop").withName("shop").get();
        assertThat(ours.getStatus().getLoadBalancer().getIngress()).singleElement()
                .satisfies(i -> assertThat(i.getIp()).isEqualTo("172.18.255.1"));
        Ingress theirs = client.network().v1().ingresses().inNamespace("shop").withName("other").get();
        assertThat(theirs.getStatus() == null || theirs.getStatus().getLoadBalancer() == null
                || theirs.getStatus().getLoadBalancer().getIngress() == null
                || theirs.getStatus().getLoadBalancer().getIngress().isEmpty()).isTrue();
    }
}
