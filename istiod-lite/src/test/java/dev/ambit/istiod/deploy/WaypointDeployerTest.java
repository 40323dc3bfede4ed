package dev.ambit.istiod.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.common.backoff.Backoff;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.config.ConfigError;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.ConfigSource;
import dev.ambit.istiod.config.kube.KubernetesSource;
import dev.ambit.istiod.config.Kind;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentStatusBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayStatusAddress;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRouteBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.ListenerStatus;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.CustomResourceDefinitionContext;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link WaypointDeployer} against fabric8's mock API server in CRUD mode. The mock allocates
 * no cluster IPs, runs no Deployment controller and no garbage collector: the tests play the
 * first two as a real API server would (a cluster IP on the Service, an available replica in
 * the Deployment's status) and check the owner references the third would follow.
 */
class WaypointDeployerTest {

    private static final String NS = "app";
    private static final String PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    private KubernetesMockServer server;
    private KubernetesClient client;
    private MetricsRegistry metrics;
    private WaypointDeployer deployer;

    @BeforeEach
    void setUp() {
        List<CustomResourceDefinitionContext> crds = List.of(
                crd("Gateway", "gateways"), crd("HTTPRoute", "httproutes"));
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(crds), false);
        server.init();
        client = server.createClient();
        metrics = MetricsRegistry.create();
        deployer = WaypointDeployer.builder(Fabric8ClusterWriter.of(client), metrics)
                .image("registry.example/ambit/waypoint:1.2.3")
                .istiodAddress("istiod.istio-system.svc:15012")
                .trustDomain("example.org")
                .clusterId("east")
                .rootCert(() -> PEM)
                .clock(Clock.fixed(Instant.parse("2026-12-06T12:00:00Z"), ZoneOffset.UTC))
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

    private Gateway createGateway(String name, String className, int port, String protocol) {
        Gateway gw = new GatewayBuilder()
                .withNewMetadata().withName(name).withNamespace(NS)
                    .withLabels(Map.of("istio.io/waypoint-for", "service"))
                    .withAnnotations(Map.of("team", "payments",
                            "kubectl.kubernetes.io/last-applied-configuration", "{}"))
                .endMetadata()
                .withNewSpec().withGatewayClassName(className)
                    .addNewListener().withName("mesh").withPort(port).withProtocol(protocol).endListener()
                .endSpec()
                .build();
        return client.resource(gw).create();
    }

    /** What the Kubernetes source would deliver: every stored Gateway and HTTPRoute. */
    private boolean reconcile() {
        ConfigSnapshot.Builder b = ConfigSnapshot.builder();
        client.resources(Gateway.class).inAnyNamespace().list().getItems().forEach(g -> b.put(Kind.GATEWAY, g));
        client.resources(HTTPRoute.class).inAnyNamespace().list().getItems().forEach(r -> b.put(Kind.HTTP_ROUTE, r));
        return deployer.reconcile(b.build());
    }

    private Gateway gateway(String name) {
        return client.resources(Gateway.class).inNamespace(NS).withName(name).get();
    }

    private static Condition condition(List<Condition> conditions, String type) {
        return conditions.stream().filter(c -> c.getType().equals(type)).findFirst().orElseThrow();
    }

    /** What a real cluster does next: the Service gets an IP, the Deployment's pod becomes ready. */
    private void clusterAllocates(String name, String ip) {
        Service svc = client.services().inNamespace(NS).withName(name).get();
        client.resource(new ServiceBuilder(svc).editSpec().withClusterIP(ip).withClusterIPs(ip).endSpec().build())
                .update();
        client.apps().deployments().inNamespace(NS).withName(name).editStatus(d -> {
            d.setStatus(new DeploymentStatusBuilder().withReplicas(1).withReadyReplicas(1)
                    .withAvailableReplicas(1).build());
            return d;
        });
    }

    private double applied(String kind, String result) {
        return metrics.value("ambit_deployer_applies_total", kind, result);
    }

    @Test
    void createsServiceAccountDeploymentServiceNamedAfterTheGateway() {
        Gateway gw = createGateway("waypoint", "istio-waypoint", 15008, "HBONE");

        assertThat(reconcile()).as("pending: no cluster IP, no available replica yet").isTrue();

        ServiceAccount sa = client.serviceAccounts().inNamespace(NS).withName("waypoint").get();
        Deployment d = client.apps().deployments().inNamespace(NS).withName("waypoint").get();
        Service svc = client.services().inNamespace(NS).withName("waypoint").get();
        ConfigMap root = client.configMaps().inNamespace(NS).withName("istio-ca-root-cert").get();
        assertThat(root.getData()).containsEntry("root-cert.pem", PEM);
        for (HasMetadata o : List.<HasMetadata>of(sa, d, svc)) {
            assertThat(o.getMetadata().getLabels()).as(o.getKind())
                    .containsEntry("gateway.networking.k8s.io/gateway-name", "waypoint")
                    .containsEntry("istio.io/waypoint-for", "service");
            assertThat(o.getMetadata().getAnnotations()).as(o.getKind()).containsEntry("team", "payments")
                    .doesNotContainKey("kubectl.kubernetes.io/last-applied-configuration");
            assertOwnedBy(o, gw);
        }
        assertThat(d.getMetadata().getLabels()).containsEntry("gateway.istio.io/managed", "istio.io-mesh-controller");
        assertThat(svc.getMetadata().getLabels()).containsEntry("gateway.istio.io/managed", "istio.io-mesh-controller");

        var pod = d.getSpec().getTemplate();
        assertThat(d.getSpec().getSelector().getMatchLabels())
                .isEqualTo(Map.of("gateway.networking.k8s.io/gateway-name", "waypoint"));
        assertThat(pod.getMetadata().getLabels())
                .containsEntry("gateway.networking.k8s.io/gateway-name", "waypoint")
                .containsEntry("gateway.istio.io/managed", "istio.io-mesh-controller")
                .containsEntry("istio.io/dataplane-mode", "none");
        assertThat(pod.getSpec().getServiceAccountName()).isEqualTo("waypoint");
        assertThat(pod.getSpec().getContainers()).hasSize(1);
        Container c = pod.getSpec().getContainers().getFirst();
        assertThat(c.getName()).isEqualTo("istio-proxy");
        assertThat(c.getImage()).isEqualTo("registry.example/ambit/waypoint:1.2.3");
        assertThat(c.getArgs()).containsExactly("--namespace=app", "--name=waypoint", "--pod-name=$(POD_NAME)",
                "--pod-ip=$(INSTANCE_IP)", "--service-account=waypoint",
                "--xds-address=istiod.istio-system.svc:15012", "--ca-address=istiod.istio-system.svc:15012",
                "--trust-domain=example.org", "--cluster-id=east");
        assertThat(c.getEnv()).anySatisfy(e -> {
            assertThat(e.getName()).isEqualTo("INSTANCE_IP");
            assertThat(e.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("status.podIP");
        });
        assertThat(c.getPorts()).extracting(p -> p.getName() + "=" + p.getContainerPort())
                .containsExactly("mesh=15008", "status-port=15021", "metrics=15020");
        assertThat(c.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/healthz/ready");
        assertThat(c.getReadinessProbe().getHttpGet().getPort().getIntVal()).isEqualTo(15021);
        assertThat(c.getSecurityContext().getRunAsUser()).isEqualTo(1337L);
        assertThat(c.getSecurityContext().getRunAsNonRoot()).isTrue();
        assertThat(c.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
        assertThat(c.getSecurityContext().getAllowPrivilegeEscalation()).isFalse();
        assertThat(c.getSecurityContext().getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(c.getResources().getRequests()).containsKeys("cpu", "memory");
        assertThat(c.getResources().getLimits()).containsKeys("memory");
        assertThat(c.getVolumeMounts()).extracting(m -> m.getName() + ":" + m.getMountPath())
                .contains("istio-token:/var/run/secrets/tokens", "istiod-ca-cert:/var/run/secrets/istio");
        var token = pod.getSpec().getVolumes().stream().filter(v -> v.getName().equals("istio-token")).findFirst()
                .orElseThrow().getProjected().getSources().getFirst().getServiceAccountToken();
        assertThat(token.getAudience()).isEqualTo("istio-ca");
        assertThat(token.getPath()).isEqualTo("istio-token");
        assertThat(pod.getSpec().getVolumes()).anySatisfy(v ->
                assertThat(v.getConfigMap() == null ? null : v.getConfigMap().getName()).isEqualTo("istio-ca-root-cert"));

        assertThat(svc.getSpec().getType()).isEqualTo("ClusterIP");
        assertThat(svc.getSpec().getSelector()).isEqualTo(Map.of("gateway.networking.k8s.io/gateway-name", "waypoint"));
        assertThat(svc.getSpec().getPorts()).extracting(ServicePort::getName, ServicePort::getPort,
                        ServicePort::getAppProtocol)
                .containsExactly(org.assertj.core.groups.Tuple.tuple("mesh", 15008, "all"),
                        org.assertj.core.groups.Tuple.tuple("status-port", 15021, "tcp"),
                        org.assertj.core.groups.Tuple.tuple("metrics", 15020, "http"));

        Gateway stored = gateway("waypoint");
        var conditions = stored.getStatus().getConditions();
        assertThat(condition(conditions, "Accepted").getStatus()).isEqualTo("True");
        assertThat(condition(conditions, "Accepted").getReason()).isEqualTo("Accepted");
        Condition programmed = condition(conditions, "Programmed");
        assertThat(programmed.getStatus()).isEqualTo("False");
        assertThat(programmed.getReason()).isEqualTo("AddressNotAssigned");
        assertThat(programmed.getMessage()).contains("Service app/waypoint");
        assertThat(stored.getStatus().getAddresses()).as("no address before the Service has an IP").isEmpty();
        assertThat(applied("Deployment", "created")).isEqualTo(1);
        assertThat(applied("Service", "created")).isEqualTo(1);
        assertThat(applied("ServiceAccount", "created")).isEqualTo(1);
    }

    @Test
    void programmedWithAddressesOnceServiceHasIpAndDeploymentIsAvailable() {
        Gateway gw = createGateway("waypoint", "istio-waypoint", 15008, "HBONE");
        reconcile();
        clusterAllocates("waypoint", "10.96.0.20");
        assertThat(reconcile()).as("nothing pending").isFalse();

        Gateway stored = gateway("waypoint");
        var status = stored.getStatus();
        Condition programmed = condition(status.getConditions(), "Programmed");
        assertThat(programmed.getStatus()).isEqualTo("True");
        assertThat(programmed.getReason()).isEqualTo("Programmed");
        assertThat(programmed.getMessage()).contains("waypoint.app.svc.cluster.local:15008");
        assertThat(programmed.getLastTransitionTime()).isEqualTo("2026-12-06T12:00:00Z");
        assertThat(status.getConditions()).allSatisfy(c ->
                assertThat(c.getObservedGeneration()).isEqualTo(gw.getMetadata().getGeneration() == null ? 0L
                        : gw.getMetadata().getGeneration()));
        assertThat(status.getAddresses()).extracting(GatewayStatusAddress::getType, GatewayStatusAddress::getValue)
                .containsExactly(org.assertj.core.groups.Tuple.tuple("IPAddress", "10.96.0.20"),
                        org.assertj.core.groups.Tuple.tuple("Hostname", "waypoint.app.svc.cluster.local"));
        ListenerStatus listener = status.getListeners().getFirst();
        assertThat(listener.getName()).isEqualTo("mesh");
        assertThat(listener.getAttachedRoutes()).isZero();
        assertThat(condition(listener.getConditions(), "Accepted").getStatus()).isEqualTo("True");
        assertThat(condition(listener.getConditions(), "Programmed").getStatus()).isEqualTo("True");
        assertThat(metrics.value("ambit_deployer_waypoints_programmed")).isEqualTo(1);

        // Idempotent: nothing differs, nothing is written; the allocated IP stays.
        String version = stored.getMetadata().getResourceVersion();
        double statusWrites = metrics.value("ambit_deployer_status_updates_total");
        assertThat(reconcile()).isFalse();
        assertThat(applied("Deployment", "updated") + applied("Service", "updated")
                + applied("ServiceAccount", "updated") + applied("ConfigMap", "updated")).isZero();
        assertThat(applied("Deployment", "unchanged")).isEqualTo(2);
        assertThat(metrics.value("ambit_deployer_status_updates_total")).isEqualTo(statusWrites);
        assertThat(gateway("waypoint").getMetadata().getResourceVersion()).isEqualTo(version);
        assertThat(client.services().inNamespace(NS).withName("waypoint").get().getSpec().getClusterIP())
                .isEqualTo("10.96.0.20");
    }

    @Test
    void changingTheGatewayUpdatesItsObjectsKeepingWhatTheClusterOwns() {
        createGateway("waypoint", "istio-waypoint", 15008, "HBONE");
        reconcile();
        clusterAllocates("waypoint", "10.96.0.21");
        // An autoscaler scales the waypoint; the deployer leaves replicas alone.
        client.apps().deployments().inNamespace(NS).withName("waypoint").edit(d -> {
            d.getSpec().setReplicas(3);
            return d;
        });
        reconcile();

        client.resources(Gateway.class).inNamespace(NS).withName("waypoint").edit(g -> {
            g.getMetadata().getLabels().put("istio.io/waypoint-for", "all");
            return g;
        });
        reconcile();

        Service svc = client.services().inNamespace(NS).withName("waypoint").get();
        Deployment d = client.apps().deployments().inNamespace(NS).withName("waypoint").get();
        assertThat(svc.getMetadata().getLabels()).containsEntry("istio.io/waypoint-for", "all");
        assertThat(d.getMetadata().getLabels()).containsEntry("istio.io/waypoint-for", "all");
        assertThat(svc.getSpec().getClusterIP()).as("server-owned, kept").isEqualTo("10.96.0.21");
        assertThat(d.getSpec().getReplicas()).as("the autoscaler's").isEqualTo(3);
        assertThat(applied("Service", "updated")).isEqualTo(1);
        assertThat(applied("Deployment", "updated")).isEqualTo(1);
        assertThat(applied("ServiceAccount", "updated")).isEqualTo(1);
    }

    @Test
    void gatewaysOfOtherClassesAreIgnored() {
        // Class istio is deployed too (IstioGatewayDeployerTest); another implementation's is not.
        createGateway("ingress", "nginx", 80, "HTTP");

        assertThat(reconcile()).isFalse();

        assertThat(client.apps().deployments().inNamespace(NS).list().getItems()).isEmpty();
        assertThat(client.services().inNamespace(NS).list().getItems()).isEmpty();
        assertThat(client.serviceAccounts().inNamespace(NS).list().getItems()).isEmpty();
        assertThat(gateway("ingress").getStatus()).satisfiesAnyOf(
                s -> assertThat(s).isNull(), s -> assertThat(s.getConditions()).isEmpty());
        assertThat(metrics.value("ambit_deployer_waypoints")).isZero();
    }

    @Test
    void aGatewayWithoutHboneListenerIsNotAcceptedAndNotDeployed() {
        createGateway("broken", "istio-waypoint", 8080, "HTTP");

        assertThat(reconcile()).as("nothing to wait for until the Gateway changes").isFalse();

        var status = gateway("broken").getStatus();
        Condition accepted = condition(status.getConditions(), "Accepted");
        assertThat(accepted.getStatus()).isEqualTo("False");
        assertThat(accepted.getReason()).isEqualTo("ListenersNotValid");
        assertThat(accepted.getMessage()).contains("spec.listeners[0] (mesh): port 8080, protocol HTTP")
                .contains("expected");
        assertThat(condition(status.getConditions(), "Programmed").getReason()).isEqualTo("Invalid");
        Condition listenerAccepted = condition(status.getListeners().getFirst().getConditions(), "Accepted");
        assertThat(listenerAccepted.getStatus()).isEqualTo("False");
        assertThat(listenerAccepted.getReason()).isEqualTo("UnsupportedProtocol");
        assertThat(client.apps().deployments().inNamespace(NS).withName("broken").get()).isNull();
        assertThat(client.services().inNamespace(NS).withName("broken").get()).isNull();

        // Fixed: deployed, and Accepted becomes True with a new transition.
        client.resources(Gateway.class).inNamespace(NS).withName("broken").edit(g -> {
            g.getSpec().getListeners().getFirst().setPort(15008);
            g.getSpec().getListeners().getFirst().setProtocol("HBONE");
            return g;
        });
        reconcile();
        assertThat(condition(gateway("broken").getStatus().getConditions(), "Accepted").getStatus()).isEqualTo("True");
        assertThat(client.apps().deployments().inNamespace(NS).withName("broken").get()).isNotNull();
    }

    @Test
    void deletingTheGatewayLeavesTheObjectsToTheGarbageCollector() {
        Gateway gw = createGateway("waypoint", "istio-waypoint", 15008, "HBONE");
        reconcile();
        assertThat(metrics.value("ambit_deployer_waypoints")).isEqualTo(1);

        client.resource(gw).delete();
        reconcile();

        // The mock has no garbage collector: a real API server deletes every object whose
        // controlling owner is gone. Check that each is owned so, and that the deployer did not
        // create anything again.
        for (HasMetadata o : List.<HasMetadata>of(
                client.serviceAccounts().inNamespace(NS).withName("waypoint").get(),
                client.apps().deployments().inNamespace(NS).withName("waypoint").get(),
                client.services().inNamespace(NS).withName("waypoint").get())) {
            assertOwnedBy(o, gw);
        }
        assertThat(applied("Deployment", "created")).isEqualTo(1);
        assertThat(metrics.value("ambit_deployer_waypoints")).isZero();
    }

    @Test
    void anObjectOfTheSameNameNotControlledByTheGatewayIsNotTakenOver() {
        client.resource(new ServiceBuilder().withNewMetadata().withName("waypoint").withNamespace(NS).endMetadata()
                .withNewSpec().withSelector(Map.of("app", "mine")).addNewPort().withPort(80).endPort().endSpec()
                .build()).create();
        createGateway("waypoint", "istio-waypoint", 15008, "HBONE");

        assertThat(reconcile()).isTrue();

        Service svc = client.services().inNamespace(NS).withName("waypoint").get();
        assertThat(svc.getSpec().getSelector()).isEqualTo(Map.of("app", "mine"));
        Condition programmed = condition(gateway("waypoint").getStatus().getConditions(), "Programmed");
        assertThat(programmed.getStatus()).isEqualTo("False");
        assertThat(programmed.getMessage()).contains("Service app/waypoint exists and is not controlled by Gateway");
        assertThat(metrics.value("ambit_deployer_errors_total", "Service")).isEqualTo(1);
    }

    @Test
    void routesAttachedToTheWaypointAreCounted() {
        createGateway("waypoint", "istio-waypoint", 15008, "HBONE");
        client.resource(new HTTPRouteBuilder().withNewMetadata().withName("reviews").withNamespace(NS).endMetadata()
                .withNewSpec().addNewParentRef().withName("waypoint").endParentRef().endSpec().build()).create();
        client.resource(new HTTPRouteBuilder().withNewMetadata().withName("other").withNamespace(NS).endMetadata()
                .withNewSpec().addNewParentRef().withName("ingress").endParentRef().endSpec().build()).create();

        reconcile();

        assertThat(gateway("waypoint").getStatus().getListeners().getFirst().getAttachedRoutes()).isEqualTo(1);
    }

    @Test
    void startedDeployerReconcilesSnapshotsAndRetriesWhilePending() throws Exception {
        deployer.close();
        deployer = WaypointDeployer.builder(Fabric8ClusterWriter.of(client), MetricsRegistry.create())
                .image("waypoint:test").istiodAddress("istiod.istio-system.svc:15012")
                .pendingBackoff(Backoff.of(Duration.ofMillis(50), Duration.ofMillis(200)))
                .build();
        deployer.start();
        createGateway("waypoint", "istio-waypoint", 15008, "HBONE");
        deployer.onSnapshot(ConfigSnapshot.builder().put(Kind.GATEWAY, gateway("waypoint")).build());

        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        // The Deployment is applied last.
        while (client.apps().deployments().inNamespace(NS).withName("waypoint").get() == null
                && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        clusterAllocates("waypoint", "10.96.0.22");
        // No new snapshot: the pending retry notices the IP and the available replica.
        while (!WaypointStatus.isProgrammed(gateway("waypoint").getStatus()) && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(WaypointStatus.isProgrammed(gateway("waypoint").getStatus())).isTrue();
    }

    @Test
    void fedByTheKubernetesSourceItsOwnStatusWritesDoNotLoop() throws Exception {
        deployer.close();
        MetricsRegistry m = MetricsRegistry.create();
        deployer = WaypointDeployer.builder(Fabric8ClusterWriter.of(client), m)
                .image("waypoint:test").istiodAddress("istiod.istio-system.svc:15012")
                .pendingBackoff(Backoff.of(Duration.ofMillis(50), Duration.ofMillis(200)))
                .build();
        deployer.start();
        createGateway("waypoint", "istio-waypoint", 15008, "HBONE");
        try (KubernetesSource source = KubernetesSource.builder(m).config(client.getConfiguration())
                .debounce(Duration.ofMillis(20)).build()) {
            source.start(new ConfigSource.Listener() {
                @Override
                public void onSnapshot(ConfigSnapshot snapshot) {
                    deployer.onSnapshot(snapshot);
                }

                @Override
                public void onRejected(List<ConfigError> errors) {
                    assertThat(errors).isEmpty();
                }
            });
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (client.apps().deployments().inNamespace(NS).withName("waypoint").get() == null
                    && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            clusterAllocates("waypoint", "10.96.0.23");
            while (!WaypointStatus.isProgrammed(gateway("waypoint").getStatus()) && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertThat(WaypointStatus.isProgrammed(gateway("waypoint").getStatus())).isTrue();

            // Each status write comes back as a Gateway update; the deployer finds nothing to change.
            Thread.sleep(1000);
            double writes = m.value("ambit_deployer_status_updates_total");
            String version = gateway("waypoint").getMetadata().getResourceVersion();
            Thread.sleep(1500);
            assertThat(m.value("ambit_deployer_status_updates_total")).isEqualTo(writes);
            assertThat(gateway("waypoint").getMetadata().getResourceVersion()).isEqualTo(version);
            assertThat(m.value("ambit_deployer_applies_total", "Deployment", "updated")).isZero();
        }
    }

    private static void assertOwnedBy(HasMetadata o, Gateway gw) {
        assertThat(o).as("object").isNotNull();
        assertThat(o.getMetadata().getOwnerReferences()).as(o.getKind() + " owner").hasSize(1);
        OwnerReference ref = o.getMetadata().getOwnerReferences().getFirst();
        assertThat(ref.getKind()).isEqualTo("Gateway");
        assertThat(ref.getApiVersion()).isEqualTo("gateway.networking.k8s.io/v1");
        assertThat(ref.getName()).isEqualTo(gw.getMetadata().getName());
        assertThat(ref.getUid()).isNotBlank().isEqualTo(gw.getMetadata().getUid());
        assertThat(ref.getController()).isTrue();
        assertThat(ref.getBlockOwnerDeletion()).isTrue();
    }
}
