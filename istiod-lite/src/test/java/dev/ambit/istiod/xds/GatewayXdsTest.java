package dev.ambit.istiod.xds;

import static dev.ambit.istiod.xds.XdsTestClient.TIMEOUT;
import static dev.ambit.istiod.xds.XdsTestClient.names;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.ambit.api.TypeUrls;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.ingress.IngressCases;
import dev.ambit.istiod.l7.L7Resources;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A gateway proxy on the delta ADS stream: its node's namespace and labels pick the
 * {@code NS/~labels} snapshot the translation built for the pods an Istio Gateway selects; it
 * gets its Listeners, Secrets (SDS), routes and clusters; waypoints and agents get an empty
 * Secret set; the debug view redacts nothing it does not show (only versions).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class GatewayXdsTest {

    private static final List<String> ENVOY = List.of(TypeUrls.CLUSTER, TypeUrls.CLUSTER_LOAD_ASSIGNMENT,
            TypeUrls.SECRET, TypeUrls.LISTENER, TypeUrls.ROUTE_CONFIGURATION);

    @TempDir
    Path scratch;

    private XdsService service;
    private XdsServer server;
    private ManagedChannel channel;
    private final List<XdsTestClient> clients = new ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        service = XdsService.builder(MetricsRegistry.create()).debounce(Duration.ofMillis(20), Duration.ofMillis(200))
                .build();
        server = XdsServer.builder(service).address(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .shutdownTimeout(Duration.ofSeconds(2)).build().start();
        channel = NettyChannelBuilder.forAddress(server.localAddress()).usePlaintext().build();
    }

    @AfterEach
    void stop() throws InterruptedException {
        clients.forEach(XdsTestClient::close);
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.close();
    }

    @Test
    void aGatewayPodGetsItsListenersAndSecretsOverDeltaAds() throws Exception {
        L7Resources l7 = IngressCases.translate("http-https", scratch).resources();
        publish(l7);

        XdsTestClient gateway = client(XdsTestClient.connect(channel, gatewayNode("istio-system",
                Map.of("istio", "ingressgateway", "app", "istio-ingressgateway", "istio.io/dataplane-mode", "none"))));
        ENVOY.forEach(gateway::subscribeAll);
        Map<String, DeltaDiscoveryResponse> got = gateway.nextByType(5);
        assertThat(names(got.get(TypeUrls.LISTENER))).containsExactlyInAnyOrder("0.0.0.0_80", "0.0.0.0_443");
        assertThat(names(got.get(TypeUrls.SECRET))).containsExactly("kubernetes://app-cert");
        assertThat(names(got.get(TypeUrls.ROUTE_CONFIGURATION)))
                .containsExactlyInAnyOrder("http.80", "https.443.https.ingressgateway.istio-system");
        assertThat(names(got.get(TypeUrls.CLUSTER))).contains("outbound|80||frontend.shop.svc.cluster.local");
        Secret secret = got.get(TypeUrls.SECRET).getResources(0).getResource().unpack(Secret.class);
        assertThat(secret.getTlsCertificate().getPrivateKey().getInlineBytes().isEmpty()).isFalse();
        Listener https = got.get(TypeUrls.LISTENER).getResourcesList().stream()
                .filter(r -> r.getName().equals("0.0.0.0_443")).findFirst().orElseThrow()
                .getResource().unpack(Listener.class);
        assertThat(https.getAddress().getSocketAddress().getPortValue()).isEqualTo(443);
        assertThat(service.debugView().clients()).anySatisfy(c -> assertThat(c.proxy())
                .isEqualTo(IngressCases.INGRESS_KEY));

        // The same labels in another namespace, or a subset of them, are another proxy: nothing.
        XdsTestClient elsewhere = client(XdsTestClient.connect(channel, gatewayNode("shop",
                Map.of("istio", "ingressgateway", "app", "istio-ingressgateway", "istio.io/dataplane-mode", "none"))));
        XdsTestClient fewer = client(XdsTestClient.connect(channel, gatewayNode("istio-system",
                Map.of("istio", "ingressgateway"))));
        for (XdsTestClient c : List.of(elsewhere, fewer)) {
            c.subscribeAll(TypeUrls.LISTENER);
            c.subscribeAll(TypeUrls.SECRET);
            for (DeltaDiscoveryResponse r : c.nextByType(2).values()) {
                assertThat(r.getResourcesList()).isEmpty();
            }
        }
    }

    @Test
    void secretsSubscribedByNameAsEnvoyDoesFollowARotation() throws Exception {
        L7Resources l7 = IngressCases.translate("http-https", scratch).resources();
        publish(l7);
        XdsTestClient gateway = client(XdsTestClient.connect(channel, gatewayNode("istio-system",
                Map.of("istio", "ingressgateway", "app", "istio-ingressgateway", "istio.io/dataplane-mode", "none"))));
        gateway.subscribe(TypeUrls.SECRET, "kubernetes://app-cert");
        DeltaDiscoveryResponse first = gateway.next();
        assertThat(names(first)).containsExactly("kubernetes://app-cert");
        gateway.ack(first);

        // The Secret is edited (a new certificate): the same name comes again with a new version.
        Map<String, Map<String, Map<String, com.google.protobuf.Message>>> proxies = new java.util.LinkedHashMap<>();
        for (String key : l7.waypoints()) {
            Map<String, Map<String, com.google.protobuf.Message>> byType = new java.util.LinkedHashMap<>(l7.forProxy(key));
            Secret old = (Secret) byType.get(TypeUrls.SECRET).get("kubernetes://app-cert");
            Secret rotated = old.toBuilder().setTlsCertificate(old.getTlsCertificate().toBuilder()
                    .setCertificateChain(io.envoyproxy.envoy.config.core.v3.DataSource.newBuilder()
                            .setInlineBytes(com.google.protobuf.ByteString.copyFromUtf8("rotated")))).build();
            byType.put(TypeUrls.SECRET, Map.of("kubernetes://app-cert", rotated));
            proxies.put(key, byType);
        }
        publish(L7Resources.of(proxies, l7.forGrpc(), List.of()));
        DeltaDiscoveryResponse second = gateway.next();
        assertThat(names(second)).containsExactly("kubernetes://app-cert");
        assertThat(second.getResources(0).getVersion()).isNotEqualTo(first.getResources(0).getVersion());
        assertThat(second.getResources(0).getResource().unpack(Secret.class).getTlsCertificate()
                .getCertificateChain().getInlineBytes().toStringUtf8()).isEqualTo("rotated");
    }

    @Test
    void aWaypointGetsAnEmptySecretSet() throws Exception {
        publish(IngressCases.translate("http-https", scratch).resources());
        XdsTestClient waypoint = client(XdsTestClient.connect(channel, TestL7.waypointNode("shop", "waypoint")));
        waypoint.subscribeAll(TypeUrls.SECRET);
        DeltaDiscoveryResponse r = waypoint.next();
        assertThat(r.getTypeUrl()).isEqualTo(TypeUrls.SECRET);
        assertThat(r.getResourcesList()).isEmpty();
    }

    @Test
    void theDebugPageRedactsPrivateKeysAsEnvoysConfigDump() throws Exception {
        L7Resources l7 = IngressCases.translate("http-https", scratch).resources();
        String json = L7DebugJson.render(l7, IngressCases.INGRESS_KEY);
        Secret served = (Secret) l7.forProxy(IngressCases.INGRESS_KEY).get(TypeUrls.SECRET).get("kubernetes://app-cert");
        String keyBase64 = java.util.Base64.getEncoder().encodeToString(
                served.getTlsCertificate().getPrivateKey().getInlineBytes().toByteArray());
        assertThat(json).contains("kubernetes://app-cert", "[redacted]", "0.0.0.0_443")
                .doesNotContain(keyBase64.substring(0, 40));
        // The certificate itself is public and shown.
        assertThat(json).contains(java.util.Base64.getEncoder().encodeToString(
                served.getTlsCertificate().getCertificateChain().getInlineBytes().toByteArray()).substring(0, 40));
    }

    private XdsTestClient client(XdsTestClient c) {
        clients.add(c);
        return c;
    }

    private void publish(L7Resources l7) throws InterruptedException {
        service.update(TestMesh.standard().build(), l7);
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (service.l7Resources() != l7) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the model was not published within " + TIMEOUT);
            }
            Thread.sleep(10);
        }
    }

    /** A node as a gateway-mode proxy sends it (CONTRACT seam 4: NAMESPACE and LABELS). */
    static Node gatewayNode(String namespace, Map<String, String> labels) {
        Struct.Builder l = Struct.newBuilder();
        labels.forEach((k, v) -> l.putFields(k, Value.newBuilder().setStringValue(v).build()));
        return Node.newBuilder().setId("router~10.244.0.10~istio-ingressgateway-7f9c-abcde." + namespace + "~"
                        + namespace + ".svc.cluster.local")
                .setMetadata(Struct.newBuilder()
                        .putFields("NAMESPACE", Value.newBuilder().setStringValue(namespace).build())
                        .putFields("LABELS", Value.newBuilder().setStructValue(l).build()))
                .build();
    }
}
