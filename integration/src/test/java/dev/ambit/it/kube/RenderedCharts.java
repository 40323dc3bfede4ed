package dev.ambit.it.kube;

import static java.util.Objects.requireNonNull;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.TemplateCommand;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The umbrella {@code ambit} chart rendered as {@code helm template ambit charts/ambit -n
 * istio-system} would (Helm as a native library, as the charts module's tests do), parsed into
 * fabric8's typed model: what the kubelet-less cluster installs and runs.
 */
public final class RenderedCharts {

    public static final String NAMESPACE = "istio-system";

    private final List<HasMetadata> objects;

    private RenderedCharts(List<HasMetadata> objects) {
        this.objects = List.copyOf(objects);
    }

    /** Renders {@code repo/charts/ambit} with the chart's defaults plus {@code set}. */
    public static RenderedCharts render(Path repo, Map<String, String> set) {
        Path chart = repo.resolve("charts/ambit");
        if (!Files.isRegularFile(chart.resolve("Chart.yaml"))) {
            throw new IllegalStateException("chart: " + chart + " (expected: the umbrella chart's folder)");
        }
        TemplateCommand t = new Helm(chart).template().withName("ambit").withNamespace(NAMESPACE)
                .withKubeVersion("1.31.0").dependencyUpdate();
        set.forEach(t::set);
        List<HasMetadata> out = new ArrayList<>();
        for (String doc : t.call().split("(?m)^---\\s*$")) {
            if (doc.lines().allMatch(l -> l.isBlank() || l.stripLeading().startsWith("#"))) {
                continue;
            }
            out.add(ApiServer.parse(doc));
        }
        return new RenderedCharts(out);
    }

    /** Every rendered object, in the order Helm wrote them. */
    public List<HasMetadata> objects() {
        return objects;
    }

    public List<CustomResourceDefinition> crds() {
        return objects.stream().filter(CustomResourceDefinition.class::isInstance)
                .map(CustomResourceDefinition.class::cast).toList();
    }

    public <T extends HasMetadata> T only(Class<T> type, String name) {
        requireNonNull(name, "name");
        return objects.stream().filter(type::isInstance).map(type::cast)
                .filter(o -> o.getMetadata().getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("rendered charts: no " + type.getSimpleName() + " " + name));
    }

    /** The node agent DaemonSet's pod template. */
    public PodSpec nodeAgentPod() {
        return only(DaemonSet.class, "ambit-node-agent").getSpec().getTemplate().getSpec();
    }

    /** istiod-lite's Deployment's pod template. */
    public PodSpec istiodPod() {
        return only(Deployment.class, "istiod").getSpec().getTemplate().getSpec();
    }

    /** The mesh view's Deployment's pod template (the umbrella's {@code dashboard}). */
    public PodSpec dashboardPod() {
        return only(Deployment.class, "ambit-dashboard").getSpec().getTemplate().getSpec();
    }

    /** The plug-in CA Secret the istiod-lite chart generated (Helm's genCAWithKey). */
    public Secret caSecret(String name) {
        return only(Secret.class, name);
    }

    public static Container container(PodSpec pod, String name) {
        List<Container> all = new ArrayList<>(pod.getContainers());
        if (pod.getInitContainers() != null) {
            all.addAll(pod.getInitContainers());
        }
        return all.stream().filter(c -> c.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("rendered pod: no container " + name));
    }
}
