package dev.ambit.proxy.xds;

import static dev.ambit.testing.MeshFixture.BACKEND;
import static dev.ambit.testing.MeshFixture.BACKEND_VIP;
import static dev.ambit.testing.MeshFixture.ip;
import static dev.ambit.testing.MeshFixture.ports;
import static dev.ambit.testing.MeshFixture.uid;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Any;
import dev.ambit.api.TypeUrls;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.WorkloadStatus;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.model.MeshResources;
import dev.ambit.istiod.xds.XdsDebugView;
import dev.ambit.istiod.xds.XdsServer;
import dev.ambit.istiod.xds.XdsService;
import dev.ambit.testing.MeshFixture;
import dev.ambit.proxy.state.ProxyState;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.envoyproxy.envoy.service.discovery.v3.Resource;
import io.grpc.ForwardingServerCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The client against the real istiod-lite xDS service, over a loopback socket.
 */
class XdsClientTest {

    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    private static final String NODE_ID = XdsClient.istioNodeId("10.0.0.100", "ztunnel-abc", "istio-system");

    private final List<AutoCloseable> closeables = new ArrayList<>();
    private final MetricsRegistry clientMetrics = MetricsRegistry.create();
    private final ProxyState state = ProxyState.create();

    @AfterEach
    void closeAll() throws Exception {
        // Reverse order: client, then channel, then servers.
        for (int i = closeables.size() - 1; i >= 0; i--) {
            closeables.get(i).close();
        }
    }

    // ---------------------------------------------------------------- tests

    @Test
    void initialSyncFillsTheState() throws Exception {
        MetricsRegistry serverMetrics = MetricsRegistry.create();
        XdsService service = service(serverMetrics, mesh(MeshFixture.addresses(), MeshFixture.authorizations()));
        XdsServer server = server(service, 0);
        XdsClient client = client(server.port());

        assertThat(client.awaitFirstSync(WAIT)).as("first sync").isTrue();

        assertThat(state.workloadByAddress(ip("10.0.0.2")).getName()).isEqualTo("backend-1");
        assertThat(state.workloadByAddress(ip("fd00::3")).getName()).isEqualTo("backend-2");
        assertThat(state.serviceByVip(ip(BACKEND_VIP), 8080).getName()).isEqualTo("backend");
        assertThat(state.serviceByVip(ip(BACKEND_VIP), 81)).isNull();
        assertThat(endpoints(BACKEND, 8080)).containsExactly("backend-1:9090", "backend-3:9000", "backend-2:9091");
        assertThat(endpoints(BACKEND, 9443)).containsExactly("backend-1:8443");
        assertThat(policyNames(state.policiesFor(state.workload(uid("backend-1")))))
                .containsExactly("istio-system/global-deny", "shop/ns-allow", "shop/backend-allow");
        assertThat(policyNames(state.policiesFor(state.workload(uid("frontend")))))
                .containsExactly("istio-system/global-deny", "shop/ns-allow");

        assertThat(client.isConnected()).isTrue();
        assertThat(clientMetrics.value(XdsClientMetrics.CONNECTED)).isEqualTo(1);
        assertThat(clientMetrics.value(XdsClientMetrics.RESOURCES, "istio.workload.Address")).isEqualTo(6);
        assertThat(clientMetrics.value(XdsClientMetrics.RESOURCES, "istio.security.Authorization")).isEqualTo(4);
        assertThat(clientMetrics.value(XdsClientMetrics.UPDATES, "istio.workload.Address")).isEqualTo(1);
        assertThat(clientMetrics.value(XdsClientMetrics.LAST_UPDATE)).isPositive();
        // The server saw our node id, a wildcard subscription, and ACKs for both types.
        await("both types ACKed", () -> {
            XdsDebugView.ClientView view = service.debugView().client(NODE_ID);
            return view != null && view.subscriptions().size() == 2 && view.subscriptions().stream()
                    .allMatch(s -> s.wildcard() && s.ackState() == XdsDebugView.AckState.ACKED);
        });
    }

