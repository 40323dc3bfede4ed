package dev.ambit.agent.proxy;

import static dev.ambit.testing.Eventually.eventually;
import static dev.ambit.testing.MeshFixture.ports;
import static dev.ambit.testing.MeshFixture.put;
import static dev.ambit.testing.MeshFixture.service;
import static dev.ambit.testing.MeshFixture.uid;
import static dev.ambit.testing.MeshFixture.workload;
import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import dev.ambit.api.security.Action;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Clause;
import dev.ambit.api.security.Match;
import dev.ambit.api.security.Rule;
import dev.ambit.api.security.Scope;
import dev.ambit.api.security.StringMatch;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.GatewayAddress;
import dev.ambit.api.workload.NamespacedHostname;
import dev.ambit.api.workload.NetworkAddress;
import dev.ambit.api.workload.TunnelProtocol;
import dev.ambit.api.workload.WorkloadStatus;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.identity.TestCa;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.testing.MetricSamples;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The node agent's side of waypoints ({@link WaypointRoute}), with {@link TwoAgents}: agent A's
 * outbound sends the frontend's connections to a waypoint ({@link FakeWaypoint}: an in-JVM HBONE
 * server with the waypoint's certificate, at 127.0.0.4, that records each tunnel and relays it)
 * when the backend Service (or, for pod-addressed traffic, the backend workload) has one, fails
 * closed when the waypoint cannot be used, and goes direct to agent B again once the waypoint is
 * removed. The last case runs the waypoint's own hop to B as a real outbound with the waypoint's
 * identity, to show B's authorizer deciding on the waypoint as the peer.
 */
class WaypointTest {

    static final SpiffeId FRONTEND = TestCa.FRONTEND;
    static final SpiffeId WAYPOINT = SpiffeId.of(TestCa.TRUST_DOMAIN, "shop", "waypoint");
    static final String WAYPOINT_SERVICE = "shop/waypoint.shop.svc.cluster.local";
    static final String WAYPOINT_VIP = "10.96.0.30";
    static final InetAddress FRONTEND_IP = TwoAgents.ip("127.0.0.2");
    static final InetAddress BACKEND_IP = TwoAgents.ip("127.0.0.3");
    static final InetAddress WAYPOINT_IP = TwoAgents.ip("127.0.0.4");
    /** A second waypoint replica's address, where nothing listens. */
    static final InetAddress DEAD_WAYPOINT_IP = TwoAgents.ip("127.0.0.5");
    static final InetSocketAddress BACKEND_VIP = TwoAgents.BACKEND_VIP;
    static final String BACKEND_HOST = "backend.shop.svc.cluster.local";
    static final String BYE = TwoAgents.BYE;

    @RegisterExtension
    final TwoAgents agents = TwoAgents.builder().otherIdentities(WAYPOINT).build();

    private TlsContexts tls;
    private FakeWaypoint waypoint;
    /** Where the waypoint relays its tunnels: the app by default (its TCP route, in short). */
    private volatile InetSocketAddress relayTo;

    @BeforeEach
    void startWaypoint() throws Exception {
        relayTo = agents.appAddress();
        tls = TlsContexts.builder(agents.ca().bundle()).build();
        waypoint = startWaypoint(0);
    }

    @AfterEach
    void stopWaypoint() {
        if (waypoint != null) {
            waypoint.close();
        }
    }

    private FakeWaypoint startWaypoint(int port) throws Exception {
        return new FakeWaypoint(agents.appLoops(), new InetSocketAddress(WAYPOINT_IP, port), tls,
                agents.ca().issue(WAYPOINT), request -> relayTo);
    }

    // ---------------------------------------------------------------- cases

