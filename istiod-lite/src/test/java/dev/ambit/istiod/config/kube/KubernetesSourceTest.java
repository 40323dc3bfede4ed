package dev.ambit.istiod.config.kube;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.config.ConfigError;
import dev.ambit.istiod.config.FailClosed;
import dev.ambit.istiod.config.ConfigException;
import dev.ambit.istiod.config.ConfigMetrics;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.config.ObjectRef;
import io.fabric8.istio.api.api.security.v1beta1.AuthorizationPolicyAction;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@link KubernetesSource} against a CRUD mock API server. */
class KubernetesSourceTest {

    private static final ObjectRef ALLOW_FRONTEND = ObjectRef.of(Kind.AUTHORIZATION_POLICY, "shop", "allow-frontend");

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
        assertThat(listener.overlaps).as("overlapping deliveries").hasValue(0);
    }

    private KubernetesSource.Builder builder() {
        return KubernetesSource.builder(metrics)
                .config(cluster.client.getConfiguration())
                .syncTimeout(Duration.ofSeconds(20))
                .debounce(Duration.ofMillis(50));
    }

    private void start(KubernetesSource.Builder builder) throws ConfigException {
        source = builder.build();
        source.start(listener);
        assertThat(listener.lastSnapshot).as("first snapshot, delivered before start() returns").isNotNull();
    }

    private void createShop() {
        cluster.client.resource(new NamespaceBuilder().withNewMetadata().withName("shop")
                .addToLabels("istio.io/dataplane-mode", "ambient").endMetadata().build()).create();
        for (String name : List.of("web-1", "web-2")) {
            cluster.client.resource(new PodBuilder().withNewMetadata().withName(name).withNamespace("shop")
                            .addToLabels("app", "web").endMetadata()
                            .withNewSpec().withNodeName("node-1").withServiceAccountName("web")
                            .addNewContainer().withName("app").withImage("web:1").endContainer().endSpec()
                            .withNewStatus().withPhase("Running").withPodIP("10.244.1." + name.charAt(4))
                            .endStatus().build())
                    .create();
        }
    }

    private static String allowFrontend(String action) {
        return """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: allow-frontend, namespace: shop}
                spec:
                  selector: {matchLabels: {app: web}}
                  action: %s
                  rules:
                  - from:
                    - source:
                        principals: [cluster.local/ns/shop/sa/frontend]
                """.formatted(action);
    }

    private static String ipBlocks(String cidr) {
        return """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: office-only, namespace: shop}
                spec:
                  action: ALLOW
                  rules:
                  - from:
                    - source:
                        ipBlocks: ["%s"]
                """.formatted(cidr);
    }

    private static Optional<Namespace> namespace(ConfigSnapshot s, String name) {
        return s.get(Kind.NAMESPACE, "", name, Namespace.class);
    }

    private static Optional<Pod> pod(ConfigSnapshot s, String name) {
        return s.get(Kind.POD, "shop", name, Pod.class);
    }

    private static Optional<AuthorizationPolicy> policy(ConfigSnapshot s, String name) {
        return s.get(Kind.AUTHORIZATION_POLICY, "shop", name, AuthorizationPolicy.class);
    }

    private double rejectedCount(Kind kind) {
        return metrics.value(ConfigMetrics.REJECTED, KubernetesSource.ORIGIN, kind.kind());
    }

    @Test
    void runtimeChangesArriveAsNewSnapshots() throws Exception {
        createShop();
        start(builder());
        ConfigSnapshot first = listener.lastSnapshot;
        assertThat(namespace(first, "shop").orElseThrow().getMetadata().getLabels())
                .containsEntry("istio.io/dataplane-mode", "ambient");
        assertThat(pod(first, "web-1")).isPresent();
        assertThat(pod(first, "web-2")).isPresent();
        assertThat(listener.lastErrors).isEmpty();

        cluster.client.namespaces().withName("shop").edit(ns -> new NamespaceBuilder(ns).editMetadata()
                .removeFromLabels("istio.io/dataplane-mode").endMetadata().build());
        listener.awaitSnapshot("namespace shop without istio.io/dataplane-mode", s -> namespace(s, "shop")
                .map(ns -> !ns.getMetadata().getLabels().containsKey("istio.io/dataplane-mode")).orElse(false));

        cluster.client.pods().inNamespace("shop").withName("web-1").edit(p -> new PodBuilder(p).editMetadata()
                .addToLabels("version", "v2").endMetadata().build());
        ConfigSnapshot relabelled = listener.awaitSnapshot("pod web-1 with version=v2", s -> pod(s, "web-1")
                .map(p -> "v2".equals(p.getMetadata().getLabels().get("version"))).orElse(false));
        assertThat(namespace(relabelled, "shop").orElseThrow().getMetadata().getLabels())
                .doesNotContainKey("istio.io/dataplane-mode");

        cluster.client.pods().inNamespace("shop").withName("web-2").delete();
        ConfigSnapshot afterDelete = listener.awaitSnapshot("no pod web-2", s -> pod(s, "web-2").isEmpty());
        assertThat(pod(afterDelete, "web-1")).isPresent();

        assertThat(listener.threads).containsExactly("ambit-config-kube");
    }

    @Test
    void invalidSecurityObjectIsRejectedAndFailsClosedInsteadOfKeepingItsLastVersion() throws Exception {
        createShop();
        cluster.apply(allowFrontend("ALLOW"));
        start(builder());
        assertThat(policy(listener.lastSnapshot, "allow-frontend").orElseThrow().getSpec().getAction())
                .isEqualTo(AuthorizationPolicyAction.ALLOW);

        // An invalid update: not the previous version (a restart would not have it) but a
        // DENY of everything the policy selected (the action is unknown).
        cluster.apply(allowFrontend("PERMIT"));
        List<ConfigError> errors = listener.awaitRejected("allow-frontend rejected", e -> !e.isEmpty());
        assertThat(errors).singleElement().satisfies(e -> {
            assertThat(e.origin()).isEqualTo("kubernetes");
            assertThat(e.object()).isEqualTo(ALLOW_FRONTEND);
            assertThat(e.field()).isEqualTo("spec.action");
            assertThat(e.reason()).contains("PERMIT");
            assertThat(e.message()).startsWith("kubernetes: AuthorizationPolicy shop/allow-frontend: spec.action: ");
        });
        ConfigSnapshot failed = listener.nextSnapshot();
        assertThat(policy(failed, "allow-frontend")).isEmpty();
        assertThat(failed.failClosed()).singleElement().satisfies(f -> {
            assertThat(f.ref()).isEqualTo(ALLOW_FRONTEND);
            assertThat(f.effect()).isEqualTo(FailClosed.Effect.DENY_ALL);
            assertThat(f.reasons()).singleElement().extracting(ConfigError::field).isEqualTo("spec.action");
        });
        assertThat(rejectedCount(Kind.AUTHORIZATION_POLICY)).isEqualTo(1);

        // A new invalid object: reported with the path to the bad entry, never in a snapshot.
        cluster.apply(ipBlocks("10.0.0.300/8"));
        errors = listener.awaitRejected("office-only rejected", e -> e.size() == 2);
        assertThat(errors).anySatisfy(e -> {
            assertThat(e.object()).isEqualTo(ObjectRef.of(Kind.AUTHORIZATION_POLICY, "shop", "office-only"));
            assertThat(e.field()).isEqualTo("spec.rules[0].from[0].source.ipBlocks[0]");
            assertThat(e.reason()).contains("10.0.0.300/8");
        });
        ConfigSnapshot withBoth = listener.nextSnapshot();
        assertThat(policy(withBoth, "office-only")).isEmpty();
        assertThat(withBoth.failClosed()).extracting(f -> f.ref().name(), FailClosed::effect).containsExactly(
                org.assertj.core.groups.Tuple.tuple("allow-frontend", FailClosed.Effect.DENY_ALL),
                org.assertj.core.groups.Tuple.tuple("office-only", FailClosed.Effect.ALLOW_NOTHING));
        assertThat(rejectedCount(Kind.AUTHORIZATION_POLICY)).isEqualTo(2);

        // Fixing one clears its error and puts the fixed version in force.
        cluster.apply(allowFrontend("DENY"));
        errors = listener.awaitRejected("allow-frontend fixed", e -> e.size() == 1);
        assertThat(errors).singleElement().extracting(ConfigError::object)
                .isEqualTo(ObjectRef.of(Kind.AUTHORIZATION_POLICY, "shop", "office-only"));
        assertThat(policy(listener.nextSnapshot(), "allow-frontend").orElseThrow().getSpec().getAction())
                .isEqualTo(AuthorizationPolicyAction.DENY);

        // Deleting the other clears the last error.
        cluster.delete(Kind.AUTHORIZATION_POLICY, "shop", "office-only");
        listener.awaitRejected("no rejections", List::isEmpty);
        ConfigSnapshot clean = listener.nextSnapshot();
        assertThat(policy(clean, "office-only")).isEmpty();
        assertThat(policy(clean, "allow-frontend")).isPresent();
        assertThat(rejectedCount(Kind.AUTHORIZATION_POLICY)).as("fixes and deletes count nothing").isEqualTo(2);
    }

    @Test
    void invalidSecurityObjectsPresentAtStartFailClosed() throws Exception {
        // As if written while the validating webhook was down.
        createShop();
        cluster.apply(allowFrontend("ALLOW").replace("{app: web}", "{\"app/web/x\": web}"));
        cluster.apply("""
                apiVersion: security.istio.io/v1
                kind: PeerAuthentication
                metadata: {name: default, namespace: shop}
                spec: {mtls: {mode: OPTIONAL}}
                """);
        start(builder());

        assertThat(listener.lastErrors).extracting(ConfigError::field)
                .containsExactlyInAnyOrder("spec.selector.matchLabels.app/web/x", "spec.mtls.mode");
        assertThat(policy(listener.lastSnapshot, "allow-frontend")).isEmpty();
        assertThat(listener.lastSnapshot.failClosed())
                .extracting(f -> f.ref().kind(), FailClosed::effect, FailClosed::selector)
                .containsExactly(
                        org.assertj.core.groups.Tuple.tuple(Kind.AUTHORIZATION_POLICY, FailClosed.Effect.ALLOW_NOTHING, null),
                        org.assertj.core.groups.Tuple.tuple(Kind.PEER_AUTHENTICATION, FailClosed.Effect.STRICT, null));
    }

    @Test
    void builtInObjectsAreCheckedByTheSameRules() throws Exception {
        createShop();
        // The mock server does not validate; a real one would reject this name too,
        // but the source must not rely on that.
        cluster.client.resource(new ServiceBuilder().withNewMetadata().withName("web").withNamespace("shop")
                .endMetadata().withNewSpec().addToSelector("app", "web").addNewPort().withPort(80)
                .withNewTargetPort("Not_A_Port").endPort().endSpec().build()).create();
        start(builder());

        assertThat(listener.lastErrors).singleElement().satisfies(e -> {
            assertThat(e.origin()).isEqualTo("kubernetes");
            assertThat(e.object()).isEqualTo(ObjectRef.of(Kind.SERVICE, "shop", "web"));
            assertThat(e.field()).isEqualTo("spec.ports[0].targetPort");
        });
        assertThat(listener.lastSnapshot.list(Kind.SERVICE, io.fabric8.kubernetes.api.model.Service.class)).isEmpty();
        assertThat(rejectedCount(Kind.SERVICE)).isEqualTo(1);
    }

    @Test
    void missingCrdDoesNotPreventStartAndIsReadOnceInstalled() throws Exception {
        cluster.fail("/apis/gateway.networking.k8s.io/", 404);
        createShop();
        start(builder().crdRecheckInterval(Duration.ofMillis(200)));
        assertThat(namespace(listener.lastSnapshot, "shop")).isPresent();
        assertThat(listener.lastSnapshot.all(Kind.GATEWAY)).isEmpty();
        assertThat(listener.lastSnapshot.all(Kind.HTTP_ROUTE)).isEmpty();

        // Installing the CRD later: the next recheck finds it.
        cluster.heal("/apis/gateway.networking.k8s.io/");
        cluster.apply("""
                apiVersion: gateway.networking.k8s.io/v1
                kind: Gateway
                metadata: {name: waypoint, namespace: shop}
                spec:
                  gatewayClassName: istio-waypoint
                  listeners:
                  - {name: mesh, port: 15008, protocol: HBONE}
                """);
        ConfigSnapshot installed = listener.awaitSnapshot("Gateway shop/waypoint",
                s -> s.get(Kind.GATEWAY, "shop", "waypoint", Gateway.class).isPresent());
        assertThat(installed.get(Kind.GATEWAY, "shop", "waypoint", Gateway.class).orElseThrow()
                .getSpec().getGatewayClassName()).isEqualTo("istio-waypoint");
    }

    @Test
    void startFailsNamingKindsThatDidNotSync() {
        cluster.fail("/api/v1/pods", 403);
        source = builder().syncTimeout(Duration.ofSeconds(2)).build();
        assertThatThrownBy(() -> source.start(listener))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining(cluster.client.getMasterUrl().toString())
                .hasMessageContaining("Pod v1 (HTTP 403")
                .hasMessageContaining("RBAC")
                .hasMessageNotContaining("Namespace v1");
        assertThat(listener.lastSnapshot).isNull();
    }

    @Test
    void burstsAreDeliveredAsFewSnapshots() throws Exception {
        createShop();
        start(builder().debounce(Duration.ofMillis(500)));
        int before = listener.snapshotCount.get();

        int changes = 10;
        for (int i = 1; i <= changes; i++) {
            String value = "r" + i;
            cluster.client.pods().inNamespace("shop").withName("web-1").edit(p -> new PodBuilder(p)
                    .editMetadata().addToLabels("rev", value).endMetadata().build());
        }
        listener.awaitSnapshot("pod web-1 with rev=r" + changes, s -> pod(s, "web-1")
                .map(p -> ("r" + changes).equals(p.getMetadata().getLabels().get("rev"))).orElse(false));
        assertThat(listener.snapshotCount.get() - before).as("snapshots for %s changes", changes)
                .isLessThan(changes);
    }

    @Test
    void groupVersionIsConfigurable() throws Exception {
        createShop();
        cluster.apply(allowFrontend("ALLOW").replace("security.istio.io/v1", "security.istio.io/v1beta1"));
        start(builder().groupVersion("security.istio.io", "v1beta1"));

        AuthorizationPolicy policy = policy(listener.lastSnapshot, "allow-frontend").orElseThrow();
        assertThat(policy.getApiVersion()).as("stored under the model's version").isEqualTo("security.istio.io/v1");
        assertThat(policy.getSpec().getAction()).isEqualTo(AuthorizationPolicyAction.ALLOW);
    }

    @Test
    void describeNamesTheCluster() {
        source = builder().build();
        assertThat(source.describe()).isEqualTo("kubernetes " + cluster.client.getMasterUrl());
    }

    @Test
    void builderRejectsBadSettings() {
        KubernetesSource.Builder b = KubernetesSource.builder(metrics);
        assertThatThrownBy(() -> b.syncTimeout(Duration.ofSeconds(-1)))
                .hasMessage("syncTimeout: PT-1S (expected: positive)");
        assertThatThrownBy(() -> b.debounce(Duration.ofMillis(-5)))
                .hasMessage("debounce: PT-0.005S (expected: >= 0)");
        assertThatThrownBy(() -> b.groupVersion("example.com", "v1"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("security.istio.io");
        assertThatThrownBy(() -> b.groupVersion("security.istio.io", "1"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("v1beta1");
        assertThatThrownBy(() -> KubernetesSource.builder(null)).hasMessage("metrics");
    }

    @Test
    void startTwiceIsAnError() throws Exception {
        start(builder());
        assertThatThrownBy(() -> source.start(listener)).isInstanceOf(IllegalStateException.class);
    }
}
