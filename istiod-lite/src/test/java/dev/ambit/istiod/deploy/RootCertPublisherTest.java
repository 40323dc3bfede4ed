package dev.ambit.istiod.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@link RootCertPublisher} against fabric8's mock API server in CRUD mode. */
class RootCertPublisherTest {

    private static final String ROOT_A = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    private static final String ROOT_B = "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n";

    private KubernetesMockServer server;
    private KubernetesClient client;
    private final MetricsRegistry metrics = MetricsRegistry.create();
    private final AtomicReference<String> root = new AtomicReference<>(ROOT_A);

    @BeforeEach
    void setUp() {
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(), false);
        server.init();
        client = server.createClient();
        for (String ns : new String[] {"default", "shop", "kube-system", "kube-public", "kube-node-lease"}) {
            client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns).endMetadata().build())
                    .create();
        }
        // Being deleted: the API server refuses new objects there, Istio skips it.
        client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName("leaving").endMetadata()
                .withNewStatus().withPhase("Terminating").endStatus().build()).create();
    }

    @AfterEach
    void tearDown() {
        client.close();
        try {
            server.destroy();
        } catch (IllegalStateException lingering) {
            // The mock server waits 10 s for connections to end and then gives up; in a full
            // module run the watch's websocket is sometimes still being closed by the client's
            // shared HTTP stack. The assertions above have run; this is only the mock's teardown.
        }
    }

    /** What the Kubernetes source delivers: the stored Namespaces. */
    private ConfigSnapshot snapshot() {
        ConfigSnapshot.Builder b = ConfigSnapshot.builder();
        client.namespaces().list().getItems().forEach(n -> b.put(Kind.NAMESPACE, n));
        return b.build();
    }

    private Optional<ConfigMap> rootCert(String ns) {
        return Optional.ofNullable(client.configMaps().inNamespace(ns).withName("istio-ca-root-cert").get());
    }

    private double count(String result) {
        return metrics.value("ambit_root_cert_configmaps_total", result);
    }

    @Test
    void everyNamespaceGetsTheRootAsIstiodWritesItAndARunOverAnUnchangedClusterWritesNothing() {
        RootCertPublisher publisher = RootCertPublisher.builder(Fabric8ClusterWriter.of(client), root::get, metrics)
                .build();
        assertThat(publisher.reconcile(snapshot())).isTrue();
        for (String ns : new String[] {"default", "shop", "kube-system"}) {
            ConfigMap cm = rootCert(ns).orElseThrow(() -> new AssertionError("no istio-ca-root-cert in " + ns));
            assertThat(cm.getData()).containsExactly(Map.entry("root-cert.pem", ROOT_A));
            assertThat(cm.getMetadata().getLabels()).containsEntry("istio.io/config", "true");
        }
        // Istio's namespace controller leaves these alone.
        assertThat(rootCert("kube-public")).isEmpty();
        assertThat(rootCert("kube-node-lease")).isEmpty();
        assertThat(rootCert("leaving")).isEmpty();
        assertThat(count("created")).isEqualTo(3);

        assertThat(publisher.reconcile(snapshot())).isTrue();
        assertThat(count("unchanged")).isEqualTo(3);
        assertThat(count("updated")).isZero();

        // Someone edits one: the next run puts the root back; a new root reaches every namespace.
        client.configMaps().inNamespace("shop").resource(new ConfigMapBuilder(rootCert("shop").orElseThrow())
                .withData(Map.of("root-cert.pem", "garbage")).build()).update();
        root.set(ROOT_B);
        assertThat(publisher.reconcile(snapshot())).isTrue();
        for (String ns : new String[] {"default", "shop", "kube-system"}) {
            assertThat(rootCert(ns).orElseThrow().getData()).containsEntry("root-cert.pem", ROOT_B);
        }
        assertThat(count("updated")).isEqualTo(3);
    }

    @Test
    void aRefusedWriteIsCountedAndRetriedWithoutStoppingTheOthers() {
        ClusterWriter real = Fabric8ClusterWriter.of(client);
        AtomicReference<String> refused = new AtomicReference<>("shop");
        ClusterWriter refusing = new ClusterWriter() {
            @Override
            public <T extends HasMetadata> Applied<T> apply(T desired) {
                if (desired.getMetadata().getNamespace().equals(refused.get())) {
                    throw new KubernetesClientException("configmaps is forbidden (test)", 403, null);
                }
                return real.apply(desired);
            }

            @Override
            public <T extends HasMetadata> Optional<T> read(T object) {
                return real.read(object);
            }

            @Override
            public <T extends HasMetadata> T updateStatus(T object) {
                return real.updateStatus(object);
            }

            @Override
            public boolean delete(HasMetadata object) {
                return real.delete(object);
            }
        };
        RootCertPublisher publisher = RootCertPublisher.builder(refusing, root::get, metrics).build();
        assertThat(publisher.reconcile(snapshot())).isFalse();
        assertThat(count("error")).isEqualTo(1);
        assertThat(rootCert("shop")).isEmpty();
        assertThat(rootCert("default")).isPresent();

        refused.set("none");
        assertThat(publisher.reconcile(snapshot())).isTrue();
        assertThat(rootCert("shop")).isPresent();
    }

    @Test
    void startedItFollowsNewNamespacesDeletionsAndANewRootOnItsOwn() throws Exception {
        try (RootCertPublisher publisher = RootCertPublisher.builder(Fabric8ClusterWriter.of(client), root::get, metrics)
                .rootCheck(Duration.ofMillis(50)).resync(Duration.ofHours(1)).watch(client).build()) {
            publisher.start();
            publisher.onSnapshot(snapshot());
            await(() -> rootCert("shop").isPresent());

            client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName("books").endMetadata()
                    .build()).create();
            publisher.onSnapshot(snapshot());
            await(() -> rootCert("books").isPresent());

            // Deleted by someone, no snapshot, no resync due: the watch has it written again, and
            // only there (one more creation, no pass over the other namespaces).
            // The pass books started with: books created, the three others left as they were.
            await(() -> count("created") == 4 && count("unchanged") == 3);
            client.configMaps().inNamespace("shop").withName("istio-ca-root-cert").delete();
            await(() -> rootCert("shop").isPresent());
            assertThat(rootCert("shop").orElseThrow().getData()).containsEntry("root-cert.pem", ROOT_A);
            assertThat(count("created")).isEqualTo(5);
            assertThat(count("unchanged")).isEqualTo(3);

            // No snapshot, no resync due: the root check alone carries the new root everywhere.
            root.set(ROOT_B);
            await(() -> rootCert("books").map(c -> ROOT_B.equals(c.getData().get("root-cert.pem"))).orElse(false)
                    && rootCert("default").map(c -> ROOT_B.equals(c.getData().get("root-cert.pem"))).orElse(false));
        }
    }

    private static void await(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within 10 s");
            }
            Thread.sleep(20);
        }
    }
}
