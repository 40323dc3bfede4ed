package dev.ambit.istiod.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@link Fabric8ClusterWriter}'s read-compare-update against fabric8's mock API server (CRUD mode). */
class Fabric8ClusterWriterTest {

    private KubernetesMockServer server;
    private KubernetesClient client;
    private ClusterWriter writer;

    @BeforeEach
    void setUp() {
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(List.of()), false);
        server.init();
        client = server.createClient();
        writer = Fabric8ClusterWriter.of(client);
    }

    @AfterEach
    void tearDown() {
        client.close();
        server.destroy();
    }

    private static ConfigMap configMap(String value) {
        return new ConfigMapBuilder().withNewMetadata().withName("cm").withNamespace("ns")
                .withLabels(Map.of("owner", "ambit")).endMetadata().withData(Map.of("k", value)).build();
    }

    private static Service service(String label) {
        return new ServiceBuilder().withNewMetadata().withName("svc").withNamespace("ns")
                .withLabels(Map.of("app", label)).endMetadata()
                .withNewSpec().withType("NodePort").withSelector(Map.of("app", "x"))
                    .addNewPort().withName("http").withPort(80).withProtocol("TCP").endPort()
                .endSpec().build();
    }

    @Test
    void createsThenWritesNothingWhileTheObjectHasEverythingDesired() {
        ConfigMap desired = configMap("v1");
        var created = writer.apply(desired);
        assertThat(created.outcome()).isEqualTo(ClusterWriter.Outcome.CREATED);
        assertThat(desired.getMetadata().getResourceVersion()).as("the caller's object is not changed").isNull();

        // What a server or another controller adds does not count as a difference.
        client.configMaps().inNamespace("ns").withName("cm").edit(cm -> {
            cm.getMetadata().getLabels().put("added-by", "someone-else");
            cm.getData().put("other", "value");
            return cm;
        });
        String version = client.configMaps().inNamespace("ns").withName("cm").get().getMetadata().getResourceVersion();

        var again = writer.apply(configMap("v1"));
        assertThat(again.outcome()).isEqualTo(ClusterWriter.Outcome.UNCHANGED);
        assertThat(again.object().getMetadata().getResourceVersion()).isEqualTo(version);

        var changed = writer.apply(configMap("v2"));
        assertThat(changed.outcome()).isEqualTo(ClusterWriter.Outcome.UPDATED);
        ConfigMap stored = client.configMaps().inNamespace("ns").withName("cm").get();
        assertThat(stored.getData()).isEqualTo(Map.of("k", "v2"));
        assertThat(stored.getMetadata().getLabels()).as("labels it does not name are kept")
                .containsEntry("added-by", "someone-else").containsEntry("owner", "ambit");
    }

    @Test
    void anUpdateKeepsWhatTheServerAllocated() {
        writer.apply(service("a"));
        // A real API server allocates these; the mock does not, so the test does.
        client.services().inNamespace("ns").withName("svc").edit(s -> {
            s.getSpec().setClusterIP("10.96.1.1");
            s.getSpec().setClusterIPs(List.of("10.96.1.1"));
            s.getSpec().getPorts().getFirst().setNodePort(31080);
            return s;
        });

        var updated = writer.apply(service("b"));

        assertThat(updated.outcome()).isEqualTo(ClusterWriter.Outcome.UPDATED);
        Service stored = client.services().inNamespace("ns").withName("svc").get();
        assertThat(stored.getMetadata().getLabels()).containsEntry("app", "b");
        assertThat(stored.getSpec().getClusterIP()).isEqualTo("10.96.1.1");
        assertThat(stored.getSpec().getPorts().getFirst().getNodePort()).isEqualTo(31080);
    }

    @Test
    void statusNeedsTheVersionItWasComputedFrom() {
        ConfigMap cm = writer.apply(configMap("v1")).object();
        ConfigMap noVersion = configMap("v1");
        assertThatThrownBy(() -> writer.updateStatus(noVersion)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("ConfigMap ns/cm").hasMessageContaining("resourceVersion");
        assertThat(writer.read(cm)).isPresent();
        assertThat(writer.delete(cm)).isTrue();
        assertThat(writer.read(cm)).isEmpty();
        assertThat(writer.delete(cm)).isFalse();
    }

    @Test
    void serverSideApplySendsAnApplyPatchWithItsFieldManagerForcingConflicts() throws Exception {
        ClusterWriter ssa = Fabric8ClusterWriter.builder(client).serverSideApply(true).fieldManager("ambit-istiod")
                .build();
        try {
            ssa.apply(configMap("v1"));
        } catch (RuntimeException e) {
            // fabric8's mock server cannot merge an apply patch: what was sent is what counts here.
        }
        var request = server.getLastRequest();
        assertThat(request.getMethod()).isEqualTo("PATCH");
        assertThat(request.getPath()).startsWith("/api/v1/namespaces/ns/configmaps/cm")
                .contains("fieldManager=ambit-istiod").contains("force=true");
        assertThat(request.getHeader("Content-Type")).startsWith("application/apply-patch+yaml");
    }

    @Test
    void containsComparesOnlyWhatTheDesiredObjectSets() {
        Map<String, Object> stored = map("metadata", map("name", "x", "uid", "1", "labels", map("a", "1", "b", "2")),
                "spec", map("replicas", 3, "ports", List.of(map("port", 80, "protocol", "TCP"))),
                "status", map("ready", true));
        assertThat(Fabric8ClusterWriter.contains(stored, map("metadata", map("labels", map("a", "1")),
                "spec", map("ports", List.of(map("port", 80)))))).isTrue();
        assertThat(Fabric8ClusterWriter.contains(stored, map("spec", map("ports", List.of(map("port", 81))))))
                .isFalse();
        assertThat(Fabric8ClusterWriter.contains(stored, map("spec", map("ports",
                List.of(map("port", 80), map("port", 81)))))).as("a list must match in length").isFalse();
        assertThat(Fabric8ClusterWriter.contains(stored, map("metadata", map("labels", map("a", "2"))))).isFalse();
        assertThat(Fabric8ClusterWriter.contains(stored, map("status", map("ready", false))))
                .as("status is the server's").isTrue();
        assertThat(Fabric8ClusterWriter.contains(stored, map("spec", map("selector", Map.of()))))
                .as("empty wants nothing").isTrue();
    }

    private static Map<String, Object> map(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }
}