    @Test
    void appliesAnUpdateAndARemoval() throws Exception {
        XdsService service = service(MetricsRegistry.create(),
                mesh(MeshFixture.addresses(), MeshFixture.authorizations()));
        XdsClient client = client(server(service, 0).port());
        assertThat(client.awaitFirstSync(WAIT)).isTrue();

        Map<String, Address> addresses = new TreeMap<>(MeshFixture.addresses());
        // backend-2 becomes healthy on another port; backend-3 goes away; a policy too.
        MeshFixture.put(addresses, MeshFixture.workload("backend-2", WorkloadStatus.HEALTHY,
                new String[] {"10.0.0.3"}, Map.of(BACKEND, ports(8080, 7777))));
        addresses.remove(uid("backend-3"));
        Map<String, Authorization> policies = new TreeMap<>(MeshFixture.authorizations());
        policies.remove("shop/ns-allow");
        service.update(mesh(addresses, policies));

        await("update applied", () -> endpoints(BACKEND, 8080).equals(List.of("backend-1:9090", "backend-2:7777"))
                && state.policy("shop/ns-allow") == null);
        assertThat(state.workload(uid("backend-3"))).isNull();
        assertThat(state.workloadByAddress(ip("10.0.0.4"))).isNull();
        assertThat(state.workloadByAddress(ip("fd00::3"))).isNull();
        assertThat(policyNames(state.policiesFor(state.workload(uid("frontend")))))
                .containsExactly("istio-system/global-deny");
        assertThat(clientMetrics.value(XdsClientMetrics.RESOURCES, "istio.workload.Address")).isEqualTo(5);
        assertThat(clientMetrics.value(XdsClientMetrics.NACKS, "istio.workload.Address")).isZero();
    }

    @Test
    void keepsTheStateWhileDisconnectedAndResyncsOnlyChangesOnReconnect() throws Exception {
        XdsService first = service(MetricsRegistry.create(),
                mesh(MeshFixture.addresses(), MeshFixture.authorizations()));
        XdsServer server = server(first, 0);
        int port = server.port();
        XdsClient client = client(port);
        assertThat(client.awaitFirstSync(WAIT)).isTrue();

        server.close();
        await("disconnected", () -> !client.isConnected());
        assertThat(clientMetrics.value(XdsClientMetrics.CONNECTED)).isZero();
        // The data path keeps answering from the last state.
        assertThat(state.workloadByAddress(ip("10.0.0.2")).getName()).isEqualTo("backend-1");
        assertThat(endpoints(BACKEND, 8080)).hasSize(3);
        assertThat(state.policyCount()).isEqualTo(4);

        // While it was down, frontend changed and backend-3 went away.
        Map<String, Address> addresses = new TreeMap<>(MeshFixture.addresses());
        MeshFixture.put(addresses, MeshFixture.workload("frontend", WorkloadStatus.UNHEALTHY,
                new String[] {"10.0.0.1"}, Map.of()));
        addresses.remove(uid("backend-3"));
        MetricsRegistry restartedMetrics = MetricsRegistry.create();
        XdsService restarted = service(restartedMetrics, mesh(addresses, MeshFixture.authorizations()));
        server(restarted, port);

        await("reconnected and resynced", () -> client.isConnected()
                && state.workload(uid("frontend")).getStatus() == WorkloadStatus.UNHEALTHY
                && state.workload(uid("backend-3")) == null);
        assertThat(endpoints(BACKEND, 8080)).containsExactly("backend-1:9090", "backend-2:9091");
        assertThat(clientMetrics.value(XdsClientMetrics.STREAMS)).isGreaterThanOrEqualTo(2);
        // initial_resource_versions worked: only the changed workload crossed the wire (the
        // removal is a name), and no policy at all, although the new server never sent any.
        await("both types ACKed", () -> {
            XdsDebugView.ClientView view = restarted.debugView().client(NODE_ID);
            return view != null && view.subscriptions().stream()
                    .allMatch(s -> s.ackState() == XdsDebugView.AckState.ACKED);
        });
        assertThat(restartedMetrics.value("ambit_istiod_xds_resources_sent_total", "istio.workload.Address"))
                .isEqualTo(1);
        assertThat(restartedMetrics.value("ambit_istiod_xds_resources_sent_total", "istio.security.Authorization"))
                .isZero();
        assertThat(state.policyCount()).isEqualTo(4);
    }