    @Test
    void aServiceWithAWaypointIsReachedThroughItWithTheVipAsAuthorityAndTheClientsIdentity() throws Exception {
        pushWaypoint(byVip(), null, WAYPOINT_IP);

        assertThat(exchange(BACKEND_VIP, "via the waypoint")).isEqualTo("via the waypoint" + BYE);

        assertThat(waypoint.seen).hasSize(1);
        FakeWaypoint.Seen seen = waypoint.seen.peek();
        assertThat(seen.request().authority()).as(":authority").isEqualTo("10.96.0.20:8080");
        assertThat(seen.client()).as("identity in the tunnel").isEqualTo(FRONTEND);
        assertThat(seen.request().forwardedFor()).isEqualTo(FRONTEND_IP.getHostAddress());
        assertThat(seen.request().baggage()).contains("k8s.namespace.name=shop", "name=frontend");
        assertThat(agents.hboneAccepts()).as("nothing went to B directly").hasValue(0);
        assertThat(agents.appConnections()).hasValue(1);
        assertThat(agents.metricsA().value(Outbound.ACCEPTED, "waypoint")).isEqualTo(1.0);
        // As ztunnel reports it: the destination is the waypoint's pod, the service the one asked for.
        eventually(() -> assertThat(MetricSamples.sum(agents.metricsA(), "istio_tcp_connections_closed_total",
                "reporter", "source", "destination_workload", "waypoint-1",
                "destination_principal", WAYPOINT.uri(), "destination_service", BACKEND_HOST,
                "connection_security_policy", "mutual_tls")).isEqualTo(1));
        assertThat(MetricSamples.sum(agents.metricsA(), "istio_tcp_received_bytes_total", "destination_service",
                BACKEND_HOST)).isEqualTo("via the waypoint".length());
    }

    @Test
    void aWaypointNamedByHostnameIsResolvedAndTheWaypointsIdentityIsRequired() throws Exception {
        pushWaypoint(byHostname("waypoint"), null, WAYPOINT_IP);
        assertThat(exchange(BACKEND_VIP, "by name")).isEqualTo("by name" + BYE);
        assertThat(waypoint.seen).hasSize(1);

        // A server at the waypoint's address with another identity is not the waypoint.
        waypoint.close();
        waypoint = new FakeWaypoint(agents.appLoops(), new InetSocketAddress(WAYPOINT_IP, waypointPort()), tls,
                agents.ca().issue(TestCa.BACKEND), request -> relayTo);
        assertThat(exchange(BACKEND_VIP, "impostor?")).isEmpty();
        assertThat(waypoint.accepts).hasValue(1);
        assertThat(waypoint.seen).as("no CONNECT after the handshake failed").isEmpty();
        eventually(() -> assertThat(MetricSamples.sum(agents.metricsA(), Outbound.FAILED,
                "flag", "UF", "reason", "waypoint_handshake")).isEqualTo(1));
        assertThat(agents.appConnections()).hasValue(1);
        assertThat(agents.hboneAccepts()).hasValue(0);
    }

    @Test
    void podAddressedTrafficGoesToTheWorkloadsWaypointButTheServiceWithoutOneStaysDirect() throws Exception {
        pushWaypoint(null, byVip(), WAYPOINT_IP);
        InetSocketAddress pod = new InetSocketAddress(BACKEND_IP, agents.appAddress().getPort());

        assertThat(exchange(pod, "to the pod")).isEqualTo("to the pod" + BYE);
        assertThat(waypoint.seen).hasSize(1);
        assertThat(waypoint.seen.peek().request().authority()).isEqualTo(pod.getAddress().getHostAddress()
                + ":" + pod.getPort());
        assertThat(waypoint.seen.peek().client()).isEqualTo(FRONTEND);
        assertThat(agents.hboneAccepts()).hasValue(0);

        // ztunnel's rule: a VIP's endpoints are not sent to their workload's waypoint.
        assertThat(exchange(BACKEND_VIP, "to the service")).isEqualTo("to the service" + BYE);
        assertThat(waypoint.seen).hasSize(1);
        assertThat(agents.hboneAccepts()).hasValue(1);
        assertThat(agents.appConnections()).hasValue(2);
    }

    @Test
    void aServiceWithoutAWaypointKeepsTheDirectPath() throws Exception {
        pushWaypoint(null, null, WAYPOINT_IP); // the waypoint exists, nothing uses it

        assertThat(exchange(BACKEND_VIP, "direct")).isEqualTo("direct" + BYE);

        assertThat(waypoint.accepts).as("no extra hop").hasValue(0);
        assertThat(agents.hboneAccepts()).hasValue(1);
        assertThat(agents.metricsA().value(Outbound.ACCEPTED, "hbone")).isEqualTo(1.0);
        assertThat(agents.metricsA().value(Outbound.ACCEPTED, "waypoint")).isZero();
    }

