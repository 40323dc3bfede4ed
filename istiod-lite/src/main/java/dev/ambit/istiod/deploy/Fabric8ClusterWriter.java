package dev.ambit.istiod.deploy;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.net.HttpURLConnection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * {@link ClusterWriter} on fabric8's client: read, compare, then create or update (HTTP PUT
 * guarded by the read {@code resourceVersion}), or, {@linkplain Builder#serverSideApply if
 * asked}, server-side apply.
 *
 * <p><b>Why read-compare-update by default.</b> A real API server offers server-side apply
 * (Istio's gateway deployer uses it, with field manager and forced conflicts): the server merges
 * what the caller owns with what others own, field by field. fabric8's mock API server, which
 * the tests of istiod-lite, the charts and ambitctl run against, has neither server-side apply
 * nor strategic merge patch; code that only works with them would go untested. So the default
 * is what the mock server and every API server agree on:
 * <ul>
 *   <li>The stored object is read. If it already contains every field the desired object sets
 *       (maps by key, lists element by element, scalars equal; fields the desired object leaves
 *       out are not compared), nothing is written: reconciling again costs one GET.</li>
 *   <li>Otherwise the desired object is PUT with the read {@code resourceVersion} (a concurrent
 *       writer makes it fail with 409, and the caller's next reconcile retries), after copying
 *       over what the server and other controllers own and the desired object leaves out: the
 *       status, finalizers, labels and annotations the desired object does not name (the
 *       Deployment controller's {@code deployment.kubernetes.io/revision}), a Service's cluster
 *       IPs, IP families and node ports, a Deployment's {@code replicas} (an autoscaler's), a
 *       ServiceAccount's secrets and image pull secrets.</li>
 * </ul>
 * The trade-off: a field the desired object stops setting is not removed (no three-way merge,
 * as {@code kubectl apply} keeps in {@code last-applied-configuration}), and a label or
 * annotation the caller removes stays on the object. Server-side apply removes both, at the
 * price of needing a real API server.
 */
public final class Fabric8ClusterWriter implements ClusterWriter {

    /** The field manager of server-side applies unless {@linkplain Builder#fieldManager set}. */
    public static final String DEFAULT_FIELD_MANAGER = "ambit";

    /** Per kind: top-level paths (under {@code spec} unless noted) the server or others own. */
    private static final Map<String, List<String>> SERVER_OWNED_SPEC = Map.of(
            "Service", List.of("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "healthCheckNodePort"),
            "Deployment", List.of("replicas"),
            "StatefulSet", List.of("replicas"));
    private static final Map<String, List<String>> SERVER_OWNED_TOP = Map.of(
            "ServiceAccount", List.of("secrets", "imagePullSecrets"));

    private final KubernetesClient client;
    private final KubernetesSerialization serialization;
    private final boolean serverSideApply;
    private final String fieldManager;

    private Fabric8ClusterWriter(Builder b) {
        this.client = b.client;
        this.serialization = client.getKubernetesSerialization();
        this.serverSideApply = b.serverSideApply;
        this.fieldManager = b.fieldManager;
    }

    /** A read-compare-update writer on {@code client} (the client stays the caller's to close). */
    public static Fabric8ClusterWriter of(KubernetesClient client) {
        return builder(client).build();
    }

    public static Builder builder(KubernetesClient client) {
        return new Builder(requireNonNull(client, "client"));
    }

    @Override
    public <T extends HasMetadata> Applied<T> apply(T desired) {
        requireNonNull(desired, "desired");
        requireNonNull(desired.getMetadata(), "desired.metadata");
        T existing = read(desired).orElse(null);
        if (existing != null && contains(toMap(existing), toMap(desired))) {
            return new Applied<>(existing, Outcome.UNCHANGED);
        }
        if (serverSideApply) {
            T copy = serialization.clone(desired);
            copy.getMetadata().setResourceVersion(null);
            copy.getMetadata().setManagedFields(null);
            T stored = client.resource(copy).fieldManager(fieldManager).forceConflicts().serverSideApply();
            return new Applied<>(stored, existing == null ? Outcome.CREATED : Outcome.UPDATED);
        }
        if (existing == null) {
            T copy = serialization.clone(desired);
            copy.getMetadata().setResourceVersion(null);
            try {
                return new Applied<>(client.resource(copy).create(), Outcome.CREATED);
            } catch (KubernetesClientException e) {
                if (e.getCode() != HttpURLConnection.HTTP_CONFLICT) {
                    throw e;
                }
                // Created meanwhile by someone else: update that one.
                existing = read(desired).orElseThrow(() -> e);
            }
        }
        T merged = merge(existing, desired);
        return new Applied<>(client.resource(merged).update(), Outcome.UPDATED);
    }

    @Override
    public <T extends HasMetadata> Optional<T> read(T object) {
        requireNonNull(object, "object");
        return Optional.ofNullable(client.resource(object).get());
    }

    @Override
    public <T extends HasMetadata> T updateStatus(T object) {
        requireNonNull(object, "object");
        if (object.getMetadata().getResourceVersion() == null) {
            throw new IllegalArgumentException("updateStatus: " + describe(object)
                    + " without metadata.resourceVersion (expected: the version the status was computed from)");
        }
        return client.resource(object).status().update();
    }

    @Override
    public boolean delete(HasMetadata object) {
        requireNonNull(object, "object");
        return !client.resource(object).delete().isEmpty();
    }

    /** {@code desired} plus what {@code existing} has that the server or others own, at {@code existing}'s version. */
    @SuppressWarnings("unchecked")
    private <T extends HasMetadata> T merge(T existing, T desired) {
        Map<String, Object> old = toMap(existing);
        Map<String, Object> out = toMap(desired);
        Map<String, Object> oldMeta = (Map<String, Object>) old.getOrDefault("metadata", Map.of());
        Map<String, Object> meta = (Map<String, Object>) out.computeIfAbsent("metadata", k -> new LinkedHashMap<>());
        for (String key : List.of("labels", "annotations")) {
            if (oldMeta.get(key) instanceof Map<?, ?> theirs) {
                Map<String, Object> mergedMap = new LinkedHashMap<>((Map<String, Object>) theirs);
                if (meta.get(key) instanceof Map<?, ?> ours) {
                    mergedMap.putAll((Map<String, Object>) ours);
                }
                meta.put(key, mergedMap);
            }
        }
        for (String key : List.of("finalizers", "ownerReferences", "resourceVersion", "uid")) {
            if (!meta.containsKey(key) || key.equals("resourceVersion")) {
                copy(oldMeta, meta, key);
            }
        }
        copy(old, out, "status");
        String kind = existing.getKind();
        for (String key : SERVER_OWNED_TOP.getOrDefault(kind, List.of())) {
            if (!out.containsKey(key)) {
                copy(old, out, key);
            }
        }
        if (old.get("spec") instanceof Map<?, ?> oldSpec && out.get("spec") instanceof Map<?, ?> spec) {
            for (String key : SERVER_OWNED_SPEC.getOrDefault(kind, List.of())) {
                if (!spec.containsKey(key)) {
                    copy((Map<String, Object>) oldSpec, (Map<String, Object>) spec, key);
                }
            }
            if (kind.equals("Service")) {
                keepNodePorts((Map<String, Object>) oldSpec, (Map<String, Object>) spec);
            }
        }
        return (T) serialization.convertValue(out, desired.getClass());
    }

    /** A port the caller did not give a nodePort keeps the one the server allocated (matched by port and protocol). */
    @SuppressWarnings("unchecked")
    private static void keepNodePorts(Map<String, Object> oldSpec, Map<String, Object> spec) {
        if (!(oldSpec.get("ports") instanceof List<?> oldPorts) || !(spec.get("ports") instanceof List<?> ports)) {
            return;
        }
        for (Object p : ports) {
            Map<String, Object> port = (Map<String, Object>) p;
            if (port.containsKey("nodePort")) {
                continue;
            }
            for (Object o : oldPorts) {
                Map<String, Object> oldPort = (Map<String, Object>) o;
                if (oldPort.get("nodePort") != null && oldPort.get("port").equals(port.get("port"))
                        && oldPort.getOrDefault("protocol", "TCP").equals(port.getOrDefault("protocol", "TCP"))) {
                    port.put("nodePort", oldPort.get("nodePort"));
                }
            }
        }
    }

    private static void copy(Map<String, Object> from, Map<String, Object> to, String key) {
        if (from.containsKey(key)) {
            to.put(key, from.get(key));
        }
    }

    /**
     * Whether {@code stored} holds every field {@code desired} sets: its labels, annotations
     * and owner references, and everything outside {@code metadata} and {@code status}.
     */
    @SuppressWarnings("unchecked")
    static boolean contains(Map<String, Object> stored, Map<String, Object> desired) {
        for (Map.Entry<String, Object> e : desired.entrySet()) {
            String key = e.getKey();
            switch (key) {
                case "apiVersion", "kind", "status" -> {
                    continue;
                }
                case "metadata" -> {
                    Map<String, Object> want = (Map<String, Object>) e.getValue();
                    Map<String, Object> have = stored.get("metadata") instanceof Map<?, ?> m
                            ? (Map<String, Object>) m : Map.of();
                    for (String field : List.of("labels", "annotations", "ownerReferences")) {
                        if (!containsValue(have.get(field), want.get(field))) {
                            return false;
                        }
                    }
                }
                default -> {
                    if (!containsValue(stored.get(key), e.getValue())) {
                        return false;
                    }
                }
            }
        }
        return true;
    }

    /** Subset semantics: {@code want} null or empty is satisfied by anything absent or empty. */
    @SuppressWarnings("unchecked")
    private static boolean containsValue(Object have, Object want) {
        if (want == null) {
            return true;
        }
        if (want instanceof Map<?, ?> wantMap) {
            if (have == null) {
                return wantMap.isEmpty();
            }
            if (!(have instanceof Map<?, ?> haveMap)) {
                return false;
            }
            for (Map.Entry<String, Object> e : ((Map<String, Object>) wantMap).entrySet()) {
                if (!containsValue(haveMap.get(e.getKey()), e.getValue())) {
                    return false;
                }
            }
            return true;
        }
        if (want instanceof List<?> wantList) {
            if (have == null) {
                return wantList.isEmpty();
            }
            if (!(have instanceof List<?> haveList) || haveList.size() != wantList.size()) {
                return false;
            }
            for (int i = 0; i < wantList.size(); i++) {
                if (!containsValue(haveList.get(i), wantList.get(i))) {
                    return false;
                }
            }
            return true;
        }
        if (want instanceof Number n && have instanceof Number m) {
            return n.doubleValue() == m.doubleValue();
        }
        return want.equals(have);
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> toMap(HasMetadata object) {
        return serialization.convertValue(object, LinkedHashMap.class);
    }

    static String describe(HasMetadata object) {
        var meta = object.getMetadata();
        String ns = meta == null || meta.getNamespace() == null ? "" : meta.getNamespace() + "/";
        return object.getKind() + " " + ns + (meta == null ? "(no metadata)" : meta.getName());
    }

    /** Builds a {@link Fabric8ClusterWriter}. */
    public static final class Builder {
        private final KubernetesClient client;
        private boolean serverSideApply;
        private String fieldManager = DEFAULT_FIELD_MANAGER;

        private Builder(KubernetesClient client) {
            this.client = client;
        }

        /**
         * Writes changed objects with server-side apply (forcing conflicts: the writer owns what
         * it sets) instead of PUT. Needs a real API server; fabric8's mock server cannot. Off by
         * default.
         */
        public Builder serverSideApply(boolean serverSideApply) {
            this.serverSideApply = serverSideApply;
            return this;
        }

        /** The field manager of server-side applies; default {@value #DEFAULT_FIELD_MANAGER}. */
        public Builder fieldManager(String fieldManager) {
            requireNonNull(fieldManager, "fieldManager");
            if (fieldManager.isBlank() || fieldManager.length() > 128) {
                throw new IllegalArgumentException("fieldManager: \"" + fieldManager
                        + "\" (expected: 1-128 characters, not blank)");
            }
            this.fieldManager = fieldManager;
            return this;
        }

        public Fabric8ClusterWriter build() {
            return new Fabric8ClusterWriter(this);
        }
    }
}
