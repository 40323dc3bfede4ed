package dev.ambit.proxy.state;

import static dev.ambit.testing.MeshFixture.uid;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import dev.ambit.api.TypeUrls;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.Workload;
import dev.ambit.api.workload.WorkloadStatus;
import dev.ambit.proxy.xds.ResourceHandler.Rejection;
import dev.ambit.testing.MeshFixture;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** {@link ProxyState}'s xDS handlers: one per type, feeding the stores. */
class ProxyStateHandlersTest {

    private final ProxyState state = ProxyState.create();

    @Test
    void handlesIstiosTwoTypesAddressesFirst() throws Exception {
        assertThat(state.handlers()).extracting(h -> h.typeUrl()).containsExactly(TypeUrls.ADDRESS, TypeUrls.AUTHORIZATION);
        Address a = MeshFixture.workload("p", WorkloadStatus.HEALTHY, new String[] {"10.0.0.1"}, Map.of());
        assertThat(state.addressHandler().parse(Any.pack(a))).isEqualTo(a);
    }

    @Test
    void rejectsEveryBadResourceByNameAndAppliesNothing() {
        AtomicInteger changes = new AtomicInteger();
        state.addListener(changes::incrementAndGet);
        Map<String, Address> update = new TreeMap<>();
        update.put(uid("fine"), MeshFixture.workload("fine", WorkloadStatus.HEALTHY, new String[] {"10.0.0.5"}, Map.of()));
        update.put(uid("short-ip"), Address.newBuilder().setWorkload(Workload.newBuilder().setUid(uid("short-ip"))
                .addAddresses(ByteString.copyFrom(new byte[5]))).build());
        update.put("empty", Address.getDefaultInstance());

        List<Rejection> rejected = state.addressHandler().apply(update, List.of());

        // In the update's order (a TreeMap here: upper case first).
        assertThat(rejected).extracting(Rejection::name).containsExactly(uid("short-ip"), "empty");
        assertThat(rejected.get(0).reason()).contains("5 bytes (expected: 4 or 16)");
        assertThat(state.workload(uid("fine"))).isNull();
        assertThat(state.generation()).isZero();
        assertThat(changes).hasValue(0);
    }

    @Test
    void eachAppliedResponseIsOneGenerationAndOneNotification() {
        AtomicInteger changes = new AtomicInteger();
        state.addListener(changes::incrementAndGet);

        assertThat(state.addressHandler().apply(MeshFixture.addresses(), List.of())).isEmpty();
        assertThat(state.authorizationHandler().apply(MeshFixture.authorizations(), List.of())).isEmpty();
        assertThat(state.authorizationHandler().apply(Map.<String, Authorization>of(), List.of())).isEmpty();

        assertThat(state.generation()).isEqualTo(2);
        assertThat(changes).hasValue(2);
        assertThat(state.workloadStore().size()).isEqualTo(4);
        assertThat(state.serviceStore().size()).isEqualTo(2);
        assertThat(state.policyStore().size()).isEqualTo(4);
    }
}