    @Test
    void aWaypointThatDoesNotExistResetsTheClientAndNothingReachesTheBackend() throws Exception {
        pushWaypoint(byHostname("missing"), null, WAYPOINT_IP);

        assertThat(exchange(BACKEND_VIP, "anyone?")).isEmpty();

        eventually(() -> assertThat(MetricSamples.sum(agents.metricsA(), Outbound.FAILED,
                "flag", "UH", "reason", "waypoint_not_found")).isEqualTo(1));
        eventually(() -> assertThat(MetricSamples.sum(agents.metricsA(), "istio_tcp_connections_closed_total",
                "reporter", "source", "response_flags", "UH", "destination_service", BACKEND_HOST)).isEqualTo(1));
        assertThat(agents.appConnections()).as("no bypass to the backend").hasValue(0);
        assertThat(agents.hboneAccepts()).hasValue(0);
        assertThat(waypoint.accepts).hasValue(0);

        // A waypoint Service with no pod: the same, with its own reason.
        pushWaypoint(byVip(), null);
        assertThat(exchange(BACKEND_VIP, "anyone now?")).isEmpty();
        eventually(() -> assertThat(MetricSamples.sum(agents.metricsA(), Outbound.FAILED,
                "flag", "UH", "reason", "no_healthy_waypoint_endpoint")).isEqualTo(1));
        assertThat(agents.appConnections()).hasValue(0);
        assertThat(agents.hboneAccepts()).hasValue(0);
    }

    @Test
    void aWaypointThatIsDownFailsClosedAndTrafficResumesWhenItIsBack() throws Exception {
        pushWaypoint(byVip(), null, WAYPOINT_IP);
        assertThat(exchange(BACKEND_VIP, "before")).isEqualTo("before" + BYE);
        int port = waypointPort();

        waypoint.close(); // killed: the listener and its connections
        waypoint = null;
        assertThat(exchange(BACKEND_VIP, "during")).isEmpty();
        eventually(() -> assertThat(MetricSamples.sum(agents.metricsA(), Outbound.FAILED,
                "flag", "UF", "reason", "waypoint_connect")).isEqualTo(1));
        assertThat(agents.appConnections()).as("no bypass to the backend").hasValue(1);
        assertThat(agents.hboneAccepts()).hasValue(0);

        waypoint = startWaypoint(port);
        // Ejected for 5 s after the failure, but the only pod: picked anyway (panic), no waiting.
        assertThat(exchange(BACKEND_VIP, "after")).isEqualTo("after" + BYE);
        assertThat(waypoint.seen).hasSize(1);
        assertThat(agents.appConnections()).hasValue(2);
        assertThat(agents.hboneAccepts()).hasValue(0);
    }

    @Test
    void aDeadWaypointReplicaIsFailedOverToALiveOne() throws Exception {
        pushWaypoint(byVip(), null, WAYPOINT_IP, DEAD_WAYPOINT_IP);

        // Round robin over two replicas: one of the first two connections starts on the dead one.
        assertThat(exchange(BACKEND_VIP, "one")).isEqualTo("one" + BYE);
        assertThat(exchange(BACKEND_VIP, "two")).isEqualTo("two" + BYE);
        assertThat(exchange(BACKEND_VIP, "three")).isEqualTo("three" + BYE);

        assertThat(waypoint.seen).hasSize(3);
        assertThat(agents.metricsA().value(Outbound.FAILOVERS, "connect")).as("ejected after one failure")
                .isEqualTo(1.0);
        assertThat(MetricSamples.sum(agents.metricsA(), Outbound.FAILED)).isZero();
        assertThat(agents.hboneAccepts()).hasValue(0);
    }

    @Test
    void removingTheWaypointAtRuntimeSendsNewConnectionsDirectlyAndKeepsOpenOnes() throws Exception {
        pushWaypoint(byVip(), null, WAYPOINT_IP);
        try (Socket held = connect(BACKEND_VIP)) {
            roundTrip(held, "held open");
            assertThat(waypoint.seen).hasSize(1);

            pushWaypoint(null, null, WAYPOINT_IP); // use-waypoint removed: an xDS update, nothing restarted

            assertThat(exchange(BACKEND_VIP, "new one")).isEqualTo("new one" + BYE);
            assertThat(agents.hboneAccepts()).as("the new connection went to B directly").hasValue(1);
            assertThat(waypoint.seen).hasSize(1);
            roundTrip(held, "still through the waypoint");
        }
        assertThat(agents.appConnections()).hasValue(2);
    }

