package dev.ambit.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ambit.it.kube.ApiServer;
import dev.ambit.it.kube.KubeletlessCluster;
import dev.ambit.it.kube.Kubelet;
import dev.ambit.it.kube.Kubelet.RunningPod;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 17, "a kubelet-less cluster": the {@code ambit} chart rendered by Helm, applied to
 * fabric8's mock API server (with a TokenReview endpoint), and its workloads run for real with
 * the rendered arguments, environment, volumes and capabilities: istiod-lite and, on two nodes,
 * install-cni and the node agent ({@code KubeletlessCluster}). The test is the kubelet and
 * container runtime ({@code Kubelet}): Pod objects with {@code nodeName}, cgroups in the
 * kubelet's layouts (systemd driver on node-a, cgroupfs on node-b), network namespaces, the
 * CNI chain the chart installed, then the containers' processes. The samples' frontend calls
 * the backend over the agents' mutual TLS, the AuthorizationPolicy refuses another service
 * account, and a pod created while its node's agent is down waits, uncaptured and not
 * started, until the agent is back. The mesh view's Deployment (issue 19, {@code ambitctl
 * dashboard --kubernetes}) runs too and shows the pods enrolled and the intruder's denial with
 * the policy. No local cluster: own namespaces, cgroups and pins.
 */
@Order(40)
class KubeletlessClusterTest {

