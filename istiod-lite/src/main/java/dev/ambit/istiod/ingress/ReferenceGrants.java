package dev.ambit.istiod.ingress;

import static java.util.Objects.requireNonNull;

import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.ReferenceGrant;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.ReferenceGrantFrom;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.ReferenceGrantTo;
import java.util.List;
import java.util.Objects;

/**
 * Gateway API's ReferenceGrant rule: a reference from an object in one namespace to an object
 * in another (a route's {@code backendRefs} to a Service, a Gateway's {@code certificateRefs}
 * to a Secret) is permitted only when a ReferenceGrant in the target's namespace lists the
 * referring kind and namespace in {@code from} and the target's kind (and name, when given)
 * in {@code to}. References within one namespace need none. The core group is {@code ""}.
 */
public final class ReferenceGrants {

    static final String GATEWAY_GROUP = "gateway.networking.k8s.io";

    private final List<ReferenceGrant> grants;

    private ReferenceGrants(List<ReferenceGrant> grants) {
        this.grants = grants;
    }

    /** The ReferenceGrants of {@code config}. */
    public static ReferenceGrants of(ConfigSnapshot config) {
        return new ReferenceGrants(config.list(Kind.REFERENCE_GRANT, ReferenceGrant.class));
    }

    static ReferenceGrants of(List<ReferenceGrant> grants) {
        return new ReferenceGrants(List.copyOf(grants));
    }

    /**
     * Whether an object of {@code fromGroup}/{@code fromKind} in {@code fromNamespace} may refer to
     * {@code toGroup}/{@code toKind} {@code toNamespace/toName}.
     */
    public boolean permitted(String fromGroup, String fromKind, String fromNamespace, String toGroup, String toKind,
                             String toNamespace, String toName) {
        requireNonNull(fromNamespace, "fromNamespace");
        requireNonNull(toNamespace, "toNamespace");
        if (fromNamespace.equals(toNamespace)) {
            return true;
        }
        for (ReferenceGrant g : grants) {
            if (!toNamespace.equals(g.getMetadata().getNamespace()) || g.getSpec() == null) {
                continue;
            }
            boolean from = g.getSpec().getFrom() != null && g.getSpec().getFrom().stream().filter(Objects::nonNull)
                    .anyMatch(f -> matches(f, fromGroup, fromKind, fromNamespace));
            boolean to = g.getSpec().getTo() != null && g.getSpec().getTo().stream().filter(Objects::nonNull)
                    .anyMatch(t -> matches(t, toGroup, toKind, toName));
            if (from && to) {
                return true;
            }
        }
        return false;
    }

    private static boolean matches(ReferenceGrantFrom f, String group, String kind, String namespace) {
        return group(f.getGroup()).equals(group(group)) && Objects.equals(f.getKind(), kind)
                && Objects.equals(f.getNamespace(), namespace);
    }

    private static boolean matches(ReferenceGrantTo t, String group, String kind, String name) {
        return group(t.getGroup()).equals(group(group)) && Objects.equals(t.getKind(), kind)
                && (t.getName() == null || t.getName().isEmpty() || t.getName().equals(name));
    }

    /** The core group is written {@code ""}, {@code core} or left out. */
    private static String group(String g) {
        return g == null || g.equals("core") ? "" : g;
    }
}
