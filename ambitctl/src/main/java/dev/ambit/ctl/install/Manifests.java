package dev.ambit.ctl.install;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.TemplateCommand;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.KubernetesResource;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * The {@code ambit} umbrella chart rendered as {@code helm template} would (helm-java: Helm
 * as a native library, no helm binary), and the objects in the order they are applied:
 * CRDs first, then cluster-wide objects, then the rest, as Helm's install order does.
 */
public final class Manifests {

    private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();
    private static final List<String> FIRST = List.of("Namespace", "CustomResourceDefinition", "ServiceAccount",
            "Secret", "ClusterRole", "ClusterRoleBinding", "ResourceQuota", "Service");

    private Manifests() {}

    /**
     * Renders {@code <charts>/ambit} for release {@code release} in {@code namespace}.
     *
     * @throws IllegalArgumentException with Helm's message (e.g. a value the schema refuses)
     */
    public static String render(Path charts, String release, String namespace, List<Path> valuesFiles,
                                Map<String, String> set) {
        Path umbrella = charts.resolve("ambit");
        if (!Files.isRegularFile(umbrella.resolve("Chart.yaml"))) {
            throw new IllegalArgumentException("no Ambit charts at " + charts + " (expected " + umbrella
                    + "/Chart.yaml): pass --charts with the repository's charts folder");
        }
        TemplateCommand t = new Helm(umbrella).template().withName(release).withNamespace(namespace)
                .dependencyUpdate();
        for (Path f : valuesFiles) {
            t.withValuesFile(f);
        }
        set.forEach(t::set);
        try {
            return t.call();
        } catch (IllegalStateException e) {
            throw new IllegalArgumentException("helm: " + e.getMessage().strip(), e);
        }
    }

    /** The typed objects of a rendered stream, in apply order. */
    public static List<HasMetadata> objects(String yaml) {
        List<HasMetadata> out = new ArrayList<>();
        for (String doc : yaml.split("(?m)^---\\s*$")) {
            if (doc.lines().allMatch(l -> l.isBlank() || l.stripLeading().startsWith("#"))) {
                continue;
            }
            KubernetesResource r = SERIALIZATION.unmarshal(doc);
            if (r instanceof HasMetadata h) {
                out.add(h);
            }
        }
        out.sort(Comparator.comparingInt(Manifests::rank));
        return out;
    }

    private static int rank(HasMetadata h) {
        int i = FIRST.indexOf(h.getKind());
        return i < 0 ? FIRST.size() : i;
    }

    /** {@code <repo>/charts} of the repository this ambitctl was built in. */
    public static Path defaultCharts() {
        try {
            Path self = Path.of(Manifests.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            // .../ambitctl/target/ambitctl.jar or .../ambitctl/target/classes
            Path repo = self.toAbsolutePath().getParent().getParent().getParent();
            if (Files.isDirectory(repo.resolve("charts/ambit"))) {
                return repo.resolve("charts");
            }
        } catch (Exception e) {
            // below: ask for --charts
        }
        throw new IllegalArgumentException("cannot find Ambit's charts beside this ambitctl: pass --charts DIR"
                + " (the repository's charts folder)");
    }
}
