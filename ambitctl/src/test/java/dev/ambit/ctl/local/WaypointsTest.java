package dev.ambit.ctl.local;

import static dev.ambit.ctl.local.ControllerFixtures.CLUSTER;
import static dev.ambit.ctl.local.ControllerFixtures.parse;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.istiod.model.MeshConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Istio's waypoint deployment in local mode: a waypoint Gateway becomes a ServiceAccount, Service and pod. */
class WaypointsTest {

    static final String GATEWAY = """
            apiVersion: gateway.networking.k8s.io/v1
            kind: Gateway
            metadata: {name: waypoint, namespace: shop, labels: {istio.io/waypoint-for: service}}
            spec:
              gatewayClassName: istio-waypoint
              listeners: [{name: mesh, port: 15008, protocol: HBONE}]
            ---
            """;

    static final Waypoints.Launch LAUNCH = new Waypoints.Launch("/jdk/bin/java", Path.of("/repo/waypoint-proxy/target/waypoint-proxy.jar"),
            "10.250.0.2:15012", Path.of("/run/ambit/local/istiod/ca/ambit-root-cert.pem"),
            "/run/ambit/local/nodes/$(NODE_NAME)/token", MeshConfig.defaults());

    @TempDir
    Path dir;

    private final Waypoints waypoints = new Waypoints(LAUNCH);

    @Test
    void aWaypointGatewayBecomesAServiceAccountAServiceAndADeploymentNamedAfterIt() {
        List<KubeObject> manifests = parse(GATEWAY);
        Waypoints.Expansion e = waypoints.expand(manifests);

        assertThat(e.problems()).isEmpty();
        assertThat(e.objects()).extracting(KubeObject::key).containsExactly(
                "gateway/shop/waypoint", "serviceaccount/shop/waypoint", "service/shop/waypoint", "deployment/shop/waypoint");
        KubeObject svc = e.objects().get(2);
        assertThat(Services.ports(svc)).extracting(Services.ServicePort::name, Services.ServicePort::port)
                .containsExactly(org.assertj.core.groups.Tuple.tuple("mesh", 15008),
                        org.assertj.core.groups.Tuple.tuple("status-port", 15021),
                        org.assertj.core.groups.Tuple.tuple("metrics", 15020));
        assertThat(Services.selector(svc)).isEqualTo(Map.of("gateway.networking.k8s.io/gateway-name", "waypoint"));
        assertThat(svc.labels()).containsEntry("istio.io/waypoint-for", "service")
                .containsEntry("gateway.istio.io/managed", "istio.io-mesh-controller");
        assertThat(e.objects().get(1).labels()).as("the ServiceAccount is not managed, as on a cluster")
                .doesNotContainKey("gateway.istio.io/managed")
                .containsEntry("gateway.networking.k8s.io/gateway-class-name", "istio-waypoint");
        for (KubeObject o : e.objects().subList(1, 4)) {
            assertThat(o.tree().at("/metadata/ownerReferences/0/kind").asText()).as(o.key()).isEqualTo("Gateway");
            assertThat(o.tree().at("/metadata/ownerReferences/0/name").asText()).isEqualTo("waypoint");
        }
        // Each generated kind passes the checks local apply makes (istiod-lite's decoder reads the Service).
        Admission admission = new Admission();
        e.objects().forEach(o -> assertThat(admission.check(o)).as(o.key()).isEmpty());
    }

