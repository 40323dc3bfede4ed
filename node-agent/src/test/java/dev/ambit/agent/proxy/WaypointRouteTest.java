package dev.ambit.agent.proxy;

import static dev.ambit.testing.MeshFixture.ip;
import static dev.ambit.testing.MeshFixture.ports;
import static dev.ambit.testing.MeshFixture.put;
import static dev.ambit.testing.MeshFixture.service;
import static dev.ambit.testing.MeshFixture.workload;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.GatewayAddress;
import dev.ambit.api.workload.NamespacedHostname;
import dev.ambit.api.workload.NetworkAddress;
import dev.ambit.api.workload.Service;
import dev.ambit.api.workload.WorkloadStatus;
import dev.ambit.proxy.state.ProxyState;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@link WaypointRoute}: which waypoint a destination has, and what a {@code GatewayAddress} resolves to. */
class WaypointRouteTest {

    private static final String WAYPOINT_SERVICE = "shop/waypoint.shop.svc.cluster.local";

    private final ProxyState state = ProxyState.create();

    @BeforeEach
    void fill() {
        Map<String, Address> addresses = new TreeMap<>();
        // The waypoint's Service lists only its status port: the pods are still dialled on 15008.
        put(addresses, service("waypoint", "10.96.0.30", 15021, 15021));
        put(addresses, workload("waypoint-1", WorkloadStatus.HEALTHY, new String[] {"10.1.0.9"},
                Map.of(WAYPOINT_SERVICE, ports(15021, 15021))));
        put(addresses, workload("waypoint-2", WorkloadStatus.UNHEALTHY, new String[] {"10.1.0.10"},
                Map.of(WAYPOINT_SERVICE, ports(15021, 15021))));
        state.applyAddresses(addresses, List.of());
    }

    @Test
    void aGatewayByAddressResolvesToTheServiceWithThatVipWhateverItsPorts() {
        var r = WaypointRoute.resolve(state, byAddress("10.96.0.30", ""));

        assertThat(r).isInstanceOf(WaypointRoute.Resolved.class);
        var resolved = (WaypointRoute.Resolved) r;
        assertThat(resolved.name()).isEqualTo("shop/waypoint");
        assertThat(resolved.hbonePort()).isEqualTo(15008);
        assertThat(state.backends(resolved.service())).extracting(w -> w.getName())
                .containsExactly("waypoint-1", "waypoint-2");
        assertThat(resolved.target(state.backends(resolved.service()).getFirst()))
                .isEqualTo(new InetSocketAddress(ip("10.1.0.9"), 15008));
    }

    @Test
    void aGatewayByHostnameResolvesToTheServiceOfThatNamespaceAndHost() {
        var gateway = GatewayAddress.newBuilder().setHostname(NamespacedHostname.newBuilder()
                .setNamespace("shop").setHostname("waypoint.shop.svc.cluster.local")).setHboneMtlsPort(15008).build();

        assertThat(WaypointRoute.resolve(state, gateway)).isInstanceOf(WaypointRoute.Resolved.class);

        var elsewhere = gateway.toBuilder()
                .setHostname(gateway.getHostname().toBuilder().setNamespace("other")).build();
        assertThat(WaypointRoute.resolve(state, elsewhere)).isEqualTo(
                new WaypointRoute.Unresolved("other/waypoint", "waypoint other/waypoint: not found"));
    }

    @Test
    void aGatewayThatNamesNothingIsUnresolvedWithItsReason() {
        assertThat(WaypointRoute.resolve(state, byAddress("10.96.0.31", ""))).isEqualTo(new WaypointRoute.Unresolved(
                "10.96.0.31", "waypoint 10.96.0.31: not found (no Service with that VIP)"));
        assertThat(WaypointRoute.resolve(state, byAddress("10.96.0.30", "other-network")))
                .isInstanceOf(WaypointRoute.Unresolved.class);
        assertThat(WaypointRoute.resolve(state, GatewayAddress.getDefaultInstance()))
                .isInstanceOf(WaypointRoute.Unresolved.class);
    }

    @Test
    void aVipUsesItsServicesWaypointAndAPodAddressItsWorkloads() {
        GatewayAddress gateway = byAddress("10.96.0.30", "");
        Map<String, Address> addresses = new TreeMap<>();
        Address backend = service("backend", "10.96.0.20", 8080, 9000);
        put(addresses, Address.newBuilder().setService(backend.getService().toBuilder().setWaypoint(gateway)).build());
        put(addresses, service("plain", "10.96.0.21", 8080, 9000));
        Address pod = workload("backend-1", WorkloadStatus.HEALTHY, new String[] {"10.1.0.3"}, Map.of());
        put(addresses, Address.newBuilder().setWorkload(pod.getWorkload().toBuilder().setWaypoint(gateway)).build());
        state.applyAddresses(addresses, List.of());
        Service withWaypoint = state.serviceByVip(ip("10.96.0.20"), 8080);
        Service plain = state.serviceByVip(ip("10.96.0.21"), 8080);

        assertThat(WaypointRoute.gatewayOf(state, withWaypoint, ip("10.96.0.20"))).isEqualTo(gateway);
        assertThat(WaypointRoute.gatewayOf(state, plain, ip("10.96.0.21"))).isNull();
        assertThat(WaypointRoute.gatewayOf(state, null, ip("10.1.0.3"))).isEqualTo(gateway);
        assertThat(WaypointRoute.gatewayOf(state, null, ip("10.1.0.99"))).isNull();
        // A VIP whose endpoint has a workload waypoint is not sent there (ztunnel's rule).
        assertThat(WaypointRoute.gatewayOf(state, plain, ip("10.1.0.3"))).isNull();
    }

    private static GatewayAddress byAddress(String vip, String network) {
        return GatewayAddress.newBuilder()
                .setAddress(NetworkAddress.newBuilder().setNetwork(network)
                        .setAddress(ByteString.copyFrom(ip(vip).getAddress())))
                .setHboneMtlsPort(15008)
                .build();
    }
}
