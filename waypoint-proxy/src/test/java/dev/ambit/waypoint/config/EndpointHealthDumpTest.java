package dev.ambit.waypoint.config;

import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.Endpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;

/** The endpoints dump shows an endpoint that outlier detection ejected as UNHEALTHY, as Envoy's does. */
class EndpointHealthDumpTest {

    static final String C = "outbound|9080||reviews.shop.svc.cluster.local";

    static LbEndpoint endpoint(String ip, int port) {
        return LbEndpoint.newBuilder().setHealthStatus(HealthStatus.HEALTHY).setEndpoint(Endpoint.newBuilder()
                .setAddress(Address.newBuilder().setSocketAddress(SocketAddress.newBuilder().setAddress(ip)
                        .setPortValue(port)))).build();
    }

    @Test
    void ejectedEndpointsAreUnhealthyOthersAsSent() {
        ClusterLoadAssignment cla = ClusterLoadAssignment.newBuilder().setClusterName(C)
                .addEndpoints(LocalityLbEndpoints.newBuilder().addLbEndpoints(endpoint("10.244.0.5", 9080))
                        .addLbEndpoints(endpoint("10.244.0.6", 9080)))
                .build();
        InetSocketAddress bad = new InetSocketAddress("10.244.0.6", 9080);
        ClusterLoadAssignment shown = EnvoyConfigDump.withHealth(C, cla,
                (cluster, ep) -> cluster.equals(C) && ep.equals(bad));
        assertThat(shown.getEndpoints(0).getLbEndpoints(0).getHealthStatus()).isEqualTo(HealthStatus.HEALTHY);
        assertThat(shown.getEndpoints(0).getLbEndpoints(1).getHealthStatus()).isEqualTo(HealthStatus.UNHEALTHY);
        assertThat(EnvoyConfigDump.withHealth("other", cla, (cluster, ep) -> cluster.equals(C) && ep.equals(bad)))
                .isSameAs(cla);
        assertThat(EnvoyConfigDump.withHealth(C, cla, EnvoyConfigDump.EndpointStates.NONE)).isSameAs(cla);
    }
}
