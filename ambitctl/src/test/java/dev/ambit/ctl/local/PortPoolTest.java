package dev.ambit.ctl.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class PortPoolTest {

    @Test
    void nodePortsAreTheLowestFreeOfKubernetesRangeAndKeptPerOwner() {
        PortPool pool = PortPool.nodePorts();
        assertThat(pool.allocate("demo/a/80/TCP")).isEqualTo(30000);
        assertThat(pool.allocate("demo/b/80/TCP")).isEqualTo(30001);
        assertThat(pool.allocate("demo/a/80/TCP")).as("an owner keeps its port").isEqualTo(30000);
        assertThat(pool.release("demo/a/80/TCP")).isTrue();
        assertThat(pool.release("demo/a/80/TCP")).isFalse();
        assertThat(pool.allocate("demo/c/80/TCP")).as("freed ports are reused").isEqualTo(30000);
        assertThat(pool.contains(29999)).isFalse();
        assertThat(pool.contains(32767)).isTrue();
    }

    @Test
    void anExplicitPortIsReservedAndAConflictNamesItsOwner() {
        PortPool pool = PortPool.nodePorts();
        pool.reserve(31000, "demo/a/80/TCP");
        assertThat(pool.portOf("demo/a/80/TCP")).hasValue(31000);
        pool.reserve(31001, "demo/a/80/TCP");
        assertThat(pool.portOf("demo/a/80/TCP")).as("moved, the old one freed").hasValue(31001);
        assertThat(pool.used()).isEqualTo(1);
        assertThatThrownBy(() -> pool.reserve(31001, "demo/b/80/TCP")).isInstanceOf(LocalException.class)
                .hasMessageContaining("31001 is already allocated to demo/a/80/TCP");
        assertThatThrownBy(() -> pool.reserve(8080, "demo/b/80/TCP")).isInstanceOf(LocalException.class)
                .hasMessageContaining("8080 is outside node ports").hasMessageContaining("30000-32767");
    }

    @Test
    void releaseIfFreesEveryPortOfAService() {
        PortPool pool = PortPool.nodePorts();
        pool.allocate("demo/a/80/TCP");
        pool.allocate("demo/a/443/TCP");
        pool.allocate("demo/ab/80/TCP");
        assertThat(pool.releaseIf(o -> o.startsWith("demo/a/"))).isEqualTo(2);
        assertThat(pool.portOf("demo/ab/80/TCP")).hasValue(30002);
        assertThat(pool.used()).isEqualTo(1);
    }

    @Test
    void aFullPoolSaysSo() {
        PortPool pool = PortPool.of("tiny", 40000, 40001);
        pool.allocate("a");
        pool.allocate("b");
        assertThatThrownBy(() -> pool.allocate("c")).isInstanceOf(LocalException.class)
                .hasMessage("tiny: all 2 ports are in use (delete some Services)");
        assertThatThrownBy(() -> PortPool.of("bad", 5, 4)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void loadBalancerAddressesAreOnTheNodeNetwork() {
        IpPool pool = IpPool.loadBalancerAddresses();
        assertThat(pool.size()).isEqualTo(51);
        assertThat(pool.allocate("demo/a")).isEqualTo("10.250.0.200");
        assertThat(pool.contains("10.250.0.250")).isTrue();
        assertThat(pool.contains("10.250.0.251")).isFalse();
        assertThat(pool.contains("10.250.0.12")).isFalse();
        assertThat(pool.contains("nonsense")).isFalse();
    }
}
