package dev.ambit.waypoint.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Duration;
import dev.ambit.common.json.JsonWriter;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.core.v3.RuntimeDouble;
import io.envoyproxy.envoy.type.v3.Percent;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** {@link EndpointPicker}'s issue-15 policies: hashing with health and exclusions, Envoy's slow-start formula. */
class EndpointPickerLbTest {

    static final InetSocketAddress A = EndpointPickerTest.A;
    static final InetSocketAddress B = EndpointPickerTest.B;
    static final InetSocketAddress C = EndpointPickerTest.C;

    final EndpointPicker picker = new EndpointPicker();

    static UpstreamEndpoint ep(InetSocketAddress a, HealthStatus h) {
        return new UpstreamEndpoint(a, false, h);
    }

    @Test
    void hashingIsStickyAvoidsExcludedHostsAndFollowsHealth() {
        for (Cluster.LbPolicy policy : List.of(Cluster.LbPolicy.RING_HASH, Cluster.LbPolicy.MAGLEV)) {
            ClusterInfo c = EndpointPickerTest.cluster(policy);
            List<UpstreamEndpoint> all = List.of(ep(A, HealthStatus.HEALTHY), ep(B, HealthStatus.HEALTHY),
                    ep(C, HealthStatus.HEALTHY));
            OptionalLong h = OptionalLong.of(0x1234_5678_9abc_def0L);
            InetSocketAddress first = picker.pick(c, all, Set.of(), h).endpoint().address();
            for (int i = 0; i < 50; i++) {
                assertThat(picker.pick(c, all, Set.of(), h).endpoint().address()).isEqualTo(first);
            }
            InetSocketAddress retry = picker.pick(c, all, Set.of(first), h).endpoint().address();
            assertThat(retry).isNotEqualTo(first);
            assertThat(picker.pick(c, all, Set.of(first), h).endpoint().address()).isEqualTo(retry);
            // The hashed host turns unhealthy: the table is rebuilt without it.
            List<UpstreamEndpoint> sick = all.stream().map(e -> e.address().equals(first)
                    ? ep(first, HealthStatus.UNHEALTHY) : e).toList();
            for (int i = 0; i < 20; i++) {
                assertThat(picker.pick(c, sick, Set.of(), OptionalLong.of(i * 7919L)).endpoint().address())
                        .isNotEqualTo(first);
            }
            JsonWriter json = new JsonWriter();
            picker.dump(json);
            assertThat(json.toString()).contains("\"hash_table\"").contains(policy == Cluster.LbPolicy.MAGLEV
                    ? "\"maglev\"" : "\"ring_hash\"");
        }
    }

    @Test
    void slowStartFollowsEnvoysFormula() {
        Cluster.SlowStartConfig.Builder ss = Cluster.SlowStartConfig.newBuilder()
                .setSlowStartWindow(Duration.newBuilder().setSeconds(100))
                .setAggression(RuntimeDouble.newBuilder().setDefaultValue(2.0).setRuntimeKey("x"));
        LbSettings lb = LbSettings.of(TestConfig.http1("c").toBuilder().setLbPolicy(Cluster.LbPolicy.LEAST_REQUEST)
                .setLeastRequestLbConfig(Cluster.LeastRequestLbConfig.newBuilder().setSlowStartConfig(ss)).build());
        assertThat(lb.slowStartWindow()).isEqualTo(java.time.Duration.ofSeconds(100));
        // (25 / 100) ^ (1 / 2) = 0.5; under 1 s counts as 1 s: (0.01) ^ 0.5 = 0.1 (the 10% floor too).
        assertThat(lb.slowStartFactor(TimeUnit.SECONDS.toNanos(25))).isCloseTo(0.5, org.assertj.core.data.Offset.offset(1e-9));
        assertThat(lb.slowStartFactor(TimeUnit.MILLISECONDS.toNanos(500))).isCloseTo(0.1, org.assertj.core.data.Offset.offset(1e-9));
        assertThat(lb.slowStartFactor(TimeUnit.SECONDS.toNanos(100))).isEqualTo(1.0);
        LbSettings floor = LbSettings.of(TestConfig.http1("c").toBuilder().setRoundRobinLbConfig(
                Cluster.RoundRobinLbConfig.newBuilder().setSlowStartConfig(ss.clone()
                        .setMinWeightPercent(Percent.newBuilder().setValue(30)))).build());
        assertThat(floor.slowStartFactor(TimeUnit.SECONDS.toNanos(4))).isCloseTo(0.3, org.assertj.core.data.Offset.offset(1e-9));
        // A config of another policy is ignored, as Envoy.
        assertThat(LbSettings.of(TestConfig.http1("c").toBuilder().setLbPolicy(Cluster.LbPolicy.RANDOM)
                .setRoundRobinLbConfig(Cluster.RoundRobinLbConfig.newBuilder().setSlowStartConfig(ss)).build())
                .slowStartWindow()).isZero();
    }
}