    @Test
    void itsPodIsNotCapturedRunsAsTheWaypointServiceAccountAndStartsTheWaypointProcess() {
        KubeObject deployment = waypoints.expand(parse(GATEWAY)).objects().get(3);
        Map<String, DesiredPod> desired = new DesiredPods(List.of("node1", "node2"), new Random(1))
                .of(List.of(deployment), Map.of());
        assertThat(desired).hasSize(1);
        DesiredPod pod = desired.values().iterator().next();
        assertThat(pod.name()).matches("waypoint-[a-z0-9]+-[a-z0-9]{5}");
        assertThat(KubeObject.stringMap(pod.metadata().path("labels")))
                .containsEntry("gateway.networking.k8s.io/gateway-name", "waypoint")
                .containsEntry("gateway.istio.io/managed", "istio.io-mesh-controller")
                .containsEntry("istio.io/dataplane-mode", "none")
                .containsEntry("istio.io/waypoint-for", "service");
        assertThat(pod.metadata().path("annotations").path("prometheus.io/port").asText()).isEqualTo("15020");
        assertThat(pod.template().serviceAccountName()).isEqualTo("waypoint");
        assertThat(PodEnrollment.meshed(KubeObject.stringMap(pod.metadata().path("labels")),
                Map.of("istio.io/dataplane-mode", "ambient"))).as("opted out in an ambient namespace").isFalse();

        RunningPod running = new RunningPod(pod, "0123abcd-0000-0000-0000-000000000000", "node2", "10.244.2.7",
                Path.of("/sys/fs/cgroup/x"));
        PodTemplate.Container c = pod.template().containers().getFirst();
        List<String> commandLine = c.commandLine(new PodSupervisor(new StateDir(dir), CLUSTER,
                new PodEnrollment(n -> dir.resolve(n), new CniClient(java.time.Duration.ofSeconds(1)),
                        java.time.Instant::now, s -> { }), s -> { }).containerEnv(running, c));
        assertThat(String.join(" ", commandLine)).isEqualTo("/jdk/bin/java " + String.join(" ", Waypoints.JVM_FLAGS)
                + " -jar /repo/waypoint-proxy/target/waypoint-proxy.jar --namespace shop --name waypoint"
                + " --pod-name " + pod.name() + " --pod-ip 10.244.2.7 --service-account waypoint"
                + " --xds-address 10.250.0.2:15012 --ca-address 10.250.0.2:15012"
                + " --root-cert /run/ambit/local/istiod/ca/ambit-root-cert.pem"
                + " --token-file /run/ambit/local/nodes/node2/token --trust-domain cluster.local --cluster-id Kubernetes");
        assertThat(c.readinessProbe()).isEqualTo(new PodTemplate.Probe("/healthz/ready", "15021", 1, 1, 1, 4));
    }

    @Test
    void aGatewayWithoutTheHboneListenerOrOfAnotherClassIsNotDeployed() {
        List<KubeObject> manifests = parse(GATEWAY.replace("protocol: HBONE", "protocol: HTTP")
                + GATEWAY.replace("name: waypoint,", "name: ingress,").replace("istio-waypoint", "istio"));
        Waypoints.Expansion e = waypoints.expand(manifests);
        assertThat(e.objects()).isEqualTo(manifests);
        assertThat(e.problems()).containsOnlyKeys("shop/waypoint");
        assertThat(e.problems().get("shop/waypoint")).contains("spec.listeners", "port 15008", "protocol HBONE");
    }

    @Test
    void istiodLiteGetsTheServiceAndTheGatewayWithItsStatusAndDeletingTheGatewayRemovesThem() throws Exception {
        Path folder = dir.resolve("istiod");
        MeshConfigWriter writer = new MeshConfigWriter(folder, new PodObjects(CLUSTER, uid -> null), s -> { });
        GatewayStatuses statuses = new GatewayStatuses(dir.resolve("missing.jar"), java.time.Instant::now);
        ServiceRegistry registry = new ServiceRegistry(IpPool.serviceAddresses(), s -> { });

        Waypoints.Expansion e = waypoints.expand(parse(GATEWAY));
        Map<String, ServiceView> views = registry.update(e.objects(), List.of());
        List<KubeObject> gateways = statuses.update(e.objects(), e.problems(), views, List.of());
        writer.write(Controller.withStatus(e.objects(), gateways), views, List.of(), Set.of());

        assertThat(Folders.files(folder)).extracting(f -> f.getFileName().toString()).containsExactly(
                "gateway.shop.waypoint.yaml", "service.shop.waypoint.yaml", "serviceaccount.shop.waypoint.yaml");
        String vip = views.get("shop/waypoint").vip();
        assertThat(Files.readString(folder.resolve("gateway.shop.waypoint.yaml")))
                .contains("type: IPAddress", "value: " + vip, "type: Programmed");
        // The Gateway with its status is still what istiod-lite's decoder accepts.
        assertThat(new Admission().check(gateways.getFirst())).isEmpty();

        Waypoints.Expansion gone = waypoints.expand(List.of());
        writer.write(gone.objects(), registry.update(gone.objects(), List.of()), List.of(), Set.of());
        assertThat(Folders.files(folder)).isEmpty();
    }

    @Test
    void theControllersObjectsStayTheSameFromTickToTick() {
        // The pod's template hash (its name) must not change between ticks, or it would be recreated.
        KubeObject first = waypoints.expand(parse(GATEWAY)).objects().get(3);
        KubeObject second = waypoints.expand(parse(GATEWAY)).objects().get(3);
        assertThat(Deployments.templateHash(first)).isEqualTo(Deployments.templateHash(second));
        assertThat(new ArrayList<>(List.of(first))).containsExactly(second);
    }
}
