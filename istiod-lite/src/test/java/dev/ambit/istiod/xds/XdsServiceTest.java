package dev.ambit.istiod.xds;

import static dev.ambit.istiod.xds.TestMesh.policyName;
import static dev.ambit.istiod.xds.TestMesh.serviceName;
import static dev.ambit.istiod.xds.TestMesh.uid;
import static dev.ambit.istiod.xds.XdsTestClient.TIMEOUT;
import static dev.ambit.istiod.xds.XdsTestClient.describe;
import static dev.ambit.istiod.xds.XdsTestClient.names;
import static dev.ambit.istiod.xds.XdsTestClient.versions;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.ambit.api.TypeUrls;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.workload.Address;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.xds.XdsDebugView.AckState;
import dev.ambit.istiod.xds.XdsDebugView.ClientView;
import dev.ambit.istiod.xds.XdsDebugView.SubscriptionView;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.envoyproxy.envoy.service.discovery.v3.Resource;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The delta ADS server over a real socket: a Netty server on 127.0.0.1, plaintext
 * channels, the async stub.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class XdsServiceTest {

    private static final String ADDRESS = TypeUrls.ADDRESS;
    private static final String AUTHORIZATION = TypeUrls.AUTHORIZATION;
    private static final String ADDRESS_LABEL = "istio.workload.Address";

    /** How long "no response" is watched for; debouncing in these tests is 20 ms. */
    private static final Duration QUIET = Duration.ofMillis(500);

    private MetricsRegistry metrics;
    private XdsService service;
    private XdsServer server;
    private final List<ManagedChannel> channels = new ArrayList<>();
    private final List<XdsTestClient> clients = new ArrayList<>();

    @BeforeEach
    void start() throws IOException {
        start(Duration.ofMillis(20), Duration.ofMillis(200));
    }

    private void start(Duration quietPeriod, Duration maxDelay) throws IOException {
        metrics = MetricsRegistry.create();
        service = XdsService.builder(metrics).debounce(quietPeriod, maxDelay).build();
        server = XdsServer.builder(service)
                .address(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .shutdownTimeout(Duration.ofSeconds(2))
                .build()
                .start();
    }

    @AfterEach
    void stop() throws InterruptedException {
        for (XdsTestClient client : clients) {
            client.close();
        }
        for (ManagedChannel channel : channels) {
            channel.shutdownNow();
            assertThat(channel.awaitTermination(5, TimeUnit.SECONDS)).as("channel terminated").isTrue();
        }
        if (server != null) {
            server.close();
        }
    }

    // ---- a. initial wildcard ----

    @Test
    void wildcardSubscriptionGetsTheCompleteSetInOneResponsePerType() throws InvalidProtocolBufferException {
        TestMesh mesh = TestMesh.standard();
        publish(mesh);

        XdsTestClient client = client("node-1");
        client.subscribeAll(ADDRESS);
        client.subscribeAll(AUTHORIZATION);
        Map<String, DeltaDiscoveryResponse> byType = client.nextByType(2);

        XdsSnapshot expected = mesh.snapshot();
        DeltaDiscoveryResponse addresses = byType.get(ADDRESS);
        DeltaDiscoveryResponse policies = byType.get(AUTHORIZATION);
        assertThat(versions(addresses).keySet()).containsExactlyInAnyOrder(
                serviceName("backend"), uid("a"), uid("b"), uid("c"));
        assertThat(versions(policies).keySet()).containsExactly(
                policyName("allow-frontend"), policyName("deny-admin"));
        for (DeltaDiscoveryResponse r : byType.values()) {
            assertThat(versions(r)).isEqualTo(expected.versions(r.getTypeUrl()));
            assertThat(r.getRemovedResourcesList()).isEmpty();
            assertThat(r.getSystemVersionInfo()).isEqualTo(expected.version(r.getTypeUrl()));
            assertThat(r.getNonce()).isNotEmpty();
            assertThat(r.getControlPlane().getIdentifier()).isEqualTo("istiod-lite");
        }
        assertThat(addresses.getNonce()).isNotEqualTo(policies.getNonce());
        // The payloads are the model's messages, versioned by their content.
        for (Resource r : addresses.getResourcesList()) {
            Address address = r.getResource().unpack(Address.class);
            assertThat(address).isEqualTo(mesh.address(r.getName()));
            assertThat(r.getVersion()).isEqualTo(XdsSnapshot.resourceVersion(address));
        }
        for (Resource r : policies.getResourcesList()) {
            Authorization policy = r.getResource().unpack(Authorization.class);
            assertThat(policyName(policy.getName())).isEqualTo(r.getName());
        }
        client.expectNothing(QUIET);
    }

    @Test
    void nothingIsAnsweredBeforeTheFirstModel() {
        XdsTestClient client = client("node-1");
        client.subscribeAll(ADDRESS);
        // No model yet: an answer would claim the mesh is empty.
        client.expectNothing(QUIET);

        TestMesh mesh = TestMesh.standard();
        service.update(mesh.build());
        DeltaDiscoveryResponse r = client.next();
        assertThat(versions(r)).isEqualTo(mesh.snapshot().versions(ADDRESS));
    }

    // ---- b. one change → one resource ----

    @Test
    void changingOneWorkloadSendsOnlyThatWorkload() {
        TestMesh mesh = TestMesh.standard();
        publish(mesh);
        XdsTestClient client = client("node-1");
        client.subscribeAll(ADDRESS);
        client.subscribeAll(AUTHORIZATION);
        Map<String, DeltaDiscoveryResponse> initial = client.nextByType(2);
        initial.values().forEach(client::ack);
        String oldVersion = versions(initial.get(ADDRESS)).get(uid("b"));

        mesh.pod("b", "v2");
        service.update(mesh.build());
        DeltaDiscoveryResponse r = client.next();
        assertThat(r.getTypeUrl()).isEqualTo(ADDRESS);
        assertThat(names(r)).containsExactly(uid("b"));
        assertThat(r.getRemovedResourcesList()).isEmpty();
        String newVersion = versions(r).get(uid("b"));
        assertThat(newVersion).isNotEqualTo(oldVersion)
                .isEqualTo(mesh.snapshot().resources(ADDRESS).get(uid("b")).version());
        assertThat(r.getNonce()).isNotIn(initial.get(ADDRESS).getNonce(), initial.get(AUTHORIZATION).getNonce());
        client.ack(r);
        // Authorization did not change: no response for it.
        client.expectNothing(QUIET);

        // The model recomputed from the same input: same versions, nothing to send.
        service.update(mesh.build());
        client.expectNothing(QUIET);
        // Had the unchanged update produced a response, it would come before this one.
        mesh.pod("c", "v2");
        service.update(mesh.build());
        DeltaDiscoveryResponse next = client.next();
        assertThat(names(next)).containsExactly(uid("c"));
        assertThat(next.getRemovedResourcesList()).isEmpty();
    }

    // ---- c. deletion ----

    @Test
    void deletingAWorkloadSendsItsNameAsRemoved() {
        TestMesh mesh = TestMesh.standard();
        publish(mesh);
        XdsTestClient client = client("node-1");
        client.subscribeAll(ADDRESS);
        client.subscribeAll(AUTHORIZATION);
        client.nextByType(2).values().forEach(client::ack);

        mesh.removePod("a");
        service.update(mesh.build());
        DeltaDiscoveryResponse r = client.next();
        assertThat(r.getTypeUrl()).isEqualTo(ADDRESS);
        assertThat(r.getResourcesList()).isEmpty();
        assertThat(r.getRemovedResourcesList()).containsExactly(uid("a"));
        client.ack(r);

        mesh.removePolicy("deny-admin");
        service.update(mesh.build());
        DeltaDiscoveryResponse p = client.next();
        assertThat(p.getTypeUrl()).isEqualTo(AUTHORIZATION);
        assertThat(p.getResourcesList()).isEmpty();
        assertThat(p.getRemovedResourcesList()).containsExactly(policyName("deny-admin"));
        client.expectNothing(QUIET);
    }

    // ---- d. NACK ----

    @Test
    void nackIsCountedAndTheStreamKeepsWorking() {
        TestMesh mesh = TestMesh.standard();
        publish(mesh);
        XdsTestClient client = client("node-nack");
        client.subscribeAll(ADDRESS);
        client.ack(client.next());

        mesh.pod("a", "v2");
        service.update(mesh.build());
        DeltaDiscoveryResponse rejected = client.next();
        assertThat(names(rejected)).containsExactly(uid("a"));
        client.nack(rejected, "workload a: unknown tunnel protocol");

        await("the NACK is counted", () -> metrics.value(XdsMetrics.NACKS, ADDRESS_LABEL) == 1);
        SubscriptionView view = subscription("node-nack", ADDRESS);
        assertThat(view.ackState()).isEqualTo(AckState.NACKED);
        assertThat(view.lastNackNonce()).isEqualTo(rejected.getNonce());
        assertThat(view.lastNackMessage()).isEqualTo("workload a: unknown tunnel protocol");
        // The rejected version is not pushed again.
        client.expectNothing(QUIET);

        mesh.pod("b", "v2");
        service.update(mesh.build());
        DeltaDiscoveryResponse next = client.next();
        assertThat(names(next)).containsExactly(uid("b"));
        assertThat(client.isClosed()).isFalse();

        // A NACK of a superseded response does not count; the ACK sent after it shows
        // that it was processed (requests of a stream are handled in order).
        client.nack(rejected, "late");
        client.ack(next);
        await("the ACK is recorded", () -> subscription("node-nack", ADDRESS).ackState() == AckState.ACKED);
        assertThat(metrics.value(XdsMetrics.NACKS, ADDRESS_LABEL)).isEqualTo(1);
        assertThat(subscription("node-nack", ADDRESS).lastNonce()).isEqualTo(next.getNonce());
    }

    // ---- e. named subscriptions ----

    @Test
    void namedSubscriptionGetsOnlyTheNamedResources() {
        TestMesh mesh = TestMesh.standard();
        publish(mesh);
        XdsTestClient client = client("node-named");
        client.subscribe(ADDRESS, uid("a"), uid("b"));
        DeltaDiscoveryResponse first = client.next();
        assertThat(versions(first)).isEqualTo(Map.of(
                uid("a"), mesh.snapshot().resources(ADDRESS).get(uid("a")).version(),
                uid("b"), mesh.snapshot().resources(ADDRESS).get(uid("b")).version()));
        assertThat(first.getRemovedResourcesList()).isEmpty();
        client.ack(first);

        client.unsubscribe(ADDRESS, uid("b"));
        await("the unsubscription is processed",
                () -> subscription("node-named", ADDRESS).names().equals(List.of(uid("a"))));
        mesh.pod("a", "v2").pod("b", "v2").pod("c", "v2");
        service.update(mesh.build());
        DeltaDiscoveryResponse changed = client.next();
        assertThat(names(changed)).containsExactly(uid("a"));
        assertThat(changed.getRemovedResourcesList()).isEmpty();
        client.ack(changed);

        // A name that does not exist yet is answered as removed, so the client knows now...
        client.subscribe(ADDRESS, uid("late"));
        DeltaDiscoveryResponse absent = client.next();
        assertThat(absent.getResourcesList()).isEmpty();
        assertThat(absent.getRemovedResourcesList()).containsExactly(uid("late"));
        client.ack(absent);

        // ...and delivered when it appears.
        mesh.pod("late", "v1");
        service.update(mesh.build());
        DeltaDiscoveryResponse appeared = client.next();
        assertThat(names(appeared)).containsExactly(uid("late"));
        assertThat(appeared.getRemovedResourcesList()).isEmpty();
        client.ack(appeared);

        // Removing an unsubscribed workload is none of this client's business.
        mesh.removePod("b");
        service.update(mesh.build());
        client.expectNothing(QUIET);
        mesh.removePod("late");
        service.update(mesh.build());
        DeltaDiscoveryResponse removed = client.next();
        assertThat(removed.getRemovedResourcesList()).containsExactly(uid("late"));
        assertThat(removed.getResourcesList()).isEmpty();
    }

    @Test
    void resubscribingResendsEvenAnUnchangedResource() {
        TestMesh mesh = TestMesh.standard();
        publish(mesh);
        XdsTestClient client = client("node-1");
        client.subscribe(ADDRESS, uid("a"));
        client.ack(client.next());

        // The protocol lets a client re-subscribe to what it seemingly holds (it may
        // have dropped it); the server must send it.
        client.subscribe(ADDRESS, uid("a"));
        DeltaDiscoveryResponse again = client.next();
        assertThat(names(again)).containsExactly(uid("a"));
    }

    @Test
    void unsubscribingANameAlsoCoveredByTheWildcardIsAnswered() {
        TestMesh mesh = TestMesh.standard();
        publish(mesh);
        XdsTestClient client = client("node-1");
        client.subscribeAll(ADDRESS);
        client.ack(client.next());
        client.subscribe(ADDRESS, uid("a"), uid("ghost"));
        DeltaDiscoveryResponse named = client.next();
        assertThat(names(named)).containsExactly(uid("a"));
        assertThat(named.getRemovedResourcesList()).containsExactly(uid("ghost"));
        client.ack(named);

        // Still in the wildcard: the client must be told it keeps the resource...
        client.unsubscribe(ADDRESS, uid("a"));
        DeltaDiscoveryResponse kept = client.next();
        assertThat(names(kept)).containsExactly(uid("a"));
        assertThat(kept.getRemovedResourcesList()).isEmpty();
        // ...and a name outside it that it holds nothing of is answered as removed.
        client.unsubscribe(ADDRESS, uid("ghost"));
        DeltaDiscoveryResponse gone = client.next();
        assertThat(gone.getResourcesList()).isEmpty();
        assertThat(gone.getRemovedResourcesList()).containsExactly(uid("ghost"));

        // Leaving the wildcard: later changes to other resources are not sent.
        client.unsubscribe(ADDRESS, "*");
        await("the wildcard is dropped", () -> !subscription("node-1", ADDRESS).wildcard());
        mesh.pod("b", "v2");
        service.update(mesh.build());
        client.expectNothing(QUIET);
    }

    // ---- f. reconnect ----

    @Test
    void reconnectWithInitialResourceVersionsGetsOnlyTheChanges() {
        TestMesh mesh = TestMesh.standard();
        publish(mesh);
        XdsTestClient before = client("node-1");
        before.subscribeAll(ADDRESS);
        DeltaDiscoveryResponse initial = before.next();
        before.ack(initial);
        Map<String, String> held = versions(initial);
        before.close();
        await("the first stream is gone", () -> service.connectedClients() == 0);

        mesh.pod("a", "v2").removePod("b").pod("d", "v1");
        publish(mesh);

        XdsTestClient after = client("node-1");
        after.resumeAll(ADDRESS, held);
        DeltaDiscoveryResponse resumed = after.next();
        XdsSnapshot now = mesh.snapshot();
        assertThat(versions(resumed)).isEqualTo(Map.of(
                uid("a"), now.resources(ADDRESS).get(uid("a")).version(),
                uid("d"), now.resources(ADDRESS).get(uid("d")).version()));
        assertThat(resumed.getRemovedResourcesList()).containsExactly(uid("b"));
        after.expectNothing(QUIET);
    }

    @Test
    void reconnectHoldingTheCurrentVersionsGetsAnEmptyAnswer() {
        TestMesh mesh = TestMesh.standard();
        publish(mesh);
        Map<String, String> current = mesh.snapshot().versions(ADDRESS);

        XdsTestClient wildcard = client("node-1");
        wildcard.resumeAll(ADDRESS, current);
        // Answered, so the client knows it is in sync, but with nothing in it.
        DeltaDiscoveryResponse r = wildcard.next();
        assertThat(r.getResourcesList()).isEmpty();
        assertThat(r.getRemovedResourcesList()).isEmpty();

        // Named: only the stale one of the two is sent.
        Map<String, String> held = new HashMap<>(Map.of(uid("a"), current.get(uid("a")), uid("b"), "stale"));
        XdsTestClient named = client("node-2");
        named.resume(ADDRESS, held, uid("a"), uid("b"));
        DeltaDiscoveryResponse n = named.next();
        assertThat(versions(n)).isEqualTo(Map.of(uid("b"), current.get(uid("b"))));
        assertThat(n.getRemovedResourcesList()).isEmpty();
    }

    // ---- g. debouncing ----

    @Test
    void burstsOfUpdatesAreDebounced() throws IOException, InterruptedException {
        server.close();
        start(Duration.ofMillis(100), Duration.ofSeconds(1));
        TestMesh mesh = TestMesh.standard();
        publish(mesh);
        XdsTestClient client = client("node-1");
        client.subscribeAll(ADDRESS);
        DeltaDiscoveryResponse initial = client.next();
        client.ack(initial);
        Map<String, String> held = new HashMap<>(versions(initial));
        awaitMetric(XdsMetrics.PUSHES, 1);

        // A few milliseconds apart: without debouncing, the stream would be idle between
        // updates and send each one (the quiet period is 100 ms, the whole burst ~150 ms).
        for (int i = 1; i <= 50; i++) {
            mesh.pod("a", "r" + i);
            service.update(mesh.build());
            Thread.sleep(3);
        }
        String finalVersion = mesh.snapshot().resources(ADDRESS).get(uid("a")).version();
        int responses = 0;
        while (!finalVersion.equals(held.get(uid("a")))) {
            DeltaDiscoveryResponse r = client.next();
            responses++;
            assertThat(names(r)).as(describe(r)).containsExactly(uid("a"));
            held.putAll(versions(r));
            client.ack(r);
        }
        client.expectNothing(QUIET);
        assertThat(responses).as("pushes for 50 updates").isBetween(1, 5);
        awaitMetric(XdsMetrics.PUSHES, 1 + responses);
        assertThat(held).isEqualTo(mesh.snapshot().versions(ADDRESS));
    }

    // ---- h. flow control ----

    @Test
    void aClientThatDoesNotReadDoesNotHoldUpOthersAndGetsTheLatestStateLater() {
        // ~4.8 MB of addresses: far beyond what the slow client's 64 KiB window admits.
        String padding = "x".repeat(16 * 1024);
        TestMesh mesh = new TestMesh();
        for (int i = 0; i < 300; i++) {
            mesh.pod("p" + i, "v0", padding);
        }
        publish(mesh);
        XdsSnapshot initialSnapshot = mesh.snapshot();

        XdsTestClient slow = XdsTestClient.connectWithoutReading(
                channel(b -> b.flowControlWindow(64 * 1024)), "node-slow");
        clients.add(slow);
        slow.subscribeAll(ADDRESS);
        XdsTestClient fast = client("node-fast");
        fast.subscribeAll(ADDRESS);
        DeltaDiscoveryResponse fastInitial = fast.next();
        assertThat(versions(fastInitial)).isEqualTo(initialSnapshot.versions(ADDRESS));
        fast.ack(fastInitial);
        await("the slow client's first response is written",
                () -> subscription("node-slow", ADDRESS).responses() == 1);

        for (int round = 1; round <= 10; round++) {
            mesh.pod("p" + round, "v" + round, padding);
            service.update(mesh.build());
            DeltaDiscoveryResponse r = fast.next();
            assertThat(names(r)).as("round %d", round).containsExactly(uid("p" + round));
            fast.ack(r);
        }
        await("the slow client's stream waits for flow control", () -> clientView("node-slow").awaitingReady());
        // Nothing was queued for it beyond the response it is not reading.
        assertThat(subscription("node-slow", ADDRESS).responses()).isEqualTo(1);

        slow.startReading();
        DeltaDiscoveryResponse first = slow.next();
        assertThat(versions(first)).isEqualTo(initialSnapshot.versions(ADDRESS));
        DeltaDiscoveryResponse latest = slow.next();
        XdsSnapshot now = mesh.snapshot();
        Map<String, String> expected = new HashMap<>();
        for (int round = 1; round <= 10; round++) {
            expected.put(uid("p" + round), now.resources(ADDRESS).get(uid("p" + round)).version());
        }
        // One response with all ten changes at their latest versions, not ten responses.
        assertThat(versions(latest)).isEqualTo(expected);
        assertThat(latest.getRemovedResourcesList()).isEmpty();
        slow.expectNothing(QUIET);
        assertThat(clientView("node-slow").awaitingReady()).isFalse();
    }

    // ---- protocol edges ----

    @Test
    void unknownTypeUrlIsIgnoredAndTheStreamStaysUsable() {
        TestMesh mesh = TestMesh.standard();
        publish(mesh);
        XdsTestClient client = client("node-envoy");
        // Envoy's types are all served since the gateway (SDS too); RTDS is not.
        client.subscribeAll("type.googleapis.com/envoy.service.runtime.v3.Runtime");
        client.expectNothing(QUIET);
        client.subscribeAll(ADDRESS);
        DeltaDiscoveryResponse r = client.next();
        assertThat(r.getTypeUrl()).isEqualTo(ADDRESS);
        assertThat(versions(r)).isEqualTo(mesh.snapshot().versions(ADDRESS));
        assertThat(client.isClosed()).isFalse();
        assertThat(clientView("node-envoy").subscriptions()).extracting(SubscriptionView::typeUrl)
                .containsExactly(ADDRESS);
    }

    @Test
    void stateOfTheWorldWithoutGrpcGeneratorIsRefusedAndPointsAtDelta() {
        CompletableFuture<Status> result = new CompletableFuture<>();
        StreamObserver<DiscoveryRequest> requests = AggregatedDiscoveryServiceGrpc.newStub(channel(b -> b))
                .streamAggregatedResources(new StreamObserver<>() {
                    @Override
                    public void onNext(DiscoveryResponse value) {
                        result.completeExceptionally(new AssertionError("unexpected response " + value));
                    }

                    @Override
                    public void onError(Throwable t) {
                        result.complete(Status.fromThrowable(t));
                    }

                    @Override
                    public void onCompleted() {
                        result.complete(Status.OK);
                    }
                });
        requests.onNext(DiscoveryRequest.newBuilder().setTypeUrl(ADDRESS).build());
        Status status = result.orTimeout(TIMEOUT.toSeconds(), TimeUnit.SECONDS).join();
        assertThat(status.getCode()).isEqualTo(Status.Code.UNIMPLEMENTED);
        assertThat(status.getDescription()).contains("DeltaAggregatedResources");
    }

    // ---- metrics and debug view ----

    @Test
    void metricsFollowClientsPushesAndResources() {
        TestMesh mesh = TestMesh.standard();
        publish(mesh);
        XdsTestClient client = client("node-1");
        client.subscribeAll(ADDRESS);
        client.ack(client.next());
        assertThat(metrics.value(XdsMetrics.CONNECTED_CLIENTS)).isEqualTo(1);
        // Counted right after the write, so possibly just after the client has it.
        awaitMetric(XdsMetrics.PUSHES, 1);
        awaitMetric(XdsMetrics.RESOURCES_SENT, 4);
        // The initial answer is not a push of an update: no latency observed (it would
        // have been, before the counters above moved).
        assertThat(metrics.value(XdsMetrics.PUSH_SECONDS, ADDRESS_LABEL)).isZero();

        mesh.pod("a", "v2").pod("b", "v2");
        service.update(mesh.build());
        client.ack(client.next());
        awaitMetric(XdsMetrics.PUSHES, 2);
        awaitMetric(XdsMetrics.RESOURCES_SENT, 6);
        assertThat(metrics.value(XdsMetrics.PUSH_SECONDS, ADDRESS_LABEL)).isEqualTo(1);
        assertThat(metrics.scrape()).contains("ambit_istiod_xds_push_seconds_bucket{type=\"istio.workload.Address\"");

        client.close();
        await("the client is counted out", () -> metrics.value(XdsMetrics.CONNECTED_CLIENTS) == 0);
    }

    @Test
    void debugViewShowsEachClientAndTheSnapshot() {
        TestMesh mesh = TestMesh.standard();
        publish(mesh);
        XdsTestClient client = client("node-debug");
        client.subscribeAll(ADDRESS);
        client.subscribe(AUTHORIZATION, policyName("deny-admin"));
        Map<String, DeltaDiscoveryResponse> byType = client.nextByType(2);
        client.ack(byType.get(ADDRESS));
        await("the ACK is recorded", () -> subscription("node-debug", ADDRESS).ackState() == AckState.ACKED);

        XdsDebugView view = service.debugView();
        assertThat(view.snapshot().generation()).isEqualTo(1);
        assertThat(view.snapshot().resources().get(ADDRESS)).isEqualTo(mesh.snapshot().versions(ADDRESS));
        assertThat(view.snapshot().typeVersions().get(AUTHORIZATION)).isEqualTo(mesh.snapshot().version(AUTHORIZATION));
        ClientView c = view.client("node-debug");
        assertThat(c.peer()).startsWith("127.0.0.1:");
        assertThat(c.connectedAt()).isNotNull();
        SubscriptionView addresses = c.subscriptions().getFirst();
        assertThat(addresses.typeUrl()).isEqualTo(ADDRESS);
        assertThat(addresses.wildcard()).isTrue();
        assertThat(addresses.lastNonce()).isEqualTo(byType.get(ADDRESS).getNonce());
        assertThat(addresses.sent()).isEqualTo(mesh.snapshot().versions(ADDRESS));
        SubscriptionView policies = c.subscriptions().get(1);
        assertThat(policies.wildcard()).isFalse();
        assertThat(policies.names()).containsExactly(policyName("deny-admin"));
        assertThat(policies.ackState()).isEqualTo(AckState.PENDING);
        assertThat(policies.sent()).containsOnlyKeys(policyName("deny-admin"));

        String json = view.toJson();
        assertThat(json).startsWith("{\"snapshot\":{\"generation\":1,")
                .contains("\"nodeId\":\"node-debug\"")
                .contains("\"peer\":\"127.0.0.1:")
                .contains("\"ackState\":\"ACKED\"")
                .contains("\"lastNonce\":\"" + byType.get(ADDRESS).getNonce() + "\"")
                .contains("\"" + uid("a") + "\":\"" + mesh.snapshot().resources(ADDRESS).get(uid("a")).version() + "\"")
                .endsWith("]}");
    }

    // ---- helpers ----

    /** Updates the model and waits until the service serves exactly it. */
    private void publish(TestMesh mesh) {
        XdsSnapshot expected = mesh.snapshot();
        service.update(mesh.build());
        await("the model is published",
                () -> service.snapshot().map(s -> s.sameContent(expected)).orElse(false));
    }

    /** Waits until the Address child of a metric reaches {@code expected}, and fails if it passes it. */
    private void awaitMetric(String name, double expected) {
        await(name + " = " + expected, () -> metrics.value(name, ADDRESS_LABEL) >= expected);
        assertThat(metrics.value(name, ADDRESS_LABEL)).as(name).isEqualTo(expected);
    }

    private ManagedChannel channel(UnaryOperator<NettyChannelBuilder> tweak) {
        NettyChannelBuilder builder = NettyChannelBuilder.forAddress(server.localAddress())
                .usePlaintext()
                .maxInboundMessageSize(64 * 1024 * 1024);
        ManagedChannel channel = tweak.apply(builder).build();
        channels.add(channel);
        return channel;
    }

    private XdsTestClient client(String nodeId) {
        XdsTestClient client = XdsTestClient.connect(channel(b -> b), nodeId);
        clients.add(client);
        return client;
    }

    private ClientView clientView(String nodeId) {
        ClientView view = service.debugView().client(nodeId);
        if (view == null) {
            fail("no connected client " + nodeId + " in " + service.debugView().toJson());
        }
        return view;
    }

    private SubscriptionView subscription(String nodeId, String typeUrl) {
        for (SubscriptionView s : clientView(nodeId).subscriptions()) {
            if (s.typeUrl().equals(typeUrl)) {
                return s;
            }
        }
        throw new AssertionError("client " + nodeId + " has no " + typeUrl + " subscription");
    }

    /**
     * Waits, bounded, until the condition holds: it reads state that the server's threads
     * change. A condition that fails an assertion (the client is not there yet) is retried.
     */
    private static void await(String what, BooleanSupplier condition) {
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
