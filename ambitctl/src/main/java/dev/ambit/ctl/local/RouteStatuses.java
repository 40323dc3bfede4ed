package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ambit.istiod.deploy.GatewayApiStatus;
import dev.ambit.istiod.deploy.RouteStatus;
import dev.ambit.istiod.ingress.GatewayApiAttachments;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.RouteParentStatus;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * The {@code status.parents} of the mesh's HTTPRoutes and GRPCRoutes (those with a Service
 * parent) and of those attached to Gateways of class istio ({@link GatewayApiStatus}) in the local cluster, computed by istiod-lite's own {@link RouteStatus} so local mode
 * and a cluster report the same conditions: {@code Accepted} ({@code NoMatchingParent},
 * {@code UnsupportedValue}) and {@code ResolvedRefs} ({@code InvalidKind}, {@code BackendNotFound})
 * per Service parent. A condition's {@code lastTransitionTime} moves only when its status
 * changes (the previous tick's status is the reference). Single-threaded (the controller's loop).
 */
final class RouteStatuses {

    private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

    private final Supplier<Instant> clock;
    private final Map<String, List<RouteParentStatus>> previous = new HashMap<>();

    RouteStatuses(Supplier<Instant> clock) {
        this.clock = requireNonNull(clock, "clock");
    }

    /** Whether {@code o} is a Gateway API HTTPRoute or GRPCRoute. */
    static boolean isRoute(KubeObject o) {
        return (o.kind().equals("HTTPRoute") || o.kind().equals("GRPCRoute")) && o.group().equals(Waypoints.GATEWAY_GROUP);
    }

    /** The mesh routes of {@code objects}, each with its status; other routes are left out. */
    List<KubeObject> update(List<KubeObject> objects) {
        Set<String> services = new HashSet<>();
        for (KubeObject o : objects) {
            if (o.kind().equals("Service") && o.group().isEmpty()) {
                services.add(o.namespace() + "/" + o.name());
            }
        }
        GatewayApiAttachments eval = GatewayApiAttachments.of(IstioGatewayStatuses.snapshot(objects));
        List<KubeObject> out = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (KubeObject o : objects) {
            if (!isRoute(o)) {
                continue;
            }
            HasMetadata route;
            try {
                Class<? extends HasMetadata> type = o.kind().equals("GRPCRoute") ? GRPCRoute.class : HTTPRoute.class;
                route = SERIALIZATION.convertValue(o.tree(), type);
            } catch (IllegalArgumentException e) {
                continue; // not decodable: refused at apply, never stored
            }
            if (route.getMetadata().getNamespace() == null) {
                route.getMetadata().setNamespace(o.namespace());
            }
            if (!RouteStatus.isMeshRoute(route) && !GatewayApiStatus.hasGatewayParent(route, eval)) {
                continue;
            }
            String key = o.key();
            seen.add(key);
            RouteStatus.Services exists = (ns, name) -> services.contains(ns + "/" + name);
            // The mesh controller's entries (Service parents), then the gateway controller's (class istio).
            List<RouteParentStatus> parents = GatewayApiStatus.parents(route, RouteStatus.parents(route,
                    previous.get(key), exists, clock.get()), eval, exists, clock.get());
            previous.put(key, parents);
            ObjectNode tree = o.tree();
            JsonNode status = SERIALIZATION.convertValue(java.util.Map.of("parents", parents), JsonNode.class);
            tree.set("status", status);
            out.add(KubeObject.of(tree).from(o.origin()));
        }
        previous.keySet().retainAll(seen);
        return out;
    }
}
