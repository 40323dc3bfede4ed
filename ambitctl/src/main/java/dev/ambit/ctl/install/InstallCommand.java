package dev.ambit.ctl.install;

import dev.ambit.istiod.deploy.ClusterWriter;
import dev.ambit.istiod.deploy.Fabric8ClusterWriter;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code ambitctl install}: renders the {@code ambit} chart (as {@code helm template}) and
 * applies it to the cluster of the current kubeconfig, like {@code istioctl install} does
 * for Istio's charts. {@code --dry-run} prints the manifests instead.
 */
@Command(name = "install", description = "Install Ambit on the cluster of the current kubeconfig (the ambit Helm chart).")
public final class InstallCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--set", description = "A chart value, e.g. --set global.hub=registry.example.com/ambit (repeatable).")
    Map<String, String> set = new LinkedHashMap<>();

    @Option(names = {"-f", "--values"}, description = "A values file (repeatable, later ones win).")
    List<Path> valuesFiles = new ArrayList<>();

    @Option(names = {"-n", "--namespace"}, defaultValue = "istio-system", description = "Namespace (default: ${DEFAULT-VALUE}).")
    String namespace;

    @Option(names = "--dry-run", description = "Print the manifests; change nothing.")
    boolean dryRun;

    @Option(names = "--charts", description = "The charts folder (default: the charts/ of the repository ambitctl was built in).")
    Path charts;

    private final Supplier<KubernetesClient> clients;

    public InstallCommand() {
        this(() -> new KubernetesClientBuilder().build());
    }

    InstallCommand(Supplier<KubernetesClient> clients) {
        this.clients = clients;
    }

    @Override
    public Integer call() {
        String yaml = Manifests.render(charts == null ? Manifests.defaultCharts() : charts, "ambit", namespace,
                valuesFiles, set);
        if (dryRun) {
            spec.commandLine().getOut().print(yaml);
            spec.commandLine().getOut().flush();
            return 0;
        }
        List<HasMetadata> objects = Manifests.objects(yaml);
        try (KubernetesClient client = clients.get()) {
            ClusterWriter writer = Fabric8ClusterWriter.of(client);
            // The node agent's pods use hostPID, host paths and a privileged init container:
            // Pod Security admission must allow them in this namespace (Istio's ambient docs
            // label istio-system the same way).
            writer.apply(new NamespaceBuilder().withNewMetadata().withName(namespace)
                    .addToLabels("pod-security.kubernetes.io/enforce", "privileged").endMetadata().build());
            for (HasMetadata o : objects) {
                ClusterWriter.Outcome outcome = writer.apply(o).outcome();
                spec.commandLine().getOut().println(o.getKind() + " " + qualified(o) + " "
                        + outcome.name().toLowerCase(java.util.Locale.ROOT));
            }
        }
        spec.commandLine().getOut().println("Ambit installed in " + namespace + " (" + objects.size() + " objects)."
                + " Enroll a namespace: kubectl label namespace NAME istio.io/dataplane-mode=ambient");
        return 0;
    }

    static String qualified(HasMetadata o) {
        String ns = o.getMetadata().getNamespace();
        return ns == null ? o.getMetadata().getName() : ns + "/" + o.getMetadata().getName();
    }
}
