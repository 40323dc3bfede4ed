package dev.ambit.charts;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.TemplateCommand;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The charts of this module, rendered as {@code helm template} would (Helm as a native library). */
final class Charts {

    static final Path ROOT = locate();
    static final List<String> NAMES = List.of("base", "istiod-lite", "node-agent", "gateway", "ambit");
    static final String NAMESPACE = "istio-system";
    static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

    private Charts() {}

    private static Path locate() {
        // Surefire runs in the module folder (charts/); an IDE may run from the repository root.
        for (Path p : List.of(Path.of(""), Path.of("charts"))) {
            if (Files.isRegularFile(p.resolve("ambit/Chart.yaml"))) {
                return p.toAbsolutePath();
            }
        }
        throw new IllegalStateException("charts/ambit/Chart.yaml not found from " + Path.of("").toAbsolutePath());
    }

    static Path chart(String name) {
        return ROOT.resolve(name);
    }

    /** {@code helm template <name> charts/<chart> -n istio-system [-f values] [--set k=v ...]}. */
    static String render(String chart, Path valuesFile, Map<String, Object> set) {
        TemplateCommand t = new Helm(chart(chart)).template()
                .withName(chart.equals("ambit") ? "ambit" : "ambit-" + chart)
                .withNamespace(NAMESPACE)
                .withKubeVersion("1.31.0");
        if (chart.equals("ambit")) {
            t.dependencyUpdate();
        }
        if (valuesFile != null) {
            t.withValuesFile(valuesFile);
        }
        set.forEach(t::set);
        return t.call();
    }

    static String render(String chart) {
        return render(chart, null, Map.of());
    }

    /** The documents of a multi-document YAML stream as untyped objects, empty ones skipped. */
    static List<GenericKubernetesResource> documents(String yaml) {
        List<GenericKubernetesResource> out = new ArrayList<>();
        for (String doc : yaml.split("(?m)^---\\s*$")) {
            if (doc.lines().allMatch(l -> l.isBlank() || l.stripLeading().startsWith("#"))) {
                continue;
            }
            out.add(SERIALIZATION.unmarshal(doc, GenericKubernetesResource.class));
        }
        return out;
    }
}
