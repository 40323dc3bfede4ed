package dev.ambit.istiod.deploy;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.ingress.GatewayApiAttachments;
import dev.ambit.istiod.ingress.Ingresses;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRouteBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRouteStatus;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRouteBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRouteStatus;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.TLSRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.TLSRouteBuilder;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.TLSRouteStatus;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.RouteParentStatus;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import io.fabric8.kubernetes.api.model.networking.v1.IngressBuilder;
import io.fabric8.kubernetes.api.model.networking.v1.IngressLoadBalancerStatus;
import io.fabric8.kubernetes.api.model.networking.v1.IngressStatus;
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
 * (and of TLSRoutes attached to istio Gateways: Accepted, ResolvedRefs as Gateway API specifies)
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
        reconcile(snapshot, GatewayApiAttachments.of(snapshot));
    }

    /**
     * Brings the status of every route of {@code snapshot} with a Service parent (the mesh's) or
     * a parent Gateway of class istio ({@code eval}) up to date, then the {@code status.loadBalancer}
     * of Istio's Ingresses.
     */
    void reconcile(ConfigSnapshot snapshot, GatewayApiAttachments eval) {
        RouteStatus.Services services = (ns, name) -> snapshot.get(Kind.SERVICE, ns, name, Service.class).isPresent();
        List<HasMetadata> routes = new ArrayList<>(snapshot.list(Kind.HTTP_ROUTE, HTTPRoute.class));
        routes.addAll(snapshot.list(Kind.GRPC_ROUTE, GRPCRoute.class));
        routes.addAll(snapshot.list(Kind.TLS_ROUTE, TLSRoute.class)); // gateway parents only (no mesh TLSRoutes)
        for (HasMetadata route : routes) {
            if (RouteStatus.isMeshRoute(route) || GatewayApiStatus.hasGatewayParent(route, eval)) {
                one(route, services, eval);
            }
        }
        ingresses(snapshot);
    }

    /** Istio's Ingresses get the load-balancer addresses of the {@code istio-ingressgateway} Service. */
    private void ingresses(ConfigSnapshot snapshot) {
        Service gateway = snapshot.list(Kind.SERVICE, Service.class).stream()
                .filter(s -> Ingresses.GATEWAY_SERVICE.equals(s.getMetadata().getName())).findFirst().orElse(null);
        for (Ingress fromSnapshot : snapshot.list(Kind.INGRESS, Ingress.class)) {
            if (!Ingresses.isIstio(fromSnapshot)) {
                continue;
            }
            String key = "Ingress " + fromSnapshot.getMetadata().getNamespace() + "/"
                    + fromSnapshot.getMetadata().getName();
            try {
                Ingress current = writer.read(fromSnapshot).orElse(null);
                if (current == null) {
                    continue;
                }
                IngressLoadBalancerStatus lb = Ingresses.loadBalancer(gateway);
                if (!WaypointStatus.same(lb, current.getStatus() == null ? null : current.getStatus().getLoadBalancer())) {
                    writer.updateStatus(new IngressBuilder(current).withStatus(new IngressStatus(lb)).build());
                    updates.labels("Ingress").inc();
                }
                lastProblem.remove(key);
            } catch (KubernetesClientException e) {
                failed("Ingress", key, e);
            }
        }
    }

    private void failed(String kind, String key, KubernetesClientException e) {
        errors.labels(kind).inc();
        String message = "cannot write the status of " + key + ": HTTP " + e.getCode() + " "
                + (e.getStatus() != null && e.getStatus().getMessage() != null ? e.getStatus().getMessage()
                : e.getMessage());
        if (!message.equals(lastProblem.put(key, message))) {
            log.warn("route status: {}", message);
        }
    }

    private void one(HasMetadata fromSnapshot, RouteStatus.Services services, GatewayApiAttachments eval) {
        String kind = fromSnapshot instanceof GRPCRoute ? "GRPCRoute" : fromSnapshot instanceof TLSRoute ? "TLSRoute"
                : "HTTPRoute";
        String key = kind + " " + fromSnapshot.getMetadata().getNamespace() + "/" + fromSnapshot.getMetadata().getName();
        try {
            HasMetadata current = writer.read(fromSnapshot).orElse(null);
            if (current == null || !(RouteStatus.isMeshRoute(current) || GatewayApiStatus.hasGatewayParent(current,
                    eval))) {
                return; // deleted or changed meanwhile: the next snapshot says so
            }
            HasMetadata update = switch (current) {
                case GRPCRoute r -> {
                    List<RouteParentStatus> before = r.getStatus() == null ? null : r.getStatus().getParents();
                    List<RouteParentStatus> after = parents(r, before, services, eval);
                    yield WaypointStatus.same(before, after) ? null
                            : new GRPCRouteBuilder(r).withStatus(new GRPCRouteStatus(after)).build();
                }
                case HTTPRoute r -> {
                    List<RouteParentStatus> before = r.getStatus() == null ? null : r.getStatus().getParents();
                    List<RouteParentStatus> after = parents(r, before, services, eval);
                    yield WaypointStatus.same(before, after) ? null
                            : new HTTPRouteBuilder(r).withStatus(new HTTPRouteStatus(after)).build();
                }
                case TLSRoute r -> {
                    List<RouteParentStatus> before = r.getStatus() == null ? null : r.getStatus().getParents();
                    List<RouteParentStatus> after = GatewayApiStatus.parents(r, before, eval, services,
                            clock.instant());
                    yield WaypointStatus.same(before, after) ? null
                            : new TLSRouteBuilder(r).withStatus(new TLSRouteStatus(after)).build();
                }
                default -> null;
            };
            if (update != null) {
                writer.updateStatus(update);
                updates.labels(kind).inc();
            }
            lastProblem.remove(key);
        } catch (KubernetesClientException e) {
            failed(kind, key, e);
        }
    }

    /** The mesh controller's entries (Service parents), then the gateway controller's (Gateway parents). */
    private List<RouteParentStatus> parents(HasMetadata route, List<RouteParentStatus> before,
                                            RouteStatus.Services services, GatewayApiAttachments eval) {
        List<RouteParentStatus> mesh = RouteStatus.parents(route, before, services, clock.instant());
        return GatewayApiStatus.parents(route, mesh, eval, services, clock.instant());
    }
}
