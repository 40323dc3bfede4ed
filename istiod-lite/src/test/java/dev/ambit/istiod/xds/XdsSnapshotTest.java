package dev.ambit.istiod.xds;

import static dev.ambit.istiod.xds.TestMesh.policyName;
import static dev.ambit.istiod.xds.TestMesh.uid;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.ambit.api.TypeUrls;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.Port;
import dev.ambit.api.workload.PortList;
import dev.ambit.api.workload.Workload;
import dev.ambit.istiod.model.MeshResources;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class XdsSnapshotTest {

    private static final String ADDRESS = TypeUrls.ADDRESS;
    private static final String AUTHORIZATION = TypeUrls.AUTHORIZATION;

    @Test
    void recomputingTheSameModelKeepsEveryVersion() {
        XdsSnapshot first = TestMesh.standard().snapshot();
        XdsSnapshot second = TestMesh.standard().snapshot();
        assertThat(second.versions(ADDRESS)).isEqualTo(first.versions(ADDRESS)).hasSize(4);
        assertThat(second.versions(AUTHORIZATION)).isEqualTo(first.versions(AUTHORIZATION)).hasSize(2);
        assertThat(second.version(ADDRESS)).isEqualTo(first.version(ADDRESS));
        assertThat(second.sameContent(first)).isTrue();
    }

    @Test
    void changingOneResourceChangesOnlyItsVersionAndItsType() {
        TestMesh mesh = TestMesh.standard();
        XdsSnapshot before = mesh.snapshot();
        XdsSnapshot after = mesh.pod("b", "v2").snapshot();

        assertThat(after.versions(ADDRESS).get(uid("b"))).isNotEqualTo(before.versions(ADDRESS).get(uid("b")));
        for (String name : List.of(uid("a"), uid("c"))) {
            assertThat(after.versions(ADDRESS).get(name)).isEqualTo(before.versions(ADDRESS).get(name));
        }
        assertThat(after.version(ADDRESS)).isNotEqualTo(before.version(ADDRESS));
        assertThat(after.version(AUTHORIZATION)).isEqualTo(before.version(AUTHORIZATION));
        assertThat(after.sameContent(before)).isFalse();
    }

    @Test
    void mapFieldOrderDoesNotChangeTheVersion() {
        PortList http = PortList.newBuilder()
                .addPorts(Port.newBuilder().setServicePort(80).setTargetPort(8080)).build();
        PortList grpc = PortList.newBuilder()
                .addPorts(Port.newBuilder().setServicePort(90).setTargetPort(9090)).build();
        // Same content, map entries inserted in opposite orders: the plain serialization
        // differs, the deterministic one does not.
        Address one = Address.newBuilder().setWorkload(Workload.newBuilder().setUid("w")
                .putServices("shop/a.shop.svc.cluster.local", http)
                .putServices("shop/z.shop.svc.cluster.local", grpc)).build();
        Address two = Address.newBuilder().setWorkload(Workload.newBuilder().setUid("w")
                .putServices("shop/z.shop.svc.cluster.local", grpc)
                .putServices("shop/a.shop.svc.cluster.local", http)).build();
        assertThat(one).isEqualTo(two);
        assertThat(one.toByteString()).isNotEqualTo(two.toByteString());

        assertThat(XdsSnapshot.resourceVersion(one)).isEqualTo(XdsSnapshot.resourceVersion(two));
        XdsSnapshot a = XdsSnapshot.builder().add(ADDRESS, "w", one).build();
        XdsSnapshot b = XdsSnapshot.builder().add(ADDRESS, "w", two).build();
        assertThat(a.resources(ADDRESS).get("w")).isEqualTo(b.resources(ADDRESS).get("w"));
    }

    @Test
    void packedResourcesAreTheModelMessages() throws InvalidProtocolBufferException {
        TestMesh mesh = TestMesh.standard();
        MeshResources model = mesh.build();
        XdsSnapshot snapshot = XdsSnapshot.of(model);
        for (Map.Entry<String, Address> e : model.addresses().entrySet()) {
            XdsResource r = snapshot.resources(ADDRESS).get(e.getKey());
            assertThat(r.name()).isEqualTo(e.getKey());
            assertThat(r.resource().getTypeUrl()).isEqualTo(ADDRESS);
            assertThat(r.resource().unpack(Address.class)).isEqualTo(e.getValue());
        }
        Authorization policy = snapshot.resources(AUTHORIZATION).get(policyName("allow-frontend")).resource()
                .unpack(Authorization.class);
        assertThat(policy).isEqualTo(model.authorizations().get(policyName("allow-frontend")));
    }

    @Test
    void emptyModelHasBothTypesEmpty() {
        XdsSnapshot snapshot = XdsSnapshot.of(MeshResources.empty());
        assertThat(snapshot.typeUrls()).containsExactly(ADDRESS, AUTHORIZATION);
        assertThat(snapshot.resources(ADDRESS)).isEmpty();
        assertThat(snapshot.version(ADDRESS)).isEqualTo(XdsSnapshot.empty().version(ADDRESS)).hasSize(16);
        assertThat(snapshot.resources(TypeUrls.CLUSTER)).isEmpty();
    }

    @Test
    void builderRejectsWhatClientsWouldMisread() {
        Address address = Address.newBuilder().setWorkload(Workload.newBuilder().setUid("w")).build();
        assertThatThrownBy(() -> XdsSnapshot.builder().add(AUTHORIZATION, "w", address))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("resource w of " + AUTHORIZATION + ": istio.workload.Address "
                        + "(expected: istio.security.Authorization)");
        assertThatThrownBy(() -> XdsSnapshot.builder().add(ADDRESS, "w", address).add(ADDRESS, "w", address))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("added twice");
        assertThatThrownBy(() -> XdsSnapshot.builder().add(ADDRESS, "", address))
                .hasMessageContaining("empty (expected: non-empty)");
        assertThatThrownBy(() -> XdsSnapshot.builder().add(ADDRESS, "*", address))
                .hasMessageContaining("(expected: not *");
        assertThatThrownBy(() -> XdsSnapshot.builder().addType("istio.workload.Address"))
                .hasMessageContaining("(expected: type.googleapis.com/<message full name>)");
        assertThatThrownBy(() -> XdsSnapshot.builder().add(ADDRESS, "w", null))
                .isInstanceOf(NullPointerException.class)
                .hasMessage("resource");
    }

    @Test
    void rebuildingFromThePreviousSnapshotReusesUnchangedResourcesAndEqualsAFreshBuild() {
        TestMesh mesh = TestMesh.standard();
        XdsSnapshot before = mesh.snapshot();
        MeshResources model = mesh.pod("b", "v2").build();

        XdsSnapshot incremental = XdsSnapshot.of(model, before);
        XdsSnapshot fresh = XdsSnapshot.of(model);
        for (String type : List.of(ADDRESS, AUTHORIZATION)) {
            assertThat(incremental.resources(type)).isEqualTo(fresh.resources(type));
            assertThat(incremental.version(type)).isEqualTo(fresh.version(type));
        }
        // Unchanged: the very same objects, so their wire entries are shared too.
        assertThat(incremental.resources(ADDRESS).get(uid("a"))).isSameAs(before.resources(ADDRESS).get(uid("a")));
        assertThat(incremental.resources(AUTHORIZATION).get(policyName("allow-frontend")))
                .isSameAs(before.resources(AUTHORIZATION).get(policyName("allow-frontend")));
        assertThat(incremental.resources(ADDRESS).get(uid("b"))).isNotSameAs(before.resources(ADDRESS).get(uid("b")));
    }

    @Test
    void changesFromNameExactlyTheNewTheChangedAndTheRemoved() {
        TestMesh mesh = TestMesh.standard();
        XdsSnapshot before = mesh.snapshot();
        XdsSnapshot after = XdsSnapshot.of(mesh.pod("b", "v2").pod("z", "v1").removePod("a")
                .removePolicy("deny-admin").build(), before);

        XdsSnapshot.Changes addresses = after.changesFrom(before, ADDRESS);
        assertThat(addresses.changed()).containsExactly(uid("b"), uid("z"));
        assertThat(addresses.removed()).containsExactly(uid("a"));
        XdsSnapshot.Changes policies = after.changesFrom(before, AUTHORIZATION);
        assertThat(policies.changed()).isEmpty();
        assertThat(policies.removed()).containsExactly(policyName("deny-admin"));

        assertThat(after.changesFrom(after, ADDRESS).isEmpty()).isTrue();
        assertThat(after.changesFrom(XdsSnapshot.empty(), ADDRESS).changed())
                .containsExactlyElementsOf(after.resources(ADDRESS).keySet());
        assertThat(XdsSnapshot.empty().changesFrom(after, ADDRESS).removed())
                .containsExactlyElementsOf(after.resources(ADDRESS).keySet());
    }

    @Test
    void wireEntryCarriesNameVersionAndResource() {
        XdsResource r = TestMesh.standard().snapshot().resources(ADDRESS).get(uid("a"));
        assertThat(r.wire().getName()).isEqualTo(r.name());
        assertThat(r.wire().getVersion()).isEqualTo(r.version());
        assertThat(r.wire().getResource()).isSameAs(r.resource());
        assertThatThrownBy(() -> new XdsResource("other", r.version(), r.resource(), r.wire()))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
