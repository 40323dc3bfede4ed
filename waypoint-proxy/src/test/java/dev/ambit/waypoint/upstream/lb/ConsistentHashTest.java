package dev.ambit.waypoint.upstream.lb;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.waypoint.upstream.UpstreamEndpoint;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link XxHash64} against published vectors; {@link RingHash} and {@link Maglev} shares, weights and stability. */
class ConsistentHashTest {

    static UpstreamEndpoint ep(int i, int weight) {
        return new UpstreamEndpoint(new InetSocketAddress("10.0.0." + i, 9080), false, HealthStatus.HEALTHY, weight);
    }

    static List<UpstreamEndpoint> hosts(int n) {
        List<UpstreamEndpoint> out = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            out.add(ep(i, 1));
        }
        return out;
    }

    @Test
    void xxHash64MatchesTheReferenceVectors() {
        assertThat(XxHash64.hash("")).isEqualTo(0xEF46DB3751D8E999L);
        assertThat(XxHash64.hash("a")).isEqualTo(0xD24EC4F1A98C6E5BL);
        assertThat(XxHash64.hash("abc")).isEqualTo(0x44BC2CF5AD770999L);
        assertThat(XxHash64.hash("Nobody inspects the spammish repetition")).isEqualTo(0xFBCEA83C8A378BF1L);
    }

    @Test
    void ringSharesFollowWeightsAndTheMinimumSize() {
        RingHash even = RingHash.build(hosts(3), 1024, 8 * 1024 * 1024);
        // Envoy: scale = ceil(1/3 * 1024) / (1/3) = 1026 points.
        assertThat(even.size()).isEqualTo(1026);
        RingHash weighted = RingHash.build(List.of(ep(1, 1), ep(2, 3)), 1024, 8 * 1024 * 1024);
        assertThat(weighted.size()).isEqualTo(1024);
        int[] hits = new int[2];
        for (int i = 0; i < 20_000; i++) {
            hits[weighted.pick(XxHash64.hash("key-" + i), k -> false)]++;
        }
        assertThat(hits[1] / 20_000.0).as("weight 3 of 4").isBetween(0.68, 0.82);
        assertThat(RingHash.build(hosts(2), 8, 16).size()).isEqualTo(8);
        assertThat(RingHash.build(hosts(20), 8, 16).size()).as("capped at the maximum (plus rounding)")
                .isLessThanOrEqualTo(16 + 20);
    }

    @Test
    void removingAHostMovesOnlyItsKeys() {
        List<UpstreamEndpoint> four = hosts(4);
        List<UpstreamEndpoint> three = four.subList(0, 3);
        RingHash r4 = RingHash.build(four, 1024, 1 << 23);
        RingHash r3 = RingHash.build(three, 1024, 1 << 23);
        Maglev m4 = Maglev.build(four, 65537);
        Maglev m3 = Maglev.build(three, 65537);
        int ringKept = 0;
        int maglevKept = 0;
        int stayed = 0;
        int maglevStayed = 0;
        for (int i = 0; i < 1000; i++) {
            long h = XxHash64.hash("user-" + i);
            UpstreamEndpoint before = four.get(r4.pick(h, k -> false));
            if (!before.equals(four.get(3))) {
                stayed++;
                ringKept += before.equals(three.get(r3.pick(h, k -> false))) ? 1 : 0;
            }
            UpstreamEndpoint mb = four.get(m4.pick(h, k -> false));
            if (!mb.equals(four.get(3))) {
                maglevStayed++;
                maglevKept += mb.equals(three.get(m3.pick(h, k -> false))) ? 1 : 0;
            }
        }
        // As Envoy's, the ring is rescaled for the new host count (256 → 342 points a host here),
        // so a few keys also move between remaining hosts; a plain mod-N hash would move ~3/4.
        assertThat(ringKept).as("ring hash: keys of the remaining hosts stay").isGreaterThan((int) (stayed * 0.8));
        assertThat(maglevKept).as("Maglev: nearly all keys of the remaining hosts stay")
                .isGreaterThan((int) (maglevStayed * 0.9));
    }

    @Test
    void maglevFillsTheTableEvenlyOrByWeight() {
        Maglev even = Maglev.build(hosts(3), 65537);
        for (int i = 0; i < 3; i++) {
            assertThat(even.slots(i)).isBetween(21845, 21846);
        }
        Maglev weighted = Maglev.build(List.of(ep(1, 1), ep(2, 2)), 65537);
        assertThat(weighted.slots(1) / 65537.0).isBetween(0.66, 0.67);
        assertThat(Maglev.build(hosts(3), 7).size()).isEqualTo(7);
    }

    @Test
    void anAvoidedHostIsPassedOver() {
        List<UpstreamEndpoint> h = hosts(3);
        for (ConsistentHash t : List.of(RingHash.build(h, 1024, 1 << 23), Maglev.build(h, 65537))) {
            for (int i = 0; i < 100; i++) {
                long key = XxHash64.hash("k" + i);
                int first = t.pick(key, k -> false);
                int second = t.pick(key, k -> k == first);
                assertThat(second).isNotEqualTo(first).isBetween(0, 2);
                assertThat(t.pick(key, k -> k == first)).as("deterministic").isEqualTo(second);
                assertThat(t.pick(key, k -> true)).isEqualTo(-1);
            }
        }
    }
}
