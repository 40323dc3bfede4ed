package dev.ambit.waypoint.config;

import static dev.ambit.waypoint.config.Resources.CLUSTER;
import static dev.ambit.waypoint.config.Resources.DB_CLUSTER;
import static dev.ambit.waypoint.config.Resources.HTTP_CHAIN;
import static dev.ambit.waypoint.config.Resources.TCP_CHAIN;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Message;
import dev.ambit.api.TypeUrls;
import dev.ambit.proxy.xds.ResourceHandler;
import dev.ambit.proxy.xds.ResourceHandler.Rejection;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.listener.v3.FilterChainMatch;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import java.net.InetAddress;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class WaypointConfigStoreTest {

    private final WaypointConfigStore store = WaypointConfigStore.builder()
            .clock(Clock.fixed(Instant.parse("2026-12-06T21:00:00Z"), ZoneOffset.UTC)).build();

    @Test
    void hasOneHandlerPerEnvoyType() {
        assertThat(store.handlers()).extracting(ResourceHandler::typeUrl).containsExactly(TypeUrls.LISTENER,
                TypeUrls.ROUTE_CONFIGURATION, TypeUrls.CLUSTER, TypeUrls.CLUSTER_LOAD_ASSIGNMENT);
        assertThat(store.current().version()).isZero();
        assertThat(store.current().filterChain(ip("10.96.0.10"), 9080)).isEmpty();
    }

    @Test
    void anAcceptedUpdateReplacesTheConfigWholeAndTellsTheListeners() {
        AtomicInteger changes = new AtomicInteger();
        store.onChange(changes::incrementAndGet);
        WaypointConfig before = store.current();

        assertThat(apply(TypeUrls.LISTENER, Map.of("waypoint", Resources.listener()))).isEmpty();
        assertThat(apply(TypeUrls.ROUTE_CONFIGURATION, Map.of(HTTP_CHAIN, Resources.route()))).isEmpty();
        assertThat(apply(TypeUrls.CLUSTER, Map.of(CLUSTER, Resources.edsCluster(CLUSTER, false),
                DB_CLUSTER, Resources.tcpCluster(DB_CLUSTER)))).isEmpty();
        assertThat(apply(TypeUrls.CLUSTER_LOAD_ASSIGNMENT, Map.of(CLUSTER,
                Resources.assignment(CLUSTER, "10.244.1.5", "10.244.2.6")))).isEmpty();

        WaypointConfig c = store.current();
        assertThat(changes).hasValue(4);
        assertThat(c.version()).isEqualTo(4);
        assertThat(before.version()).as("the old snapshot is untouched").isZero();
        assertThat(before.route(HTTP_CHAIN)).isEmpty();
        assertThat(c.route(HTTP_CHAIN)).contains(Resources.route());
        assertThat(c.cluster(DB_CLUSTER)).contains(Resources.tcpCluster(DB_CLUSTER));
        assertThat(c.endpoints(CLUSTER)).hasSize(2);
        assertThat(c.endpoints(CLUSTER).get(0).getEndpoint().getAddress().getSocketAddress().getAddress())
                .isEqualTo("10.244.1.5");
        assertThat(c.endpoints("outbound|1||unknown")).isEmpty();
        assertThat(c.cluster("unknown")).isEmpty();

        FilterChain http = c.filterChain(ip("10.96.0.10"), 9080).orElseThrow();
        assertThat(http).usingRecursiveComparison().ignoringFields("hcm").isEqualTo(new FilterChain(HTTP_CHAIN,
                FilterChain.Kind.HTTP, HTTP_CHAIN, FilterChain.Codec.AUTO, "", HTTP_CHAIN));
        assertThat(http.hcm().getRds().getRouteConfigName()).as("the HttpConnectionManager as sent").isEqualTo(HTTP_CHAIN);
        assertThat(c.filterChain(ip("fd00::10"), 9080)).contains(http);
        assertThat(c.filterChain(ip("10.96.0.20"), 5432).orElseThrow()).isEqualTo(new FilterChain(TCP_CHAIN,
                FilterChain.Kind.TCP, "", FilterChain.Codec.AUTO, DB_CLUSTER, TCP_CHAIN));
        // Workload-addressed traffic, or a VIP on a port no chain serves: the default chain.
        assertThat(c.filterChain(ip("10.244.1.5"), 9080).orElseThrow().cluster()).isEqualTo("inbound-passthrough");
        assertThat(c.filterChain(ip("10.96.0.10"), 5432).orElseThrow().cluster()).isEqualTo("inbound-passthrough");
    }

    @Test
    void filterChainsAreChosenByPortThenLongestPrefixAsEnvoyDoes() {
        Listener l = Listener.newBuilder().setName("waypoint").setAddress(Resources.address("0.0.0.0", 15008))
                .addFilterChains(Resources.tcpChain("wide", Resources.match("10.96.0.0", 16, 80), "wide"))
                .addFilterChains(Resources.tcpChain("narrow", Resources.match("10.96.0.10", 32, 80), "narrow"))
                .addFilterChains(Resources.tcpChain("any-ip", FilterChainMatch.newBuilder()
                        .setDestinationPort(com.google.protobuf.UInt32Value.of(80)).build(), "any-ip"))
                .addFilterChains(Resources.tcpChain("any-port", Resources.match("10.96.0.10", 32, 80).toBuilder()
                        .clearDestinationPort().build(), "any-port"))
                .build();
        assertThat(apply(TypeUrls.LISTENER, Map.of("waypoint", l))).isEmpty();
        WaypointConfig c = store.current();
        assertThat(c.filterChain(ip("10.96.0.10"), 80).orElseThrow().name()).isEqualTo("narrow");
        assertThat(c.filterChain(ip("10.96.3.3"), 80).orElseThrow().name()).isEqualTo("wide");
        assertThat(c.filterChain(ip("192.168.0.1"), 80).orElseThrow().name()).isEqualTo("any-ip");
        // Port 81 has no chain of its own: the port-less chains decide.
        assertThat(c.filterChain(ip("10.96.0.10"), 81).orElseThrow().name()).isEqualTo("any-port");
        // No chain and no default: none (the engine refuses the tunnel).
        assertThat(c.filterChain(ip("10.96.0.11"), 81)).isEmpty();
    }

    @Test
    void aRejectedUpdateKeepsTheLastGoodConfigAndIsShownUntilFixed() {
        apply(TypeUrls.ROUTE_CONFIGURATION, Map.of(HTTP_CHAIN, Resources.route()));
        AtomicInteger changes = new AtomicInteger();
        store.onChange(changes::incrementAndGet);
        RouteConfiguration.Builder bad = Resources.route().toBuilder();
        bad.getVirtualHostsBuilder(0).getRoutesBuilder(1).getRouteBuilder()
                .setAutoHostRewrite(com.google.protobuf.BoolValue.of(true));

        List<Rejection> rejected = apply(TypeUrls.ROUTE_CONFIGURATION,
                Map.of(HTTP_CHAIN, bad.build(), "other", Resources.route().toBuilder().setName("other").build()));

        assertThat(rejected).singleElement().satisfies(r -> {
            assertThat(r.name()).isEqualTo(HTTP_CHAIN);
            assertThat(r.reason()).isEqualTo("RouteConfiguration " + HTTP_CHAIN + ": virtual_hosts[0].routes[1].route"
                    + ".auto_host_rewrite: not supported by this waypoint");
        });
        assertThat(store.current().version()).isEqualTo(1);
        assertThat(store.current().route(HTTP_CHAIN)).contains(Resources.route());
        assertThat(store.current().route("other")).as("all or nothing").isEmpty();
        assertThat(changes).hasValue(0);
        assertThat(store.failures(TypeUrls.ROUTE_CONFIGURATION)).containsOnlyKeys(HTTP_CHAIN);
        assertThat(store.failures(TypeUrls.ROUTE_CONFIGURATION).get(HTTP_CHAIN).details()).isEqualTo(rejected.get(0).reason());

        assertThat(apply(TypeUrls.ROUTE_CONFIGURATION, Map.of(HTTP_CHAIN, Resources.route()))).isEmpty();
        assertThat(store.failures(TypeUrls.ROUTE_CONFIGURATION)).isEmpty();
        assertThat(changes).hasValue(1);
    }

    @Test
    void theListenerMustBeOnTheHbonePortAndAlone() {
        Listener elsewhere = Resources.listener().toBuilder().setAddress(Resources.address("0.0.0.0", 15006)).build();
        assertThat(apply(TypeUrls.LISTENER, Map.of("waypoint", elsewhere))).extracting(Rejection::reason)
                .containsExactly("Listener waypoint: address.port_value: 15006 not served by this waypoint (expected: "
                        + "15008, its HBONE port)");
        assertThat(apply(TypeUrls.LISTENER, Map.of("waypoint", Resources.listener()))).isEmpty();
        Listener second = Resources.listener().toBuilder().setName("second").build();
        assertThat(apply(TypeUrls.LISTENER, Map.of("second", second))).extracting(Rejection::reason)
                .containsExactly("Listener second: address: port 15008 already served by listener waypoint "
                        + "(expected: one listener)");
        // A replacement under another name in one response: the old one is removed first.
        assertThat(apply(TypeUrls.LISTENER, Map.of("second", second), List.of("waypoint"))).isEmpty();
        assertThat(store.snapshot().listeners()).containsOnlyKeys("second");

        Listener twice = Resources.listener().toBuilder()
                .addFilterChains(Resources.tcpChain("again", Resources.match("10.96.0.20", 32, 5432), DB_CLUSTER))
                .build();
        assertThat(apply(TypeUrls.LISTENER, Map.of("waypoint", twice), List.of("second")))
                .extracting(Rejection::reason).singleElement().asString()
                .startsWith("Listener waypoint: filter_chains[2].filter_chain_match: 10.96.0.20/32 port 5432 also matched");
        assertThat(store.snapshot().listeners()).containsOnlyKeys("second");
    }

    @Test
    void removalsApplyAndUnknownNamesAreNoError() {
        apply(TypeUrls.CLUSTER, Map.of(CLUSTER, Resources.edsCluster(CLUSTER, true)));
        assertThat(apply(TypeUrls.CLUSTER, Map.of(), List.of(CLUSTER, "never-held"))).isEmpty();
        assertThat(store.current().cluster(CLUSTER)).isEmpty();
        assertThat(store.current().version()).isEqualTo(2);
    }

    @Test
    void aBadResourceOfOneTypeLeavesTheOthers() {
        apply(TypeUrls.CLUSTER, Map.of(CLUSTER, Resources.edsCluster(CLUSTER, false)));
        Cluster bad = Resources.tcpCluster("x").toBuilder()
                .setLbPolicy(Cluster.LbPolicy.LOAD_BALANCING_POLICY_CONFIG).build(); // lb: MAGLEV is honoured now
        assertThat(apply(TypeUrls.CLUSTER, Map.of("x", bad))).hasSize(1);
        assertThat(apply(TypeUrls.LISTENER, Map.of("waypoint", Resources.listener()))).isEmpty();
        assertThat(store.current().cluster(CLUSTER)).isPresent();
        assertThat(store.current().filterChain(ip("10.96.0.10"), 9080)).isPresent();
    }

    // ---------------------------------------------------------------- helpers

    private List<Rejection> apply(String type, Map<String, ? extends Message> updates) {
        return apply(type, updates, List.of());
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private List<Rejection> apply(String type, Map<String, ? extends Message> updates, List<String> removes) {
        ResourceHandler h = store.handlers().stream().filter(x -> x.typeUrl().equals(type)).findFirst().orElseThrow();
        return h.apply(updates, removes);
    }

    private static InetAddress ip(String s) {
        return Cidrs.literal(s);
    }
}
