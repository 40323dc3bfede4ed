package dev.ambit.charts;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The rendered charts applied to fabric8's mock API server (CRUD mode), and custom resources
 * (the demo's policies) checked against the CRDs the base chart installs.
 */
class MockApplyTest {

    static MockApiServer cluster;

    @BeforeAll
    static void start() throws Exception {
        cluster = new MockApiServer(ChartsTest.crds());
        // Helm's lookup (the CA Secret) asks this cluster.
        cluster.writeKubeconfig();
    }

    @AfterAll
    static void stop() {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void everyRenderedObjectIsAcceptedByTheApiServer() {
        // With the mesh view on, so its Deployment, Service, account and RBAC are applied too.
        String yaml = Charts.render("ambit", null, Map.of("dashboard.enabled", true));
        List<GenericKubernetesResource> docs = Charts.documents(yaml);
        cluster.client.namespaces().resource(new NamespaceBuilder().withNewMetadata()
                .withName(Charts.NAMESPACE).endMetadata().build()).create();
        for (GenericKubernetesResource doc : docs) {
            HasMetadata typed = TypedModel.typed(doc);
            HasMetadata created = cluster.client.resource(typed).create();
            assertThat(created.getMetadata().getUid()).as(doc.getKind() + " " + doc.getMetadata().getName()).isNotBlank();
        }
        DaemonSet ds = cluster.client.apps().daemonSets().inNamespace(Charts.NAMESPACE).withName("ambit-node-agent").get();
        assertThat(ds.getSpec().getTemplate().getSpec().getContainers().get(0).getArgs()).contains("--kubernetes");
        assertThat(cluster.client.apiextensions().v1().customResourceDefinitions().list().getItems()).hasSize(8);
        assertThat(cluster.client.apps().deployments().inNamespace(Charts.NAMESPACE).withName("ambit-dashboard").get()
                .getSpec().getTemplate().getSpec().getServiceAccountName()).isEqualTo("ambit-dashboard");
        assertThat(cluster.client.rbac().clusterRoleBindings().withName("ambit-dashboard-" + Charts.NAMESPACE).get())
                .isNotNull();

        // An upgrade renders against the cluster: the CA Secret now exists and is left alone
        // (a new root would cut every workload off from the others).
        List<GenericKubernetesResource> again = Charts.documents(Charts.render("ambit"));
        assertThat(again).noneSatisfy(r -> assertThat(r.getKind()).isEqualTo("Secret"));
    }

    @Test
    void aPluggedInCaSecretIsNeverReplaced() {
        cluster.client.secrets().inNamespace(Charts.NAMESPACE).resource(new SecretBuilder().withNewMetadata()
                .withName("my-ca").withNamespace(Charts.NAMESPACE).endMetadata()
                .addToStringData("root-cert.pem", "x").build()).create();
        List<GenericKubernetesResource> docs = Charts.documents(
                Charts.render("istiod-lite", null, Map.of("ca.secretName", "my-ca")));
        assertThat(docs).noneSatisfy(r -> assertThat(r.getKind()).isEqualTo("Secret"));
        List<GenericKubernetesResource> fresh = Charts.documents(
                Charts.render("istiod-lite", null, Map.of("ca.secretName", "other-ca")));
        assertThat(fresh).anySatisfy(r -> assertThat(r.getMetadata().getName()).isEqualTo("other-ca"));
    }

    @Test
    void theDemosPoliciesMatchTheCrdsAndAreStored() throws Exception {
        Path demo = Charts.ROOT.resolveSibling("samples/demo/demo.yaml");
        List<GenericKubernetesResource> crs = Charts.documents(Files.readString(demo)).stream()
                .filter(r -> r.getApiVersion().contains(".istio.io/")).toList();
        assertThat(crs).extracting(GenericKubernetesResource::getKind)
                .contains("AuthorizationPolicy", "PeerAuthentication");
        for (GenericKubernetesResource cr : crs) {
            assertThat(validate(cr)).as(cr.getKind() + " " + cr.getMetadata().getName()).isEmpty();
            GenericKubernetesResource stored = cluster.client.genericKubernetesResources(cluster.context(cr))
                    .inNamespace(cr.getMetadata().getNamespace()).resource(cr).create();
            assertThat(stored.getMetadata().getUid()).isNotBlank();
        }
    }

    @Test
    void aCustomResourceTheApiServerWouldRefuseOrPrune() {
        GenericKubernetesResource bad = Charts.documents("""
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: bad, namespace: shop}
                spec:
                  action: PERMIT
                  rulez: []
                  rules:
                  - to:
                    - operation:
                        ports: 8080
                """).get(0);
        assertThat(validate(bad)).containsExactlyInAnyOrder(
                ".spec.action: PERMIT (expected one of: [ALLOW, DENY, AUDIT, CUSTOM])",
                ".spec.rulez: unknown field (the API server would drop it)",
                ".spec.rules[0].to[0].operation.ports: 8080 (expected: array)");
    }

    private static List<String> validate(GenericKubernetesResource cr) {
        String group = cr.getApiVersion().substring(0, cr.getApiVersion().indexOf('/'));
        String version = cr.getApiVersion().substring(cr.getApiVersion().indexOf('/') + 1);
        CustomResourceDefinition crd = cluster.crd(group, cr.getKind());
        JSONSchemaProps schema = crd.getSpec().getVersions().stream().filter(v -> v.getName().equals(version))
                .findFirst().orElseThrow().getSchema().getOpenAPIV3Schema();
        Object value = Charts.SERIALIZATION.convertValue(cr, Object.class);
        return StructuralSchema.validate(value, schema);
    }
}
