package dev.ambit.ctl.local.addons;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ambit.ctl.local.Manifests;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The generated prometheus.yml and file_sd targets: Istio's sample conventions, Kubernetes SD's meta labels. */
class ScrapeConfigTest {

    @TempDir
    Path dir;

    @Test
    void istiosSampleJobsAndRelabelings() throws Exception {
        JsonNode config = Manifests.YAML.readTree(ScrapeConfig.yaml(Duration.ofSeconds(5), Path.of("/s/t.json")));
        assertThat(config.path("global").path("scrape_interval").asText()).isEqualTo("5s");
        assertThat(config.path("global").path("scrape_timeout").asText()).isEqualTo("5s");
        List<String> jobs = new ArrayList<>();
        config.path("scrape_configs").forEach(j -> jobs.add(j.path("job_name").asText()));
        assertThat(jobs).containsExactly("prometheus", "kubernetes-pods");
        JsonNode pods = config.path("scrape_configs").get(1);
        assertThat(pods.path("honor_labels").asBoolean()).isTrue();
        assertThat(pods.path("file_sd_configs").get(0).path("files").get(0).asText()).isEqualTo("/s/t.json");
        List<String> rules = new ArrayList<>();
        pods.path("relabel_configs").forEach(r -> rules.add(r.path("action").asText() + " "
                + r.path("source_labels").toString() + " -> " + r.path("target_label").asText()));
        assertThat(rules).containsExactly(
                "keep [\"__meta_kubernetes_pod_annotation_prometheus_io_scrape\"] -> ",
                "drop [\"__meta_kubernetes_pod_annotation_prometheus_io_scrape_slow\"] -> ",
                "replace [\"__meta_kubernetes_pod_annotation_prometheus_io_scheme\"] -> __scheme__",
                "replace [\"__meta_kubernetes_pod_annotation_prometheus_io_path\"] -> __metrics_path__",
                "replace [\"__meta_kubernetes_pod_annotation_prometheus_io_port\",\"__meta_kubernetes_pod_ip\"] -> __address__",
                "replace [\"__meta_kubernetes_pod_annotation_prometheus_io_port\",\"__meta_kubernetes_pod_ip\"] -> __address__",
                "labelmap  -> ",
                "labelmap  -> ",
                "replace [\"__meta_kubernetes_namespace\"] -> namespace",
                "replace [\"__meta_kubernetes_pod_name\"] -> pod",
                "drop [\"__meta_kubernetes_pod_phase\"] -> ",
                "replace [\"__meta_kubernetes_pod_node_name\"] -> node");
        // Longer intervals keep the sample's 10 s timeout.
        assertThat(Manifests.YAML.readTree(ScrapeConfig.yaml(Duration.ofSeconds(30), Path.of("/t.json")))
                .path("global").path("scrape_timeout").asText()).isEqualTo("10s");
        assertThatThrownBy(() -> ScrapeConfig.yaml(Duration.ofMinutes(6), Path.of("/t.json")))
                .hasMessage("scrape interval: 6m (expected: 1s-5m)");
    }

    @Test
    void promtoolAcceptsTheConfig() throws Exception {
        dev.ambit.ctl.local.AddonsTestSupport.requirePrometheus();
        Path promtool = PrometheusAddon.binary().orElseThrow().resolveSibling("promtool");
        Path targets = dir.resolve("kubernetes-pods.json");
        Files.writeString(targets, ScrapeTargets.fileSd(List.of(ScrapeTargets.istiod("10.250.0.2"))));
        Path config = dir.resolve("prometheus.yml");
        Files.writeString(config, ScrapeConfig.yaml(Duration.ofSeconds(2), targets));
        Process p = new ProcessBuilder(promtool.toString(), "check", "config", config.toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
    }

    @Test
    void kubernetesDiscoveryMetaLabels() {
        ScrapePod p = new ScrapePod("shop", "web-1", "u1", "node1", "10.250.0.11", "10.244.1.5", "Running", true,
                Map.of("app.kubernetes.io/name", "web", "version", "v1"),
                Map.of("prometheus.io/scrape", "true"), "ReplicaSet", "web-abc", "app", 8080);
        assertThat(ScrapeTargets.metaLabels(p)).containsEntry("__meta_kubernetes_namespace", "shop")
                .containsEntry("__meta_kubernetes_pod_name", "web-1")
                .containsEntry("__meta_kubernetes_pod_ip", "10.244.1.5")
                .containsEntry("__meta_kubernetes_pod_node_name", "node1")
                .containsEntry("__meta_kubernetes_pod_host_ip", "10.250.0.11")
                .containsEntry("__meta_kubernetes_pod_phase", "Running")
                .containsEntry("__meta_kubernetes_pod_ready", "true")
                .containsEntry("__meta_kubernetes_pod_controller_kind", "ReplicaSet")
                .containsEntry("__meta_kubernetes_pod_container_port_number", "8080")
                .containsEntry("__meta_kubernetes_pod_label_app_kubernetes_io_name", "web")
                .containsEntry("__meta_kubernetes_pod_labelpresent_app_kubernetes_io_name", "true")
                .containsEntry("__meta_kubernetes_pod_annotation_prometheus_io_scrape", "true");
        // A pod without an address yet is no target; the daemons are pods of istio-system.
        ScrapePod noIp = new ScrapePod("shop", "web-2", "u2", "node1", "", "", "Pending", false, Map.of(), Map.of(),
                "", "", "", 0);
        String json = ScrapeTargets.fileSd(List.of(p, noIp, ScrapeTargets.nodeAgent("node1", "10.250.0.11")));
        assertThat(json).contains("\"10.244.1.5:8080\"", "\"10.250.0.11:15020\"").doesNotContain("web-2");
        assertThat(ScrapeTargets.nodeAgent("node1", "10.250.0.11").labels()).containsEntry("app", "ztunnel");
        assertThat(ScrapeTargets.istiod("10.250.0.2").labels()).containsEntry("app", "istiod").containsEntry("istio", "pilot");
        assertThat(ScrapeTargets.sanitize("prometheus.io/scrape-slow")).isEqualTo("prometheus_io_scrape_slow");
    }
}