    /**
     * The destination's agent authorizes the waypoint, not the original client: B sees the
     * waypoint's identity as the peer. The waypoint's hop to B here is a real outbound listener
     * of the waypoint's pod (its certificate, its workload), so B's inbound path is the
     * production one.
     */
    @Test
    void theDestinationAuthorizesTheWaypointsIdentityAsThePeer() throws Exception {
        Outbound waypointHop = Outbound.builder(PodNetwork.host(uid("waypoint-1"), agents.transport()),
                        uid("waypoint-1"))
                .state(agents.stateA())
                .certificates(agents.certificatesA())
                .pool(agents.poolA())
                .originalDestinations(ch -> Optional.of(new InetSocketAddress(BACKEND_IP,
                        agents.appAddress().getPort())))
                .eventLoopGroup(agents.loopsA())
                .metrics(MetricsRegistry.create())
                .bindAddress(new InetSocketAddress("127.0.0.1", 0))
                .hbonePort(agents.hbonePort())
                .build();
        try {
            waypointHop.start().sync();
            relayTo = (InetSocketAddress) waypointHop.localAddress();

            // Istio's guidance: an L4 ALLOW naming only the client shuts out traffic via the waypoint.
            pushWaypoint(byVip(), null, Map.of("shop/allow", allow(FRONTEND)), WAYPOINT_IP);
            assertThat(exchange(BACKEND_VIP, "frontend only")).isEmpty();
            eventually(() -> assertThat(MetricSamples.sum(agents.metricsB(), InboundRefusals.METRIC)).isEqualTo(1.0));
            assertThat(agents.metricsB().scrape()).contains("no_allow_match");
            assertThat(waypoint.seen).hasSize(1);
            assertThat(agents.appConnections()).hasValue(0);

            // Letting the waypoint's principal in admits it; B reports the waypoint as the source.
            pushWaypoint(byVip(), null, Map.of("shop/allow", allow(FRONTEND, WAYPOINT)), WAYPOINT_IP);
            assertThat(exchange(BACKEND_VIP, "with the waypoint")).isEqualTo("with the waypoint" + BYE);
            assertThat(agents.appConnections()).hasValue(1);
            // Both tunnels (the denied one and this one) came from the waypoint's identity.
            eventually(() -> assertThat(MetricSamples.sum(agents.metricsB(), "istio_tcp_connections_closed_total",
                    "reporter", "destination", "source_principal", WAYPOINT.uri(),
                    "connection_security_policy", "mutual_tls")).isEqualTo(2));
            assertThat(MetricSamples.sum(agents.metricsB(), "istio_tcp_received_bytes_total",
                    "source_principal", WAYPOINT.uri())).isEqualTo("with the waypoint".length());
            assertThat(MetricSamples.sum(agents.metricsB(), "istio_tcp_connections_closed_total",
                    "source_principal", FRONTEND.uri())).isZero();
        } finally {
            waypointHop.close();
        }
    }

    // ---------------------------------------------------------------- mesh state

    /** The waypoint's Service by VIP, reached on the fake waypoint's port (its "15008"). */
    private GatewayAddress byVip() {
        return GatewayAddress.newBuilder()
                .setAddress(NetworkAddress.newBuilder()
                        .setAddress(ByteString.copyFrom(TwoAgents.ip(WAYPOINT_VIP).getAddress())))
                .setHboneMtlsPort(waypointPort())
                .build();
    }

    /** A waypoint named by hostname, as istiod-lite sends one whose Service has no VIP (or does not exist). */
    private GatewayAddress byHostname(String name) {
        return GatewayAddress.newBuilder()
                .setHostname(NamespacedHostname.newBuilder().setNamespace("shop")
                        .setHostname(name + ".shop.svc.cluster.local"))
                .setHboneMtlsPort(waypointPort())
                .build();
    }

    private int waypointPort() {
        return waypoint != null ? waypoint.address().getPort() : lastWaypointPort;
    }

    private int lastWaypointPort;

    private void pushWaypoint(GatewayAddress onService, GatewayAddress onWorkload, InetAddress... waypointPods) {
        pushWaypoint(onService, onWorkload, Map.of(), waypointPods);
    }

