package dev.ambit.waypoint.config;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.UInt32Value;
import com.google.protobuf.UInt64Value;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.RuntimeDouble;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.type.v3.Percent;
import org.junit.jupiter.api.Test;

/**
 * The load-balancing fields istiod-lite sends for DestinationRule {@code loadBalancer} are
 * accepted (issue 15); what the waypoint does not implement of them is still NACKed by name.
 */
class LbConfigValidationTest {

    static final String CLUSTER = "outbound|9080||reviews.shop.svc.cluster.local";
    static final String CHAIN = "inbound-vip|9080|http|reviews.shop.svc.cluster.local";

    static Cluster cluster() {
        return Resources.edsCluster(CLUSTER, false);
    }

    static Cluster.SlowStartConfig slowStart() {
        return Cluster.SlowStartConfig.newBuilder()
                .setSlowStartWindow(com.google.protobuf.Duration.newBuilder().setSeconds(30))
                .setAggression(RuntimeDouble.newBuilder().setDefaultValue(1.0).setRuntimeKey("("))
                .setMinWeightPercent(Percent.newBuilder().setValue(10)).build();
    }

    static RouteConfiguration withHashPolicies(RouteAction.HashPolicy... policies) {
        RouteConfiguration.Builder b = Resources.route().toBuilder();
        RouteAction.Builder a = RouteAction.newBuilder().setCluster(CLUSTER);
        for (RouteAction.HashPolicy p : policies) {
            a.addHashPolicy(p);
        }
        b.getVirtualHostsBuilder(0).getRoutesBuilder(2).setRoute(a);
        return b.build();
    }

    @Test
    void everyPolicyAndItsConfigIsAccepted() {
        assertThat(ResourceValidator.validate(CLUSTER, cluster().toBuilder().setLbPolicy(Cluster.LbPolicy.RANDOM)
                .build())).isEmpty();
        assertThat(ResourceValidator.validate(CLUSTER, cluster().toBuilder().setLbPolicy(Cluster.LbPolicy.ROUND_ROBIN)
                .setRoundRobinLbConfig(Cluster.RoundRobinLbConfig.newBuilder().setSlowStartConfig(slowStart()))
                .build())).isEmpty();
        assertThat(ResourceValidator.validate(CLUSTER, cluster().toBuilder().setLbPolicy(Cluster.LbPolicy.LEAST_REQUEST)
                .setLeastRequestLbConfig(Cluster.LeastRequestLbConfig.newBuilder().setSlowStartConfig(slowStart())
                        .setChoiceCount(UInt32Value.of(3))).build())).isEmpty();
        assertThat(ResourceValidator.validate(CLUSTER, cluster().toBuilder().setLbPolicy(Cluster.LbPolicy.RING_HASH)
                .setRingHashLbConfig(Cluster.RingHashLbConfig.newBuilder().setMinimumRingSize(UInt64Value.of(2048))
                        .setMaximumRingSize(UInt64Value.of(4096))).build())).isEmpty();
        assertThat(ResourceValidator.validate(CLUSTER, cluster().toBuilder().setLbPolicy(Cluster.LbPolicy.MAGLEV)
                .setMaglevLbConfig(Cluster.MaglevLbConfig.newBuilder().setTableSize(UInt64Value.of(65537))).build()))
                .isEmpty();
        ClusterLoadAssignment.Builder cla = Resources.assignment(CLUSTER, "10.244.1.5").toBuilder();
        cla.getEndpointsBuilder(0).getLbEndpointsBuilder(0).setLoadBalancingWeight(UInt32Value.of(3));
        assertThat(ResourceValidator.validate(CLUSTER, cla.build())).isEmpty();
    }

