package dev.ambit.istiod.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.ServicePortBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayBuilder;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Protocol selection and waypoint binding as Istio does them, shared by the ambient model and the L7 translation. */
class ServiceCatalogTest {

    @Test
    void protocolFromAppProtocolThenPortNamePrefixElseTcp() {
        assertThat(protocol("http", null)).isEqualTo(ServiceCatalog.Protocol.HTTP);
        assertThat(protocol("http-api", null)).isEqualTo(ServiceCatalog.Protocol.HTTP);
        assertThat(protocol("http2-api", null)).isEqualTo(ServiceCatalog.Protocol.HTTP2);
        assertThat(protocol("h2c", null)).isEqualTo(ServiceCatalog.Protocol.HTTP2);
        assertThat(protocol("grpc", null)).isEqualTo(ServiceCatalog.Protocol.GRPC);
        assertThat(protocol("grpc-web", null)).isEqualTo(ServiceCatalog.Protocol.HTTP);
        assertThat(protocol("GRPC-x", null)).isEqualTo(ServiceCatalog.Protocol.GRPC);
        assertThat(protocol("tcp-http", null)).isEqualTo(ServiceCatalog.Protocol.TCP);
        assertThat(protocol("https", null)).isEqualTo(ServiceCatalog.Protocol.TCP);
        assertThat(protocol("httpx", null)).isEqualTo(ServiceCatalog.Protocol.TCP);
        assertThat(protocol(null, null)).isEqualTo(ServiceCatalog.Protocol.TCP);
        // appProtocol wins over the name, when Istio knows it.
        assertThat(protocol("http", "tcp")).isEqualTo(ServiceCatalog.Protocol.TCP);
        assertThat(protocol("db", "kubernetes.io/h2c")).isEqualTo(ServiceCatalog.Protocol.HTTP2);
        assertThat(protocol("grpc", "example.com/custom")).isEqualTo(ServiceCatalog.Protocol.GRPC);
    }

    @Test
    void serviceLabelBeatsNamespaceLabelAndMissingWaypointsAreStillBound() {
        List<io.fabric8.kubernetes.api.model.HasMetadata> objects = new ArrayList<>();
        objects.add(new NamespaceBuilder().withNewMetadata().withName("ns")
                .addToLabels(ServiceCatalog.USE_WAYPOINT, "wp").endMetadata().build());
        objects.add(new GatewayBuilder().withNewMetadata().withName("wp").withNamespace("ns")
                .addToLabels(ServiceCatalog.WAYPOINT_FOR, "workload").endMetadata()
                .withNewSpec().withGatewayClassName(ServiceCatalog.WAYPOINT_CLASS).endSpec().build());
        objects.add(new GatewayBuilder().withNewMetadata().withName("svc-wp").withNamespace("ns").endMetadata()
                .withNewSpec().withGatewayClassName(ServiceCatalog.WAYPOINT_CLASS).endSpec().build());
        ConfigSnapshot.Builder b = ConfigSnapshot.builder();
        b.put(Kind.NAMESPACE, objects.get(0));
        b.put(Kind.GATEWAY, objects.get(1));
        b.put(Kind.GATEWAY, objects.get(2));
        var plain = service("plain", null);
        var labelled = service("labelled", "svc-wp");
        var missing = service("missing", "gone");
        var optedOut = service("opted-out", "none");
        ServiceCatalog catalog = ServiceCatalog.of(b.build(), MeshConfig.defaults());
        List<String> warnings = new ArrayList<>();
        // The namespace's waypoint serves workloads only: no service binding.
        assertThat(catalog.serviceWaypoint(plain, warnings::add)).isNull();
        assertThat(catalog.serviceWaypoint(labelled, warnings::add).key()).isEqualTo("ns/svc-wp");
        assertThat(catalog.serviceWaypoint(optedOut, warnings::add)).isNull();
        var gone = catalog.serviceWaypoint(missing, warnings::add);
        assertThat(gone.exists()).isFalse();
        assertThat(gone.key()).isEqualTo("ns/gone");
        assertThat(warnings).singleElement().asString().startsWith("Service ns/missing: waypoint ns/gone does not exist");
        assertThat(catalog.waypoints()).extracting(g -> g.getMetadata().getName()).containsExactly("svc-wp", "wp");
    }

    private static io.fabric8.kubernetes.api.model.Service service(String name, String waypoint) {
        var b = new ServiceBuilder().withNewMetadata().withName(name).withNamespace("ns").endMetadata()
                .withNewSpec().withClusterIP("10.0.0.1").endSpec();
        if (waypoint != null) {
            b.editMetadata().addToLabels(ServiceCatalog.USE_WAYPOINT, waypoint).endMetadata();
        }
        return b.build();
    }

    private static ServiceCatalog.Protocol protocol(String name, String appProtocol) {
        ServicePort p = new ServicePortBuilder().withName(name).withAppProtocol(appProtocol).withPort(80).build();
        return ServiceCatalog.protocol(p);
    }
}
