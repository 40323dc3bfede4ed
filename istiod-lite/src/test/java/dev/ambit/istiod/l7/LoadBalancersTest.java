package dev.ambit.istiod.l7;

import static org.assertj.core.api.Assertions.assertThat;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettings;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsBuilder;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsConsistentHash;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsConsistentHashLB;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsConsistentHashLBHTTPCookie_;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsConsistentHashLBHttpCookie;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsConsistentHashLBHttpHeaderName;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsConsistentHashLBMagLev_;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsConsistentHashLBMaglev;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsConsistentHashLBRingHash;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsConsistentHashLBUseSourceIp;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsSimple;
import io.fabric8.istio.api.api.networking.v1alpha3.LoadBalancerSettingsSimpleLB;
import org.junit.jupiter.api.Test;

/** {@link LoadBalancers}: Istio's applyLoadBalancer and ConsistentHashToHashPolicy, case by case. */
class LoadBalancersTest {

    static Cluster apply(LoadBalancerSettings lb) {
        Cluster.Builder c = Cluster.newBuilder().setName("c");
        LoadBalancers.apply(c, lb);
        return c.build();
    }

    static LoadBalancerSettings simple(LoadBalancerSettingsSimpleLB s) {
        LoadBalancerSettings lb = new LoadBalancerSettings();
        lb.setLbPolicy(new LoadBalancerSettingsSimple(s));
        return lb;
    }

    static LoadBalancerSettings hash(LoadBalancerSettingsConsistentHashLB h) {
        LoadBalancerSettings lb = new LoadBalancerSettings();
        lb.setLbPolicy(new LoadBalancerSettingsConsistentHash(h));
        return lb;
    }

    @Test
    void simplePoliciesAndIstiosDefault() {
        assertThat(apply(null).getLbPolicy()).isEqualTo(Cluster.LbPolicy.LEAST_REQUEST);
        assertThat(apply(simple(LoadBalancerSettingsSimpleLB.UNSPECIFIED)).getLbPolicy())
                .isEqualTo(Cluster.LbPolicy.LEAST_REQUEST);
        assertThat(apply(simple(LoadBalancerSettingsSimpleLB.LEAST_CONN)).getLbPolicy())
                .isEqualTo(Cluster.LbPolicy.LEAST_REQUEST);
        assertThat(apply(simple(LoadBalancerSettingsSimpleLB.PASSTHROUGH)).getLbPolicy())
                .isEqualTo(Cluster.LbPolicy.LEAST_REQUEST);
        assertThat(apply(simple(LoadBalancerSettingsSimpleLB.RANDOM)).getLbPolicy()).isEqualTo(Cluster.LbPolicy.RANDOM);
        Cluster rr = apply(new LoadBalancerSettingsBuilder().withLbPolicy(
                new LoadBalancerSettingsSimple(LoadBalancerSettingsSimpleLB.ROUND_ROBIN)).withWarmupDurationSecs("90s")
                .build());
        assertThat(rr.getLbPolicy()).isEqualTo(Cluster.LbPolicy.ROUND_ROBIN);
        assertThat(rr.getRoundRobinLbConfig().getSlowStartConfig().getSlowStartWindow().getSeconds()).isEqualTo(90);
        assertThat(rr.getRoundRobinLbConfig().getSlowStartConfig().hasAggression()).isFalse();
        // warmupDurationSecs without simple: Istio's default branch, LEAST_REQUEST with slow start.
        Cluster lr = apply(new LoadBalancerSettingsBuilder().withWarmupDurationSecs("5s").build());
        assertThat(lr.getLbPolicy()).isEqualTo(Cluster.LbPolicy.LEAST_REQUEST);
        assertThat(lr.getLeastRequestLbConfig().getSlowStartConfig().getSlowStartWindow().getSeconds()).isEqualTo(5);
    }

