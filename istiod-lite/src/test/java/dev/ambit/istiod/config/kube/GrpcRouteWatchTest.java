package dev.ambit.istiod.config.kube;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.config.ConfigError;
import dev.ambit.istiod.config.ConfigMetrics;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.config.ObjectRef;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * GRPCRoutes read and watched by {@link KubernetesSource} (gateway.networking.k8s.io/v1,
 * decoded generically, validated as the folder source validates them): a route arrives, an
 * invalid update is reported naming the object and the field while the last accepted version
 * stays in force (a routing object does not fail closed), a fix and a delete arrive.
 */
class GrpcRouteWatchTest {

    private static final ObjectRef ROUTE = ObjectRef.of(Kind.GRPC_ROUTE, "shop", "ratings");

    private MockCluster cluster;
    private MetricsRegistry metrics;
    private KubernetesSource source;
    private final RecordingListener listener = new RecordingListener();

    @BeforeEach
    void startCluster() {
        cluster = MockCluster.start();
        metrics = MetricsRegistry.create();
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

    private static String route(String service, String method) {
        return """
                apiVersion: gateway.networking.k8s.io/v1
                kind: GRPCRoute
                metadata: {name: ratings, namespace: shop}
                spec:
                  parentRefs: [{kind: Service, name: ratings}]
                  rules:
                  - matches: [{method: {type: RegularExpression, service: "%s", method: %s}}]
                    backendRefs: [{name: ratings, port: 7070, weight: 1}]
                """.formatted(service, method);
    }

    private static Optional<GRPCRoute> route(ConfigSnapshot s) {
        return s.get(Kind.GRPC_ROUTE, "shop", "ratings", GRPCRoute.class);
    }

    private static String service(ConfigSnapshot s) {
        return route(s).orElseThrow().getSpec().getRules().getFirst().getMatches().getFirst().getMethod().getService();
    }

    @Test
    void grpcRoutesAreWatchedAndAnInvalidUpdateKeepsTheLastGoodVersion() throws Exception {
        cluster.apply(route("helloworld\\\\.Greeter", "SayHello"));
        source = KubernetesSource.builder(metrics).config(cluster.client.getConfiguration())
                .syncTimeout(Duration.ofSeconds(20)).debounce(Duration.ofMillis(50)).build();
        source.start(listener);
        assertThat(service(listener.lastSnapshot)).isEqualTo("helloworld\\.Greeter");
        assertThat(listener.lastErrors).isEmpty();

        // A lookahead is not RE2 (Envoy's safe_regex): rejected with the field's path.
        cluster.apply(route("helloworld(?=\\\\.Greeter)", "SayHello"));
        List<ConfigError> errors = listener.awaitRejected("ratings rejected", e -> !e.isEmpty());
        assertThat(errors).singleElement().satisfies(e -> {
            assertThat(e.object()).isEqualTo(ROUTE);
            assertThat(e.field()).isEqualTo("spec.rules[0].matches[0].method.service");
            assertThat(e.message()).startsWith("kubernetes: GRPCRoute shop/ratings: "
                    + "spec.rules[0].matches[0].method.service: invalid RE2 regex");
        });
        assertThat(metrics.value(ConfigMetrics.REJECTED, KubernetesSource.ORIGIN, "GRPCRoute")).isEqualTo(1);
        ConfigSnapshot kept = listener.nextSnapshot();
        assertThat(service(kept)).as("the last accepted version stays in force").isEqualTo("helloworld\\.Greeter");
        assertThat(kept.failClosed()).isEmpty();

        cluster.apply(route("helloworld\\\\.Greeter(V2)?", "SayHello"));
        listener.awaitRejected("fixed", List::isEmpty);
        listener.awaitSnapshot("the fixed version", s -> route(s).isPresent()
                && service(s).equals("helloworld\\.Greeter(V2)?"));

        cluster.delete(Kind.GRPC_ROUTE, "shop", "ratings");
        listener.awaitSnapshot("no route", s -> route(s).isEmpty());
    }
}
