package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * One Kubernetes object as the user wrote it: a JSON tree (so fields ambitctl does not
 * know, Istio's and Gateway API's specs, pass through untouched) plus typed access to
 * the few it needs. Immutable: {@link #tree()} is a copy.
 */
public final class KubeObject {

    /** Kinds of the core and apps groups that {@code ambitctl local} acts on. */
    private static final Set<String> CORE_KINDS = Set.of("Namespace", "ServiceAccount", "Pod", "Service", "Secret");
    /** Cluster-scoped kinds among those accepted. */
    private static final Set<String> CLUSTER_SCOPED = Set.of("Namespace", "GatewayClass");

    private final ObjectNode tree;
    private final String origin;

    private KubeObject(ObjectNode tree, String origin) {
        this.tree = tree;
        this.origin = origin;
    }

    /** Wraps a copy of {@code tree}; it must have {@code kind}, {@code apiVersion} and {@code metadata.name}. */
    public static KubeObject of(ObjectNode tree) {
        requireNonNull(tree, "tree");
        KubeObject o = new KubeObject(tree.deepCopy(), "");
        if (o.kind().isEmpty() || o.apiVersion().isEmpty()) {
            throw new IllegalArgumentException("missing apiVersion or kind (expected: e.g. apiVersion: v1, kind: Pod)");
        }
        if (o.name().isEmpty()) {
            throw new IllegalArgumentException(o.kind() + ": missing metadata.name");
        }
        return o;
    }

    /**
     * Whether {@code ambitctl local} knows what to do with objects of this kind: it runs
     * Namespaces, ServiceAccounts, Pods, Services and Deployments, and passes Secrets, Istio's
     * ({@code *.istio.io}), Gateway API and EndpointSlice objects to istiod-lite.
     */
    public static boolean supported(String apiVersion, String kind) {
        String group = group(apiVersion);
        return switch (group) {
            case "" -> CORE_KINDS.contains(kind);
            case "apps" -> kind.equals("Deployment");
            case "discovery.k8s.io" -> kind.equals("EndpointSlice");
            case "networking.k8s.io" -> kind.equals("Ingress");
            case "gateway.networking.k8s.io" -> true;
            default -> group.endsWith(".istio.io");
        };
    }

    /**
     * Where the object was read, for messages: {@code demo.yaml: document 3} ("" when not
     * known). Not part of the object's identity.
     */
    public String origin() {
        return origin;
    }

    /** This object, read from {@code origin}. */
    public KubeObject from(String origin) {
        return new KubeObject(tree, requireNonNull(origin, "origin"));
    }

    /** {@code Kind namespace/name} (or {@code Kind name}), as istiod-lite names objects in its messages. */
    public String describe() {
        return kind() + " " + (namespaced() && !namespace().isEmpty() ? namespace() + "/" : "") + name();
    }

    public String apiVersion() {
        return text(tree.path("apiVersion"));
    }

    public String kind() {
        return text(tree.path("kind"));
    }

    /** The API group: "" for the core group, "apps", "security.istio.io", ... */
    public String group() {
        return group(apiVersion());
    }

    static String group(String apiVersion) {
        int slash = apiVersion.indexOf('/');
        return slash < 0 ? "" : apiVersion.substring(0, slash);
    }

    public String name() {
        return text(tree.path("metadata").path("name"));
    }

    /** The namespace; "" for cluster-scoped objects and for namespaced ones that do not say. */
    public String namespace() {
        return namespaced() ? text(tree.path("metadata").path("namespace")) : "";
    }

    public boolean namespaced() {
        return !CLUSTER_SCOPED.contains(kind());
    }

    /** {@code metadata.labels}, sorted; empty when there are none. */
    public Map<String, String> labels() {
        return stringMap(tree.path("metadata").path("labels"));
    }

    /** The object's JSON tree: a copy, free to change. */
    public ObjectNode tree() {
        return tree.deepCopy();
    }

    /** {@code spec}, or a missing node. */
    public JsonNode spec() {
        return tree.path("spec");
    }

    /** This object in namespace {@code ns} (a copy); cluster-scoped objects are returned as they are. */
    public KubeObject inNamespace(String ns) {
        requireNonNull(ns, "ns");
        if (!namespaced()) {
            return this;
        }
        ObjectNode copy = tree.deepCopy();
        copy.withObjectProperty("metadata").put("namespace", ns);
        return new KubeObject(copy, origin);
    }

    /** Identity across applies: kind (with group), namespace and name. */
    public String key() {
        return kindKey() + "/" + namespace() + "/" + name();
    }

    /**
     * The lowercase kind, naming files and kubectl-style references; Istio's own
     * {@code networking.istio.io} Gateway is {@code gateway.networking.istio.io}, so it does
     * not collide with the Gateway API's Gateway.
     */
    public String kindKey() {
        String k = kind().toLowerCase(Locale.ROOT);
        return kind().equals("Gateway") && group().equals("networking.istio.io") ? k + ".networking.istio.io" : k;
    }

    /** kubectl's {@code TYPE/NAME}: {@code deployment.apps/backend}, {@code service/backend}. */
    public String reference() {
        String g = group();
        return kind().toLowerCase(Locale.ROOT) + (g.isEmpty() ? "" : "." + g) + "/" + name();
    }

    /** The file the object is stored in: {@code <kind>.<ns>.<name>.yaml}, {@code <kind>.<name>.yaml} when cluster-scoped. */
    public String fileName() {
        return namespaced() ? kindKey() + "." + namespace() + "." + name() + ".yaml" : kindKey() + "." + name() + ".yaml";
    }

    static String text(JsonNode n) {
        return n == null || n.isNull() || n.isMissingNode() ? "" : n.asText();
    }

    static Map<String, String> stringMap(JsonNode n) {
        Map<String, String> out = new TreeMap<>();
        if (n != null && n.isObject()) {
            n.properties().forEach(e -> out.put(e.getKey(), e.getValue().asText()));
        }
        return out;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof KubeObject other && other.tree.equals(tree);
    }

    @Override
    public int hashCode() {
        return tree.hashCode();
    }

    @Override
    public String toString() {
        return key();
    }
}