    /**
     * Pushes the waypoint's Service (VIP 10.96.0.30, port 15008) with {@code waypointPods} as its
     * pods (workloads {@code waypoint-N}, service account {@code waypoint}, not HBONE-capable:
     * waypoints are not captured), and the backend Service and workload with the given
     * waypoints ({@code null}: none), and {@code policies} on the backend.
     */
    private void pushWaypoint(GatewayAddress onService, GatewayAddress onWorkload,
                              Map<String, Authorization> policies, InetAddress... waypointPods) {
        if (waypoint != null) {
            lastWaypointPort = waypoint.address().getPort();
        }
        UnaryOperator<Map<String, Address>> edit = addresses -> {
            Map<String, Address> out = new TreeMap<>(addresses);
            for (int i = 0; i < waypointPods.length; i++) {
                Address pod = workload("waypoint-" + (i + 1), WorkloadStatus.HEALTHY,
                        new String[] {waypointPods[i].getHostAddress()}, Map.of(WAYPOINT_SERVICE, ports(15008, 15008)));
                put(out, Address.newBuilder().setWorkload(pod.getWorkload().toBuilder()
                        .setTunnelProtocol(TunnelProtocol.NONE)).build());
            }
            put(out, service("waypoint", WAYPOINT_VIP, 15008, 15008));
            var svc = out.get(TwoAgents.BACKEND_SERVICE).getService().toBuilder().clearWaypoint();
            if (onService != null) {
                svc.setWaypoint(onService);
            }
            out.put(TwoAgents.BACKEND_SERVICE, Address.newBuilder().setService(svc).build());
            var backend = out.get(agents.backendUid).getWorkload().toBuilder().clearWaypoint();
            if (onWorkload != null) {
                backend.setWaypoint(onWorkload);
            }
            out.put(agents.backendUid, Address.newBuilder().setWorkload(backend).build());
            return out;
        };
        agents.mesh(edit);
        // Workload removals are not pushed: a pod dropped from the list is removed here.
        for (var state : List.of(agents.stateA(), agents.stateB())) {
            List<String> gone = new java.util.ArrayList<>();
            for (int i = waypointPods.length + 1; i <= 2; i++) {
                if (state.workload(uid("waypoint-" + i)) != null) {
                    gone.add(uid("waypoint-" + i));
                }
            }
            if (!gone.isEmpty()) {
                state.applyAddresses(Map.of(), gone);
            }
        }
        agents.push(policies, policies.isEmpty() ? List.of("shop/allow") : List.of());
    }

    private static Authorization allow(SpiffeId... principals) {
        Match.Builder match = Match.newBuilder();
        for (SpiffeId p : principals) {
            match.addPrincipals(StringMatch.newBuilder().setExact(p.principal()));
        }
        return Authorization.newBuilder().setNamespace("shop").setName("allow")
                .setScope(Scope.WORKLOAD_SELECTOR).setAction(Action.ALLOW)
                .addRules(Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(match)))
                .build();
    }

    // ---------------------------------------------------------------- helpers

    /** A frontend connection captured to A's outbound as bound for {@code destination}. */
    private Socket connect(InetSocketAddress destination) throws IOException {
        Socket s = new Socket();
        s.setSoTimeout(10_000);
        s.bind(new InetSocketAddress(FRONTEND_IP, 0));
        agents.originalDestination(s.getLocalPort(), destination);
        s.connect(agents.outboundA().localAddress(), 10_000);
        return s;
    }

    /**
     * Sends {@code payload} to {@code destination} through A, half-closes and returns all that came
     * back; empty if the connection was reset or closed without data.
     */
    private String exchange(InetSocketAddress destination, String payload) throws Exception {
        Socket s;
        try {
            s = connect(destination);
        } catch (SocketException e) {
            return ""; // accepted and reset before connect() returned: a fast refusal
        }
        try (s) {
            Thread writer = Thread.ofVirtual().start(() -> {
                try {
                    s.getOutputStream().write(payload.getBytes(US_ASCII));
                    s.shutdownOutput();
                } catch (IOException e) {
                    // reset by the proxy: the reader sees it too
                }
            });
            byte[] back;
            try {
                back = readAll(s.getInputStream());
            } catch (SocketException e) {
                back = new byte[0]; // reset
            }
            assertThat(writer.join(Duration.ofSeconds(10))).as("writer finished").isTrue();
            return new String(back, US_ASCII);
        }
    }

    private static void roundTrip(Socket s, String text) throws IOException {
        s.getOutputStream().write(text.getBytes(US_ASCII));
        assertThat(new String(s.getInputStream().readNBytes(text.length()), US_ASCII)).isEqualTo(text);
    }

    private static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[16 * 1024];
        for (int n; (n = in.read(buf)) >= 0; ) {
            out.write(buf, 0, n);
        }
        return out.toByteArray();
    }
}
