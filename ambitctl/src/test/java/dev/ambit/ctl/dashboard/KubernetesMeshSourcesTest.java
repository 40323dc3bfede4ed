package dev.ambit.ctl.dashboard;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ambit.agent.admin.AgentAdmin;
import dev.ambit.agent.inpod.InPodManager;
import dev.ambit.api.security.Action;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Match;
import dev.ambit.api.security.Rule;
import dev.ambit.api.security.Scope;
import dev.ambit.api.security.StringMatch;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.admin.Readiness;
import dev.ambit.proxy.admin.StatsServer;
import dev.ambit.proxy.authz.Authorizer;
import dev.ambit.proxy.authz.ConnectionAttributes;
import dev.ambit.proxy.authz.PolicySet;
import dev.ambit.proxy.state.ProxyState;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The mesh view in Kubernetes mode: pods from fabric8's mock API server (CRUD, with watches)
 * through the sources' informer, node agents found as the DaemonSet's pods and read at their
 * pod IP on a real stats server serving the agent's real {@code /mesh_view} (a real
 * {@link ProxyState} whose denial ring the real {@link Authorizer} fed), all through the real
 * {@link DashboardServer} over HTTP.
 */
class KubernetesMeshSourcesTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    private static final java.time.Duration WATCH_SETTLE = java.time.Duration.ofMillis(500);

    private KubernetesMockServer server;
    private KubernetesClient client;
    private final List<AutoCloseable> closeables = new ArrayList<>();
    private final List<InPodManager.Enrolled> enrolled = new CopyOnWriteArrayList<>();

    @BeforeEach
    void start() {
        // CRUD (pods, watches) plus expectations: the API server's pod proxy for api-proxy access.
        Map<ServerRequest, Queue<ServerResponse>> responses = new HashMap<>();
        server = new KubernetesMockServer(new Context(), new MockWebServer(), responses,
                new KubernetesMixedDispatcher(responses), false);
        server.init();
        client = server.createClient();
    }

    @AfterEach
    void stop() throws Exception {
        // Closing an informer's watch while the mock still replays existing objects into it
        // deadlocks fabric8's mock (WatchEventsListener.onClosed blocks its event loop waiting
        // for sends that need that loop), and destroy() then fails after 10 s with "Unable to
        // close MockWebServer" (a CI failure of this class; istiod-lite's MockCluster.quiesce
        // says the same). A short test can reach here right after its watches opened: let
        // the replay finish first.
        Thread.sleep(WATCH_SETTLE.toMillis());
        for (AutoCloseable c : closeables.reversed()) {
            c.close();
        }
        client.close();
        server.destroy();
    }

    @Test
    void podsWithIstiosWorkloadNamesEnrolmentAndDenialsFromTheAgentsPods() throws Exception {
        Pod web = create(pod("shop", "web-7d9f-abcde", "node-a", "10.244.1.5", "Running")
                .editMetadata().addToLabels("pod-template-hash", "7d9f").addNewOwnerReference().withKind("ReplicaSet")
                .withName("web-7d9f").withController(true).withApiVersion("apps/v1").withUid("rs").endOwnerReference()
                .endMetadata().build());
        Pod intruder = create(pod("shop", "intruder", "node-b", "10.244.2.9", "Running").build());
        create(pod("shop", "migrate-x", "node-a", "10.244.1.7", "Succeeded").build()); // a finished Job's pod
        // The agents: node-a's answers at its pod IP; node-b's has no IP yet; one on node-c is gone.
        StatsServer agentA = agent(InetAddress.getLoopbackAddress());
        int port = agentA.statsAddress().getPort();
        create(agentPod("ambit-node-agent-a", "node-a", "127.0.0.1"));
        create(agentPod("ambit-node-agent-b", "node-b", null));
        create(agentPod("ambit-node-agent-c", "node-c", "127.0.0.3"));
        create(pod("other", "look-alike", "node-a", "127.0.0.1", "Running").editMetadata()
                .addToLabels("app", "ambit-node-agent").endMetadata().build()); // not the agents' namespace
        enrolled.add(new InPodManager.Enrolled("shop/web-7d9f-abcde", web.getMetadata().getUid(),
                "Kubernetes//Pod/shop/web-7d9f-abcde", SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/web"),
                List.of(InetAddress.getByName("10.244.1.5")), "/proc/1/ns/net"));

        KubernetesMeshSources sources = KubernetesMeshSources.start(client, "istio-system",
                KubernetesMeshSources.DEFAULT_AGENT_SELECTOR, port, KubernetesMeshSources.AgentAccess.POD_IP);
        closeables.add(sources);
        DashboardServer dashboard = DashboardServer.builder(sources).address(new InetSocketAddress("127.0.0.1", 0))
                .start();
        closeables.add(dashboard);
        await(() -> status(dashboard, "/healthz/ready") == 200, "the pod informer synced");

        JsonNode g = get(dashboard, "/api/graph?namespace=shop");
        JsonNode graph = g.path("graph");
        // The Deployment's name, as istiod-lite names the workload (and the agents' denials do).
        JsonNode webNode = node(graph, "wl:shop/web");
        assertThat(webNode.path("pods")).hasSize(1);
        JsonNode webPod = webNode.path("pods").get(0);
        assertThat(webPod.path("name").asText()).isEqualTo("web-7d9f-abcde");
        assertThat(webPod.path("node").asText()).isEqualTo("node-a");
        assertThat(webPod.path("ip").asText()).isEqualTo("10.244.1.5");
        assertThat(webPod.path("enrolment").asText()).isEqualTo("enrolled");
        assertThat(node(graph, "wl:shop/intruder").path("pods").get(0).path("enrolment").asText())
                .isEqualTo("not enrolled");
        assertThat(graph.toString()).doesNotContain("migrate-x");

        JsonNode denied = edge(graph, "wl:shop/intruder->wl:shop/web");
        assertThat(denied.path("denials").get(0).path("policy").asText()).isEqualTo("shop/deny-intruder");
        assertThat(denied.path("denials").get(0).path("agent").asText()).isEqualTo("node-a");

        assertThat(g.path("agents")).extracting(a -> a.path("node").asText() + ":" + a.path("ok").asBoolean())
                .containsExactlyInAnyOrder("node-a:true", "node-c:false", "node-b:false");
        assertThat(g.path("errors").toString()).contains("node agent node-b: pod ambit-node-agent-b has no IP yet",
                "node agent node-c: http://127.0.0.3:" + port + "/mesh_view");
        assertThat(g.path("namespaces")).extracting(JsonNode::asText).contains("istio-system", "other", "shop");

        // Watched: a pod created now is in the next answer, without a restart.
        create(pod("shop", "late", "node-b", "10.244.2.10", "Pending").build());
        await(() -> get(dashboard, "/api/graph?namespace=shop").path("graph").toString().contains("\"late\""),
                "the new pod in the graph");
        assertThat(intruder.getMetadata().getUid()).isNotBlank();
    }

    @Test
    void noAgentPodsIsSaidAndBadSelectorsAreRefused() throws Exception {
        KubernetesMeshSources sources = KubernetesMeshSources.start(client, "ambit", "app=nothing", 15020,
                KubernetesMeshSources.AgentAccess.POD_IP);
        closeables.add(sources);
        await(() -> sources.notReady() == null, "the pod informer synced");
        assertThat(sources.agents()).singleElement().satisfies(a ->
                assertThat(a.error()).contains("no node agent pods in namespace ambit labelled {app=nothing}"));
        assertThatThrownBy(() -> KubernetesMeshSources.start(client, "ambit", "app", 15020,
                KubernetesMeshSources.AgentAccess.POD_IP))
                .hasMessage("agent selector: app (expected: label=value[,label=value...])");
        assertThatThrownBy(() -> KubernetesMeshSources.start(client, "ambit", "app=x", 0,
                KubernetesMeshSources.AgentAccess.API_PROXY))
                .hasMessage("agentPort: 0 (expected: 1-65535)");
        assertThat(KubernetesMeshSources.selector("app=a, k = v")).isEqualTo(Map.of("app", "a", "k", "v"));
        assertThatThrownBy(() -> KubernetesMeshSources.AgentAccess.parse("direct"))
                .hasMessage("agent access: direct (expected: pod-ip or api-proxy)");
    }

    @Test
    void outOfTheClusterTheAgentsAreReadThroughTheApiServersPodProxy() throws Exception {
        Pod web = create(pod("shop", "web-7d9f-abcde", "node-a", "10.244.1.5", "Running").build());
        enrolled.add(new InPodManager.Enrolled("shop/web-7d9f-abcde", web.getMetadata().getUid(),
                "Kubernetes//Pod/shop/web-7d9f-abcde", SpiffeId.parse("spiffe://cluster.local/ns/shop/sa/web"),
                List.of(InetAddress.getByName("10.244.1.5")), "/proc/1/ns/net"));
        StatsServer agentA = agent(InetAddress.getLoopbackAddress());
        int port = agentA.statsAddress().getPort();
        // Pod IPs this machine cannot reach (TEST-NET-1): only the API server's proxy gets there.
        create(agentPod("ambit-node-agent-a", "node-a", "192.0.2.10"));
        create(agentPod("ambit-node-agent-b", "node-b", "192.0.2.11"));
        List<String> proxied = new CopyOnWriteArrayList<>();
        // The API server's pod proxy to node-a's agent (GET pods/NAME:PORT/proxy/PATH); node-b's
        // pod is gone by the time it is asked (404; a 503 the client retries, within the 5 s bound).
        server.expect().get().withPath("/api/v1/namespaces/istio-system/pods/ambit-node-agent-b:" + port
                + "/proxy/mesh_view").andReturn(404, "{\"kind\":\"Status\",\"code\":404}").always();
        server.expect().get().withPath("/api/v1/namespaces/istio-system/pods/ambit-node-agent-a:" + port
                + "/proxy/mesh_view").andReply(200, req -> {
                    proxied.add(req.getPath());
                    try {
                        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/mesh_view"))
                                .build(), HttpResponse.BodyHandlers.ofString()).body();
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }).always();

        KubernetesMeshSources sources = KubernetesMeshSources.start(client, "istio-system",
                KubernetesMeshSources.DEFAULT_AGENT_SELECTOR, port, KubernetesMeshSources.AgentAccess.API_PROXY);
        closeables.add(sources);
        await(() -> sources.notReady() == null, "the pod informer synced");

        List<MeshSources.AgentDump> agents = sources.agents();
        assertThat(agents.get(0).node()).isEqualTo("node-a");
        assertThat(agents.get(0).error()).isNull();
        assertThat(agents.get(0).dump().path("pods").get(0).path("uid").asText()).isEqualTo(web.getMetadata().getUid());
        assertThat(agents.get(0).dump().path("denials").path("total").asLong()).isEqualTo(1);
        assertThat(agents.get(1).node()).isEqualTo("node-b");
        assertThat(agents.get(1).error()).contains("/api/v1/namespaces/istio-system/pods/ambit-node-agent-b:" + port
                + "/proxy/mesh_view answered 404");
        assertThat(proxied).isNotEmpty();
    }

    // ------------------------------------------------------------------ fixtures

    /** A node agent's stats server with its real /mesh_view: one enrolled pod list and two denials. */
    private StatsServer agent(InetAddress at) throws Exception {
        Authorization deny = Authorization.newBuilder().setNamespace("shop").setName("deny-intruder")
                .setScope(Scope.NAMESPACE).setAction(Action.DENY)
                .addRules(Rule.newBuilder().addClauses(dev.ambit.api.security.Clause.newBuilder()
                        .addMatches(Match.newBuilder().addPrincipals(StringMatch.newBuilder()
                                .setExact("cluster.local/ns/shop/sa/intruder"))))).build();
        PolicySet policies = PolicySet.of(deny);
        ProxyState state = ProxyState.create();
        Workload web = Workload.newBuilder().setUid("Kubernetes//Pod/shop/web-7d9f-abcde").setName("web-7d9f-abcde")
                .setWorkloadName("web").setNamespace("shop").build();
        ConnectionAttributes c = ConnectionAttributes.mtls("spiffe://cluster.local/ns/shop/sa/intruder",
                InetAddress.getByName("10.244.2.9"), InetAddress.getByName("10.244.1.5"), 8080);
        state.denials().record(Authorizer.of(policies).authorize(c, web), c, web, "intruder", "shop");
        StatsServer stats = StatsServer.builder(MetricsRegistry.create(), Readiness.builder().build())
                .statsAddress(new InetSocketAddress(at, 0)).readinessAddress(new InetSocketAddress(at, 0))
                .get(AgentAdmin.MESH_VIEW_PATH, AgentAdmin.meshView(state, () -> enrolled))
                .start();
        closeables.add(stats);
        return stats;
    }

    private static PodBuilder pod(String ns, String name, String node, String ip, String phase) {
        return new PodBuilder().withNewMetadata().withNamespace(ns).withName(name).addToLabels("app", name)
                .endMetadata().withNewSpec().withNodeName(node).addNewContainer().withName("c").withImage("x")
                .endContainer().endSpec().withNewStatus().withPhase(phase).withPodIP(ip).endStatus();
    }

    private static Pod agentPod(String name, String node, String ip) {
        return pod("istio-system", name, node, ip, "Running").editMetadata()
                .addToLabels("app", "ambit-node-agent").addToLabels("istio.io/dataplane-mode", "none").endMetadata()
                .build();
    }

    private Pod create(Pod p) {
        return client.pods().inNamespace(p.getMetadata().getNamespace()).resource(p).create();
    }

    private static int status(DashboardServer s, String path) {
        try {
            return HTTP.send(HttpRequest.newBuilder(uri(s, path)).build(), HttpResponse.BodyHandlers.discarding())
                    .statusCode();
        } catch (Exception e) {
            return -1;
        }
    }

    private static JsonNode get(DashboardServer s, String path) {
        try {
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(uri(s, path)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            return JSON.readTree(r.body());
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    private static URI uri(DashboardServer s, String path) {
        return URI.create("http://127.0.0.1:" + s.address().getPort() + path);
    }

    private static JsonNode node(JsonNode graph, String id) {
        for (JsonNode n : graph.path("nodes")) {
            if (n.path("id").asText().equals(id)) {
                return n;
            }
        }
        throw new AssertionError("no node " + id + " in " + graph);
    }

    private static JsonNode edge(JsonNode graph, String id) {
        for (JsonNode e : graph.path("edges")) {
            if (e.path("id").asText().equals(id)) {
                return e;
            }
        }
        throw new AssertionError("no edge " + id + " in " + graph);
    }

    private static void await(java.util.function.BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within 10 s: " + what);
            }
            Thread.sleep(50);
        }
    }
}
