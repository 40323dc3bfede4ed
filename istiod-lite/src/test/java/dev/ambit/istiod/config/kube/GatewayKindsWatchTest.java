package dev.ambit.istiod.config.kube;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.ReferenceGrant;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.TLSRoute;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The kinds issue 16 adds, read by {@link KubernetesSource}: Ingress (networking.k8s.io/v1, typed),
 * ReferenceGrant (gateway.networking.k8s.io/v1beta1) and TLSRoute (v1alpha2), each at the version
 * the API server serves it.
 */
class GatewayKindsWatchTest {

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

    @Test
    void ingressesReferenceGrantsAndTlsRoutesAreRead() throws Exception {
        cluster.apply("""
                apiVersion: networking.k8s.io/v1
                kind: Ingress
                metadata: {name: shop, namespace: shop}
                spec:
                  ingressClassName: istio
                  rules: [{host: app.example.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: frontend, port: {number: 80}}}}]}}]
                """);
        cluster.apply("""
                apiVersion: gateway.networking.k8s.io/v1beta1
                kind: ReferenceGrant
                metadata: {name: from-ingress, namespace: shop}
                spec:
                  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: ingress}]
                  to: [{group: "", kind: Service}]
                """);
        cluster.apply("""
                apiVersion: gateway.networking.k8s.io/v1alpha2
                kind: TLSRoute
                metadata: {name: secure, namespace: ingress}
                spec:
                  parentRefs: [{name: web}]
                  hostnames: [secure.example.com]
                  rules: [{backendRefs: [{name: secure, port: 8443}]}]
                """);
        source = KubernetesSource.builder(MetricsRegistry.create()).config(cluster.client.getConfiguration())
                .syncTimeout(Duration.ofSeconds(20)).debounce(Duration.ofMillis(50)).build();
        source.start(listener);
        ConfigSnapshot s = listener.awaitSnapshot("all three", c -> c.get(Kind.TLS_ROUTE, "ingress", "secure",
                TLSRoute.class).isPresent() && c.get(Kind.INGRESS, "shop", "shop", Ingress.class).isPresent()
                && c.get(Kind.REFERENCE_GRANT, "shop", "from-ingress", ReferenceGrant.class).isPresent());
        assertThat(s.get(Kind.INGRESS, "shop", "shop", Ingress.class).orElseThrow().getSpec().getIngressClassName())
                .isEqualTo("istio");
        assertThat(s.get(Kind.TLS_ROUTE, "ingress", "secure", TLSRoute.class).orElseThrow().getSpec().getHostnames())
                .containsExactly("secure.example.com");
        assertThat(listener.lastErrors).isEmpty();
    }
}
