package dev.ambit.istiod.l7;

import dev.ambit.istiod.model.MeshConfig;
import io.fabric8.kubernetes.api.model.HasMetadata;
import java.util.Locale;

/** Host names as Istio reads them in routing objects, and the order objects take precedence in. */
final class Hosts {

    private final MeshConfig mesh;

    Hosts(MeshConfig mesh) {
        this.mesh = mesh;
    }

    /**
     * A host as written in an object of {@code namespace}: a short name (no dot) is a service
     * of that namespace ({@code name.ns.svc.<suffix>}); anything else is taken as written,
     * lower-cased (Istio's Kubernetes short-name rule).
     */
    String resolve(String host, String namespace) {
        String h = host.toLowerCase(Locale.ROOT);
        if (h.equals("*") || h.contains(".")) {
            return h;
        }
        return h + "." + namespace + ".svc." + mesh.domainSuffix();
    }

    /** Whether a (possibly wildcard {@code *.suffix} or {@code *}) host pattern covers {@code host}. */
    static boolean covers(String pattern, String host) {
        if (pattern.equals("*")) {
            return true;
        }
        if (pattern.startsWith("*.")) {
            return host.endsWith(pattern.substring(1));
        }
        return pattern.equals(host);
    }

    /** Creation time for ordering (missing sorts first, as the oldest). */
    static String created(HasMetadata object) {
        String ts = object.getMetadata().getCreationTimestamp();
        return ts == null ? "" : ts;
    }

    static String key(HasMetadata object) {
        return object.getMetadata().getNamespace() + "/" + object.getMetadata().getName();
    }
}
