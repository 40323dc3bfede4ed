package dev.ambit.agent.admin;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ambit.agent.inpod.InPodManager;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.admin.AdminServer;
import dev.ambit.proxy.admin.LogLevels;
import dev.ambit.proxy.admin.Readiness;
import dev.ambit.proxy.admin.StatsServer;
import dev.ambit.proxy.health.EndpointHealth;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.proxy.xds.XdsClient;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The node agent's admin endpoint keeps the shape {@code ambitctl config} and operators rely on. */
class AgentAdminTest {

    private static final InetSocketAddress ANY_LOOPBACK = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);

    private final List<AutoCloseable> closeables = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : closeables.reversed()) {
            c.close();
        }
    }

    private final ProxyState state = ProxyState.create();

    private AdminServer start(List<InPodManager.Enrolled> pods) {
        ManagedChannel nowhere = NettyChannelBuilder.forAddress("127.0.0.1", 1).usePlaintext().build();
        closeables.add(nowhere::shutdownNow);
        XdsClient xds = XdsClient.builder(nowhere).handlers(state.handlers()).build();
        closeables.add(xds);
        CertificateManager certificates = CertificateManager.builder(id -> new CompletableFuture<>())
                .metrics(MetricsRegistry.create())
                .build();
        closeables.add(certificates);
        AdminServer admin = AgentAdmin.builder(state, xds, certificates, EndpointHealth.builder().build(), () -> pods)
                .logLevels(LogLevels.readOnly("fake-backend", "read-only"))
                .address(ANY_LOOPBACK)
                .start();
        closeables.add(admin);
        return admin;
    }

    private static JsonObject get(AdminServer admin, String path) throws Exception {
        return get(admin.localAddress(), path);
    }

    private static JsonObject get(InetSocketAddress at, String path) throws Exception {
        try (HttpClient client = HttpClient.newHttpClient()) {
            HttpResponse<String> r = client.send(HttpRequest.newBuilder(
                    URI.create("http://" + at.getHostString() + ":" + at.getPort() + path)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            return JsonParser.parseString(r.body()).getAsJsonObject();
        }
    }

    @Test
    void configDumpHasTheAgentsSectionsInTheirOrder() throws Exception {
        AdminServer admin = start(List.of());

        JsonObject dump = get(admin, "/config_dump");

        assertThat(dump.keySet()).containsExactly("generation", "workloads", "services", "policies", "certificates",
                "endpoints", "pods", "xds", "denials");
        assertThat(dump.getAsJsonArray("pods")).isEmpty();
        assertThat(dump.getAsJsonObject("denials").get("total").getAsLong()).isZero();
        assertThat(dump.getAsJsonObject("denials").getAsJsonArray("denials")).isEmpty();
        assertThat(dump.getAsJsonObject("xds").get("synced").getAsBoolean()).isFalse();
    }

    @Test
    void podsListEachEnrolledPod() throws Exception {
        AdminServer admin = start(List.of(new InPodManager.Enrolled("shop/be", "pod-uid-1",
                "Kubernetes//Pod/shop/be", SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/backend"),
                List.of(InetAddress.getByName("10.244.1.5"), InetAddress.getByName("fd00::5")),
                "/var/run/netns/cni-1")));

        JsonArray pods = get(admin, "/config_dump").getAsJsonArray("pods");

        assertThat(pods).hasSize(1);
        JsonObject pod = pods.get(0).getAsJsonObject();
        assertThat(pod.keySet()).containsExactly("pod", "uid", "workload", "identity", "addresses", "netns");
        assertThat(pod.get("pod").getAsString()).isEqualTo("shop/be");
        assertThat(pod.get("identity").getAsString()).isEqualTo("spiffe://cluster.local/ns/shop/sa/backend");
        assertThat(pod.getAsJsonArray("addresses").toString()).isEqualTo("[\"10.244.1.5\",\"fd00:0:0:0:0:0:0:5\"]");
        assertThat(pod.get("netns").getAsString()).isEqualTo("/var/run/netns/cni-1");
    }

    @Test
    void meshViewOnTheStatsPortHasOnlyThePodsAndDenialsSections() throws Exception {
        List<InPodManager.Enrolled> pods = List.of(new InPodManager.Enrolled("shop/be", "pod-uid-1",
                "Kubernetes//Pod/shop/be", SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/backend"),
                List.of(InetAddress.getByName("10.244.1.5")), "/var/run/netns/cni-1"));
        AdminServer admin = start(pods);
        StatsServer stats = StatsServer.builder(MetricsRegistry.create(), Readiness.builder().build())
                .statsAddress(ANY_LOOPBACK).readinessAddress(ANY_LOOPBACK)
                .get(AgentAdmin.MESH_VIEW_PATH, AgentAdmin.meshView(state, () -> pods))
                .start();
        closeables.add(stats);

        JsonObject view = get(stats.statsAddress(), AgentAdmin.MESH_VIEW_PATH);
        JsonObject dump = get(admin, "/config_dump");

        assertThat(view.keySet()).containsExactly("pods", "denials");
        JsonObject pod = view.getAsJsonArray("pods").get(0).getAsJsonObject();
        // The dump's pod without its network namespace's path (a host detail, not for off-host readers).
        assertThat(pod.keySet()).containsExactly("pod", "uid", "workload", "identity", "addresses");
        JsonObject dumped = dump.getAsJsonArray("pods").get(0).getAsJsonObject();
        dumped.remove("netns");
        assertThat(pod).isEqualTo(dumped);
        assertThat(view.get("denials")).isEqualTo(dump.get("denials"));
    }

    @Test
    void loggingListsTheAgentsLoggersAfterTheRoot() throws Exception {
        AdminServer admin = start(List.of());

        JsonObject levels = get(admin, "/logging").getAsJsonObject("levels");

        List<String> expected = new ArrayList<>(List.of("root"));
        expected.addAll(AgentAdmin.LOGGERS);
        assertThat(levels.keySet()).startsWith(expected.toArray(String[]::new));
        assertThat(AgentAdmin.LOGGERS).contains("dev.ambit.agent", "dev.ambit.proxy.xds", "ambit.access");
    }
}
