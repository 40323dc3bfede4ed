package dev.ambit.istiod.xds;

import static dev.ambit.istiod.xds.L7XdsServiceTest.await;
import static dev.ambit.istiod.xds.XdsTestClient.TIMEOUT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.ambit.api.TypeUrls;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.l7.L7Resources;
import dev.ambit.istiod.xds.XdsDebugView.AckState;
import dev.ambit.istiod.xds.XdsDebugView.ClientView;
import dev.ambit.istiod.xds.XdsDebugView.SubscriptionView;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DiscoveryResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** State-of-the-world ADS for proxyless gRPC clients, driven by hand as grpc-java's xDS client drives it. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SotwServiceTest {

    private static final String LDS = TypeUrls.LISTENER;
    private static final String CDS = TypeUrls.CLUSTER;
    private static final String EDS = TypeUrls.CLUSTER_LOAD_ASSIGNMENT;
    private static final Duration QUIET = Duration.ofMillis(500);
    private static final String ECHO = "echo.default.svc.cluster.local";
    private static final String ECHO_CLUSTER = "outbound|7070||" + ECHO;

    private MetricsRegistry metrics;
    private XdsService service;
    private XdsServer server;
    private ManagedChannel channel;
    private final List<Sotw> clients = new ArrayList<>();

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
        clients.forEach(Sotw::close);
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.close();
    }

    @Test
    void listenerByNameThenAckThenQuiet() {
        publish(new TestL7().grpcService(ECHO, 7070, "127.0.0.2").grpcService("other.default.svc.cluster.local",
                7070, "127.0.0.9").build());
        Sotw c = grpcClient();
        c.request(LDS, "", "", ECHO + ":7070");
        DiscoveryResponse r = c.next();
        assertThat(r.getTypeUrl()).isEqualTo(LDS);
        assertThat(names(r)).containsExactly(ECHO + ":7070");
        assertThat(r.getVersionInfo()).isNotEmpty();
        assertThat(r.getNonce()).isNotEmpty();
        // ACK: same names, the version and nonce echoed. Nothing more until something changes.
        c.request(LDS, r.getVersionInfo(), r.getNonce(), ECHO + ":7070");
        c.expectNothing(QUIET);
        await("ACKed", () -> subscription(LDS).ackState() == AckState.ACKED);
        ClientView view = service.debugView().clients().getFirst();
        assertThat(view.protocol()).isEqualTo(XdsDebugView.Protocol.SOTW);
        assertThat(view.nodeId()).isEqualTo("grpc-client-1");
    }

    @Test
    void eachResponseCarriesEveryRequestedResourceOfItsType() {
        publish(new TestL7().grpcService(ECHO, 7070, "127.0.0.2").grpcService("other.default.svc.cluster.local",
                7070, "127.0.0.9").build());
        Sotw c = grpcClient();
        c.request(LDS, "", "", ECHO + ":7070");
        DiscoveryResponse first = c.next();
        // A second target: the request names both, the response carries both.
        c.request(LDS, first.getVersionInfo(), first.getNonce(), ECHO + ":7070",
                "other.default.svc.cluster.local:7070", "missing:1");
        DiscoveryResponse both = c.next();
        assertThat(names(both)).containsExactly(ECHO + ":7070", "other.default.svc.cluster.local:7070");
        assertThat(both.getVersionInfo()).isNotEqualTo(first.getVersionInfo());
        assertThat(both.getNonce()).isNotEqualTo(first.getNonce());
    }

    @Test
    void wildcardClustersAndNamedEndpoints() {
        publish(new TestL7().grpcService(ECHO, 7070, "127.0.0.2").grpcService("other.default.svc.cluster.local",
                7070, "127.0.0.9").build());
        Sotw c = grpcClient();
        c.request(CDS, "", "");
        assertThat(names(c.next())).containsExactly("outbound|7070||" + ECHO,
                "outbound|7070||other.default.svc.cluster.local");
        c.request(EDS, "", "", ECHO_CLUSTER);
        assertThat(names(c.next())).containsExactly(ECHO_CLUSTER);
    }

    @Test
    void aModelChangeIsPushedWithANewVersionOnlyForTheTypeThatChanged() throws InvalidProtocolBufferException {
        publish(new TestL7().grpcService(ECHO, 7070, "127.0.0.2").build());
        Sotw c = grpcClient();
        c.request(LDS, "", "", ECHO + ":7070");
        DiscoveryResponse lds = c.next();
        c.request(LDS, lds.getVersionInfo(), lds.getNonce(), ECHO + ":7070");
        c.request(EDS, "", "", ECHO_CLUSTER);
        DiscoveryResponse eds = c.next();
        c.request(EDS, eds.getVersionInfo(), eds.getNonce(), ECHO_CLUSTER);
        c.expectNothing(QUIET);

        publish(new TestL7().grpcService(ECHO, 7070, "127.0.0.3").build());
        DiscoveryResponse pushed = c.next();
        assertThat(pushed.getTypeUrl()).isEqualTo(EDS);
        assertThat(pushed.getVersionInfo()).isNotEqualTo(eds.getVersionInfo());
        ClusterLoadAssignment cla = pushed.getResources(0).unpack(ClusterLoadAssignment.class);
        assertThat(cla.getEndpoints(0).getLbEndpoints(0).getEndpoint().getAddress().getSocketAddress().getAddress())
                .isEqualTo("127.0.0.3");
        c.expectNothing(QUIET);
    }

    @Test
    void nackIsCountedAndTheSameVersionIsNotSentAgain() {
        publish(new TestL7().grpcService(ECHO, 7070, "127.0.0.2").build());
        Sotw c = grpcClient();
        c.request(EDS, "", "", ECHO_CLUSTER);
        DiscoveryResponse eds = c.next();
        c.request(EDS, eds.getVersionInfo(), eds.getNonce(), ECHO_CLUSTER);
        publish(new TestL7().grpcService(ECHO, 7070, "127.0.0.3").build());
        DiscoveryResponse bad = c.next();
        // NACK: the version the client still runs, the nonce it rejects, the reason.
        c.send(DiscoveryRequest.newBuilder().setTypeUrl(EDS).setVersionInfo(eds.getVersionInfo())
                .setResponseNonce(bad.getNonce()).addResourceNames(ECHO_CLUSTER)
                .setErrorDetail(com.google.rpc.Status.newBuilder().setCode(3).setMessage("bad endpoint")));
        await("NACK recorded", () -> subscription(EDS).ackState() == AckState.NACKED);
        assertThat(subscription(EDS).lastNackMessage()).isEqualTo("bad endpoint");
        assertThat(metrics.value(XdsMetrics.NACKS, "envoy.config.endpoint.v3.ClusterLoadAssignment")).isEqualTo(1.0);
        c.expectNothing(QUIET);

        publish(new TestL7().grpcService(ECHO, 7070, "127.0.0.4").build());
        DiscoveryResponse next = c.next();
        assertThat(next.getVersionInfo()).isNotEqualTo(bad.getVersionInfo());
    }

    @Test
    void staleNonceIsIgnored() {
        publish(new TestL7().grpcService(ECHO, 7070, "127.0.0.2").build());
        Sotw c = grpcClient();
        c.request(EDS, "", "", ECHO_CLUSTER);
        DiscoveryResponse first = c.next();
        publish(new TestL7().grpcService(ECHO, 7070, "127.0.0.3").build());
        DiscoveryResponse second = c.next();
        // A late answer to the first response, with other names: superseded, so ignored.
        c.request(EDS, first.getVersionInfo(), first.getNonce(), ECHO_CLUSTER, "outbound|1||x");
        c.expectNothing(QUIET);
        assertThat(subscription(EDS).names()).containsExactly(ECHO_CLUSTER);
        assertThat(subscription(EDS).lastNonce()).isEqualTo(second.getNonce());
    }

    @Test
    void nothingIsAnsweredBeforeTheFirstModel() {
        Sotw c = grpcClient();
        c.request(LDS, "", "", ECHO + ":7070");
        c.expectNothing(QUIET);
        publish(new TestL7().grpcService(ECHO, 7070, "127.0.0.2").build());
        assertThat(names(c.next())).containsExactly(ECHO + ":7070");
    }

    @Test
    void aClientWithoutGrpcGeneratorIsRefused() {
        publish(new TestL7().grpcService(ECHO, 7070, "127.0.0.2").build());
        Sotw c = new Sotw(TestL7.waypointNode("shop", "wp-a"));
        c.request(LDS, "", "", ECHO + ":7070");
        Status status = c.closed.orTimeout(TIMEOUT.toSeconds(), TimeUnit.SECONDS).join();
        assertThat(status.getCode()).isEqualTo(Status.Code.UNIMPLEMENTED);
        assertThat(status.getDescription()).contains("GENERATOR", "DeltaAggregatedResources");
        assertThat(c.responses).isEmpty();
    }

    // ---- helpers ----

    private void publish(L7Resources l7) {
        service.update(TestMesh.standard().build(), l7);
        await("the model is published", () -> service.l7Resources() == l7);
    }

    private Sotw grpcClient() {
        return new Sotw(TestL7.grpcNode("grpc-client-1"));
    }

    private SubscriptionView subscription(String typeUrl) {
        for (ClientView c : service.debugView().clients()) {
            for (SubscriptionView s : c.subscriptions()) {
                if (s.typeUrl().equals(typeUrl)) {
                    return s;
                }
            }
        }
        throw new AssertionError("no " + typeUrl + " subscription in " + service.debugView().toJson());
    }

    private static List<String> names(DiscoveryResponse r) {
        List<String> names = new ArrayList<>();
        for (Any any : r.getResourcesList()) {
            assertThat(any.getTypeUrl()).isEqualTo(r.getTypeUrl());
            try {
                names.add(switch (r.getTypeUrl()) {
                    case TypeUrls.LISTENER -> any.unpack(io.envoyproxy.envoy.config.listener.v3.Listener.class)
                            .getName();
                    case TypeUrls.CLUSTER -> any.unpack(io.envoyproxy.envoy.config.cluster.v3.Cluster.class).getName();
                    case TypeUrls.CLUSTER_LOAD_ASSIGNMENT -> any.unpack(ClusterLoadAssignment.class).getClusterName();
                    default -> any.unpack(io.envoyproxy.envoy.config.route.v3.RouteConfiguration.class).getName();
                });
            } catch (InvalidProtocolBufferException e) {
                throw new AssertionError(e);
            }
        }
        return names;
    }

    /** One SotW stream from the test's side. */
    private final class Sotw implements AutoCloseable {
        final BlockingQueue<DiscoveryResponse> responses = new LinkedBlockingQueue<>();
        final CompletableFuture<Status> closed = new CompletableFuture<>();
        final StreamObserver<DiscoveryRequest> requests;
        final Node node;
        boolean nodeSent;

        Sotw(Node node) {
            this.node = node;
            requests = AggregatedDiscoveryServiceGrpc.newStub(channel).streamAggregatedResources(new StreamObserver<>() {
                @Override
                public void onNext(DiscoveryResponse value) {
                    responses.add(value);
                }

                @Override
                public void onError(Throwable t) {
                    closed.complete(Status.fromThrowable(t));
                }

                @Override
                public void onCompleted() {
                    closed.complete(Status.OK);
                }
            });
            clients.add(this);
        }

        /** As grpc-java sends them: the node on the first request only. */
        synchronized void send(DiscoveryRequest.Builder request) {
            if (!nodeSent) {
                request.setNode(node);
                nodeSent = true;
            }
            requests.onNext(request.build());
        }

        void request(String typeUrl, String version, String nonce, String... names) {
            send(DiscoveryRequest.newBuilder().setTypeUrl(typeUrl).setVersionInfo(version).setResponseNonce(nonce)
                    .addAllResourceNames(List.of(names)));
        }

        DiscoveryResponse next() {
            try {
                DiscoveryResponse r = responses.poll(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                if (r == null) {
                    fail("no SotW response within " + TIMEOUT + (closed.isDone() ? "; closed " + closed.join() : ""));
                }
                return r;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }

        void expectNothing(Duration quiet) {
            try {
                DiscoveryResponse r = responses.poll(quiet.toMillis(), TimeUnit.MILLISECONDS);
                if (r != null) {
                    fail("expected no response for " + quiet + ", got " + r.getTypeUrl() + " " + r.getVersionInfo());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }

        @Override
        public void close() {
            if (!closed.isDone()) {
                requests.onError(Status.CANCELLED.asRuntimeException());
            }
        }
    }
}
