package dev.ambit.istiod.config.kube;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.config.ConfigMetrics;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.config.ObjectRef;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ObjectBookTest {

    private static final ObjectRef WEB = ObjectRef.of(Kind.SERVICE, "shop", "web");

    private final MetricsRegistry metrics = MetricsRegistry.create();
    private final ObjectBook book = new ObjectBook(new KubernetesSerialization(), kind -> "v1",
            ConfigMetrics.rejected(metrics));

    @Test
    void acceptsSkipsReplaysAndForgetsDeletedObjects() {
        assertThat(book.apply(Kind.SERVICE, WEB, service("1", "8080"))).isTrue();
        assertThat(book.snapshot().get(Kind.SERVICE, "shop", "web", Service.class)).isPresent();

        assertThat(book.apply(Kind.SERVICE, WEB, service("1", "8080"))).as("a replay of version 1").isFalse();

        assertThat(book.apply(Kind.SERVICE, WEB, null)).isTrue();
        assertThat(book.snapshot().size()).isZero();
        assertThat(book.apply(Kind.SERVICE, WEB, null)).as("already gone").isFalse();
    }

    @Test
    void rejectedUpdateKeepsTheLastAcceptedVersionAndIsCountedOnce() {
        book.apply(Kind.SERVICE, WEB, service("1", "8080"));

        assertThat(book.apply(Kind.SERVICE, WEB, service("2", "Not_A_Port"))).isTrue();
        assertThat(book.errors()).singleElement()
                .satisfies(e -> assertThat(e.field()).isEqualTo("spec.ports[0].targetPort"));
        assertThat(book.snapshot().get(Kind.SERVICE, "shop", "web", Service.class)).isPresent();
        // A status-only update with the same errors is not counted again.
        book.apply(Kind.SERVICE, WEB, service("3", "Not_A_Port"));
        assertThat(metrics.value(ConfigMetrics.REJECTED, KubernetesSource.ORIGIN, "Service")).isEqualTo(1);

        book.apply(Kind.SERVICE, WEB, service("4", "8080"));
        assertThat(book.errors()).isEmpty();
    }

    @Test
    void retainOnlyForgetsObjectsNotListed() {
        book.apply(Kind.SERVICE, WEB, service("1", "8080"));

        assertThat(book.retainOnly(Kind.SERVICE, Set.of(WEB))).isFalse();
        assertThat(book.retainOnly(Kind.POD, Set.of())).as("another kind").isFalse();
        assertThat(book.retainOnly(Kind.SERVICE, Set.of())).isTrue();
        assertThat(book.snapshot().size()).isZero();
        assertThat(book.apply(Kind.SERVICE, WEB, service("1", "8080"))).as("version forgotten too").isTrue();
    }

    private static Service service(String version, String targetPort) {
        return new ServiceBuilder().withNewMetadata().withName("web").withNamespace("shop")
                .withResourceVersion(version).endMetadata().withNewSpec().addToSelector("app", "web")
                .addNewPort().withPort(80).withNewTargetPort(targetPort).endPort().endSpec().build();
    }
}
