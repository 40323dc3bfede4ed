package dev.ambit.charts;

import io.fabric8.kubernetes.api.model.APIResourceBuilder;
import io.fabric8.kubernetes.api.model.APIResourceListBuilder;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionVersion;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.CustomResourceDefinitionContext;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;

/**
 * fabric8's mock API server in CRUD mode, serving the custom resources of the base chart's
 * CRDs, plus the core group's discovery document (which Helm's {@code lookup} asks for and the
 * mock lacks). {@link #writeKubeconfig} points the Helm library at it: the surefire
 * configuration sets {@code KUBECONFIG} for the test JVM to {@code target/test-kubeconfig}.
 */
final class MockApiServer implements AutoCloseable {

    final KubernetesMockServer server;
    final KubernetesClient client;
    final List<CustomResourceDefinition> crds;

    MockApiServer(List<CustomResourceDefinition> crds) {
        this.crds = crds;
        List<CustomResourceDefinitionContext> contexts = new ArrayList<>();
        for (CustomResourceDefinition crd : crds) {
            for (CustomResourceDefinitionVersion v : crd.getSpec().getVersions()) {
                contexts.add(new CustomResourceDefinitionContext.Builder()
                        .withName(crd.getMetadata().getName())
                        .withGroup(crd.getSpec().getGroup())
                        .withVersion(v.getName())
                        .withKind(crd.getSpec().getNames().getKind())
                        .withPlural(crd.getSpec().getNames().getPlural())
                        .withScope(crd.getSpec().getScope())
                        .build());
            }
        }
        String coreResources = Charts.SERIALIZATION.asJson(new APIResourceListBuilder()
                .withGroupVersion("v1")
                .addToResources(core("secrets", "Secret"), core("configmaps", "ConfigMap"),
                        core("services", "Service"), core("serviceaccounts", "ServiceAccount"), core("pods", "Pod"))
                .build());
        KubernetesCrudDispatcher dispatcher = new KubernetesCrudDispatcher(contexts) {
            @Override
            public MockResponse dispatch(RecordedRequest request) {
                String path = request.getPath();
                if (request.getMethod().equals("GET") && (path.equals("/api/v1") || path.startsWith("/api/v1?"))) {
                    return new MockResponse().setResponseCode(200).setBody(coreResources);
                }
                return super.dispatch(request);
            }
        };
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), dispatcher, false);
        server.init();
        client = server.createClient();
    }

    private static io.fabric8.kubernetes.api.model.APIResource core(String plural, String kind) {
        return new APIResourceBuilder().withName(plural).withKind(kind).withNamespaced(true)
                .withVerbs("get", "list", "watch", "create", "update", "patch", "delete").build();
    }

    /** Writes a kubeconfig for this server where {@code KUBECONFIG} says, if it is set. */
    void writeKubeconfig() throws IOException {
        String path = System.getenv("KUBECONFIG");
        if (path == null) {
            throw new IllegalStateException("KUBECONFIG is not set: run through Maven (charts/pom.xml sets it)");
        }
        String url = client.getConfiguration().getMasterUrl();
        Files.createDirectories(Path.of(path).toAbsolutePath().getParent());
        Files.writeString(Path.of(path), """
                apiVersion: v1
                kind: Config
                clusters:
                - name: mock
                  cluster: {server: "%s", insecure-skip-tls-verify: true}
                contexts:
                - name: mock
                  context: {cluster: mock, user: mock, namespace: %s}
                current-context: mock
                users:
                - name: mock
                  user: {token: mock}
                """.formatted(url.replaceAll("/$", ""), Charts.NAMESPACE));
    }

    /** Where the custom resources of a CRD live, at one of its versions. */
    ResourceDefinitionContext context(GenericKubernetesResource cr) {
        String group = cr.getApiVersion().substring(0, cr.getApiVersion().indexOf('/'));
        String version = cr.getApiVersion().substring(cr.getApiVersion().indexOf('/') + 1);
        CustomResourceDefinition crd = crd(group, cr.getKind());
        return new ResourceDefinitionContext.Builder().withGroup(group).withVersion(version)
                .withKind(cr.getKind()).withPlural(crd.getSpec().getNames().getPlural())
                .withNamespaced(crd.getSpec().getScope().equals("Namespaced")).build();
    }

    CustomResourceDefinition crd(String group, String kind) {
        return crds.stream()
                .filter(c -> c.getSpec().getGroup().equals(group) && c.getSpec().getNames().getKind().equals(kind))
                .findFirst().orElseThrow(() -> new AssertionError("no CRD for " + group + " " + kind));
    }

    @Override
    public void close() {
        client.close();
        server.destroy();
    }
}