    @Test
    void nacksAResponseItCannotUnpackAndKeepsTheStreamAndTheState() throws Exception {
        MetricsRegistry serverMetrics = MetricsRegistry.create();
        XdsService service = service(serverMetrics, mesh(MeshFixture.addresses(), MeshFixture.authorizations()));
        Corrupting corrupting = new Corrupting();
        XdsClient client = client(rawServer(service, corrupting));
        assertThat(client.awaitFirstSync(WAIT)).isTrue();
        long generation = state.generation();

        // Two workloads change in one response; one of them arrives as the wrong type.
        corrupting.name = uid("frontend");
        Map<String, Address> addresses = new TreeMap<>(MeshFixture.addresses());
        MeshFixture.put(addresses, MeshFixture.workload("frontend", WorkloadStatus.UNHEALTHY,
                new String[] {"10.0.0.1"}, Map.of()));
        MeshFixture.put(addresses, MeshFixture.workload("backend-1", WorkloadStatus.UNHEALTHY,
                new String[] {"10.0.0.2"}, Map.of()));
        service.update(mesh(addresses, MeshFixture.authorizations()));

        await("NACK received by the server", () -> {
            XdsDebugView.ClientView view = service.debugView().client(NODE_ID);
            return view != null && view.subscriptions().stream()
                    .anyMatch(s -> s.ackState() == XdsDebugView.AckState.NACKED);
        });
        XdsDebugView.SubscriptionView nacked = service.debugView().client(NODE_ID).subscriptions().stream()
                .filter(s -> s.typeUrl().equals(TypeUrls.ADDRESS)).findFirst().orElseThrow();
        assertThat(nacked.ackState()).isEqualTo(XdsDebugView.AckState.NACKED);
        assertThat(nacked.lastNackMessage()).contains(uid("frontend")).contains("cannot unpack");
        assertThat(client.lastNack()).isEqualTo(nacked.lastNackMessage());
        assertThat(clientMetrics.value(XdsClientMetrics.NACKS, "istio.workload.Address")).isEqualTo(1);
        assertThat(serverMetrics.value("ambit_istiod_xds_nacks_total", "istio.workload.Address")).isEqualTo(1);
        // Nothing of the rejected response applied, not even the well-formed half.
        assertThat(state.generation()).isEqualTo(generation);
        assertThat(state.workload(uid("frontend")).getStatus()).isEqualTo(WorkloadStatus.HEALTHY);
        assertThat(state.workload(uid("backend-1")).getStatus()).isEqualTo(WorkloadStatus.HEALTHY);

        // The stream is still the same one and still delivers: the next change is applied.
        corrupting.name = null;
        MeshFixture.put(addresses, MeshFixture.workload("frontend", WorkloadStatus.UNHEALTHY,
                new String[] {"10.0.0.1", "10.0.1.1"}, Map.of()));
        MeshFixture.put(addresses, MeshFixture.workload("backend-1", WorkloadStatus.UNHEALTHY,
                new String[] {"10.0.0.2", "10.0.1.2"}, Map.of()));
        service.update(mesh(addresses, MeshFixture.authorizations()));
        await("next update applied", () -> state.workloadByAddress(ip("10.0.1.1")) != null
                && state.workloadByAddress(ip("10.0.1.2")) != null);
        assertThat(client.isConnected()).isTrue();
        assertThat(clientMetrics.value(XdsClientMetrics.STREAMS)).isEqualTo(1);
        assertThat(corrupting.authorization).containsOnly("Bearer s3cret");
    }

    @Test
    void nacksAPolicyWhoseActionItDoesNotKnowInsteadOfReadingItAsAllow() throws Exception {
        XdsService service = service(MetricsRegistry.create(),
                mesh(MeshFixture.addresses(), MeshFixture.authorizations()));
        XdsClient client = client(server(service, 0).port());
        assertThat(client.awaitFirstSync(WAIT)).isTrue();

        // A newer control plane's action (enum value 7): unknown here, so the default
        // (ALLOW) must not stand in for it.
        Map<String, Authorization> policies = new TreeMap<>(MeshFixture.authorizations());
        policies.put("shop/ns-allow", policies.get("shop/ns-allow").toBuilder().setActionValue(7).build());
        service.update(mesh(MeshFixture.addresses(), policies));

        await("NACK", () -> clientMetrics.value(XdsClientMetrics.NACKS, "istio.security.Authorization") == 1);
        assertThat(client.lastNack()).contains("shop/ns-allow").contains("unknown scope or action");
        assertThat(state.policy("shop/ns-allow").getActionValue()).isZero();
        assertThat(client.isConnected()).isTrue();
    }

