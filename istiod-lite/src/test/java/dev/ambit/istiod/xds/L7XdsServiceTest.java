package dev.ambit.istiod.xds;

import static dev.ambit.istiod.xds.TestL7.chain;
import static dev.ambit.istiod.xds.TestL7.waypointNode;
import static dev.ambit.istiod.xds.XdsTestClient.TIMEOUT;
import static dev.ambit.istiod.xds.XdsTestClient.names;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.ambit.api.TypeUrls;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.l7.L7Resources;
import dev.ambit.istiod.xds.XdsDebugView.AckState;
import dev.ambit.istiod.xds.XdsDebugView.ClientView;
import dev.ambit.istiod.xds.XdsDebugView.SubscriptionView;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Envoy's four types served per waypoint on the delta stream, next to the shared Address type. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class L7XdsServiceTest {

    private static final String LDS = TypeUrls.LISTENER;
    private static final String RDS = TypeUrls.ROUTE_CONFIGURATION;
    private static final String CDS = TypeUrls.CLUSTER;
    private static final String EDS = TypeUrls.CLUSTER_LOAD_ASSIGNMENT;
    private static final Duration QUIET = Duration.ofMillis(500);

    private static final String A = "shop/wp-a";
    private static final String B = "bank/wp-b";
    private static final String CART = "cart.shop.svc.cluster.local";
    private static final String LEDGER = "ledger.bank.svc.cluster.local";
    private static final String CART_CLUSTER = "outbound|80||" + CART;
    private static final String LEDGER_CLUSTER = "outbound|80||" + LEDGER;

    private MetricsRegistry metrics;
    private XdsService service;
    private XdsServer server;
    private ManagedChannel channel;
    private final List<XdsTestClient> clients = new ArrayList<>();

    @BeforeEach
    void start() throws IOException {
        metrics = MetricsRegistry.create();
        service = XdsService.builder(metrics).debounce(Duration.ofMillis(20), Duration.ofMillis(200)).build();
        server = XdsServer.builder(service)
                .address(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .shutdownTimeout(Duration.ofSeconds(2))
                .build()
                .start();
        channel = NettyChannelBuilder.forAddress(server.localAddress()).usePlaintext().build();
    }

    @AfterEach
    void stop() throws InterruptedException {
        clients.forEach(XdsTestClient::close);
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.close();
    }

    private static TestL7 twoWaypoints() {
        return new TestL7()
                .waypoint(A, CART, CART_CLUSTER, "10.0.1.1")
                .waypoint(B, LEDGER, LEDGER_CLUSTER, "10.0.2.1");
    }

    @Test
    void eachWaypointGetsOnlyItsOwnResources() {
        TestMesh mesh = TestMesh.standard();
        publish(mesh, twoWaypoints().build());

        XdsTestClient a = waypoint("shop", "wp-a");
        XdsTestClient b = waypoint("bank", "wp-b");
        for (XdsTestClient c : List.of(a, b)) {
            for (String type : List.of(TypeUrls.ADDRESS, CDS, EDS, LDS, RDS)) {
                c.subscribeAll(type);
            }
        }
        Map<String, DeltaDiscoveryResponse> ofA = a.nextByType(5);
        Map<String, DeltaDiscoveryResponse> ofB = b.nextByType(5);

        assertThat(names(ofA.get(CDS))).containsExactly(CART_CLUSTER);
        assertThat(names(ofA.get(EDS))).containsExactly(CART_CLUSTER);
        assertThat(names(ofA.get(LDS))).containsExactly("waypoint");
        assertThat(names(ofA.get(RDS))).containsExactly(chain(CART));
        assertThat(names(ofB.get(CDS))).containsExactly(LEDGER_CLUSTER);
        assertThat(names(ofB.get(RDS))).containsExactly(chain(LEDGER));
        // The shared type is the same for both.
        assertThat(XdsTestClient.versions(ofA.get(TypeUrls.ADDRESS)))
                .isEqualTo(XdsTestClient.versions(ofB.get(TypeUrls.ADDRESS)))
                .isEqualTo(mesh.snapshot().versions(TypeUrls.ADDRESS));
        assertThat(ofA.get(RDS).getSystemVersionInfo()).isEqualTo(service.waypointSnapshot(A).orElseThrow()
                .version(RDS));

        ClientView view = service.debugView().clients().stream()
                .filter(c -> c.proxy().equals(A)).findFirst().orElseThrow();
        assertThat(view.protocol()).isEqualTo(XdsDebugView.Protocol.DELTA);
        assertThat(service.debugView().waypoints()).containsOnlyKeys(A, B);
        assertThat(service.debugView().toJson()).contains("\"proxy\":\"" + A + "\"", "\"waypoints\":{\"" + B);
    }

    @Test
    void aClientThatIsNoWaypointGetsEmptyEnvoyTypes() {
        publish(TestMesh.standard(), twoWaypoints().build());
        XdsTestClient agent = client(XdsTestClient.connect(channel, "ztunnel~10.0.0.1~node-1"));
        // A waypoint of a Gateway the model does not know gets nothing either.
        XdsTestClient unknown = waypoint("shop", "no-such-waypoint");
        for (XdsTestClient c : List.of(agent, unknown)) {
            c.subscribeAll(LDS);
            c.subscribeAll(CDS);
            for (DeltaDiscoveryResponse r : c.nextByType(2).values()) {
                assertThat(r.getResourcesList()).isEmpty();
                assertThat(r.getRemovedResourcesList()).isEmpty();
            }
        }
    }

    @Test
    void aChangeToOneWaypointsRoutesIsPushedOnlyToIt() throws InvalidProtocolBufferException {
        TestMesh mesh = TestMesh.standard();
        TestL7 l7 = twoWaypoints();
        publish(mesh, l7.build());
        XdsTestClient a = waypoint("shop", "wp-a");
        XdsTestClient b = waypoint("bank", "wp-b");
        for (XdsTestClient c : List.of(a, b)) {
            c.subscribeAll(TypeUrls.ADDRESS);
            c.subscribeAll(RDS);
            c.subscribeAll(CDS);
            c.nextByType(3).values().forEach(c::ack);
        }

        String canary = "outbound|80|v2|" + CART;
        publish(mesh, l7.reroute(A, CART, canary).build());

        DeltaDiscoveryResponse pushed = a.next();
        assertThat(pushed.getTypeUrl()).isEqualTo(RDS);
        assertThat(names(pushed)).containsExactly(chain(CART));
        assertThat(pushed.getRemovedResourcesList()).isEmpty();
        RouteConfiguration route = pushed.getResources(0).getResource().unpack(RouteConfiguration.class);
        assertThat(route.getVirtualHosts(0).getRoutes(0).getRoute().getCluster()).isEqualTo(canary);
        // Nothing else changed for A, nothing at all for B.
        a.expectNothing(QUIET);
        b.expectNothing(Duration.ZERO);
    }

    @Test
    void removedWaypointResourcesAreSentAsRemoved() {
        TestMesh mesh = TestMesh.standard();
        publish(mesh, twoWaypoints().build());
        XdsTestClient a = waypoint("shop", "wp-a");
        a.subscribeAll(CDS);
        a.ack(a.next());

        // The waypoint's Gateway is deleted: its resources go.
        publish(mesh, new TestL7().waypoint(B, LEDGER, LEDGER_CLUSTER, "10.0.2.1").build());
        DeltaDiscoveryResponse r = a.next();
        assertThat(r.getResourcesList()).isEmpty();
        assertThat(r.getRemovedResourcesList()).containsExactly(CART_CLUSTER);
    }

    @Test
    void namedSubscriptionsGetOnlyTheNamedResources() {
        TestMesh mesh = TestMesh.standard();
        publish(mesh, new TestL7()
                .waypoint(A, CART, CART_CLUSTER, "10.0.1.1")
                .waypoint(A, "pay.shop.svc.cluster.local", "outbound|80||pay.shop.svc.cluster.local", "10.0.1.2")
                .build());
        XdsTestClient a = waypoint("shop", "wp-a");
        // As Envoy subscribes RDS: by the names its listeners' HCMs reference.
        a.subscribe(RDS, chain(CART), chain("missing.shop.svc.cluster.local"));
        DeltaDiscoveryResponse r = a.next();
        assertThat(names(r)).containsExactly(chain(CART));
        assertThat(r.getRemovedResourcesList()).containsExactly(chain("missing.shop.svc.cluster.local"));
        a.ack(r);

        a.subscribe(EDS, CART_CLUSTER);
        DeltaDiscoveryResponse eds = a.next();
        assertThat(eds.getTypeUrl()).isEqualTo(EDS);
        assertThat(names(eds)).containsExactly(CART_CLUSTER);

        SubscriptionView rds = subscription(A, RDS);
        assertThat(rds.wildcard()).isFalse();
        assertThat(rds.names()).containsExactly(chain(CART), chain("missing.shop.svc.cluster.local"));
    }

    @Test
    void nackOfAnEnvoyTypeIsCountedAndTheLastStateKept() {
        TestMesh mesh = TestMesh.standard();
        TestL7 l7 = twoWaypoints();
        publish(mesh, l7.build());
        XdsTestClient a = waypoint("shop", "wp-a");
        a.subscribeAll(RDS);
        a.ack(a.next());

        publish(mesh, l7.reroute(A, CART, "outbound|80|bad|" + CART).build());
        DeltaDiscoveryResponse bad = a.next();
        a.nack(bad, "route " + chain(CART) + ": cluster outbound|80|bad|" + CART + " unknown");
        await("the NACK is recorded", () -> subscription(A, RDS).ackState() == AckState.NACKED);
        assertThat(metrics.value(XdsMetrics.NACKS, "envoy.config.route.v3.RouteConfiguration")).isEqualTo(1.0);
        assertThat(subscription(A, RDS).lastNackMessage()).contains("unknown");
        // The rejected version is not sent again.
        a.expectNothing(QUIET);

        // The fix is what the waypoint gets next.
        publish(mesh, l7.reroute(A, CART, CART_CLUSTER).build());
        DeltaDiscoveryResponse fixed = a.next();
        assertThat(names(fixed)).containsExactly(chain(CART));
        a.ack(fixed);
        await("the fix is ACKed", () -> subscription(A, RDS).ackState() == AckState.ACKED);
    }

    @Test
    void sameL7ObjectAgainCostsNoPush() {
        TestMesh mesh = TestMesh.standard();
        L7Resources l7 = twoWaypoints().build();
        publish(mesh, l7);
        XdsTestClient a = waypoint("shop", "wp-a");
        a.subscribeAll(RDS);
        a.subscribeAll(TypeUrls.ADDRESS);
        a.nextByType(2).values().forEach(a::ack);

        // A workload change with the same L7 object: only the Address type moves.
        mesh.pod("d", "v1");
        publish(mesh, l7);
        DeltaDiscoveryResponse r = a.next();
        assertThat(r.getTypeUrl()).isEqualTo(TypeUrls.ADDRESS);
        a.expectNothing(QUIET);
    }

    // ---- helpers ----

    private XdsTestClient waypoint(String namespace, String name) {
        return client(XdsTestClient.connect(channel, waypointNode(namespace, name)));
    }

    private XdsTestClient client(XdsTestClient c) {
        clients.add(c);
        return c;
    }

    private void publish(TestMesh mesh, L7Resources l7) {
        XdsSnapshot expected = mesh.snapshot();
        service.update(mesh.build(), l7);
        await("the model is published", () -> service.snapshot().map(s -> s.sameContent(expected)).orElse(false)
                && service.l7Resources() == l7);
    }

    private SubscriptionView subscription(String proxy, String typeUrl) {
        for (ClientView c : service.debugView().clients()) {
            if (c.proxy().equals(proxy)) {
                for (SubscriptionView s : c.subscriptions()) {
                    if (s.typeUrl().equals(typeUrl)) {
                        return s;
                    }
                }
            }
        }
        throw new AssertionError("no " + typeUrl + " subscription of " + proxy + " in " + service.debugView().toJson());
    }

    static void await(String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        AssertionError last = null;
        while (true) {
            try {
                if (condition.getAsBoolean()) {
                    return;
                }
            } catch (AssertionError e) {
                last = e;
            }
            if (System.nanoTime() - deadline > 0) {
                AssertionError timeout = new AssertionError("timed out after " + TIMEOUT + " waiting until " + what);
                if (last != null) {
                    timeout.addSuppressed(last);
                }
                throw timeout;
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }
}
