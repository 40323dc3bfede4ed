package dev.ambit.ctl.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class IpPoolTest {

    @Test
    void podAddressesStartAfterTheGatewayAndReuseTheLowestFree() {
        IpPool pool = IpPool.podAddresses(2);
        assertThat(pool.allocate("demo/a")).isEqualTo("10.244.2.2");
        assertThat(pool.allocate("demo/b")).isEqualTo("10.244.2.3");
        assertThat(pool.allocate("demo/a")).as("same owner, same address").isEqualTo("10.244.2.2");
        assertThat(pool.release("demo/a")).isTrue();
        assertThat(pool.allocate("demo/c")).isEqualTo("10.244.2.2");
        assertThat(pool.size()).isEqualTo(253);
    }

    @Test
    void serviceAddressesHonourAnExplicitClusterIp() {
        IpPool pool = IpPool.serviceAddresses();
        pool.reserve("10.96.0.10", "demo/fixed");
        assertThat(pool.allocate("demo/other")).isEqualTo("10.96.0.11");
        assertThatThrownBy(() -> pool.reserve("10.96.0.10", "demo/third"))
                .isInstanceOf(LocalException.class)
                .hasMessageContaining("10.96.0.10 is already allocated to demo/fixed");
        pool.reserve("10.96.7.7", "demo/other"); // moves: the old one is free again
        assertThat(pool.addressOf("demo/other")).contains("10.96.7.7");
        assertThat(pool.allocate("demo/fourth")).isEqualTo("10.96.0.11");
    }

    @Test
    void failsWhenFullNamingThePool() {
        IpPool pool = IpPool.of("tiny", "10.0.0.1", "10.0.0.2");
        pool.allocate("a");
        pool.allocate("b");
        assertThatThrownBy(() -> pool.allocate("c")).hasMessageContaining("tiny: all 2 addresses are in use");
    }

    @Test
    void parsesOnlyDottedIpv4() {
        assertThat(IpPool.format(IpPool.parse("10.96.255.254"))).isEqualTo("10.96.255.254");
        assertThat(IpPool.parse("10.96.0")).isEqualTo(-1);
        assertThat(IpPool.parse("10.96.0.256")).isEqualTo(-1);
        assertThat(IpPool.parse("a.b.c.d")).isEqualTo(-1);
        assertThatThrownBy(() -> IpPool.of("x", "10.0.0.9", "10.0.0.1")).hasMessageContaining("low to high");
    }
}