    @Test
    void consistentHashAlgorithmsAndSizes() {
        LoadBalancerSettingsConsistentHashLB header = new LoadBalancerSettingsConsistentHashLB();
        header.setHashKey(new LoadBalancerSettingsConsistentHashLBHttpHeaderName("x-user"));
        Cluster ring = apply(hash(header));
        assertThat(ring.getLbPolicy()).isEqualTo(Cluster.LbPolicy.RING_HASH);
        assertThat(ring.getRingHashLbConfig().getMinimumRingSize().getValue()).isEqualTo(1024);
        header.setMinimumRingSize(64L);
        assertThat(apply(hash(header)).getRingHashLbConfig().getMinimumRingSize().getValue()).isEqualTo(64);

        LoadBalancerSettingsConsistentHashLB maglev = new LoadBalancerSettingsConsistentHashLB();
        maglev.setHashKey(new LoadBalancerSettingsConsistentHashLBUseSourceIp(true));
        maglev.setHashAlgorithm(new LoadBalancerSettingsConsistentHashLBMaglev(new LoadBalancerSettingsConsistentHashLBMagLev_(0L)));
        Cluster m = apply(hash(maglev));
        assertThat(m.getLbPolicy()).isEqualTo(Cluster.LbPolicy.MAGLEV);
        assertThat(m.hasMaglevLbConfig()).as("table size 0: Envoy's default").isFalse();
        maglev.setHashAlgorithm(new LoadBalancerSettingsConsistentHashLBMaglev(
                new LoadBalancerSettingsConsistentHashLBMagLev_(251L)));
        assertThat(apply(hash(maglev)).getMaglevLbConfig().getTableSize().getValue()).isEqualTo(251);

        LoadBalancerSettingsConsistentHashLB ringHash = new LoadBalancerSettingsConsistentHashLB();
        ringHash.setHashKey(new LoadBalancerSettingsConsistentHashLBHttpHeaderName("x-user"));
        LoadBalancerSettingsConsistentHashLBRingHash inner = new LoadBalancerSettingsConsistentHashLBRingHash();
        ringHash.setHashAlgorithm(new LoadBalancerSettingsConsistentHashLBRingHash(inner));
        Cluster noSize = apply(hash(ringHash));
        assertThat(noSize.getLbPolicy()).isEqualTo(Cluster.LbPolicy.RING_HASH);
        assertThat(noSize.hasRingHashLbConfig()).as("ringHash without a size: Envoy's default").isFalse();
        inner.setAdditionalProperty("minimumRingSize", 2048);
        assertThat(apply(hash(ringHash)).getRingHashLbConfig().getMinimumRingSize().getValue()).isEqualTo(2048);
    }

    @Test
    void hashKeysBecomeRouteHashPolicies() {
        LoadBalancerSettingsConsistentHashLB h = new LoadBalancerSettingsConsistentHashLB();
        h.setHashKey(new LoadBalancerSettingsConsistentHashLBHttpHeaderName("x-user"));
        assertThat(LoadBalancers.hashPolicy(hash(h))).isEqualTo(RouteAction.HashPolicy.newBuilder()
                .setHeader(RouteAction.HashPolicy.Header.newBuilder().setHeaderName("x-user")).build());
        LoadBalancerSettingsConsistentHashLBHTTPCookie_ cookie = new LoadBalancerSettingsConsistentHashLBHTTPCookie_();
        cookie.setName("s");
        cookie.setTtl("0s");
        h.setHashKey(new LoadBalancerSettingsConsistentHashLBHttpCookie(cookie));
        RouteAction.HashPolicy p = LoadBalancers.hashPolicy(hash(h));
        assertThat(p.getCookie().getName()).isEqualTo("s");
        assertThat(p.getCookie().hasTtl()).as("a zero ttl is kept: a session cookie").isTrue();
        h.setHashKey(new LoadBalancerSettingsConsistentHashLBUseSourceIp(true));
        assertThat(LoadBalancers.hashPolicy(hash(h)).getConnectionProperties().getSourceIp()).isTrue();
        assertThat(LoadBalancers.hashPolicy(simple(LoadBalancerSettingsSimpleLB.ROUND_ROBIN))).isNull();
        assertThat(LoadBalancers.hashPolicy(null)).isNull();
    }
}
