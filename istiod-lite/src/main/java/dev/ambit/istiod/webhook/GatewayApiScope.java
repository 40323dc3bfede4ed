package dev.ambit.istiod.webhook;

import dev.ambit.istiod.config.ConfigError;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.deploy.WaypointStatus;
import dev.ambit.istiod.model.ServiceCatalog;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import java.util.List;
import java.util.Map;

/**
 * Which Gateway API objects the validating webhook judges. Istio's own webhook validates only
 * its {@code *.istio.io} groups and leaves {@code gateway.networking.k8s.io} to the Gateway API
 * CRDs' schema and CEL rules, reporting the rest in status. Ambit's webhook also refuses what
 * istiod-lite itself would reject, but only for the objects that are the mesh's: the group is
 * shared with every other Gateway API implementation in the cluster, whose regular
 * expression flavour and rules are their own. So:
 * <ul>
 *   <li>a {@code Gateway} of class {@code istio-waypoint} (a waypoint): refused when no
 *       listener is {@code {port: 15008, protocol: HBONE}} (it would never be deployed:
 *       {@code Accepted=False}, {@code ListenersNotValid});</li>
 *   <li>an {@code HTTPRoute} or {@code GRPCRoute} with a {@code parentRefs} entry of kind
 *       {@code Service} (GAMMA, a waypoint's route): refused for what istiod-lite's validator
 *       rejects (RE2 regular expressions, weights, match and filter shapes, durations);</li>
 *   <li>everything else of the group (other classes, routes of other gateways, other kinds)
 *       is allowed unchecked.</li>
 * </ul>
 */
final class GatewayApiScope {

    static final String GROUP = "gateway.networking.k8s.io";

    private GatewayApiScope() {
    }

    /** Whether {@code object} (an AdmissionReview's raw object) is a Gateway API object that is not the mesh's. */
    static boolean othersOnly(Map<?, ?> object) {
        if (!(object.get("apiVersion") instanceof String av) || !av.startsWith(GROUP + "/")
                || !(object.get("kind") instanceof String kind)) {
            return false;
        }
        Map<?, ?> spec = object.get("spec") instanceof Map<?, ?> s ? s : Map.of();
        return switch (kind) {
            case "Gateway" -> !ServiceCatalog.WAYPOINT_CLASS.equals(spec.get("gatewayClassName"));
            case "HTTPRoute", "GRPCRoute" -> !hasServiceParent(spec);
            default -> true;
        };
    }

    private static boolean hasServiceParent(Map<?, ?> spec) {
        if (!(spec.get("parentRefs") instanceof List<?> parents)) {
            return false;
        }
        for (Object p : parents) {
            if (p instanceof Map<?, ?> ref && "Service".equals(ref.get("kind"))
                    && (ref.get("group") == null || "".equals(ref.get("group")) || "core".equals(ref.get("group")))) {
                return true;
            }
        }
        return false;
    }

    /** What makes a decoded waypoint Gateway unusable (none for other objects). */
    static List<ConfigError> problems(String origin, Kind kind, HasMetadata object) {
        if (kind != Kind.GATEWAY || !(object instanceof Gateway gw) || gw.getSpec() == null
                || !ServiceCatalog.WAYPOINT_CLASS.equals(gw.getSpec().getGatewayClassName())) {
            return List.of();
        }
        WaypointStatus.Validation v = WaypointStatus.validate(gw);
        if (v.accepted()) {
            return List.of();
        }
        return List.of(new ConfigError(origin, ConfigSnapshot.refOf(kind, gw), "spec.listeners",
                v.message().startsWith("spec.listeners: ") ? v.message().substring("spec.listeners: ".length())
                        : v.message()));
    }
}