    @Test
    void retriesUntilTheControlPlaneComesUp() throws Exception {
        int port;
        try (java.net.ServerSocket probe = new java.net.ServerSocket(0, 1, LOOPBACK)) {
            port = probe.getLocalPort(); // free now; nothing listens there until the server starts
        }
        XdsClient client = client(port);
        await("a failed attempt", () -> clientMetrics.value(XdsClientMetrics.STREAMS) >= 1);
        // Then more: while the channel is in TRANSIENT_FAILURE the client restarts its connects
        // (20-200 ms backoff here) without opening doomed streams.
        Thread.sleep(1_000);
        assertThat(client.isSynced()).isFalse();
        assertThat(client.isConnected()).isFalse();

        server(service(MetricsRegistry.create(), mesh(MeshFixture.addresses(), MeshFixture.authorizations())), port);
        assertThat(client.awaitFirstSync(WAIT)).isTrue();
        assertThat(state.workloadCount()).isEqualTo(4);
    }

    /**
     * The control plane away for 10 s: with the default backoff (capped at 1 s) and the
     * channel's own reconnect backoff cut short, the client is back within 2 s of its return.
     */
    @Test
    void reconnectsWithinTwoSecondsOfTheControlPlanesReturnAfterTenSecondsAway() throws Exception {
        XdsService first = service(MetricsRegistry.create(),
                mesh(MeshFixture.addresses(), MeshFixture.authorizations()));
        XdsServer server = server(first, 0);
        int port = server.port();
        XdsClient client = XdsClient.builder(channel(port)).handlers(state.handlers())
                .nodeId(NODE_ID)
                .metrics(clientMetrics)
                .build(); // the default backoff: what the agent runs with
        closeables.add(client);
        client.start();
        assertThat(client.awaitFirstSync(WAIT)).isTrue();

        server.close();
        await("disconnected", () -> !client.isConnected());
        Thread.sleep(10_000);
        assertThat(client.isConnected()).isFalse();

        server(service(MetricsRegistry.create(), mesh(MeshFixture.addresses(), MeshFixture.authorizations())), port);
        long back = System.nanoTime();
        await("reconnected", client::isConnected);
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - back);
        System.out.println("xDS client reconnected " + millis + " ms after the server was back");
        assertThat(millis).as("reconnected after the control plane was back (ms)").isLessThanOrEqualTo(2_000);
    }

    @Test
    void backoffGrowsWithJitterUpToTheMaximum() {
        XdsClient client = XdsClient.builder(channel(1)).handlers(state.handlers())
                .backoff(Duration.ofMillis(100), Duration.ofSeconds(15))
                .build();
        closeables.add(client);
        assertThat(XdsClient.DEFAULT_MAX_BACKOFF).isEqualTo(Duration.ofSeconds(1));
        for (int i = 0; i < 100; i++) {
            assertThat(client.backoffMillis(0)).isBetween(50L, 100L);
            assertThat(client.backoffMillis(3)).isBetween(400L, 800L);
            assertThat(client.backoffMillis(20)).isBetween(7_500L, 15_000L);
            assertThat(client.backoffMillis(Integer.MAX_VALUE)).isBetween(7_500L, 15_000L);
        }
        assertThatThrownBy(() -> XdsClient.builder(channel(1)).backoff(Duration.ZERO, Duration.ofSeconds(1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("backoff: PT0S (expected: positive)");
        assertThatThrownBy(() -> XdsClient.builder(channel(1)).nodeId(" "))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("nodeId: blank");
        assertThat(NODE_ID).isEqualTo("ztunnel~10.0.0.100~ztunnel-abc.istio-system~istio-system.svc.cluster.local");
    }

    // ---------------------------------------------------------------- helpers

    private static MeshResources mesh(Map<String, Address> addresses, Map<String, Authorization> policies) {
        return new MeshResources(addresses, policies, Map.of(), List.of());
    }

    private XdsService service(MetricsRegistry metrics, MeshResources resources) {
        XdsService service = XdsService.builder(metrics).debounce(Duration.ZERO, Duration.ZERO).build();
        closeables.add(service);
        service.update(resources);
        return service;
    }

    /** Starts istiod-lite's xDS server; on a given port, retried while the old socket lingers. */
    private XdsServer server(XdsService service, int port) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (true) {
            try {
                XdsServer server = XdsServer.builder(service)
                        .address(new InetSocketAddress(LOOPBACK, port))
                        .shutdownTimeout(Duration.ofSeconds(1))
                        .build()
                        .start();
                closeables.add(server);
                return server;
            } catch (IOException e) {
                if (!(e.getCause() instanceof BindException || e instanceof BindException)
                        || System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(50);
            }
        }
    }

    /**
     * The same xDS service on a bare gRPC server, behind an interceptor that can corrupt one
     * resource on the way out: istiod-lite only ever packs the right type, so a wrong one
     * has to be made on the wire. Returns the port.
     */
    private int rawServer(XdsService service, Corrupting corrupting) throws IOException {
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress(LOOPBACK, 0))
                .addService(ServerInterceptors.intercept(service, corrupting))
                .build()
                .start();
        closeables.add(() -> {
            server.shutdownNow();
            server.awaitTermination(5, TimeUnit.SECONDS);
        });
        return server.getPort();
    }

    private XdsClient client(int port) {
        XdsClient client = XdsClient.builder(channel(port)).handlers(state.handlers())
                .nodeId(NODE_ID)
                .backoff(Duration.ofMillis(20), Duration.ofMillis(200))
                .bearerToken(() -> "s3cret")
                .metrics(clientMetrics)
                .build();
        closeables.add(client);
        return client.start();
    }

    private ManagedChannel channel(int port) {
        ManagedChannel channel = NettyChannelBuilder.forAddress(new InetSocketAddress(LOOPBACK, port))
                .usePlaintext()
                .build();
        closeables.add(() -> {
            channel.shutdownNow();
            channel.awaitTermination(5, TimeUnit.SECONDS);
        });
        return channel;
    }

    private List<String> endpoints(String service, int port) {
        return state.endpoints(service, port).stream()
                .map(e -> e.workload().getName() + ":" + e.targetPort())
                .toList();
    }

    private static List<String> policyNames(List<Authorization> policies) {
        return policies.stream().map(p -> p.getNamespace() + "/" + p.getName()).toList();
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + WAIT + " waiting for: " + what);
            }
            Thread.sleep(10);
        }
    }

    /** Rewrites the resource named {@link #name} to claim another type; records the authorization header. */
    private static final class Corrupting implements ServerInterceptor {
        volatile String name;
        final List<String> authorization = new CopyOnWriteArrayList<>();

        @Override
        public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                           ServerCallHandler<Q, R> next) {
            String auth = headers.get(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER));
            if (auth != null) {
                authorization.add(auth);
            }
            return next.startCall(new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
                @Override
                @SuppressWarnings("unchecked")
                public void sendMessage(R message) {
                    super.sendMessage(message instanceof DeltaDiscoveryResponse r ? (R) corrupt(r) : message);
                }
            }, headers);
        }

        private DeltaDiscoveryResponse corrupt(DeltaDiscoveryResponse response) {
            String target = name;
            if (target == null) {
                return response;
            }
            DeltaDiscoveryResponse.Builder b = response.toBuilder();
            for (int i = 0; i < b.getResourcesCount(); i++) {
                Resource r = b.getResources(i);
                if (r.getName().equals(target)) {
                    Any wrong = r.getResource().toBuilder()
                            .setTypeUrl(TypeUrls.AUTHORIZATION)
                            .build();
                    b.setResources(i, r.toBuilder().setResource(wrong));
                }
            }
            return b.build();
        }
    }
}
