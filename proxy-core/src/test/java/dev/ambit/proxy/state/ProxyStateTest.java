package dev.ambit.proxy.state;

import static dev.ambit.testing.MeshFixture.BACKEND;
import static dev.ambit.testing.MeshFixture.BACKEND_VIP;
import static dev.ambit.testing.MeshFixture.FRONTEND_VIP;
import static dev.ambit.testing.MeshFixture.ip;
import static dev.ambit.testing.MeshFixture.ports;
import static dev.ambit.testing.MeshFixture.uid;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import dev.ambit.api.security.Action;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Scope;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.Workload;
import dev.ambit.api.workload.WorkloadStatus;
import dev.ambit.testing.MeshFixture;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class ProxyStateTest {

    private ProxyState state;

    @BeforeEach
    void fill() {
        state = ProxyState.create();
        state.applyAddresses(MeshFixture.addresses(), List.of());
        state.applyAuthorizations(MeshFixture.authorizations(), List.of());
    }

    /** Endpoints as "pod:targetPort", in order. */
    static List<String> endpoints(ProxyState state, String service, int port) {
        return state.endpoints(service, port).stream()
                .map(e -> e.workload().getName() + ":" + e.targetPort())
                .toList();
    }

    static List<String> names(List<Authorization> policies) {
        return policies.stream().map(p -> p.getNamespace() + "/" + p.getName()).toList();
    }

    @Test
    void looksUpWorkloadsByEveryAddressAndServicesByVipAndPort() {
        assertThat(state.workloadByAddress(ip("10.0.0.2")).getName()).isEqualTo("backend-1");
        assertThat(state.workloadByAddress(ip("10.0.0.3")).getName()).isEqualTo("backend-2");
        assertThat(state.workloadByAddress(ip("fd00::3")).getName()).isEqualTo("backend-2");
        assertThat(state.workloadByAddress("other-network", ip("10.0.0.2"))).isNull();
        assertThat(state.workloadByAddress(ip("10.0.0.99"))).isNull();
        assertThat(state.workload(uid("frontend")).getName()).isEqualTo("frontend");

        assertThat(state.serviceByVip(ip(BACKEND_VIP), 8080).getName()).isEqualTo("backend");
        assertThat(state.serviceByVip(ip(BACKEND_VIP), 9443).getName()).isEqualTo("backend");
        assertThat(state.serviceByVip(ip(BACKEND_VIP), 80)).as("port the service does not expose").isNull();
        assertThat(state.serviceByVip(ip(FRONTEND_VIP), 80).getName()).isEqualTo("frontend");
        assertThat(state.service(BACKEND).getHostname()).isEqualTo("backend.shop.svc.cluster.local");
        assertThat(state.workloadCount()).isEqualTo(4);
        assertThat(state.serviceCount()).isEqualTo(2);
        assertThat(state.addressCount()).isEqualTo(6);
    }

    @Test
    void endpointsAreHealthyFirstWithTargetPortsResolvedPerWorkload() {
        // backend-1 maps 8080 itself, backend-3 falls back to the service's 9000, and the
        // unhealthy backend-2 comes last.
        assertThat(endpoints(state, BACKEND, 8080)).containsExactly("backend-1:9090", "backend-3:9000", "backend-2:9091");
        assertThat(state.endpoints(state.service(BACKEND), 8080).get(2).healthy()).isFalse();
        // A named target port (0 on the service): only the pod that resolves it serves it.
        assertThat(endpoints(state, BACKEND, 9443)).containsExactly("backend-1:8443");
        assertThat(endpoints(state, BACKEND, 1234)).isEmpty();
        assertThat(endpoints(state, "shop/nothing.shop.svc.cluster.local", 80)).isEmpty();
    }

    @Test
    void endpointsFollowWorkloadChangesIncrementally() {
        // backend-1 leaves the service, backend-2 becomes healthy, backend-3 goes away.
        Address b1 = MeshFixture.workload("backend-1", WorkloadStatus.HEALTHY, new String[] {"10.0.0.2"}, Map.of());
        Address b2 = MeshFixture.workload("backend-2", WorkloadStatus.HEALTHY, new String[] {"10.0.0.3"},
                Map.of(BACKEND, ports(8080, 9091)));
        state.applyAddresses(Map.of(uid("backend-1"), b1, uid("backend-2"), b2), List.of(uid("backend-3")));

        assertThat(endpoints(state, BACKEND, 8080)).containsExactly("backend-2:9091");
        assertThat(endpoints(state, BACKEND, 9443)).isEmpty();
        assertThat(state.workload(uid("backend-3"))).isNull();
        assertThat(state.workloadByAddress(ip("10.0.0.4"))).isNull();
        // backend-2 lost its IPv6 address.
        assertThat(state.workloadByAddress(ip("fd00::3"))).isNull();
        assertThat(state.workloadByAddress(ip("10.0.0.3")).getStatus()).isEqualTo(WorkloadStatus.HEALTHY);

        // Removing the service keeps the workloads' own port mappings answering.
        state.applyAddresses(Map.of(), List.of(BACKEND));
        assertThat(state.serviceByVip(ip(BACKEND_VIP), 8080)).isNull();
        assertThat(endpoints(state, BACKEND, 8080)).containsExactly("backend-2:9091");
    }

    @Test
    void policiesForCombineGlobalNamespaceAndSelectedOnes() {
        Workload backend1 = state.workload(uid("backend-1"));
        Workload frontend = state.workload(uid("frontend"));
        assertThat(names(state.policiesFor(backend1)))
                .containsExactly("istio-system/global-deny", "shop/ns-allow", "shop/backend-allow");
        assertThat(names(state.policiesFor(frontend))).containsExactly("istio-system/global-deny", "shop/ns-allow");

        // A namespace policy turning into a selector one leaves the namespace list.
        Authorization narrowed = MeshFixture.policy("shop", "ns-allow", Scope.WORKLOAD_SELECTOR, Action.ALLOW, "x");
        state.applyAuthorizations(Map.of("shop/ns-allow", narrowed), List.of("istio-system/global-deny"));
        assertThat(names(state.policiesFor(frontend))).isEmpty();
        assertThat(names(state.policiesFor(backend1))).containsExactly("shop/backend-allow");
        assertThat(state.policy("shop/ns-allow").getScope()).isEqualTo(Scope.WORKLOAD_SELECTOR);
    }

    @Test
    void anInvalidResourceRejectsTheWholeUpdate() {
        long generation = state.generation();
        Address fresh = MeshFixture.workload("fresh", WorkloadStatus.HEALTHY, new String[] {"10.0.0.50"}, Map.of());
        Address bad = Address.newBuilder().setWorkload(Workload.newBuilder().setUid(uid("bad"))
                .addAddresses(ByteString.copyFrom(new byte[5]))).build();

        assertThatThrownBy(() -> state.applyAddresses(Map.of(uid("fresh"), fresh, uid("bad"), bad),
                List.of(uid("frontend"))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("5 bytes (expected: 4 or 16)");
        assertThat(state.generation()).isEqualTo(generation);
        assertThat(state.workload(uid("fresh"))).isNull();
        assertThat(state.workload(uid("frontend"))).as("removal of the rejected update not applied").isNotNull();

        assertThatThrownBy(() -> state.applyAddresses(Map.of("x", Address.getDefaultInstance()), List.of()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("neither a workload nor a service");
    }

    @Test
    void readersSeeWholeEndpointListsWhileTheWriterUpdates() throws Exception {
        var failures = new java.util.concurrent.ConcurrentLinkedQueue<String>();
        var stop = new java.util.concurrent.atomic.AtomicBoolean();
        List<Thread> readers = new java.util.ArrayList<>();
        for (int i = 0; i < 4; i++) {
            readers.add(Thread.ofPlatform().start(() -> {
                while (!stop.get()) {
                    List<Endpoint> list = state.endpoints(BACKEND, 8080);
                    // Every list handed out is one whole computation: three members, healthy first.
                    boolean sorted = true;
                    for (int j = 1; j < list.size(); j++) {
                        sorted &= list.get(j - 1).healthy() || !list.get(j).healthy();
                    }
                    if (list.size() != 3 || !sorted || state.workloadByAddress(ip("10.0.0.3")) == null) {
                        failures.add(list.toString());
                    }
                }
            }));
        }
        for (int i = 0; i < 2_000; i++) {
            WorkloadStatus status = i % 2 == 0 ? WorkloadStatus.HEALTHY : WorkloadStatus.UNHEALTHY;
            state.applyAddresses(Map.of(uid("backend-2"), MeshFixture.workload("backend-2", status,
                    new String[] {"10.0.0.3"}, Map.of(BACKEND, ports(8080, 9091)))), List.of());
        }
        stop.set(true);
        for (Thread t : readers) {
            t.join(5_000);
        }
        assertThat(failures).as("lists or lookups seen mid-update").isEmpty();
    }

    @Test
    void aReusedIpSurvivesTheLateRemovalOfItsFormerOwner() {
        // A new pod got backend-3's IP before backend-3's removal arrived.
        Address newcomer = MeshFixture.workload("newcomer", WorkloadStatus.HEALTHY, new String[] {"10.0.0.4"},
                Map.of());
        state.applyAddresses(Map.of(uid("newcomer"), newcomer), List.of());
        assertThat(state.workloadByAddress(ip("10.0.0.4")).getName()).isEqualTo("newcomer");

        state.applyAddresses(Map.of(), List.of(uid("backend-3")));
        assertThat(state.workloadByAddress(ip("10.0.0.4")).getName()).isEqualTo("newcomer");
    }
}
