package dev.ambit.proxy.state;

import static dev.ambit.testing.MeshFixture.ip;
import static dev.ambit.testing.MeshFixture.uid;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.api.workload.Workload;
import dev.ambit.api.workload.WorkloadStatus;
import dev.ambit.testing.MeshFixture;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WorkloadStoreTest {

    private final WorkloadStore store = new WorkloadStore("net-a");

    private static Workload pod(String name, String network) {
        return MeshFixture.workload(name, WorkloadStatus.HEALTHY, new String[0], Map.of()).getWorkload().toBuilder()
                .setNetwork(network).build();
    }

    @Test
    void findsAWorkloadByUidAndByEachAddressOnItsNetwork() {
        Workload w = pod("a", "net-a");
        store.insert(w, List.of(ip("10.0.0.1"), ip("fd00::1")));

        assertThat(store.workload(uid("a"))).isSameAs(w);
        assertThat(store.byAddress(ip("10.0.0.1"))).as("local network").isSameAs(w);
        assertThat(store.byAddress("net-a", ip("fd00::1"))).isSameAs(w);
        assertThat(store.byAddress("net-b", ip("10.0.0.1"))).isNull();
        assertThat(store.size()).isOne();
        assertThatThrownBy(() -> store.workloads().clear()).isInstanceOf(UnsupportedOperationException.class);
    }

    @Test
    void removingAWorkloadLeavesWhatANewerOneTookOver() {
        Workload old = pod("old", "net-a");
        Workload newcomer = pod("newcomer", "net-a");
        store.insert(old, List.of(ip("10.0.0.4")));
        // The IP is reused before the old pod's removal arrives.
        store.insert(newcomer, List.of(ip("10.0.0.4")));

        store.remove(old, List.of(ip("10.0.0.4")));

        assertThat(store.workload(uid("old"))).isNull();
        assertThat(store.byAddress(ip("10.0.0.4"))).isSameAs(newcomer);
        assertThat(store.workloads()).containsExactly(newcomer);
    }
}
