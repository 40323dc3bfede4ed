package dev.ambit.ctl.local.addons;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ambit.ctl.local.Durations;
import dev.ambit.ctl.local.Manifests;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The {@code prometheus.yml} of the local Prometheus addon, with the conventions of Istio's
 * sample ({@code samples/addons/prometheus.yaml}): job {@code prometheus} scraping itself, and
 * job {@code kubernetes-pods} with Istio's relabelings, so pods annotated
 * {@code prometheus.io/scrape: "true"} are scraped on {@code prometheus.io/port} and
 * {@code prometheus.io/path} (and {@code prometheus.io/scheme}, {@code prometheus.io/param_*}),
 * those annotated {@code prometheus.io/scrape_slow} are left out, every pod label becomes a label
 * ({@code app}, {@code version}, ...), and {@code namespace}, {@code pod} and {@code node} are
 * set; pods not running are dropped. The one difference: the targets come from
 * {@code file_sd_configs} ({@link ScrapeTargets}) instead of {@code kubernetes_sd_configs}, with
 * the same meta labels. istiod-lite is scraped as Istio's istiod pod is, by this job (its
 * annotations ask for 15014); the sample has no job of its own for it. Pure.
 */
public final class ScrapeConfig {

    static final String SELF_JOB = "prometheus";
    static final String PODS_JOB = "kubernetes-pods";
    /** Prometheus's listen port, the sample Service's port. */
    public static final int PORT = 9090;
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final String META = ScrapeTargets.META;

    private ScrapeConfig() {
    }

    /**
     * The config as YAML.
     *
     * @param interval the scrape (and evaluation) interval; the scrape timeout is the smaller of it
     *     and the sample's 10 s
     * @param targetsFile the file_sd file {@link ScrapeTargets#fileSd} is written to
     */
    public static String yaml(Duration interval, Path targetsFile) {
        requireNonNull(interval, "interval");
        requireNonNull(targetsFile, "targetsFile");
        if (interval.compareTo(Duration.ofSeconds(1)) < 0 || interval.compareTo(Duration.ofMinutes(5)) > 0) {
            throw new IllegalArgumentException("scrape interval: " + Durations.format(interval)
                    + " (expected: 1s-5m)");
        }
        Duration timeout = interval.compareTo(Duration.ofSeconds(10)) < 0 ? interval : Duration.ofSeconds(10);
        ObjectNode root = NODES.objectNode();
        ObjectNode global = root.putObject("global");
        global.put("scrape_interval", Durations.format(interval));
        global.put("scrape_timeout", Durations.format(timeout));
        global.put("evaluation_interval", Durations.format(interval));
        ArrayNode jobs = root.putArray("scrape_configs");
        ObjectNode self = jobs.addObject();
        self.put("job_name", SELF_JOB);
        self.putArray("static_configs").addObject().putArray("targets").add("localhost:" + PORT);
        jobs.add(podsJob(interval, targetsFile));
        try {
            return "# Written by ambitctl local (addon prometheus); regenerated on every change.\n"
                    + Manifests.YAML.writeValueAsString(root);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException("cannot write prometheus.yml: " + e.getMessage(), e);
        }
    }

    private static ObjectNode podsJob(Duration interval, Path targetsFile) {
        ObjectNode job = NODES.objectNode();
        job.put("job_name", PODS_JOB);
        job.put("honor_labels", true);
        ObjectNode sd = job.putArray("file_sd_configs").addObject();
        sd.putArray("files").add(targetsFile.toString());
        sd.put("refresh_interval", Durations.format(interval));
        ArrayNode r = job.putArray("relabel_configs");
        rule(r, "keep", "true", null, null, "pod_annotation_prometheus_io_scrape");
        rule(r, "drop", "true", null, null, "pod_annotation_prometheus_io_scrape_slow");
        rule(r, "replace", "(https?)", null, "__scheme__", "pod_annotation_prometheus_io_scheme");
        rule(r, "replace", "(.+)", null, "__metrics_path__", "pod_annotation_prometheus_io_path");
        // The port annotation with the pod's address, IPv6 then IPv4, as the sample writes them.
        rule(r, "replace", "(\\d+);(([A-Fa-f0-9]{1,4}::?){1,7}[A-Fa-f0-9]{1,4})", "[$2]:$1", "__address__",
                "pod_annotation_prometheus_io_port", "pod_ip");
        rule(r, "replace", "(\\d+);((([0-9]+?)(\\.|$)){4})", "$2:$1", "__address__",
                "pod_annotation_prometheus_io_port", "pod_ip");
        ObjectNode params = r.addObject();
        params.put("action", "labelmap");
        params.put("regex", META + "pod_annotation_prometheus_io_param_(.+)");
        params.put("replacement", "__param_$1");
        r.addObject().put("action", "labelmap").put("regex", META + "pod_label_(.+)");
        rule(r, "replace", null, null, "namespace", "namespace");
        rule(r, "replace", null, null, "pod", "pod_name");
        rule(r, "drop", "Pending|Succeeded|Failed|Completed", null, null, "pod_phase");
        rule(r, "replace", null, null, "node", "pod_node_name");
        return job;
    }

    /** One relabel rule; {@code sources} are meta label names without the {@code __meta_kubernetes_} prefix. */
    private static void rule(ArrayNode rules, String action, String regex, String replacement, String target,
                             String... sources) {
        ObjectNode rule = rules.addObject();
        rule.put("action", action);
        if (regex != null) {
            rule.put("regex", regex);
        }
        if (replacement != null) {
            rule.put("replacement", replacement);
        }
        ArrayNode s = rule.putArray("source_labels");
        for (String source : sources) {
            s.add(META + source);
        }
        if (target != null) {
            rule.put("target_label", target);
        }
    }
}
