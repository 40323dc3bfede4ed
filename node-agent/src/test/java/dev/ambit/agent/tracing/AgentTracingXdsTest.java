package dev.ambit.agent.tracing;

import static dev.ambit.testing.Eventually.eventually;
import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.FolderSource;
import dev.ambit.istiod.l7.L7Translator;
import dev.ambit.istiod.model.AmbientModel;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.istiod.model.MeshConfigFile;
import dev.ambit.istiod.xds.XdsServer;
import dev.ambit.istiod.xds.XdsService;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.proxy.telemetry.ConnectionLabels;
import dev.ambit.proxy.telemetry.trace.Collector;
import dev.ambit.proxy.telemetry.trace.CustomTag;
import dev.ambit.proxy.xds.XdsClient;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 19 end to end at the xDS seam: istiod-lite's real translation of a root-namespace
 * Telemetry over MeshConfig's zipkin provider, served by its real xDS server, reaches a node agent's
 * client; the agent takes the {@code connect_terminate} listener's tracing and the collector's
 * endpoint (a Zipkin stand-in on loopback, as the collector Service's pod), and a traced tunnel's
 * span arrives there. Without a provider the agent's tracing is off.
 */
class AgentTracingXdsTest {

    private static final String COLLECTOR = "outbound|9411||zipkin.obs.svc.cluster.local";

    @TempDir
    Path dir;

    private final List<AutoCloseable> open = new java.util.ArrayList<>();
    private final List<String> received = new CopyOnWriteArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) {
            open.get(i).close();
        }
    }

    /** A Zipkin stand-in: takes POST /api/v2/spans, keeps the bodies. */
    private int collector() throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/api/v2/spans", ex -> {
            received.add(new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
            ex.sendResponseHeaders(202, -1);
            ex.close();
        });
        server.start();
        open.add(() -> server.stop(0));
        return server.getAddress().getPort();
    }

    /** istiod-lite serving the manifests of {@code yaml} under {@code mesh}; an agent's client synced to it. */
    private AgentTracing agent(String yaml, MeshConfig mesh) throws Exception {
        Files.writeString(dir.resolve("mesh.yaml"), yaml);
        ConfigSnapshot snapshot = snapshot(dir);
        XdsService service = XdsService.builder(MetricsRegistry.create()).debounce(Duration.ZERO, Duration.ZERO)
                .build();
        open.add(service);
        service.update(AmbientModel.build(snapshot, mesh), L7Translator.of(mesh).translate(snapshot));
        XdsServer server = XdsServer.builder(service).address(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .build().start();
        open.add(server);
        ManagedChannel channel = NettyChannelBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(),
                server.port())).usePlaintext().build();
        open.add(() -> {
            channel.shutdownNow();
            channel.awaitTermination(5, TimeUnit.SECONDS);
        });
        String nodeId = XdsClient.istioNodeId("10.244.2.1", "ztunnel-node-2", "istio-system");
        AgentTracing tracing = AgentTracing.of(MetricsRegistry.create(), AgentTracing.SERVICE_NAME, nodeId);
        open.add(tracing);
        XdsClient client = XdsClient.builder(channel).handlers(ProxyState.create().handlers())
                .handlers(tracing.handlers()).nodeId(nodeId).build().start();
        open.add(client);
        assertThat(client.awaitFirstSync(Duration.ofSeconds(10))).as("synced, nothing NACKed: %s",
                client.lastNack()).isTrue();
        assertThat(client.lastNack()).as("no NACK").isNullOrEmpty();
        return tracing;
    }

    @Test
    void theRootTelemetrysTracingReachesTheAgentAndATracedTunnelsSpanTheCollector() throws Exception {
        int port = collector();
        MeshConfig mesh = MeshConfigFile.parse("""
                extensionProviders:
                - name: zipkin
                  zipkin: {service: zipkin.obs.svc.cluster.local, port: 9411}
                """, MeshConfig.defaults());
        AgentTracing tracing = agent(MANIFESTS.formatted(port) + """
                apiVersion: telemetry.istio.io/v1
                kind: Telemetry
                metadata: {name: mesh-default, namespace: istio-system}
                spec:
                  tracing:
                  - providers: [{name: zipkin}]
                    randomSamplingPercentage: 100
                    customTags:
                      cluster: {literal: {value: east}}
                      user: {header: {name: x-user}}
                """, mesh);

        assertThat(tracing.settings()).as("the agent traces").isNotNull();
        assertThat(tracing.settings().collector()).isEqualTo(new Collector.Zipkin(COLLECTOR, "/api/v2/spans"));
        assertThat(tracing.settings().samplingPercent()).as("an agent never starts a trace").isZero();
        assertThat(tracing.settings().customTags()).containsExactly(CustomTag.literal("cluster", "east"));
        assertThat(tracing.settings().serviceName()).isEqualTo("ztunnel.istio-system");

        Workload backend = Workload.newBuilder().setUid("Kubernetes//Pod/shop/backend-0").setName("backend-0")
                .setWorkloadName("backend").setNamespace("shop").setServiceAccount("backend")
                .setTrustDomain("cluster.local").build();
        ConnectionLabels labels = ConnectionLabels.builder(ConnectionLabels.Reporter.DESTINATION)
                .peer(SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/waypoint")).destination(backend, null)
                .security(ConnectionLabels.SecurityPolicy.MUTUAL_TLS).build();
        tracing.spans().inbound("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", labels,
                new InetSocketAddress("10.244.1.9", 0), new InetSocketAddress("10.244.2.10", 8080), 10, 20,
                Instant.now(), Duration.ofMillis(3), null);
        tracing.tracers().flush(Duration.ofSeconds(5));
        eventually(() -> assertThat(String.join("", received)).contains("\"parentId\":\"00f067aa0ba902b7\"",
                "\"name\":\"inbound|8080||\"", "\"src.identity\":\"spiffe://cluster.local/ns/shop/sa/waypoint\"",
                "\"dst.workload\":\"backend\"", "\"cluster\":\"east\""));
    }

    @Test
    void withoutATracingProviderTheAgentDoesNotTrace() throws Exception {
        AgentTracing tracing = agent(MANIFESTS.formatted(9411), MeshConfig.defaults());
        assertThat(tracing.settings()).isNull();
    }

    /** Namespaces, and the collector: Service zipkin in obs, its pod at 127.0.0.1 (%d: its port). */
    private static final String MANIFESTS = """
            apiVersion: v1
            kind: Namespace
            metadata: {name: istio-system}
            ---
            apiVersion: v1
            kind: Namespace
            metadata: {name: obs}
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: zipkin-0, namespace: obs, labels: {app: zipkin}}
            spec:
              nodeName: node-1
              containers: [{name: zipkin, image: zipkin}]
            status:
              phase: Running
              podIP: 127.0.0.1
              podIPs: [{ip: 127.0.0.1}]
              conditions: [{type: Ready, status: "True"}]
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: zipkin, namespace: obs}
            spec:
              selector: {app: zipkin}
              ports: [{name: http, port: 9411, targetPort: %d}]
            ---
            """;

    private static ConfigSnapshot snapshot(Path dir) throws Exception {
        FolderSource.Reading read = FolderSource.readOnce(dir);
        assertThat(read.rejected()).as("rejected input").isEmpty();
        assertThat(read.snapshot()).as("snapshot delivered by start()").isNotNull();
        return read.snapshot();
    }
}
