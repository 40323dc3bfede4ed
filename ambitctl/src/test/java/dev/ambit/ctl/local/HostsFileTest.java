package dev.ambit.ctl.local;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class HostsFileTest {

    private static final List<HostsFile.ServiceName> SERVICES = List.of(
            new HostsFile.ServiceName("shop", "cart", "10.96.0.12"),
            new HostsFile.ServiceName("demo", "backend", "10.96.0.10"));

    @Test
    void listsEveryServiceUnderItsKubernetesNamesShortOnlyInTheOwnNamespace() {
        String hosts = HostsFile.hosts("demo", "client", "10.244.1.3", SERVICES);
        assertThat(hosts.lines()).contains(
                "127.0.0.1\tlocalhost",
                "10.244.1.3\tclient",
                "10.96.0.10\tbackend.demo.svc.cluster.local backend.demo.svc backend.demo backend",
                "10.96.0.12\tcart.shop.svc.cluster.local cart.shop.svc cart.shop");
        // Sorted by namespace then name: the same services give the same bytes.
        assertThat(hosts.indexOf("backend.demo")).isLessThan(hosts.indexOf("cart.shop"));
        assertThat(HostsFile.hosts("demo", "client", "10.244.1.3", SERVICES.reversed())).isEqualTo(hosts);
    }

    @Test
    void nodesGetNoShortNames() {
        String hosts = HostsFile.hosts(null, "node1", "10.250.0.11", SERVICES);
        assertThat(hosts).contains("10.250.0.11\tnode1\n")
                .contains("10.96.0.10\tbackend.demo.svc.cluster.local backend.demo.svc backend.demo\n");
    }

    @Test
    void resolvConfSearchesThePodsNamespaceFirst() {
        assertThat(HostsFile.resolvConf("demo"))
                .contains("search demo.svc.cluster.local svc.cluster.local cluster.local\n")
                .contains("nameserver 127.0.0.1\n");
    }
}
