package dev.ambit.ctl.waypoint;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code ambitctl waypoint} in Kubernetes mode against fabric8's mock API server (CRUD): no
 * local cluster in {@code --state-dir}, so the kubeconfig's cluster is used.
 */
class WaypointKubernetesTest {

    record Run(int code, String out, String err) {}

    @TempDir
    Path noLocalCluster;

    private KubernetesMockServer server;
    private final List<String> contexts = new ArrayList<>();

    @BeforeEach
    void start() {
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(), false);
        server.init();
    }

    @AfterEach
    void stop() {
        server.destroy();
    }

    private Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = new CommandLine(new WaypointCommand(context -> {
            contexts.add(String.valueOf(context));
            return server.createClient();
        }));
        cli.setOut(new PrintWriter(out, true)).setErr(new PrintWriter(err, true));
        String[] all = new String[args.length + 1];
        System.arraycopy(args, 0, all, 0, args.length);
        all[args.length] = "--state-dir=" + noLocalCluster;
        int code = cli.execute(all);
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void applyEnrollListStatusAndDeleteThroughTheApiServer() {
        Run apply = run("apply", "-n", "shop", "--enroll-namespace", "--for", "all");
        assertThat(apply.code()).as(apply.err()).isZero();
        assertThat(apply.out()).contains("waypoint shop/waypoint applied", "namespace shop labeled");
        assertThat(contexts).containsExactly("null"); // the current context

        try (KubernetesClient client = server.createClient()) {
            Gateway gw = client.resources(Gateway.class).inNamespace("shop").withName("waypoint").get();
            assertThat(gw.getSpec().getGatewayClassName()).isEqualTo("istio-waypoint");
            assertThat(gw.getSpec().getListeners()).singleElement().satisfies(l -> {
                assertThat(l.getPort()).isEqualTo(15008);
                assertThat(l.getProtocol()).isEqualTo("HBONE");
            });
            assertThat(gw.getMetadata().getLabels()).containsEntry("istio.io/waypoint-for", "all");
            assertThat(client.namespaces().withName("shop").get().getMetadata().getLabels())
                    .containsEntry("istio.io/use-waypoint", "waypoint");
        }
        assertThat(run("list", "-n", "shop").out()).isEqualTo("""
                NAME       REVISION   PROGRAMMED
                waypoint   default    Unknown
                """);
        assertThat(run("status", "-n", "shop").code()).isEqualTo(1);

        // What istiod-lite's deployer writes once the waypoint runs.
        try (KubernetesClient client = server.createClient()) {
            Gateway gw = client.resources(Gateway.class).inNamespace("shop").withName("waypoint").get();
            Gateway withStatus = Serialization.unmarshal(Serialization.asJson(gw).replaceFirst("\\}$", """
                    ,"status":{"addresses":[{"type":"IPAddress","value":"10.96.1.5"}],
                     "conditions":[{"type":"Programmed","status":"True","reason":"Programmed","message":"ok",
                     "lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"""), Gateway.class);
            client.resource(withStatus).update();
        }
        Run status = run("status", "-n", "shop", "--wait", "--timeout", "5s");
        assertThat(status.code()).as(status.out() + status.err()).isZero();
        assertThat(status.out()).contains("shop        waypoint   True");
        assertThat(run("list", "-A").out()).contains("shop        waypoint   default    True");

        assertThat(run("delete", "-n", "shop").out()).isEqualTo("waypoint shop/waypoint deleted\n");
        try (KubernetesClient client = server.createClient()) {
            assertThat(client.resources(Gateway.class).inNamespace("shop").list().getItems()).isEmpty();
        }
        assertThat(run("delete", "-n", "shop").code()).isEqualTo(1);
    }

    @Test
    void noApiServerIsOneLineNamingTheClusterAndTheWayToTheLocalOne() {
        StringWriter err = new StringWriter();
        CommandLine cli = new CommandLine(new WaypointCommand(context -> new io.fabric8.kubernetes.client.KubernetesClientBuilder()
                .withConfig(new io.fabric8.kubernetes.client.ConfigBuilder().withMasterUrl("https://127.0.0.1:1")
                        .withRequestRetryBackoffLimit(0).build()).build()));
        cli.setErr(new PrintWriter(err, true)).setOut(new PrintWriter(new StringWriter(), true));
        cli.setExecutionExceptionHandler((e, c, p) -> {
            c.getErr().println("error: " + e.getMessage());
            return 1;
        });
        assertThat(cli.execute("list", "--state-dir=" + noLocalCluster)).isEqualTo(1);
        assertThat(err.toString()).startsWith("error: Kubernetes current context (https://127.0.0.1:1/): cannot list"
                + " Gateways: ").contains("pass --context local");
    }

    @Test
    void anExplicitContextIsPassedToTheKubeconfig() {
        assertThat(run("list", "--context", "kind-mesh").code()).isZero();
        assertThat(contexts).containsExactly("kind-mesh");
    }
}
