package dev.ambit.ctl.install;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.ctl.Ambitctl;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.HashMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * install / uninstall against fabric8's mock API server in CRUD mode. The CA Secret is not
 * generated here ({@code istiod.ca.generate=false}): its Helm lookup would need a kubeconfig
 * for the mock server, which the charts module's tests cover.
 */
class InstallCommandTest {

    private KubernetesMockServer server;

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

    @Test
    void installAppliesTheChartAndUninstallRemovesItKeepingTheCrds() {
        String[] values = {"--set", "istiod.ca.generate=false", "--set", "global.hub=registry.example.com/ambit"};
        assertThat(run(new InstallCommand(server::createClient), values)).isZero();
        try (KubernetesClient client = server.createClient()) {
            var ds = client.apps().daemonSets().inNamespace("istio-system").withName("ambit-node-agent").get();
            assertThat(ds.getSpec().getTemplate().getSpec().getContainers().get(0).getImage())
                    .startsWith("registry.example.com/ambit/node-agent:");
            assertThat(client.apps().deployments().inNamespace("istio-system").withName("istiod").get()).isNotNull();
            assertThat(client.apiextensions().v1().customResourceDefinitions().list().getItems()).hasSize(8);
            assertThat(client.namespaces().withName("istio-system").get().getMetadata().getLabels())
                    .containsEntry("pod-security.kubernetes.io/enforce", "privileged");
        }
        // Again: an upgrade replaces what is there.
        assertThat(run(new InstallCommand(server::createClient), values)).isZero();

        assertThat(run(new UninstallCommand(server::createClient), values)).isZero();
        try (KubernetesClient client = server.createClient()) {
            assertThat(client.apps().daemonSets().inNamespace("istio-system").withName("ambit-node-agent").get()).isNull();
            assertThat(client.apps().deployments().inNamespace("istio-system").list().getItems()).isEmpty();
            assertThat(client.apiextensions().v1().customResourceDefinitions().list().getItems()).hasSize(8);
        }
        assertThat(run(new UninstallCommand(server::createClient), "--purge", "--set", "istiod.ca.generate=false"))
                .isZero();
        try (KubernetesClient client = server.createClient()) {
            assertThat(client.apiextensions().v1().customResourceDefinitions().list().getItems()).isEmpty();
        }
    }

    @Test
    void dryRunPrintsTheManifestsAndTouchesNoCluster() {
        StringWriter out = new StringWriter();
        int code = new CommandLine(new InstallCommand(() -> {
            throw new AssertionError("--dry-run must not connect");
        })).setOut(new PrintWriter(out, true)).execute("--dry-run", "--set", "istiod.ca.generate=false");
        assertThat(code).isZero();
        assertThat(out.toString()).contains("kind: DaemonSet", "kind: CustomResourceDefinition", "name: istiod");
    }

    @Test
    void aValueTheSchemaRefusesIsNamed() {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Ambitctl.execute(new PrintWriter(out, true), new PrintWriter(err, true), "install", "--dry-run",
                "--set", "istiod.ca.generate=false", "--set", "global.imagePullPolicy=Sometimes");
        assertThat(code).isEqualTo(1);
        assertThat(err.toString()).startsWith("error: helm:").contains("/global/imagePullPolicy");
    }

    @Test
    void precheckReportsThisKernel() {
        StringWriter out = new StringWriter();
        int code = Ambitctl.execute(new PrintWriter(out, true), new PrintWriter(new StringWriter(), true), "precheck",
                "--cgroup-root", System.getProperty("ambit.cgroupRoot", "/sys/fs/cgroup"));
        assertThat(out.toString()).contains("sk-lookup", "kernel: ready");
        assertThat(code).isZero();
        StringWriter bad = new StringWriter();
        assertThat(Ambitctl.execute(new PrintWriter(bad, true), new PrintWriter(new StringWriter(), true), "precheck",
                "--cgroup-root", "/tmp")).isEqualTo(1);
        assertThat(bad.toString()).contains("cgroup-v2", "FAIL", "NOT ready");
    }

    private static int run(Object command, String... args) {
        return new CommandLine(command).setOut(new PrintWriter(new StringWriter(), true)).execute(args);
    }
}
