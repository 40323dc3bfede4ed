package dev.ambit.ctl.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ambit.ctl.local.addons.Addons;
import dev.ambit.ctl.local.addons.PrometheusAddon;
import dev.ambit.ctl.local.addons.ScrapePod;
import dev.ambit.ctl.local.addons.ScrapeTargets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Prometheus addon as the controller runs it: objects while enabled, config and targets files. */
class AddonsTest {

    @TempDir
    Path dir;

    private static KubeObject find(List<KubeObject> objects, String kind, String name) {
        return objects.stream().filter(o -> o.kind().equals(kind) && o.name().equals(name)).findFirst().orElseThrow();
    }

    private static ScrapePod pod(String ns, String name, String ip) {
        return new ScrapePod(ns, name, "uid-" + name, "node1", "10.250.0.11", ip, "Running", true,
                Map.of("app", name), Map.of("prometheus.io/scrape", "true", "prometheus.io/port", "15020"),
                "", "", "c", 0);
    }

    @Test
    void objectsOnlyWhileEnabledAndTheConfigAndTargetsFollow() throws Exception {
        AddonsTestSupport.requirePrometheus();
        StateDir state = new StateDir(dir);
        List<String> logged = new ArrayList<>();
        Addons addons = Addons.of(state, List.of(ScrapeTargets.nodeAgent("node1", "10.250.0.11"),
                ScrapeTargets.istiod("10.250.0.2")), logged::add);
        KubeObject user = KubeObject.of((com.fasterxml.jackson.databind.node.ObjectNode) new ObjectMapper().readTree(
                "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"istio-system\"}}"));

        // Disabled: nothing added, nothing written.
        assertThat(addons.expand(List.of(user))).containsExactly(user);
        addons.publish(List.of(pod("web", "web-1", "10.244.1.5")));
        assertThat(Addons.layout(state).dir()).doesNotExist();

        Addons.enable(state, "prometheus", Duration.ofSeconds(2));
        assertThat(Addons.enabled(state)).containsExactly("prometheus");
        List<KubeObject> objects = addons.expand(List.of(user));
        // The user's namespace wins over the addon's; the rest is added.
        assertThat(objects).extracting(o -> o.kind() + " " + o.name()).containsExactly("Namespace istio-system",
                "ServiceAccount prometheus", "Deployment prometheus", "Service prometheus");
        assertThat(objects.getFirst()).isSameAs(user);
        assertThat(logged).contains("addon prometheus: enabled (scrape interval 2s)");

        KubeObject svc = find(objects, "Service", "prometheus");
        Services.validate(svc);
        assertThat(svc.namespace()).isEqualTo("istio-system");
        assertThat(Services.type(svc)).isEqualTo("LoadBalancer");
        assertThat(Services.ports(svc)).extracting(p -> p.name() + " " + p.port() + "->" + p.targetPort())
                .containsExactly("http 9090->9090");
        KubeObject deploy = find(objects, "Deployment", "prometheus");
        Deployments.validate(deploy);
        JsonNode template = deploy.spec().path("template");
        assertThat(Selector.serviceSelects(Services.selector(svc), KubeObject.stringMap(template.path("metadata").path("labels"))))
                .isTrue();
        assertThat(template.path("metadata").path("labels").path("istio.io/dataplane-mode").asText()).isEqualTo("none");
        PodTemplate pt = PodTemplate.parse(template.path("spec"), "prometheus");
        PodTemplate.Container c = pt.containers().getFirst();
        assertThat(c.command()).startsWith(PrometheusAddon.binary().orElseThrow().toString())
                .contains("--config.file=" + Addons.layout(state).config(),
                        "--storage.tsdb.path=" + Addons.layout(state).data().resolve("$(POD_NAME)"),
                        "--web.listen-address=0.0.0.0:9090");
        assertThat(c.readinessProbe()).isNotNull();

        // The config is written for the pod; the targets follow the pods, written only on a change.
        String config = Files.readString(Addons.layout(state).config());
        assertThat(config).contains("scrape_interval: 2s", "job_name: kubernetes-pods",
                Addons.layout(state).targets().toString());
        addons.publish(List.of(pod("web", "web-1", "10.244.1.5")));
        JsonNode targets = new ObjectMapper().readTree(Addons.layout(state).targets().toFile());
        List<String> names = new ArrayList<>();
        targets.forEach(g -> names.add(g.path("labels").path("__meta_kubernetes_pod_name").asText()
                + "@" + g.path("targets").path(0).asText()));
        assertThat(names).containsExactly("istiod-lite@10.250.0.2:15014", "ztunnel-node1@10.250.0.11:15020",
                "web-1@10.244.1.5");
        var written = Files.getLastModifiedTime(Addons.layout(state).targets());
        Thread.sleep(20);
        addons.publish(List.of(pod("web", "web-1", "10.244.1.5")));
        assertThat(Files.getLastModifiedTime(Addons.layout(state).targets())).isEqualTo(written);

        // A new interval is a new config, and a new pod template (its hash is an annotation).
        String hash = template.path("metadata").path("annotations").path("ambit.dev/config-hash").asText();
        Thread.sleep(20); // a new modification time
        Addons.enable(state, "prometheus", Duration.ofSeconds(5));
        List<KubeObject> again = addons.expand(List.of());
        assertThat(find(again, "Deployment", "prometheus").spec().path("template").path("metadata")
                .path("annotations").path("ambit.dev/config-hash").asText()).isNotEqualTo(hash);
        assertThat(Files.readString(Addons.layout(state).config())).contains("scrape_interval: 5s");

        // Disabled: the objects go (the controller deletes the pod), then the files.
        assertThat(Addons.disable(state, "prometheus")).isTrue();
        assertThat(addons.expand(List.of())).isEmpty();
        assertThat(Addons.enabled(state)).isEmpty();
        Addons.removeFiles(state, "prometheus");
        assertThat(Addons.layout(state).dir()).doesNotExist();
        assertThat(Addons.disable(state, "prometheus")).isFalse();
    }

    @Test
    void badInput() {
        StateDir state = new StateDir(dir);
        assertThatThrownBy(() -> Addons.enable(state, "grafana", Duration.ofSeconds(5)))
                .hasMessage("addon grafana: no such addon (expected: prometheus)");
        AddonsTestSupport.requirePrometheus();
        assertThatThrownBy(() -> Addons.enable(state, "prometheus", Duration.ofMillis(500)))
                .hasMessageContaining("--scrape-interval").hasMessageContaining("500ms (expected: 1s-5m)");
    }
}
