package dev.ambit.istiod.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Message;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.config.ConfigException;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.FolderSource;
import dev.ambit.istiod.l7.L7Resources;
import dev.ambit.istiod.l7.L7Translator;
import dev.ambit.istiod.model.AmbientModel;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.istiod.xds.XdsDebugView;
import dev.ambit.istiod.xds.XdsServer;
import dev.ambit.istiod.xds.XdsService;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * grpc-java's own xDS client ({@code io.grpc:grpc-xds}) against istiod-lite's
 * state-of-the-world ADS: {@code xds:///host:port} channels, bootstrapped as a proxyless
 * gRPC app in Istio is (node metadata {@code GENERATOR: grpc}, insecure channel
 * credentials to the plaintext xDS port), calling two real gRPC servers.
 *
 * <p>Must show 2 of issue 14: the resources come from {@link L7Translator} over a config
 * snapshot ({@code src/test/resources/grpc-echo/echo.yaml}: Service {@code echo}, pods v1
 * on 127.0.0.2 and v2 on 127.0.0.3, a DestinationRule with both subsets, a VirtualService
 * with a header route and an 80/20 split), served by {@link XdsService} as istiod-lite
 * serves them. A hand-built set of the same shape beside it, under another host name,
 * tells a serving problem from a translation problem.
 *
 * <p>One xDS server and one bootstrap for the class: grpc-java reads the bootstrap once
 * per process.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ProxylessGrpcTest {

    static final int CALLS = 500;
    static final String HANDMADE = "handmade.default.svc.cluster.local";
    static final int HANDMADE_PORT = 7071;
    static final String ECHO_TARGET = "xds:///echo.default.svc.cluster.local:7070";

    static EchoBackends backends;
    static XdsService xds;
    static XdsServer server;
    static L7Resources translated;
    static ConfigSnapshot snapshot;
    static Map<String, Map<String, Message>> baseGrpc;

    @BeforeAll
    static void start() throws IOException, InterruptedException {
        backends = EchoBackends.start();
        xds = XdsService.builder(MetricsRegistry.create()).debounce(Duration.ZERO, Duration.ZERO).build();
        server = XdsServer.builder(xds).address(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .shutdownTimeout(Duration.ofSeconds(2)).build().start();
        System.setProperty("io.grpc.xds.bootstrapConfig", bootstrap(server.port()));
        snapshot = echoSnapshot(backends.port());
        translated = L7Translator.of(MeshConfig.defaults()).translate(snapshot);
        baseGrpc = new LinkedHashMap<>();
        merge(baseGrpc, translated.forGrpc());
        merge(baseGrpc, HandBuiltGrpcResources.of(HANDMADE, HANDMADE_PORT, backends.port(), 80, 20));
        publish(Map.of());
        awaitServed(HANDMADE + ":" + HANDMADE_PORT);
    }

    /** Waits until the gRPC set being served has the Listener {@code name}. */
    static void awaitServed(String name) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!xds.grpcSnapshot().map(s -> s.resources(dev.ambit.api.TypeUrls.LISTENER).containsKey(name))
                .orElse(false)) {
            assertThat(System.nanoTime() - deadline).as("listener %s served within 10 s", name).isNegative();
            Thread.sleep(5);
        }
    }

    /** Serves the base resources plus {@code extra} (which tests add for hosts of their own). */
    static void publish(Map<String, Map<String, Message>> extra) {
        Map<String, Map<String, Message>> grpc = new LinkedHashMap<>();
        merge(grpc, baseGrpc);
        merge(grpc, extra);
        xds.update(AmbientModel.build(snapshot, MeshConfig.defaults()),
                L7Resources.of(Map.of(), grpc, translated.warnings()));
    }

    /**
     * {@code grpc-echo/echo.yaml} (and the other {@code files} of {@code grpc-echo/}) with the
     * backends' port, read as the folder source reads a config folder.
     */
    static ConfigSnapshot echoSnapshot(int port, String... files) throws IOException {
        Path dir = Files.createTempDirectory("grpc-echo");
        List<String> all = new java.util.ArrayList<>(List.of("echo.yaml"));
        all.addAll(List.of(files));
        for (String file : all) {
            try (InputStream in = ProxylessGrpcTest.class.getResourceAsStream("/grpc-echo/" + file)) {
                String yaml = new String(in.readAllBytes(), StandardCharsets.UTF_8)
                        .replace("${PORT}", String.valueOf(port));
                Files.writeString(dir.resolve(file), yaml);
            }
        }
        FolderSource.Reading read;
        try {
            read = FolderSource.readOnce(dir);
        } catch (ConfigException e) {
            throw new IllegalStateException(e);
        }
        assertThat(read.rejected()).as("rejected fixture input").isEmpty();
        assertThat(read.snapshot()).as("fixture snapshot").isNotNull();
        return read.snapshot();
    }

    @AfterAll
    static void stop() throws InterruptedException {
        System.clearProperty("io.grpc.xds.bootstrapConfig");
        if (server != null) {
            server.close();
        }
        if (backends != null) {
            backends.close();
        }
    }

    /** gRFC A27's bootstrap, as Istio's agent writes it for proxyless gRPC. */
    static String bootstrap(int xdsPort) {
        return """
                {
                  "xds_servers": [{
                    "server_uri": "127.0.0.1:%d",
                    "channel_creds": [{"type": "insecure"}],
                    "server_features": ["xds_v3"]
                  }],
                  "node": {
                    "id": "sidecar~127.0.0.1~client-0.default~default.svc.cluster.local",
                    "metadata": {"GENERATOR": "grpc", "NAMESPACE": "default"}
                  }
                }
                """.formatted(xdsPort);
    }

    static void merge(Map<String, Map<String, Message>> into, Map<String, Map<String, Message>> from) {
        from.forEach((type, byName) -> into.computeIfAbsent(type, t -> new TreeMap<>()).putAll(byName));
    }

    @Test
    void virtualServiceSplitsEightyTwenty() throws InterruptedException {
        assertEndpointsUsableByGrpcJava();
        ManagedChannel channel = Grpc.newChannelBuilder(ECHO_TARGET, InsecureChannelCredentials.create()).build();
        try {
            assertV1Share(EchoBackends.versions(channel, CALLS, Map.of()), 80);
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void headerMatchSendsOneCallerToV2OnlyAndOthersByTheWeights() throws InterruptedException {
        assertEndpointsUsableByGrpcJava();
        ManagedChannel jason = Grpc.newChannelBuilder(ECHO_TARGET, InsecureChannelCredentials.create()).build();
        ManagedChannel others = Grpc.newChannelBuilder(ECHO_TARGET, InsecureChannelCredentials.create()).build();
        try {
            assertThat(EchoBackends.versions(jason, 200, Map.of("end-user", "jason")))
                    .containsExactly(Map.entry("v2", 200));
            assertV1Share(EchoBackends.versions(others, CALLS, Map.of("end-user", "mary")), 80);
        } finally {
            jason.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            others.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    /**
     * A Gateway API GRPCRoute ({@code grpc-echo/grpcroute.yaml}) translated by istiod-lite:
     * the method match with a header sends "jason" to echo-v2 only (it outranks the
     * catch-all rule though written after it), the weighted backendRefs split the rest 80/20
     * between the Services echo-v1 and echo-v2; a rule without backends is left out of the
     * client's table (grpc-java refuses direct_response routes) with a warning.
     */
    @Test
    void grpcRouteSplitsEightyTwentyAndRoutesByMethodAndHeader() throws IOException, InterruptedException {
        L7Resources routed = L7Translator.of(MeshConfig.defaults()).translate(echoSnapshot(backends.port(),
                "grpcroute.yaml"));
        assertThat(routed.warnings()).as("warnings").containsExactly("grpcroute.yaml GRPCRoute default/echo-split: field "
                + "spec.rules[2].backendRefs: no usable backend: waypoints answer UNAVAILABLE (503); proxyless gRPC "
                + "clients accept no such route, so for them the rule is left out and its calls take the next "
                + "matching rule");
        String target = "echo-split.default.svc.cluster.local:7074";
        publish(routed.forGrpc());
        awaitServed(target);
        ManagedChannel channel = Grpc.newChannelBuilder("xds:///" + target, InsecureChannelCredentials.create())
                .build();
        try {
            assertThat(EchoBackends.versions(channel, 100, Map.of("end-user", "jason")))
                    .containsExactly(Map.entry("v2", 100));
            assertV1Share(EchoBackends.versions(channel, CALLS, Map.of("end-user", "mary")), 80);
            // The rule without backends is left out for gRPC clients (they refuse direct_response):
            // its calls take the catch-all rule, and the rest of the table is accepted.
            var disabled = EchoBackends.VERSION.toBuilder().setFullMethodName("echo.Disabled/Version").build();
            assertThatThrownBy(() -> io.grpc.stub.ClientCalls.blockingUnaryCall(channel, disabled,
                    io.grpc.CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS), new byte[0]))
                    .isInstanceOfSatisfying(io.grpc.StatusRuntimeException.class, e -> assertThat(
                            e.getStatus().getCode()).isEqualTo(io.grpc.Status.Code.UNIMPLEMENTED));
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void aModelChangeIsPushedToAnOpenChannel() throws InterruptedException {
        String host = "moving.default.svc.cluster.local";
        publish(HandBuiltGrpcResources.of(host, 7072, backends.port(), 100, 0));
        awaitServed(host + ":7072");
        ManagedChannel channel = Grpc.newChannelBuilder("xds:///" + host + ":7072",
                InsecureChannelCredentials.create()).build();
        try {
            assertThat(EchoBackends.versions(channel, 20, Map.of())).containsExactly(Map.entry("v1", 20));
            // The split flips; the open channel follows without reconnecting.
            publish(HandBuiltGrpcResources.of(host, 7072, backends.port(), 0, 100));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!EchoBackends.versions(channel, 1, Map.of()).containsKey("v2")) {
                assertThat(System.nanoTime() - deadline).as("v2 answers within 10 s of the change").isNegative();
                Thread.sleep(20);
            }
            assertThat(EchoBackends.versions(channel, 20, Map.of())).containsExactly(Map.entry("v2", 20));
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void handBuiltResourcesWeightedSplitAndHeaderRouteAreFollowed() throws InterruptedException {
        ManagedChannel channel = Grpc.newChannelBuilder("xds:///" + HANDMADE + ":" + HANDMADE_PORT,
                InsecureChannelCredentials.create()).build();
        try {
            Map<String, Integer> split = EchoBackends.versions(channel, CALLS, Map.of());
            assertV1Share(split, 80);
            Map<String, Integer> jason = EchoBackends.versions(channel, 100, Map.of("end-user", "jason"));
            assertThat(jason).containsExactly(Map.entry("v2", 100));
            // The channel's xDS client came through SotW, as a gRPC client, and ACKed all four types.
            XdsDebugView.ClientView client = xds.debugView().clients().stream()
                    .filter(c -> c.protocol() == XdsDebugView.Protocol.SOTW).findFirst().orElseThrow();
            assertThat(client.subscriptions()).extracting(XdsDebugView.SubscriptionView::ackState)
                    .hasSize(4).containsOnly(XdsDebugView.AckState.ACKED);
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    /**
     * grpc-java drops a {@code LocalityLbEndpoints} without a {@code load_balancing_weight}
     * ("No usable endpoint from cluster"); Istio sets it (to the number of endpoints). Said
     * up front so that a failure names the missing field rather than a failed call.
     */
    static void assertEndpointsUsableByGrpcJava() {
        Map<String, Message> assignments = translated.forGrpc().getOrDefault(
                dev.ambit.api.TypeUrls.CLUSTER_LOAD_ASSIGNMENT, Map.of());
        assertThat(assignments).as("translated ClusterLoadAssignments; warnings %s", translated.warnings())
                .containsKeys("outbound|7070|v1|echo.default.svc.cluster.local",
                        "outbound|7070|v2|echo.default.svc.cluster.local");
        assignments.forEach((name, message) -> {
            var cla = (io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment) message;
            for (var locality : cla.getEndpointsList()) {
                assertThat(locality.getLoadBalancingWeight().getValue())
                        .as("%s: endpoints[].load_balancing_weight (grpc-java ignores a locality without one)", name)
                        .isPositive();
            }
        });
    }

    /** v1's share of {@link #CALLS} calls is {@code expected} ± 6 points. */
    static void assertV1Share(Map<String, Integer> counts, int expected) {
        assertThat(counts.keySet()).as("versions answering: %s", counts).containsOnly("v1", "v2");
        int total = counts.values().stream().mapToInt(Integer::intValue).sum();
        assertThat(total).isEqualTo(CALLS);
        double share = 100.0 * counts.getOrDefault("v1", 0) / total;
        assertThat(share).as("v1 share in %% of %s", counts).isBetween(expected - 6.0, expected + 6.0);
    }
}
