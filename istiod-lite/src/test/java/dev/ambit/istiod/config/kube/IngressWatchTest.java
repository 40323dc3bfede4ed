package dev.ambit.istiod.config.kube;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.config.ConfigError;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import io.fabric8.istio.api.networking.v1.Gateway;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Istio Gateways (decoded generically, validated) and Secrets (typed, all namespaces, only
 * TLS material kept) read from Kubernetes by {@link KubernetesSource}.
 */
class IngressWatchTest {

    private MockCluster cluster;
    private KubernetesSource source;
    private final RecordingListener listener = new RecordingListener();

    @BeforeEach
    void startCluster() {
        cluster = MockCluster.start();
    }

    @AfterEach
    void stop() throws InterruptedException {
        try {
            if (source != null) {
                cluster.quiesce();
                source.close();
            }
        } finally {
            cluster.close();
        }
    }

    private static String gateway(int port) {
        return """
                apiVersion: networking.istio.io/v1
                kind: Gateway
                metadata: {name: ingressgateway, namespace: istio-system}
                spec:
                  selector: {istio: ingressgateway}
                  servers:
                  - port: {number: %d, name: http, protocol: HTTP}
                    hosts: [app.example.com]
                """.formatted(port);
    }

    private static List<String> secrets(ConfigSnapshot s) {
        return s.list(Kind.SECRET, Secret.class).stream()
                .map(x -> x.getMetadata().getNamespace() + "/" + x.getMetadata().getName()).toList();
    }

    @Test
    void gatewaysAndTlsSecretsAreWatchedAndOtherSecretsIgnored() throws Exception {
        cluster.apply(gateway(80));
        var secrets = cluster.client.secrets();
        secrets.inNamespace("istio-system").resource(new SecretBuilder().withNewMetadata().withName("app-cert")
                .withNamespace("istio-system").endMetadata().withType("kubernetes.io/tls")
                .addToData("tls.crt", "eA==").addToData("tls.key", "eA==").build()).create();
        secrets.inNamespace("shop").resource(new SecretBuilder().withNewMetadata().withName("db-password")
                .withNamespace("shop").endMetadata().withType("Opaque").addToData("password", "eA==").build()).create();
        secrets.inNamespace("shop").resource(new SecretBuilder().withNewMetadata().withName("shop-ca")
                .withNamespace("shop").endMetadata().withType("Opaque").addToData("ca.crt", "eA==").build()).create();
        source = KubernetesSource.builder(MetricsRegistry.create()).config(cluster.client.getConfiguration())
                .syncTimeout(Duration.ofSeconds(20)).debounce(Duration.ofMillis(50)).build();
        source.start(listener);

        ConfigSnapshot first = listener.lastSnapshot;
        assertThat(first.list(Kind.ISTIO_GATEWAY, Gateway.class)).singleElement()
                .satisfies(g -> assertThat(g.getSpec().getServers().getFirst().getPort().getNumber()).isEqualTo(80));
        assertThat(secrets(first)).containsExactlyInAnyOrder("istio-system/app-cert", "shop/shop-ca");

        // A port Istio refuses is reported with object and field; the last good version stays.
        cluster.apply(gateway(0));
        List<ConfigError> errors = listener.awaitRejected("the gateway rejected", e -> !e.isEmpty());
        assertThat(errors).singleElement().satisfies(e -> assertThat(e.message()).isEqualTo(
                "kubernetes: Gateway istio-system/ingressgateway: spec.servers[0].port.number: port 0 "
                        + "(expected: 1-65535)"));

        // A Secret that stops holding TLS keys is forgotten.
        secrets.inNamespace("istio-system").withName("app-cert").edit(s -> new SecretBuilder(s).withType("Opaque")
                .withData(java.util.Map.of("other", "eA==")).build());
        listener.awaitSnapshot("app-cert forgotten", s -> !secrets(s).contains("istio-system/app-cert"));
    }
}
