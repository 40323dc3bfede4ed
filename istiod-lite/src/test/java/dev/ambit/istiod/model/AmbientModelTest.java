package dev.ambit.istiod.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.api.workload.Service;
import dev.ambit.api.workload.TunnelProtocol;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.istiod.Fixtures;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import org.junit.jupiter.api.Test;

/** Enrollment precedence and the CA's view, on top of the golden files. */
class AmbientModelTest {

    private static final MeshConfig MESH = MeshConfig.defaults();
    private static final String FRONTEND = AmbientModel.podUid(MESH, "shop", "frontend-7d9f8b6c5-x2k8p");

    @Test
    void namespaceLabelEnrollsAndItsRemovalUnenrolls() {
        ConfigSnapshot base = Fixtures.snapshot("frontend-backend");
        assertThat(workload(AmbientModel.build(base, MESH), FRONTEND).getTunnelProtocol()).isEqualTo(TunnelProtocol.HBONE);

        Namespace shop = base.get(Kind.NAMESPACE, "", "shop", Namespace.class).orElseThrow();
        ConfigSnapshot unlabelled = with(base, Kind.NAMESPACE,
                new NamespaceBuilder(shop).editMetadata().removeFromLabels("istio.io/dataplane-mode").endMetadata().build());
        assertThat(workload(AmbientModel.build(unlabelled, MESH), FRONTEND).getTunnelProtocol())
                .isEqualTo(TunnelProtocol.NONE);
    }

    @Test
    void podLabelBeatsNamespaceLabelBothWays() {
        ConfigSnapshot base = Fixtures.snapshot("frontend-backend");
        Pod frontend = base.get(Kind.POD, "shop", "frontend-7d9f8b6c5-x2k8p", Pod.class).orElseThrow();
        ConfigSnapshot optedOut = with(base, Kind.POD, new PodBuilder(frontend).editMetadata()
                .addToLabels("istio.io/dataplane-mode", "none").endMetadata().build());
        assertThat(workload(AmbientModel.build(optedOut, MESH), FRONTEND).getTunnelProtocol())
                .isEqualTo(TunnelProtocol.NONE);

        Pod client = base.get(Kind.POD, "legacy", "client", Pod.class).orElseThrow();
        ConfigSnapshot optedIn = with(base, Kind.POD, new PodBuilder(client).editMetadata()
                .addToLabels("istio.io/dataplane-mode", "ambient").endMetadata().build());
        assertThat(workload(AmbientModel.build(optedIn, MESH), AmbientModel.podUid(MESH, "legacy", "client"))
                .getTunnelProtocol()).isEqualTo(TunnelProtocol.HBONE);
    }

    @Test
    void identitiesAreIndexedByNodeIncludingPodsWithoutAnIpYet() {
        MeshResources r = AmbientModel.build(Fixtures.snapshot("policies"), MESH);
        assertThat(r.runsOn(SpiffeId.of("cluster.local", "apps", "late"), "node-1")).isTrue();
        assertThat(r.runsOn(SpiffeId.of("cluster.local", "apps", "late"), "node-2")).isFalse();
        assertThat(r.runsOn(SpiffeId.of("cluster.local", "web", "api"), "node-2")).isTrue();
        assertThat(r.addresses()).doesNotContainKey(AmbientModel.podUid(MESH, "apps", "pending"))
                .doesNotContainKey(AmbientModel.podUid(MESH, "apps", "done"));
    }

    @Test
    void sameSnapshotSameResources() {
        ConfigSnapshot s = Fixtures.snapshot("policies");
        MeshResources a = AmbientModel.build(s, MESH);
        MeshResources b = AmbientModel.build(s, MESH);
        assertThat(a.addresses()).isEqualTo(b.addresses());
        assertThat(a.authorizations()).isEqualTo(b.authorizations());
    }

    @Test
    void missingWaypointFailsClosedWithItsHostnameAndAWarning() {
        ConfigSnapshot base = Fixtures.snapshot("frontend-backend");
        Namespace shop = base.get(Kind.NAMESPACE, "", "shop", Namespace.class).orElseThrow();
        ConfigSnapshot named = with(base, Kind.NAMESPACE, new NamespaceBuilder(shop).editMetadata()
                .addToLabels("istio.io/use-waypoint", "gone").endMetadata().build());
        MeshResources r = AmbientModel.build(named, MESH);
        Service backend = r.addresses().values().stream().filter(a -> a.hasService()).map(a -> a.getService())
                .filter(s -> s.getNamespace().equals("shop")).findFirst().orElseThrow();
        // Not "no waypoint" (which would send the traffic around it): a hostname without an
        // address, so node agents refuse the traffic until the waypoint exists.
        assertThat(backend.hasWaypoint()).isTrue();
        assertThat(backend.getWaypoint().hasAddress()).isFalse();
        assertThat(backend.getWaypoint().getHostname().getHostname()).isEqualTo("gone.shop.svc.cluster.local");
        assertThat(backend.getWaypoint().getHostname().getNamespace()).isEqualTo("shop");
        assertThat(r.warnings()).anySatisfy(w -> assertThat(w).startsWith("Service shop/")
                .contains("waypoint shop/gone does not exist"));

        // Opting out on the service beats the namespace's label.
        var svc = named.list(Kind.SERVICE, "shop", io.fabric8.kubernetes.api.model.Service.class).getFirst();
        ConfigSnapshot optedOut = with(named, Kind.SERVICE, new io.fabric8.kubernetes.api.model.ServiceBuilder(svc)
                .editMetadata().addToLabels("istio.io/use-waypoint", "none").endMetadata().build());
        Service out = AmbientModel.build(optedOut, MESH).addresses()
                .get("shop/" + svc.getMetadata().getName() + ".shop.svc.cluster.local").getService();
        assertThat(out.hasWaypoint()).isFalse();
    }

    private static Workload workload(MeshResources r, String uid) {
        return r.addresses().get(uid).getWorkload();
    }

    private static ConfigSnapshot with(ConfigSnapshot base, Kind kind, HasMetadata replacement) {
        ConfigSnapshot.Builder b = ConfigSnapshot.builder();
        base.objects().forEach((ref, obj) -> b.put(ref.kind(), obj));
        return b.put(kind, replacement).build();
    }
}
