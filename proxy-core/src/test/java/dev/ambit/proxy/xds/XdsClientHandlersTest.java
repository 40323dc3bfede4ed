package dev.ambit.proxy.xds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Any;
import com.google.protobuf.Message;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.ambit.api.TypeUrls;
import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.xds.ResourceHandler.Rejection;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.envoyproxy.envoy.service.discovery.v3.Resource;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Two {@link ResourceHandler}s on one client, against a scripted ADS server in this
 * process: both types ride one stream, and each is ACKed or NACKed on its own, as a
 * waypoint subscribing to Envoy's types next to Istio's would need.
 */
class XdsClientHandlersTest {

    private static final Duration WAIT = Duration.ofSeconds(10);

    private final ScriptedAds ads = new ScriptedAds();
    private final MetricsRegistry metrics = MetricsRegistry.create();
    private final Recording<Address> addresses = new Recording<>(TypeUrls.ADDRESS, Address.class);
    private final Recording<Cluster> clusters = new Recording<>(TypeUrls.CLUSTER, Cluster.class);
    private Server server;
    private ManagedChannel channel;
    private XdsClient client;

    @BeforeEach
    void start() throws Exception {
        server = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .addService(ads)
                .build()
                .start();
        channel = NettyChannelBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(),
                server.getPort())).usePlaintext().build();
        client = XdsClient.builder(channel)
                .handler(addresses)
                .handler(clusters)
                .nodeId("waypoint~10.0.0.9~waypoint-abc.shop~shop.svc.cluster.local")
                .userAgentName("ambit-waypoint")
                .nodeMetadata(Struct.newBuilder()
                        .putFields("NAMESPACE", Value.newBuilder().setStringValue("shop").build())
                        .putFields("GENERATOR", Value.newBuilder().setStringValue("waypoint").build())
                        .build())
                .metrics(metrics)
                .build()
                .start();
    }

    @AfterEach
    void stop() throws Exception {
        client.close();
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    @Test
    void subscribesToEveryHandlersTypeOnOneStreamAndAcksEach() throws Exception {
        DeltaDiscoveryRequest first = ads.next();
        DeltaDiscoveryRequest second = ads.next();
        // Wildcard subscriptions, in the order the handlers were registered.
        assertThat(List.of(first.getTypeUrl(), second.getTypeUrl())).containsExactly(TypeUrls.ADDRESS, TypeUrls.CLUSTER);
        assertThat(first.getResourceNamesSubscribeList()).isEmpty();
        assertThat(first.getNode().getId()).startsWith("waypoint~");
        assertThat(first.getNode().getUserAgentName()).isEqualTo("ambit-waypoint");
        assertThat(first.getNode().getMetadata().getFieldsMap().get("GENERATOR").getStringValue()).isEqualTo("waypoint");
        assertThat(second.getNode().getMetadata().getFieldsMap().get("NAMESPACE").getStringValue()).isEqualTo("shop");
        assertThat(client.typeUrls()).containsExactly(TypeUrls.ADDRESS, TypeUrls.CLUSTER);

        ads.send(response(TypeUrls.ADDRESS, "a1", "Kubernetes//Pod/shop/p", workload("p")));
        ads.send(response(TypeUrls.CLUSTER, "c1", "outbound|8080||backend", Cluster.newBuilder()
                .setName("outbound|8080||backend").build()));

        assertAck(ads.next(), TypeUrls.ADDRESS, "a1");
        assertAck(ads.next(), TypeUrls.CLUSTER, "c1");
        assertThat(client.awaitFirstSync(WAIT)).isTrue();
        assertThat(addresses.held).containsOnlyKeys("Kubernetes//Pod/shop/p");
        assertThat(clusters.held.get("outbound|8080||backend").getName()).isEqualTo("outbound|8080||backend");
        assertThat(ads.streams.get()).isEqualTo(1);
        assertThat(metrics.value(XdsClientMetrics.RESOURCES, "envoy.config.cluster.v3.Cluster")).isEqualTo(1);
        assertThat(metrics.value(XdsClientMetrics.UPDATES, "istio.workload.Address")).isEqualTo(1);
    }

    @Test
    void aNackOfOneTypeLeavesTheOtherTypeAlone() throws Exception {
        ads.next();
        ads.next();
        ads.send(response(TypeUrls.CLUSTER, "c1", "bad", Cluster.newBuilder().setName("bad").build()));
        DeltaDiscoveryRequest nack = ads.next();
        assertThat(nack.getTypeUrl()).isEqualTo(TypeUrls.CLUSTER);
        assertThat(nack.getResponseNonce()).isEqualTo("c1");
        assertThat(nack.getErrorDetail().getMessage()).isEqualTo("cluster bad: rejected by the test");
        assertThat(client.lastNack()).isEqualTo("cluster bad: rejected by the test");
        assertThat(clusters.held).isEmpty();

        // The other type is applied and ACKed as if nothing happened.
        ads.send(response(TypeUrls.ADDRESS, "a1", "Kubernetes//Pod/shop/p", workload("p")));
        assertAck(ads.next(), TypeUrls.ADDRESS, "a1");
        assertThat(addresses.held).containsOnlyKeys("Kubernetes//Pod/shop/p");
        assertThat(client.isSynced()).as("clusters not synced yet").isFalse();

        // And the NACKed type recovers with the next good response.
        ads.send(response(TypeUrls.CLUSTER, "c2", "good", Cluster.newBuilder().setName("good").build()));
        assertAck(ads.next(), TypeUrls.CLUSTER, "c2");
        assertThat(client.awaitFirstSync(WAIT)).isTrue();
        assertThat(clusters.held).containsOnlyKeys("good");
        assertThat(metrics.value(XdsClientMetrics.NACKS, "envoy.config.cluster.v3.Cluster")).isEqualTo(1);
        assertThat(metrics.value(XdsClientMetrics.NACKS, "istio.workload.Address")).isZero();
        assertThat(ads.streams.get()).isEqualTo(1);
    }

    @Test
    void aResourceOfAnotherTypeIsNackedBeforeReachingTheHandler() throws Exception {
        ads.next();
        ads.next();
        // A Cluster body under the Address type URL.
        ads.send(DeltaDiscoveryResponse.newBuilder().setTypeUrl(TypeUrls.ADDRESS).setNonce("a1")
                .addResources(Resource.newBuilder().setName("x").setVersion("1")
                        .setResource(Any.pack(Cluster.getDefaultInstance())))
                .build());
        DeltaDiscoveryRequest nack = ads.next();
        assertThat(nack.getTypeUrl()).isEqualTo(TypeUrls.ADDRESS);
        assertThat(nack.getErrorDetail().getMessage()).contains("x: cannot unpack");
        assertThat(addresses.calls.get()).isZero();
    }

    @Test
    void withoutNodeOptionsTheClientIsANodeAgentWithoutMetadata() throws Exception {
        ads.next();
        ads.next();
        client.close();
        XdsClient plain = XdsClient.builder(channel).handler(addresses).nodeId("ztunnel~10.0.0.1~z.istio-system~x")
                .build().start();
        try {
            DeltaDiscoveryRequest first = ads.next();
            assertThat(first.getNode().getId()).isEqualTo("ztunnel~10.0.0.1~z.istio-system~x");
            assertThat(first.getNode().getUserAgentName()).isEqualTo(XdsClient.DEFAULT_USER_AGENT_NAME)
                    .isEqualTo("ambit-node-agent");
            assertThat(first.getNode().hasMetadata()).isFalse();
        } finally {
            plain.close();
        }
        assertThatThrownBy(() -> XdsClient.builder(channel).userAgentName(" "))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("userAgentName");
    }

    @Test
    void builderWantsOneHandlerPerTypeAndAtLeastOne() {
        assertThatThrownBy(() -> XdsClient.builder(channel).handler(addresses)
                .handler(new Recording<>(TypeUrls.ADDRESS, Address.class)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(TypeUrls.ADDRESS).hasMessageContaining("one handler per type");
        assertThatThrownBy(() -> XdsClient.builder(channel).handler(new Recording<>("istio.workload.Address",
                Address.class)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("expected: type.googleapis.com/<message full name>");
        assertThatThrownBy(() -> XdsClient.builder(channel).build())
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("without a handler");
    }

    // ---------------------------------------------------------------- helpers

    private static void assertAck(DeltaDiscoveryRequest ack, String type, String nonce) {
        assertThat(ack.getTypeUrl()).isEqualTo(type);
        assertThat(ack.getResponseNonce()).isEqualTo(nonce);
        assertThat(ack.hasErrorDetail()).as("error_detail of %s", ack).isFalse();
    }

    private static Address workload(String name) {
        return Address.newBuilder().setWorkload(Workload.newBuilder()
                .setUid("Kubernetes//Pod/shop/" + name).setName(name).setNamespace("shop")).build();
    }

    private static DeltaDiscoveryResponse response(String type, String nonce, String name, Message resource) {
        return DeltaDiscoveryResponse.newBuilder().setTypeUrl(type).setNonce(nonce)
                .addResources(Resource.newBuilder().setName(name).setVersion(nonce).setResource(Any.pack(resource)))
                .build();
    }

    /** Keeps what it is given; rejects a resource named "bad". */
    private static final class Recording<T extends Message> implements ResourceHandler<T> {
        final Map<String, T> held = new ConcurrentHashMap<>();
        final AtomicInteger calls = new AtomicInteger();
        private final String typeUrl;
        private final Class<T> type;

        Recording(String typeUrl, Class<T> type) {
            this.typeUrl = typeUrl;
            this.type = type;
        }

        @Override
        public String typeUrl() {
            return typeUrl;
        }

        @Override
        public Class<T> messageType() {
            return type;
        }

        @Override
        public List<Rejection> apply(Map<String, T> updates, List<String> removes) {
            calls.incrementAndGet();
            if (updates.containsKey("bad")) {
                return List.of(new Rejection("bad", "cluster bad: rejected by the test"));
            }
            held.putAll(updates);
            removes.forEach(held::remove);
            return List.of();
        }
    }

    /** An ADS server that records every request and sends what the test tells it to, on the latest stream. */
    private static final class ScriptedAds extends AggregatedDiscoveryServiceGrpc.AggregatedDiscoveryServiceImplBase {
        final BlockingQueue<DeltaDiscoveryRequest> requests = new LinkedBlockingQueue<>();
        final AtomicInteger streams = new AtomicInteger();
        private volatile StreamObserver<DeltaDiscoveryResponse> responses;

        @Override
        public StreamObserver<DeltaDiscoveryRequest> deltaAggregatedResources(
                StreamObserver<DeltaDiscoveryResponse> responses) {
            streams.incrementAndGet();
            this.responses = responses;
            return new StreamObserver<>() {
                @Override
                public void onNext(DeltaDiscoveryRequest request) {
                    requests.add(request);
                }

                @Override
                public void onError(Throwable t) {}

                @Override
                public void onCompleted() {
                    responses.onCompleted();
                }
            };
        }

        DeltaDiscoveryRequest next() throws InterruptedException {
            DeltaDiscoveryRequest r = requests.poll(10, TimeUnit.SECONDS);
            assertThat(r).as("a request from the client within 10 s").isNotNull();
            return r;
        }

        synchronized void send(DeltaDiscoveryResponse response) {
            responses.onNext(response);
        }
    }
}
