package dev.ambit.istiod.l7;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.config.ObjectRef;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.istiod.model.ServiceCatalog;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.ConfigSource;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.extensions.filters.http.cors.v3.Cors;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.fabric8.istio.api.api.networking.v1alpha3.Destination;
import io.fabric8.istio.api.networking.v1.VirtualService;
import io.fabric8.kubernetes.api.model.HasMetadata;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What one L7 translation run offers the gateway sources ({@code dev.ambit.istiod.ingress}):
 * the config and service catalog it reads, the VirtualServices in force (accepted or last
 * good), the waypoints' route and cluster translation (one translation, never a fork), and
 * its problem report. Valid for one {@link L7Translator#translate} call only.
 */
public final class GatewayContext {

    private final ConfigSnapshot config;
    private final ServiceCatalog catalog;
    private final MeshConfig mesh;
    private final Hosts hosts;
    private final Problems problems;
    private final RouteTranslator routes;
    private final ClusterTranslator clusters;
    private final DestinationRules rules;
    private final RouteSources sources;

    GatewayContext(ConfigSnapshot config, ServiceCatalog catalog, MeshConfig mesh, Hosts hosts, Problems problems,
                   RouteTranslator routes, ClusterTranslator clusters, DestinationRules rules, RouteSources sources) {
        this.config = config;
        this.catalog = catalog;
        this.mesh = mesh;
        this.hosts = hosts;
        this.problems = problems;
        this.routes = routes;
        this.clusters = clusters;
        this.rules = rules;
        this.sources = sources;
    }

    public ConfigSnapshot config() {
        return config;
    }

    public ServiceCatalog catalog() {
        return catalog;
    }

    public MeshConfig mesh() {
        return mesh;
    }

    /** The VirtualServices in force: each accepted one, or the last good version of a rejected one. */
    public List<VirtualService> virtualServices() {
        return sources.virtualServices();
    }

    /** A host as written in an object of {@code namespace} (short names are that namespace's services). */
    public String resolveHost(String host, String namespace) {
        return hosts.resolve(requireNonNull(host, "host"), requireNonNull(namespace, "namespace"));
    }

    /** Whether a host pattern ({@code *}, {@code *.suffix} or exact) covers {@code host}. */
    public static boolean covers(String pattern, String host) {
        return Hosts.covers(pattern, host);
    }

    /** An object's {@code metadata.creationTimestamp} ("" when unknown, which sorts as the oldest). */
    public String created(ObjectRef ref) {
        return config.get(ref.kind(), ref.namespace(), ref.name(), HasMetadata.class).map(Hosts::created).orElse("");
    }

    /**
     * The Envoy routes of {@code vs}'s {@code http} section for a gateway server on {@code port}
     * (the waypoints' translation: matches, weights, retries, faults, hash policies); the
     * clusters they use are added to {@code used}. An internal error is reported and yields none.
     */
    public List<Route> httpRoutes(VirtualService vs, int port, Set<String> used) {
        try {
            List<Route> out = routes.routes(vs, port, false, used);
            return LoadBalancers.withHashPolicies(out, rules::loadBalancer);
        } catch (RuntimeException e) {
            problems.object(Kind.VIRTUAL_SERVICE, vs, "cannot be translated for a gateway (a bug in Ambit, please "
                    + "report it): " + e);
            return List.of();
        }
    }

    /** The cluster of a destination: {@code outbound|PORT|SUBSET|HOST}, as the routes name it. */
    public String cluster(Destination destination, String namespace, int incomingPort) {
        return routes.cluster(requireNonNull(destination, "destination"), namespace, incomingPort);
    }

    /** {@code outbound|PORT|SUBSET|HOST}. */
    public static String clusterName(int port, String subset, String host) {
        return ClusterTranslator.name(port, subset, host);
    }

    /**
     * Adds cluster {@code name} and its endpoints (EDS; meshed endpoints with {@code tunnel: http}
     * metadata; a Service labelled {@code istio.io/ingress-use-waypoint: "true"} with a waypoint:
     * the waypoint's endpoints, see {@link IngressWaypoints}); false when its service, port or
     * subset does not exist.
     */
    public boolean addCluster(String name, Map<String, Cluster> out, Map<String, ClusterLoadAssignment> endpoints) {
        boolean added = clusters.add(requireNonNull(name, "name"), false, out, endpoints);
        Cluster c = out.get(name);
        if (added && c != null) {
            out.put(name, outbound(c));
            IngressWaypoints.endpoints(name, catalog, problems::note).ifPresent(cla -> endpoints.put(name, cla));
        }
        return added;
    }

    /**
     * A gateway's clusters are Istio's outbound clusters: an {@code http} port is spoken to in
     * HTTP/1.1 whatever the client negotiated with the gateway (ALPN h2 is the norm on HTTPS),
     * as Istio does unless a DestinationRule says {@code h2UpgradePolicy: UPGRADE} or
     * {@code useClientProtocol}; the waypoint's inbound-VIP clusters keep the downstream protocol.
     */
    private static Cluster outbound(Cluster c) {
        var any = c.getTypedExtensionProtocolOptionsMap().get(ClusterTranslator.HTTP_PROTOCOL_OPTIONS);
        if (any == null) {
            return c;
        }
        try {
            var options = any.unpack(io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions.class);
            if (!options.hasUseDownstreamProtocolConfig()) {
                return c;
            }
            var explicit = options.toBuilder().clearUseDownstreamProtocolConfig()
                    .setExplicitHttpConfig(io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions
                            .ExplicitHttpConfig.newBuilder().setHttpProtocolOptions(
                                    options.getUseDownstreamProtocolConfig().getHttpProtocolOptions()))
                    .build();
            return c.toBuilder().putTypedExtensionProtocolOptions(ClusterTranslator.HTTP_PROTOCOL_OPTIONS,
                    com.google.protobuf.Any.pack(explicit)).build();
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new IllegalStateException("cluster " + c.getName() + ": its own protocol options do not parse", e);
        }
    }

    /** ADS as a config source (RDS, EDS, SDS over the proxy's one stream). */
    public static ConfigSource ads() {
        return ClusterTranslator.ADS;
    }

    /** Path normalization as MeshConfig asks, the same as the waypoint's HCM. */
    public void normalization(HttpConnectionManager.Builder hcm) {
        Listeners.normalization(hcm, mesh.pathNormalization());
    }

    /** The HTTP filters after the authorization ones: fault, CORS, router (the waypoint's order). */
    public static List<HttpFilter> standardFilters() {
        return List.of(
                HttpFilter.newBuilder().setName(RouteTranslator.FAULT_FILTER)
                        .setTypedConfig(Any.pack(HTTPFault.getDefaultInstance())).build(),
                HttpFilter.newBuilder().setName(RouteTranslator.CORS_FILTER)
                        .setTypedConfig(Any.pack(Cors.getDefaultInstance())).build(),
                HttpFilter.newBuilder().setName(Listeners.ROUTER)
                        .setTypedConfig(Any.pack(Router.getDefaultInstance())).build());
    }

    /** Reports a field of {@code object}: {@code "<origin> <Kind> NS/NAME: field <f>: <reason>"}. */
    public void field(Kind kind, HasMetadata object, String field, String reason) {
        problems.field(kind, object, field, reason);
    }

    /** Reports a problem with a whole object. */
    public void object(Kind kind, HasMetadata object, String reason) {
        problems.object(kind, object, reason);
    }

    /** Reports a field of the object {@code ref} names (with its file, when the source said). */
    public void field(ObjectRef ref, String field, String reason) {
        problems.note(config.origin(ref).map(o -> o + " ").orElse("") + ref + ": field " + field + ": " + reason);
    }

    /** Reports a line about no single object. */
    public void note(String line) {
        problems.note(line);
    }
}
