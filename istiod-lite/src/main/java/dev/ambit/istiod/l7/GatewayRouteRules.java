package dev.ambit.istiod.l7;

import static java.util.Objects.requireNonNull;

import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.istiod.model.ServiceCatalog;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The rules of HTTPRoutes and GRPCRoutes attached to a gateway listener as Envoy routes, by the
 * same translators the waypoints' GAMMA routes take ({@link HttpRouteTranslator},
 * {@link GrpcRouteTranslator}), in Gateway API precedence ({@link RankedRoute}). Which routes
 * attach to which listener and host is the caller's decision (the {@code ingress} package).
 * A backend that fails (a Service that does not exist, or in another namespace without a
 * ReferenceGrant) keeps its share of the requests, answered 500 (HTTPRoute); a rule whose
 * backends all fail answers 500 (HTTPRoute) or UNAVAILABLE (GRPCRoute), as Gateway API
 * specifies. Not thread-safe: one per translation.
 */
public final class GatewayRouteRules {

    private final Problems problems;
    private final HttpRouteTranslator http;
    private final GrpcRouteTranslator grpc;

    /** {@code references} decides which backends a route may name (the gateway's ReferenceGrants). */
    public GatewayRouteRules(ConfigSnapshot config, MeshConfig mesh, ServiceCatalog catalog,
                             BackendReferences references) {
        requireNonNull(config, "config");
        requireNonNull(mesh, "mesh");
        requireNonNull(catalog, "catalog");
        requireNonNull(references, "references");
        Hosts hosts = new Hosts(mesh);
        this.problems = new Problems(config);
        this.http = new HttpRouteTranslator(hosts, catalog, problems, references);
        this.grpc = new GrpcRouteTranslator(hosts, catalog, problems, http);
    }

    /**
     * The Envoy routes of {@code httpRoutes} and {@code grpcRoutes} (each oldest first, HTTPRoutes
     * before GRPCRoutes on a tie) for a listener on {@code port}; every cluster a route sends to
     * is added to {@code clusters}.
     */
    public List<Route> routes(List<HTTPRoute> httpRoutes, List<GRPCRoute> grpcRoutes, int port, Set<String> clusters) {
        requireNonNull(httpRoutes, "httpRoutes");
        requireNonNull(grpcRoutes, "grpcRoutes");
        requireNonNull(clusters, "clusters");
        List<RankedRoute> ranked = new ArrayList<>();
        for (HTTPRoute r : httpRoutes) {
            http.rankedRules(r, port, false, clusters, ranked);
        }
        for (GRPCRoute r : grpcRoutes) {
            grpc.rankedRules(r, port, false, clusters, ranked);
        }
        return RankedRoute.inOrder(ranked);
    }

    /** Istio's default retry policy of routes it generates (VirtualService without {@code retries}). */
    public static io.envoyproxy.envoy.config.route.v3.RetryPolicy defaultRetryPolicy() {
        return RouteTranslator.defaultRetryPolicy();
    }

    /** What the translation left out, one line per problem naming object and field. */
    public List<String> problems() {
        return problems.all();
    }
}
