package dev.ambit.istiod.deploy;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRouteBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRouteStatus;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRouteBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRouteStatus;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.RouteParentStatus;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes the {@code status.parents} of the mesh's HTTPRoutes and GRPCRoutes ({@link RouteStatus})
 * through the {@link ClusterWriter} status path the waypoint Gateways' status takes, on the
 * deployer's thread after its Gateways. Each route of a snapshot with a Service parent is read
 * as stored (the snapshot holds the last accepted version; the stored one may be a newer,
 * rejected one, which is what its status must describe), its status computed and written only
 * when it differs. A 409 (changed since read) is left to the snapshot of that change. A route
 * the config source never accepted is not in any snapshot and gets no status; the validating
 * webhook refuses such routes at apply time.
 */
final class RouteStatusWriter {

    private static final Logger log = LoggerFactory.getLogger(RouteStatusWriter.class);

    private final ClusterWriter writer;
    private final Clock clock;
    private final Counter.Family updates;
    private final Counter.Family errors;
    // Confined to the deployer's thread.
    private final Map<String, String> lastProblem = new HashMap<>();

    RouteStatusWriter(ClusterWriter writer, MetricsRegistry metrics, Clock clock) {
        this.writer = requireNonNull(writer, "writer");
        this.clock = requireNonNull(clock, "clock");
        updates = metrics.counter("ambit_deployer_route_status_updates_total",
                "HTTPRoute and GRPCRoute status writes (status.parents of Service parents), by kind.", "kind");
        errors = metrics.counter("ambit_deployer_route_status_errors_total",
                "Route reads or status writes the API server refused, by kind.", "kind");
    }

    /** Brings the status of every mesh route of {@code snapshot} up to date. */
    void reconcile(ConfigSnapshot snapshot) {
        RouteStatus.Services services = (ns, name) -> snapshot.get(Kind.SERVICE, ns, name, Service.class).isPresent();
        List<HasMetadata> routes = new ArrayList<>(snapshot.list(Kind.HTTP_ROUTE, HTTPRoute.class));
        routes.addAll(snapshot.list(Kind.GRPC_ROUTE, GRPCRoute.class));
        for (HasMetadata route : routes) {
            if (RouteStatus.isMeshRoute(route)) {
                one(route, services);
            }
        }
    }

    private void one(HasMetadata fromSnapshot, RouteStatus.Services services) {
        String kind = fromSnapshot instanceof GRPCRoute ? "GRPCRoute" : "HTTPRoute";
        String key = kind + " " + fromSnapshot.getMetadata().getNamespace() + "/" + fromSnapshot.getMetadata().getName();
        try {
            HasMetadata current = writer.read(fromSnapshot).orElse(null);
            if (current == null || !RouteStatus.isMeshRoute(current)) {
                return; // deleted or changed meanwhile: the next snapshot says so
            }
            HasMetadata update = switch (current) {
                case GRPCRoute r -> {
                    List<RouteParentStatus> before = r.getStatus() == null ? null : r.getStatus().getParents();
                    List<RouteParentStatus> after = RouteStatus.parents(r, before, services, clock.instant());
                    yield WaypointStatus.same(before, after) ? null
                            : new GRPCRouteBuilder(r).withStatus(new GRPCRouteStatus(after)).build();
                }
                case HTTPRoute r -> {
                    List<RouteParentStatus> before = r.getStatus() == null ? null : r.getStatus().getParents();
                    List<RouteParentStatus> after = RouteStatus.parents(r, before, services, clock.instant());
                    yield WaypointStatus.same(before, after) ? null
                            : new HTTPRouteBuilder(r).withStatus(new HTTPRouteStatus(after)).build();
                }
                default -> null;
            };
            if (update != null) {
                writer.updateStatus(update);
                updates.labels(kind).inc();
            }
            lastProblem.remove(key);
        } catch (KubernetesClientException e) {
            errors.labels(kind).inc();
            String message = "cannot write the status of " + key + ": HTTP " + e.getCode() + " "
                    + (e.getStatus() != null && e.getStatus().getMessage() != null ? e.getStatus().getMessage()
                    : e.getMessage());
            if (!message.equals(lastProblem.put(key, message))) {
                log.warn("route status: {}", message);
            }
        }
    }
}