    private static final Path LOGS = Path.of(System.getProperty("ambit.it.logs", "target/it-logs"))
            .resolve("kubeletless");
    private static final String BACKEND_VIP = "10.96.17.20";
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path work;

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void chartsRunWithoutKubelets() throws Exception {
        Files.createDirectories(LOGS);
        List<HasMetadata> demo = demo();
        Map<String, PodTemplateSpec> templates = new LinkedHashMap<>();
        List<HasMetadata> config = new ArrayList<>();
        for (HasMetadata o : demo) {
            if (o instanceof Deployment d) {
                templates.put(d.getMetadata().getName(), d.getSpec().getTemplate());
            } else if (o instanceof Pod p) {
                templates.put(p.getMetadata().getName(), new PodTemplateSpec(p.getMetadata(), p.getSpec()));
            } else {
                if (o instanceof Service s && s.getMetadata().getName().equals("backend")) {
                    s.getSpec().setClusterIP(BACKEND_VIP); // what the API server's allocator would give it
                }
                config.add(o);
            }
        }
        Map<String, Kubelet.CgroupDriver> drivers = new LinkedHashMap<>();
        drivers.put("node-a", Kubelet.CgroupDriver.SYSTEMD);
        drivers.put("node-b", Kubelet.CgroupDriver.CGROUPFS);
        long start = System.nanoTime();
        try (KubeletlessCluster cluster = KubeletlessCluster.start(Ambitctl.REPO, work, LOGS, drivers, config)) {
            KubeletlessCluster.Node a = cluster.node("node-a");
            KubeletlessCluster.Node b = cluster.node("node-b");
            await(Duration.ofSeconds(40), () -> cluster.istiodReady() && a.agentReady() && b.agentReady(),
                    "istiod-lite and both agents ready (logs in " + LOGS + ")");
            log("cluster ready", start);

            RunningPod backend = b.kubelet().run("shop", "backend-0", templates.get("backend"), Duration.ofSeconds(20));
            RunningPod frontend = a.kubelet().run("shop", "frontend-0", templates.get("frontend"),
                    Duration.ofSeconds(20));
            assertThat(backend.sandboxAttempts()).as("agent up: the first ADD captures").isEqualTo(1);
            assertThat(frontend.sandboxAttempts()).isEqualTo(1);

            // frontend (node-a) -> backend's VIP (node-b): captured at connect, HBONE between the agents.
            String hello = call(a.kubelet(), frontend, Duration.ofSeconds(20));
            assertThat(hello).isEqualTo("hello from backend-0");
            await(Duration.ofSeconds(10), () -> mutualTls(b.agentMetrics(), "frontend"),
                    "node-b's agent reports the connection as mutual_tls from the frontend's identity");
            log("frontend -> backend over mutual TLS", start);
            assertThat(cluster.api().reviews()).as("the CA authenticated both agents by TokenReview").isPositive();

            // The mesh view's Deployment (issue 19) starts now, off the cluster's start-up path.
            cluster.startDashboard();

            // node-a's agent goes (a rolling update, a crash): a pod created meanwhile must not start.
            a.stopAgent();
            CompletableFuture<RunningPod> intruder = CompletableFuture.supplyAsync(() -> {
                try {
                    return a.kubelet().run("shop", "intruder", templates.get("intruder"), Duration.ofSeconds(40));
                } catch (IOException | InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            Path cniLog = LOGS.resolve("cni-node-a.log");
            await(Duration.ofSeconds(10), () -> count(cniLog, "ADD intruder exit 1") >= 3,
                    "the CNI plugin failing the intruder's sandbox (try again later) while the agent is down");
            assertThat(intruder).isNotDone();
            assertThat(Files.readString(cniLog)).contains("\"code\":11");
            a.startAgent();
            RunningPod denied = intruder.get(40, TimeUnit.SECONDS);
            assertThat(denied.sandboxAttempts()).isGreaterThanOrEqualTo(3);
            log("intruder started once node-a's agent was back, after " + denied.sandboxAttempts() + " ADDs", start);

            // The policy: only the frontend's service account may reach the backend.
            Kubelet.Exec refused = a.kubelet().exec(denied, 15, "curl", "-sS", "-m", "5",
                    "http://" + BACKEND_VIP + ":8080/");
            assertThat(refused.exit()).as(refused.stderr()).isNotZero();
            assertThat(refused.stdout()).doesNotContain("hello");
            await(Duration.ofSeconds(5), () -> b.agentLog().lines().anyMatch(l -> l.contains("\"reporter\":\"destination\"")
                    && l.contains("\"src.identity\":\"spiffe://cluster.local/ns/shop/sa/intruder\"")
                    && l.contains("\"security\":\"mutual_tls\"") && l.contains("\"denied\":\"deny")),
                    "node-b's access log: the intruder's mutual TLS connection denied by the policy");
            // The restarted agent took node-a's pods back: the frontend still gets through.
            assertThat(call(a.kubelet(), frontend, Duration.ofSeconds(20))).isEqualTo("hello from backend-0");
            log("policy enforced; frontend served by the restarted agent", start);

            // The mesh view (issue 19) as its rendered Deployment runs it: pods from the API
            // server, enrolment and denials from both agents' /mesh_view at their pod IPs.
            await(Duration.ofSeconds(20), cluster::dashboardReady, "the mesh view ready (dashboard.log in " + LOGS + ")");
            JsonNode view = meshView(cluster, Duration.ofSeconds(10));
            JsonNode graph = view.path("graph");
            assertThat(view.path("agents")).as("%s", view).extracting(n -> n.path("node").asText() + ":"
                    + n.path("ok").asBoolean()).containsExactlyInAnyOrder("node-a:true", "node-b:true");
            assertThat(pod(graph, "backend-0")).containsEntry("node", "node-b").containsEntry("enrolment", "enrolled")
                    .containsEntry("ip", backend.netns().address().getHostAddress());
            assertThat(pod(graph, "frontend-0")).containsEntry("node", "node-a").containsEntry("enrolment", "enrolled");
            assertThat(pod(graph, "intruder")).containsEntry("node", "node-a").containsEntry("enrolment", "enrolled");
            JsonNode denial = denial(graph);
            assertThat(denial).as("%s", graph).isNotNull();
            assertThat(denial.path("reason").asText()).isEqualTo("no_allow_match");
            assertThat(denial.path("allowPolicies")).extracting(JsonNode::asText)
                    .containsExactly("shop/backend-allow-frontend");
            assertThat(denial.path("agent").asText()).isEqualTo("node-b");
            assertThat(denial.path("sourcePrincipal").asText()).isEqualTo("cluster.local/ns/shop/sa/intruder");
            log("mesh view: pods enrolled, the intruder's denial by shop/backend-allow-frontend", start);
        }
        assertThat(KubeletlessCluster.leftovers()).as("namespaces, cgroups, pins left").isEmpty();
        log("cleaned up", start);
    }

    /**
     * The mesh view's {@code /api/graph} of namespace shop once it shows the three pods enrolled
     * and the intruder's denial, or its last answer after {@code within}.
     */
    private static JsonNode meshView(KubeletlessCluster cluster, Duration within) throws Exception {
        long deadline = System.nanoTime() + within.toNanos();
        JsonNode last = null;
        while (System.nanoTime() < deadline) {
            String body = cluster.dashboard("/api/graph?namespace=shop&window=5m");
            if (!body.isEmpty()) {
                last = JSON.readTree(body);
                JsonNode g = last.path("graph");
                if (denial(g) != null && Stream.of("backend-0", "frontend-0", "intruder")
                        .allMatch(p -> "enrolled".equals(pod(g, p).get("enrolment")))) {
                    return last;
                }
            }
            Thread.sleep(200);
        }
        throw new AssertionError("the mesh view did not show the enrolled pods and the denial within " + within
                + "; last answer: " + last);
    }

    /** The pod {@code name} of the view's graph: its fields as text; empty when absent. */
    private static Map<String, String> pod(JsonNode graph, String name) {
        for (JsonNode n : graph.path("nodes")) {
            for (JsonNode p : n.path("pods")) {
                if (p.path("name").asText().equals(name)) {
                    Map<String, String> out = new LinkedHashMap<>();
                    p.properties().forEach(e -> out.put(e.getKey(), e.getValue().asText()));
                    return out;
                }
            }
        }
        return Map.of();
    }

    /** The denial on the edge intruder → backend-0 (workloads named as istiod-lite names bare pods), or null. */
    private static JsonNode denial(JsonNode graph) {
        for (JsonNode e : graph.path("edges")) {
            if (e.path("id").asText().equals("wl:shop/intruder->wl:shop/backend-0") && e.path("denials").size() > 0) {
                return e.path("denials").get(0);
            }
        }
        return null;
    }

    /** The samples' demo: namespaces, service accounts, the backend Service, the policies, the pod templates. */
    private static List<HasMetadata> demo() throws IOException {
        String yaml = Files.readString(Ambitctl.REPO.resolve("samples/demo/demo.yaml"));
        List<HasMetadata> out = new ArrayList<>();
        for (String doc : yaml.split("(?m)^---\\s*$")) {
            if (!doc.lines().allMatch(l -> l.isBlank() || l.stripLeading().startsWith("#"))) {
                out.add(ApiServer.parse(doc));
            }
        }
        return out;
    }

    /** The frontend's request to the backend's VIP, retried until it answers or {@code within} passes. */
    private static String call(Kubelet kubelet, RunningPod from, Duration within) throws Exception {
        long deadline = System.nanoTime() + within.toNanos();
        Kubelet.Exec last;
        do {
            last = kubelet.exec(from, 10, "curl", "-sS", "-m", "3", "http://" + BACKEND_VIP + ":8080/");
            if (last.exit() == 0) {
                return last.stdout().strip();
            }
            Thread.sleep(200);
        } while (System.nanoTime() < deadline);
        throw new AssertionError("curl from " + from.name() + ": exit " + last.exit() + ": " + last.stderr());
    }

    private static boolean mutualTls(String metrics, String sourceSa) {
        return metrics.lines().anyMatch(l -> l.startsWith("istio_tcp_connections_opened_total{")
                && l.contains("reporter=\"destination\"") && l.contains("connection_security_policy=\"mutual_tls\"")
                && l.contains("source_principal=\"spiffe://cluster.local/ns/shop/sa/" + sourceSa + "\""));
    }

    private static long count(Path file, String text) {
        try {
            return Files.exists(file) ? Files.readAllLines(file).stream().filter(l -> l.contains(text)).count() : 0;
        } catch (IOException e) {
            return 0;
        }
    }

    private static void await(Duration within, BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + within.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within " + within + ": " + what);
            }
            Thread.sleep(100);
        }
    }

    private static void log(String what, long start) {
        System.out.printf("kubelet-less cluster: %s at %.1f s%n", what, (System.nanoTime() - start) / 1e9);
    }
}
