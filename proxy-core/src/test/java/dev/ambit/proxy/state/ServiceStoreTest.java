package dev.ambit.proxy.state;

import static dev.ambit.testing.MeshFixture.BACKEND;
import static dev.ambit.testing.MeshFixture.BACKEND_VIP;
import static dev.ambit.testing.MeshFixture.ip;
import static dev.ambit.testing.MeshFixture.ports;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.api.workload.PortList;
import dev.ambit.api.workload.Service;
import dev.ambit.api.workload.Workload;
import dev.ambit.api.workload.WorkloadStatus;
import dev.ambit.testing.MeshFixture;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class ServiceStoreTest {

    private final WorkloadStore workloads = new WorkloadStore("");
    private final ServiceStore store = new ServiceStore("");
    private final Service backend = MeshFixture.service("backend", BACKEND_VIP, 8080, 9000, 9443, 0).getService();

    @BeforeEach
    void fill() {
        store.insert(backend, List.of(new NetworkAddress("", ip(BACKEND_VIP))));
    }

    private void member(String pod, WorkloadStatus status, PortList ports) {
        Workload w = MeshFixture.workload(pod, status, new String[0], Map.of(BACKEND, ports)).getWorkload();
        workloads.insert(w, List.of());
        store.addMember(BACKEND, w.getUid());
    }

    private List<String> endpoints(int port) {
        return store.endpoints(BACKEND, port).stream().map(e -> e.workload().getName() + ":" + e.targetPort()).toList();
    }

    @Test
    void findsAServiceByKeyAndByVipOnlyOnAPortItExposes() {
        assertThat(ServiceStore.key(backend)).isEqualTo(BACKEND);
        assertThat(store.service(BACKEND)).isSameAs(backend);
        assertThat(store.byVip(ip(BACKEND_VIP), 8080)).isSameAs(backend);
        assertThat(store.byVip(ip(BACKEND_VIP), 80)).isNull();
        assertThat(store.byVip("elsewhere", ip(BACKEND_VIP), 8080)).isNull();
        assertThat(store.size()).isOne();
    }

    @Test
    void findsAServiceByAddressOnAnyPortWithItsBackendsOnAnyPort() {
        assertThat(store.byAddress("", ip(BACKEND_VIP))).as("a waypoint is named by address only").isSameAs(backend);
        assertThat(store.byAddress("elsewhere", ip(BACKEND_VIP))).isNull();
        assertThat(store.byAddress("", ip("10.96.0.99"))).isNull();
        assertThat(store.backends(backend)).isEmpty();

        member("b-2", WorkloadStatus.UNHEALTHY, ports(8080, 9091));
        member("b-1", WorkloadStatus.HEALTHY, PortList.getDefaultInstance());
        store.rebuildEndpoints(BACKEND, workloads);

        assertThat(store.backends(backend)).extracting(Workload::getName).containsExactly("b-1", "b-2");
        store.removeMember(BACKEND, MeshFixture.uid("b-1"));
        store.removeMember(BACKEND, MeshFixture.uid("b-2"));
        store.rebuildEndpoints(BACKEND, workloads);
        assertThat(store.backends(backend)).isEmpty();
    }

    @Test
    void endpointsAreRebuiltFromTheMembersHealthyFirst() {
        member("b-2", WorkloadStatus.UNHEALTHY, ports(8080, 9091));
        member("b-1", WorkloadStatus.HEALTHY, ports(8080, 9090, 9443, 8443));
        member("b-3", WorkloadStatus.HEALTHY, PortList.getDefaultInstance());
        assertThat(endpoints(8080)).as("not rebuilt yet").isEmpty();

        store.rebuildEndpoints(BACKEND, workloads);
        assertThat(endpoints(8080)).containsExactly("b-1:9090", "b-3:9000", "b-2:9091");
        // A named target port (0 on the service): only the member that maps it serves it.
        assertThat(endpoints(9443)).containsExactly("b-1:8443");

        store.removeMember(BACKEND, MeshFixture.uid("b-1"));
        store.rebuildEndpoints(BACKEND, workloads);
        assertThat(endpoints(8080)).containsExactly("b-3:9000", "b-2:9091");
    }

    @Test
    void removingTheServiceKeepsItsMembersEndpoints() {
        member("b-1", WorkloadStatus.HEALTHY, ports(8080, 9090));
        store.remove(backend, List.of(new NetworkAddress("", ip(BACKEND_VIP))));
        store.rebuildEndpoints(BACKEND, workloads);

        assertThat(store.service(BACKEND)).isNull();
        assertThat(store.byVip(ip(BACKEND_VIP), 8080)).isNull();
        assertThat(endpoints(8080)).containsExactly("b-1:9090");
    }
}
