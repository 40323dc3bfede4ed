package dev.ambit.waypoint.upstream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.waypoint.ResponseFlag;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.type.v3.Percent;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** {@link EndpointPicker}: round robin, P2C least request, health and panic, excluded hosts. */
class EndpointPickerTest {

    static final InetSocketAddress A = new InetSocketAddress("10.0.0.1", 9080);
    static final InetSocketAddress B = new InetSocketAddress("10.0.0.2", 9080);
    static final InetSocketAddress C = new InetSocketAddress("10.0.0.3", 9080);

    final EndpointPicker picker = new EndpointPicker();

    static ClusterInfo cluster(Cluster.LbPolicy policy) {
        return ClusterInfo.of(TestConfig.http1("c").toBuilder().setLbPolicy(policy).build());
    }

    static UpstreamEndpoint ep(InetSocketAddress a, HealthStatus h) {
        return new UpstreamEndpoint(a, false, h);
    }

    List<InetSocketAddress> picks(ClusterInfo c, List<UpstreamEndpoint> eps, Set<InetSocketAddress> excluded, int n) {
        List<InetSocketAddress> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(picker.pick(c, eps, excluded).endpoint().address());
        }
        return out;
    }

    @Test
    void roundRobinWalksTheEndpointsInOrder() {
        List<UpstreamEndpoint> eps = List.of(ep(A, HealthStatus.HEALTHY), ep(B, HealthStatus.HEALTHY),
                ep(C, HealthStatus.HEALTHY));
        assertThat(picks(cluster(Cluster.LbPolicy.ROUND_ROBIN), eps, Set.of(), 6)).containsExactly(A, B, C, A, B, C);
    }

    @Test
    void unhealthyEndpointsAreSkippedAndUnknownOnesTaken() {
        List<UpstreamEndpoint> eps = List.of(ep(A, HealthStatus.UNHEALTHY), ep(B, HealthStatus.UNKNOWN),
                ep(C, HealthStatus.HEALTHY));
        List<InetSocketAddress> got = picks(cluster(Cluster.LbPolicy.ROUND_ROBIN), eps, Set.of(), 6);
        assertThat(got).containsOnly(B, C).contains(B, C);
        assertThat(picker.pick(cluster(Cluster.LbPolicy.ROUND_ROBIN), eps, Set.of()).panic()).isFalse();
    }

    @Test
    void belowThePanicThresholdEveryEndpointIsACandidate() {
        List<UpstreamEndpoint> eps = List.of(ep(A, HealthStatus.UNHEALTHY), ep(B, HealthStatus.DRAINING),
                ep(C, HealthStatus.HEALTHY));
        ClusterInfo c = cluster(Cluster.LbPolicy.ROUND_ROBIN); // 1 of 3 healthy: 33% < 50%
        assertThat(picker.pick(c, eps, Set.of()).panic()).isTrue();
        assertThat(new HashSet<>(picks(c, eps, Set.of(), 6))).containsExactlyInAnyOrder(A, B, C);
    }

    @Test
    void allUnhealthyIsPanicByDefaultAndUhWithAZeroThreshold() {
        List<UpstreamEndpoint> eps = List.of(ep(A, HealthStatus.UNHEALTHY), ep(B, HealthStatus.UNHEALTHY));
        assertThat(picker.pick(cluster(Cluster.LbPolicy.ROUND_ROBIN), eps, Set.of()).panic()).isTrue();
        ClusterInfo noPanic = ClusterInfo.of(TestConfig.http1("strict").toBuilder().setCommonLbConfig(
                Cluster.CommonLbConfig.newBuilder().setHealthyPanicThreshold(Percent.newBuilder().setValue(0))).build());
        assertThatThrownBy(() -> picker.pick(noPanic, eps, Set.of()))
                .isInstanceOfSatisfying(UpstreamException.class, e -> {
                    assertThat(e.flag()).isEqualTo(ResponseFlag.UH);
                    assertThat(e.getMessage()).contains("no healthy upstream", "strict");
                });
    }

    @Test
    void noEndpointsIsUh() {
        assertThatThrownBy(() -> picker.pick(cluster(Cluster.LbPolicy.LEAST_REQUEST), List.of(), Set.of()))
                .isInstanceOfSatisfying(UpstreamException.class, e -> assertThat(e.flag()).isEqualTo(ResponseFlag.UH));
    }

    @Test
    void excludedHostsAreAvoidedUnlessNothingElseIsLeft() {
        List<UpstreamEndpoint> eps = List.of(ep(A, HealthStatus.HEALTHY), ep(B, HealthStatus.HEALTHY),
                ep(C, HealthStatus.HEALTHY));
        for (Cluster.LbPolicy p : List.of(Cluster.LbPolicy.ROUND_ROBIN, Cluster.LbPolicy.LEAST_REQUEST)) {
            assertThat(picks(cluster(p), eps, Set.of(A, B), 5)).containsOnly(C);
            assertThat(picks(cluster(p), eps, Set.of(A, B, C), 5)).isNotEmpty();
        }
    }

    @Test
    void leastRequestPrefersTheLessLoadedOfTwoChoices() {
        ClusterInfo c = cluster(Cluster.LbPolicy.LEAST_REQUEST);
        List<UpstreamEndpoint> eps = List.of(ep(A, HealthStatus.HEALTHY), ep(B, HealthStatus.HEALTHY),
                ep(C, HealthStatus.HEALTHY));
        for (int i = 0; i < 5; i++) {
            picker.started("c", A);
        }
        picker.started("c", B);
        // Two distinct candidates: A always meets a less loaded one.
        List<InetSocketAddress> got = picks(c, eps, Set.of(), 200);
        assertThat(got).doesNotContain(A).contains(B, C);
        assertThat(got.stream().filter(C::equals).count()).as("C wins every pair it is in").isGreaterThan(100);
        for (int i = 0; i < 5; i++) {
            picker.finished("c", A);
        }
        assertThat(picker.outstanding("c", A)).isZero();
        assertThat(picker.outstanding("c", B)).isEqualTo(1);
    }

    @Test
    void hboneMetadataAndHealthAreReadFromEds() {
        UpstreamEndpoint e = UpstreamEndpoint.of(TestConfig.endpoint(A, HealthStatus.DEGRADED, true));
        assertThat(e.address()).isEqualTo(A);
        assertThat(e.hbone()).isTrue();
        assertThat(e.healthy()).isFalse();
        assertThat(UpstreamEndpoint.of(TestConfig.endpoint(B)).hbone()).isFalse();
    }

    @Test
    void protocolOptionsChooseTheUpstreamProtocol() {
        assertThat(ClusterInfo.of(TestConfig.http1("a")).protocol()).isEqualTo(ClusterInfo.Protocol.HTTP1);
        assertThat(ClusterInfo.of(TestConfig.http2("a")).protocol()).isEqualTo(ClusterInfo.Protocol.HTTP2);
        assertThat(ClusterInfo.of(TestConfig.downstream("a")).protocol()).isEqualTo(ClusterInfo.Protocol.DOWNSTREAM);
        assertThat(ClusterInfo.of(TestConfig.originalDst("p")).originalDestination()).isTrue();
        assertThat(ClusterInfo.of(TestConfig.http1("a")).connectTimeout()).hasSeconds(2);
    }
}