    @Test
    void istiosHashPoliciesAreAccepted() {
        RouteConfiguration rc = withHashPolicies(
                RouteAction.HashPolicy.newBuilder().setHeader(RouteAction.HashPolicy.Header.newBuilder()
                        .setHeaderName("x-user")).build(),
                RouteAction.HashPolicy.newBuilder().setCookie(RouteAction.HashPolicy.Cookie.newBuilder()
                        .setName("session").setPath("/").setTtl(com.google.protobuf.Duration.newBuilder().setSeconds(60))
                        .addAttributes(RouteAction.HashPolicy.CookieAttribute.newBuilder().setName("SameSite")
                                .setValue("Strict"))).build(),
                RouteAction.HashPolicy.newBuilder().setConnectionProperties(RouteAction.HashPolicy.ConnectionProperties
                        .newBuilder().setSourceIp(true)).setTerminal(true).build(),
                RouteAction.HashPolicy.newBuilder().setQueryParameter(RouteAction.HashPolicy.QueryParameter.newBuilder()
                        .setName("user")).build());
        assertThat(ResourceValidator.validate(CHAIN, rc)).isEmpty();
    }

    @Test
    void whatIsNotImplementedIsStillNackedByName() {
        Cluster c = cluster().toBuilder().setLbPolicy(Cluster.LbPolicy.RING_HASH)
                .setRingHashLbConfig(Cluster.RingHashLbConfig.newBuilder()
                        .setHashFunction(Cluster.RingHashLbConfig.HashFunction.MURMUR_HASH_2)).build();
        assertThat(ResourceValidator.validate(CLUSTER, c)).containsExactly("Cluster " + CLUSTER
                + ": ring_hash_lb_config.hash_function: MURMUR_HASH_2 not supported by this waypoint (expected one of "
                + "[XX_HASH])");
        Cluster lr = cluster().toBuilder().setLbPolicy(Cluster.LbPolicy.LEAST_REQUEST)
                .setLeastRequestLbConfig(Cluster.LeastRequestLbConfig.newBuilder()
                        .setActiveRequestBias(RuntimeDouble.newBuilder().setDefaultValue(2))).build();
        assertThat(ResourceValidator.validate(CLUSTER, lr)).containsExactly("Cluster " + CLUSTER
                + ": least_request_lb_config.active_request_bias: not supported by this waypoint");
        RouteConfiguration rc = withHashPolicies(RouteAction.HashPolicy.newBuilder().setHeader(
                RouteAction.HashPolicy.Header.newBuilder().setHeaderName("x-user").setRegexRewrite(
                        io.envoyproxy.envoy.type.matcher.v3.RegexMatchAndSubstitute.getDefaultInstance())).build());
        assertThat(ResourceValidator.validate(CHAIN, rc)).containsExactly("RouteConfiguration " + CHAIN
                + ": virtual_hosts[0].routes[2].route.hash_policy[0].header.regex_rewrite: not supported by this waypoint");
    }

    @Test
    void envoysConstraintsOnTheValuesHold() {
        Cluster notPrime = cluster().toBuilder().setLbPolicy(Cluster.LbPolicy.MAGLEV)
                .setMaglevLbConfig(Cluster.MaglevLbConfig.newBuilder().setTableSize(UInt64Value.of(65536))).build();
        assertThat(ResourceValidator.validate(CLUSTER, notPrime)).containsExactly("Cluster " + CLUSTER
                + ": maglev_lb_config.table_size: 65536 (expected: a prime up to 5000011)");
        Cluster inverted = cluster().toBuilder().setLbPolicy(Cluster.LbPolicy.RING_HASH)
                .setRingHashLbConfig(Cluster.RingHashLbConfig.newBuilder().setMinimumRingSize(UInt64Value.of(4096))
                        .setMaximumRingSize(UInt64Value.of(1024))).build();
        assertThat(ResourceValidator.validate(CLUSTER, inverted)).containsExactly("Cluster " + CLUSTER
                + ": ring_hash_lb_config.minimum_ring_size: 4096 is above maximum_ring_size 1024");
        RouteConfiguration rc = withHashPolicies(RouteAction.HashPolicy.newBuilder().setCookie(
                RouteAction.HashPolicy.Cookie.newBuilder()).build(), RouteAction.HashPolicy.getDefaultInstance());
        assertThat(ResourceValidator.validate(CHAIN, rc)).containsExactly(
                "RouteConfiguration " + CHAIN + ": virtual_hosts[0].routes[2].route.hash_policy[0].cookie.name: empty "
                        + "(expected: a value)",
                "RouteConfiguration " + CHAIN + ": virtual_hosts[0].routes[2].route.hash_policy[1]: no policy "
                        + "(expected: header, cookie, connection_properties or query_parameter)");
    }
}
