package dev.ambit.ctl.install;

import dev.ambit.istiod.deploy.ClusterWriter;
import dev.ambit.istiod.deploy.Fabric8ClusterWriter;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code ambitctl uninstall}: deletes what {@code install} applied (the same chart rendered with
 * the same values), in reverse order. Like {@code helm uninstall}, objects marked
 * {@code helm.sh/resource-policy: keep} stay: the CRDs (deleting them deletes every policy
 * in the cluster); {@code --purge} deletes them too. The CA Secret is never deleted: it may be
 * the user's plug-in CA, and a generated one is the root every workload trusts (Helm's lookup
 * finds it, so the render no longer contains it); delete it with kubectl to re-root the mesh.
 */
@Command(name = "uninstall", description = "Remove Ambit from the cluster of the current kubeconfig.")
public final class UninstallCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--set", description = "The values given to install (names depend on them).")
    Map<String, String> set = new LinkedHashMap<>();

    @Option(names = {"-f", "--values"}, description = "The values files given to install.")
    List<Path> valuesFiles = new ArrayList<>();

    @Option(names = {"-n", "--namespace"}, defaultValue = "istio-system", description = "Namespace (default: ${DEFAULT-VALUE}).")
    String namespace;

    @Option(names = "--purge", description = "Also delete the CRDs (and with them every Istio policy in the cluster).")
    boolean purge;

    @Option(names = "--charts", description = "The charts folder (default: the charts/ of the repository ambitctl was built in).")
    Path charts;

    private final Supplier<KubernetesClient> clients;

    public UninstallCommand() {
        this(() -> new KubernetesClientBuilder().build());
    }

    UninstallCommand(Supplier<KubernetesClient> clients) {
        this.clients = clients;
    }

    @Override
    public Integer call() {
        List<HasMetadata> objects = new ArrayList<>(Manifests.objects(Manifests.render(
                charts == null ? Manifests.defaultCharts() : charts, "ambit", namespace, valuesFiles, set)));
        Collections.reverse(objects);
        int deleted = 0;
        try (KubernetesClient client = clients.get()) {
            ClusterWriter writer = Fabric8ClusterWriter.of(client);
            for (HasMetadata o : objects) {
                Map<String, String> annotations = o.getMetadata().getAnnotations();
                boolean keep = annotations != null && "keep".equals(annotations.get("helm.sh/resource-policy"));
                if (keep && !purge) {
                    spec.commandLine().getOut().println(o.getKind() + " " + InstallCommand.qualified(o)
                            + " kept (helm.sh/resource-policy: keep; --purge deletes it)");
                    continue;
                }
                if (writer.delete(o)) {
                    deleted++;
                    spec.commandLine().getOut().println(o.getKind() + " " + InstallCommand.qualified(o) + " deleted");
                }
            }
        }
        spec.commandLine().getOut().println("Ambit uninstalled from " + namespace + " (" + deleted + " objects deleted).");
        return 0;
    }
}
