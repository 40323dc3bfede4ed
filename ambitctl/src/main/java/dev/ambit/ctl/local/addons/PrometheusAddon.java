package dev.ambit.ctl.local.addons;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ambit.ctl.local.KubeObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;

/**
 * The objects of the Prometheus addon, as Istio's sample ({@code samples/addons/prometheus.yaml})
 * installs them: in namespace {@value #NAMESPACE}, ServiceAccount {@value #NAME}, Deployment
 * {@value #NAME} (one replica, labels {@code app.kubernetes.io/name: prometheus},
 * {@code app.kubernetes.io/component: server}, {@code app.kubernetes.io/instance: prometheus},
 * {@code app: prometheus}; never in the mesh) whose container {@value #CONTAINER} runs Debian's
 * {@code prometheus} with the generated {@link ScrapeConfig}, and Service {@value #NAME} on
 * {@value ScrapeConfig#PORT}. Unlike the sample's ClusterIP Service it is of type LoadBalancer,
 * so the machine reaches it on its external address, as other LoadBalancer Services of the local
 * cluster.
 *
 * <p>The config's hash is a pod annotation ({@value #CONFIG_HASH}, as Helm charts do with
 * {@code checksum/config}): a new scrape interval replaces the pod. Each pod keeps its time
 * series in a folder of its own (an emptyDir's role), so a replacement never meets the lock of
 * the one it replaces. Pure, but for {@link #binary()}.
 */
public final class PrometheusAddon {

    public static final String NAME = "prometheus";
    static final String NAMESPACE = "istio-system";
    static final String CONTAINER = "prometheus-server";
    static final String CONFIG_HASH = "ambit.dev/config-hash";
    static final String ORIGIN = "addon prometheus";
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private PrometheusAddon() {
    }

    /** Where the addon keeps its files in the state folder: settings, config, targets, time series. */
    public record Layout(Path dir) {

        public Layout {
            requireNonNull(dir, "dir");
        }

        /** Present while the addon is enabled: its settings. */
        public Path settings() {
            return dir.resolve("addon.json");
        }

        public Path config() {
            return dir.resolve("prometheus.yml");
        }

        public Path targets() {
            return dir.resolve("targets").resolve("kubernetes-pods.json");
        }

        public Path data() {
            return dir.resolve("data");
        }
    }

    /**
     * Debian's {@code prometheus} on the {@code PATH} (or {@code /usr/bin}), if installed.
     */
    public static Optional<Path> binary() {
        String path = System.getenv().getOrDefault("PATH", "") + ":/usr/sbin:/usr/bin:/sbin:/bin";
        for (String dir : path.split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, NAME))) {
                return Optional.of(Path.of(dir, NAME));
            }
        }
        return Optional.empty();
    }

    /**
     * The addon's objects.
     *
     * @param binary the prometheus executable
     * @param files where its config is written and its time series kept
     * @param config the config's text (hashed into the pod template)
     */
    static List<KubeObject> objects(Path binary, Layout files, String config) {
        return List.of(namespace(), serviceAccount(), deployment(binary, files, config), service());
    }

    static KubeObject namespace() {
        ObjectNode ns = NODES.objectNode();
        ns.put("apiVersion", "v1").put("kind", "Namespace");
        ns.putObject("metadata").put("name", NAMESPACE);
        return KubeObject.of(ns).from(ORIGIN);
    }

    static KubeObject serviceAccount() {
        ObjectNode sa = NODES.objectNode();
        sa.put("apiVersion", "v1").put("kind", "ServiceAccount");
        sa.set("metadata", metadata());
        return KubeObject.of(sa).from(ORIGIN);
    }

    static KubeObject service() {
        ObjectNode svc = NODES.objectNode();
        svc.put("apiVersion", "v1").put("kind", "Service");
        svc.set("metadata", metadata());
        ObjectNode spec = svc.putObject("spec");
        spec.put("type", "LoadBalancer");
        selector(spec.putObject("selector"));
        spec.putArray("ports").addObject().put("name", "http").put("port", ScrapeConfig.PORT).put("protocol", "TCP")
                .put("targetPort", ScrapeConfig.PORT);
        return KubeObject.of(svc).from(ORIGIN);
    }

    static KubeObject deployment(Path binary, Layout files, String config) {
        ObjectNode d = NODES.objectNode();
        d.put("apiVersion", "apps/v1").put("kind", "Deployment");
        d.set("metadata", metadata());
        ObjectNode spec = d.putObject("spec");
        spec.put("replicas", 1);
        selector(spec.putObject("selector").putObject("matchLabels"));
        ObjectNode template = spec.putObject("template");
        ObjectNode meta = template.putObject("metadata");
        ObjectNode labels = meta.putObject("labels");
        selector(labels);
        labels.put("app", NAME);
        // Never in the mesh (the sample's label; ambient's own opt-out besides).
        labels.put("sidecar.istio.io/inject", "false");
        labels.put("istio.io/dataplane-mode", "none");
        meta.putObject("annotations").put(CONFIG_HASH, hash(config));
        ObjectNode podSpec = template.putObject("spec");
        podSpec.put("serviceAccountName", NAME);
        podSpec.put("terminationGracePeriodSeconds", 10);
        ObjectNode c = podSpec.putArray("containers").addObject();
        c.put("name", CONTAINER);
        ArrayNode command = c.putArray("command");
        command.add(binary.toString());
        command.add("--config.file=" + files.config());
        command.add("--storage.tsdb.path=" + files.data().resolve("$(POD_NAME)"));
        // Local use: a few hours of history are plenty, and the state folder may be in memory.
        command.add("--storage.tsdb.retention.time=6h");
        command.add("--web.listen-address=0.0.0.0:" + ScrapeConfig.PORT);
        command.add("--web.enable-lifecycle");
        c.putArray("ports").addObject().put("name", "http").put("containerPort", ScrapeConfig.PORT)
                .put("protocol", "TCP");
        ObjectNode ready = c.putObject("readinessProbe");
        ready.putObject("httpGet").put("path", "/-/ready").put("port", ScrapeConfig.PORT);
        ready.put("periodSeconds", 1).put("timeoutSeconds", 4).put("failureThreshold", 3);
        ObjectNode live = c.putObject("livenessProbe");
        live.putObject("httpGet").put("path", "/-/healthy").put("port", ScrapeConfig.PORT);
        live.put("initialDelaySeconds", 30).put("periodSeconds", 15).put("timeoutSeconds", 10)
                .put("failureThreshold", 3);
        return KubeObject.of(d).from(ORIGIN);
    }

    private static void selector(ObjectNode labels) {
        labels.put("app.kubernetes.io/component", "server");
        labels.put("app.kubernetes.io/name", NAME);
        labels.put("app.kubernetes.io/instance", NAME);
    }

    private static ObjectNode metadata() {
        ObjectNode meta = NODES.objectNode();
        meta.put("name", NAME);
        meta.put("namespace", NAMESPACE);
        ObjectNode labels = meta.putObject("labels");
        selector(labels);
        labels.put("app.kubernetes.io/part-of", NAME);
        return meta;
    }

    static String hash(String text) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
