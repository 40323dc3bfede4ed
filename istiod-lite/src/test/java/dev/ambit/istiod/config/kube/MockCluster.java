package dev.ambit.istiod.config.kube;

import dev.ambit.istiod.config.Kind;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.CustomResourceDefinitionContext;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A fabric8 mock API server in CRUD mode that serves every {@link Kind} (the Istio and
 * Gateway API kinds registered as custom resources at v1 and v1beta1), plus a client for it. Paths can be made
 * to fail with an HTTP status, to play a cluster without a CRD (404) or without RBAC (403).
 */
final class MockCluster implements AutoCloseable {

    /** How long after the last watch opened the mock is assumed done replaying objects into it. */
    private static final Duration WATCH_SETTLE = Duration.ofMillis(300);

    private final Map<String, Integer> failures = new ConcurrentHashMap<>();
    private final AtomicLong lastWatchNanos = new AtomicLong(System.nanoTime());
    private final KubernetesMockServer server;
    final KubernetesClient client;

    private MockCluster() {
        List<CustomResourceDefinitionContext> crds = new ArrayList<>();
        for (Kind kind : Kind.values()) {
            if (kind.group().isEmpty() || kind.group().equals("discovery.k8s.io")) {
                continue;
            }
            // Istio serves security.istio.io and networking.istio.io at v1beta1 as well.
            String model = kind.apiVersion().substring(kind.apiVersion().indexOf('/') + 1);
            // ReferenceGrant and TLSRoute are only served below v1 (v1beta1, v1alpha2).
            for (String version : new java.util.LinkedHashSet<>(List.of("v1", "v1beta1", model))) {
                crds.add(new CustomResourceDefinitionContext.Builder()
                        .withName(kind.plural() + "." + kind.group())
                        .withGroup(kind.group())
                        .withVersion(version)
                        .withKind(kind.kind())
                        .withPlural(kind.plural())
                        .withScope(kind.namespaced() ? "Namespaced" : "Cluster")
                        .build());
            }
        }
        KubernetesCrudDispatcher dispatcher = new KubernetesCrudDispatcher(crds) {
            @Override
            public MockResponse dispatch(RecordedRequest request) {
                String path = request.getPath();
                if (path.contains("watch=true")) {
                    lastWatchNanos.set(System.nanoTime());
                }
                for (Map.Entry<String, Integer> f : failures.entrySet()) {
                    if (path.startsWith(f.getKey())) {
                        return new MockResponse().setResponseCode(f.getValue()).setBody(
                                "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"code\":"
                                        + f.getValue() + ",\"message\":\"mock failure " + f.getValue() + " for "
                                        + f.getKey() + "\"}");
                    }
                }
                return super.dispatch(request);
            }
        };
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), dispatcher, false);
        server.init();
        client = server.createClient();
    }

    static MockCluster start() {
        return new MockCluster();
    }

    /** Answers every request whose path starts with {@code pathPrefix} with {@code status}. */
    void fail(String pathPrefix, int status) {
        failures.put(pathPrefix, status);
    }

    void heal(String pathPrefix) {
        failures.remove(pathPrefix);
    }

    /** Where objects of a kind live, at the given version. */
    static ResourceDefinitionContext context(Kind kind, String version) {
        return new ResourceDefinitionContext.Builder()
                .withGroup(kind.group())
                .withVersion(version)
                .withKind(kind.kind())
                .withPlural(kind.plural())
                .withNamespaced(kind.namespaced())
                .build();
    }

    /**
     * Creates one object given as a manifest (maps and lists) as written, except that custom
     * resources are stored at the version the source reads by default (v1): a real API
     * server serves an object created at v1beta1 at v1 as well, the mock does not convert.
     */
    GenericKubernetesResource create(Map<?, ?> manifest, String defaultNamespace) {
        GenericKubernetesResource resource =
                client.getKubernetesSerialization().convertValue(manifest, GenericKubernetesResource.class);
        Kind kind = Kind.of(resource.getApiVersion(), resource.getKind()).orElseThrow();
        if (!kind.group().isEmpty() && !kind.group().equals("discovery.k8s.io")) {
            resource.setApiVersion(kind.apiVersion());
        }
        String version = resource.getApiVersion().substring(resource.getApiVersion().indexOf('/') + 1);
        var operation = client.genericKubernetesResources(context(kind, version));
        if (!kind.namespaced()) {
            return operation.resource(resource).create();
        }
        String ns = resource.getMetadata().getNamespace();
        if (ns == null || ns.isEmpty()) {
            ns = defaultNamespace;
            resource.getMetadata().setNamespace(ns);
        }
        return operation.inNamespace(ns).resource(resource).create();
    }

    /** Creates or replaces one object given as YAML. */
    GenericKubernetesResource apply(String yaml) {
        GenericKubernetesResource resource =
                client.getKubernetesSerialization().unmarshal(yaml, GenericKubernetesResource.class);
        Kind kind = Kind.of(resource.getApiVersion(), resource.getKind()).orElseThrow();
        String version = resource.getApiVersion().substring(resource.getApiVersion().indexOf('/') + 1);
        var operation = client.genericKubernetesResources(context(kind, version));
        var resourceOp = kind.namespaced()
                ? operation.inNamespace(resource.getMetadata().getNamespace()).resource(resource)
                : operation.resource(resource);
        GenericKubernetesResource existing = resourceOp.get();
        if (existing == null) {
            return resourceOp.create();
        }
        resource.getMetadata().setResourceVersion(existing.getMetadata().getResourceVersion());
        return resourceOp.update();
    }

    /** Deletes one object and waits until the server no longer has it. */
    void delete(Kind kind, String namespace, String name) {
        var operation = client.genericKubernetesResources(context(kind, "v1"));
        var named = kind.namespaced() ? operation.inNamespace(namespace).withName(name) : operation.withName(name);
        named.delete();
    }

    /**
     * Waits until no watch has opened for a moment, so the mock has finished replaying
     * existing objects into new watches. Closing a watch while the mock still sends into it
     * deadlocks the mock: {@code WatchEventsListener.onClosed} blocks the event loop waiting
     * for its send executor, whose sends wait for that event loop; the server then fails to
     * shut down ("Unable to close MockWebServer"). Call before closing a source.
     */
    void quiesce() throws InterruptedException {
        long start = System.nanoTime();
        long deadline = start + Duration.ofSeconds(5).toNanos();
        while (System.nanoTime() < deadline) {
            long quietSince = Math.max(start, lastWatchNanos.get());
            long left = quietSince + WATCH_SETTLE.toNanos() - System.nanoTime();
            if (left <= 0) {
                return;
            }
            Thread.sleep(Duration.ofNanos(left));
        }
    }

    @Override
    public void close() {
        try {
            client.close();
        } finally {
            server.destroy();
        }
    }
}
