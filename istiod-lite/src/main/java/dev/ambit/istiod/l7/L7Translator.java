package dev.ambit.istiod.l7;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Message;
import dev.ambit.api.TypeUrls;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.config.ObjectRef;
import dev.ambit.istiod.ingress.GatewayModel;
import dev.ambit.istiod.ingress.GatewayProxies;
import dev.ambit.istiod.ingress.GatewayTranslator;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.istiod.model.ServiceCatalog;
import dev.ambit.istiod.telemetry.NodeAgentTelemetry;
import dev.ambit.istiod.telemetry.ProxyScope;
import dev.ambit.istiod.telemetry.ProxyTelemetry;
import dev.ambit.istiod.telemetry.Telemetries;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Istio / Gateway API objects → Envoy resources, per waypoint, per gateway proxy (the
 * {@link #GATEWAY_SOURCES}' {@link GatewayModel.Proxy}s through {@link GatewayTranslator}) and
 * for proxyless gRPC.
 *
 * <p>Which waypoints exist, which services each serves and the services' ports, protocols
 * and endpoints come from {@link ServiceCatalog}, the same view the ambient model has. The
 * routes of a host come from the VirtualServices ({@code gateways} empty or naming
 * {@code mesh}) and GAMMA HTTPRoutes ({@code parentRefs} of kind Service) for that host.
 * <b>Precedence</b>: several VirtualServices or HTTPRoutes for one host conflict as on
 * Istio's mesh gateway (IST0109): the oldest (creation time, then namespace/name) is
 * applied, the others are reported and not applied to that host. HTTPRoutes attached to
 * the same Service count as one, their rules in that same order.
 *
 * <p><b>Last good version.</b> An object the translation must reject (a destination subset
 * no DestinationRule defines, or what {@link L7Validation} finds) is reported with its
 * origin, field and reason, and its last accepted version stays in force: this translator
 * keeps the last good version of every routing object it has seen. Syntactic problems are
 * normally stopped earlier by the config sources (the validator rejects them; the sources
 * keep the last good file or object), so this is the semantic counterpart. Thread-safe.
 */
public final class L7Translator {

    private static final Logger log = LoggerFactory.getLogger(L7Translator.class);

    /**
     * Where gateway proxies come from (issue 16), asked in this order on every translation:
     * Istio Gateways (with the Kubernetes Ingress contributions merged into their proxies) and
     * Gateway API gateways of class {@code istio}. A source registers here, nowhere else.
     */
    static final List<GatewayProxies> GATEWAY_SOURCES = dev.ambit.istiod.ingress.GatewaySources.ALL;

    private final MeshConfig mesh;
    private final JwksFetcher jwks;
    private final List<GatewayProxies> gatewaySources;
    private final Map<ObjectRef, HasMetadata> lastGood = new HashMap<>();
    private L7Resources last = L7Resources.empty();

    private L7Translator(MeshConfig mesh, JwksFetcher jwks, List<GatewayProxies> gatewaySources) {
        this.mesh = mesh;
        this.jwks = jwks;
        this.gatewaySources = gatewaySources;
    }

    public static L7Translator of(MeshConfig mesh) {
        return of(mesh, JwksFetcher.create());
    }

    /** A translator fetching RequestAuthentication's {@code jwksUri}s with {@code jwks}. */
    public static L7Translator of(MeshConfig mesh, JwksFetcher jwks) {
        return new L7Translator(requireNonNull(mesh, "mesh"), requireNonNull(jwks, "jwks"), GATEWAY_SOURCES);
    }

    /** A translator asking {@code gatewaySources} (instead of {@link #GATEWAY_SOURCES}) for gateway proxies. */
    public static L7Translator of(MeshConfig mesh, JwksFetcher jwks, List<GatewayProxies> gatewaySources) {
        return new L7Translator(requireNonNull(mesh, "mesh"), requireNonNull(jwks, "jwks"),
                List.copyOf(requireNonNull(gatewaySources, "gatewaySources")));
    }

    /** Translates one snapshot; never throws on user input (an internal error keeps the previous result). */
    public synchronized L7Resources translate(ConfigSnapshot config) {
        requireNonNull(config, "config");
        try {
            last = new Translation(config).run();
        } catch (RuntimeException e) {
            log.error("L7 translation failed; keeping the previous resources", e);
            List<String> warnings = new ArrayList<>(last.warnings());
            warnings.add("L7 translation failed (a bug in Ambit, please report it): " + e
                    + "; the previous resources stay in force");
            Map<String, Map<String, Map<String, Message>>> waypoints = new LinkedHashMap<>();
            for (String key : last.waypoints()) {
                waypoints.put(key, last.forProxy(key));
            }
            last = L7Resources.of(waypoints, last.forGrpc(), warnings);
        }
        return last;
    }

    /** One run over one snapshot. */
    private final class Translation {
        private final ServiceCatalog catalog;
        private final Hosts hosts;
        private final Problems problems;
        private final DestinationRules rules;
        private final ClusterTranslator clusters;
        private final RouteSources sources;
        private final JwtFilters jwtFilters;
        private final AuthorizationFilters authz; // authz (issue 15)
        private final ConfigSnapshot config;
        private final GatewayContext gatewayContext; // gateways (issue 16)
        private final Telemetries telemetries; // telemetry (issue 19)

        Translation(ConfigSnapshot config) {
            this.catalog = ServiceCatalog.of(config, mesh);
            this.hosts = new Hosts(mesh);
            this.problems = new Problems(config);
            this.rules = new DestinationRules(config, hosts, problems);
            this.clusters = new ClusterTranslator(catalog, rules);
            RouteTranslator routes = new RouteTranslator(hosts, catalog, problems);
            L7Validation validation = new L7Validation(hosts, rules, catalog);
            this.sources = new RouteSources(config, catalog, hosts, routes, validation, problems, lastGood);
            this.jwtFilters = new JwtFilters(config, mesh, jwks, problems);
            this.authz = new AuthorizationFilters(config, mesh, problems);
            this.config = config;
            this.gatewayContext = new GatewayContext(config, catalog, mesh, hosts, problems, routes, clusters, rules,
                    sources);
            this.telemetries = Telemetries.of(config, mesh,
                    (t, field, reason) -> problems.field(Kind.TELEMETRY, t, field, reason));
        }

        L7Resources run() {
            Map<String, Map<String, Map<String, Message>>> waypoints = new LinkedHashMap<>();
            for (Gateway gw : catalog.waypoints()) {
                String key = gw.getMetadata().getNamespace() + "/" + gw.getMetadata().getName();
                waypoints.put(key, waypoint(key, gw));
            }
            gateways(waypoints);
            Map<String, Map<String, Message>> agents = nodeAgents();
            return L7Resources.of(waypoints, grpc(), agents, problems.all());
        }

        /** What node agents get (issue 19): their tracing, {@link NodeAgentTelemetry}. */
        private Map<String, Map<String, Message>> nodeAgents() {
            ProxyTelemetry telemetry = telemetries.resolve(ProxyScope.nodeAgent(mesh.rootNamespace()));
            Map<String, Cluster> cl = new TreeMap<>();
            Map<String, ClusterLoadAssignment> cla = new TreeMap<>();
            for (String name : telemetry.collectorClusters()) {
                if (!clusters.add(name, false, cl, cla)) {
                    problems.note("node agents: the tracing collector " + name + " is no known service port; spans"
                            + " are not exported");
                }
            }
            Map<String, Map<String, Message>> out = new LinkedHashMap<>();
            out.put(TypeUrls.LISTENER, Map.of(NodeAgentTelemetry.LISTENER, NodeAgentTelemetry.listener(telemetry)));
            out.put(TypeUrls.CLUSTER, new TreeMap<>(cl));
            out.put(TypeUrls.CLUSTER_LOAD_ASSIGNMENT, new TreeMap<>(cla));
            return out;
        }

        /** Every gateway source's proxies, translated; a key already taken (a waypoint's) is reported. */
        private void gateways(Map<String, Map<String, Map<String, Message>>> out) {
            for (GatewayProxies source : gatewaySources) {
                try {
                    for (GatewayModel.Proxy proxy : source.proxies(config, gatewayContext)) {
                        if (out.containsKey(proxy.key())) {
                            problems.note("gateway proxy " + proxy.key() + " of " + source.getClass().getSimpleName()
                                    + " has the key of another proxy (a waypoint or gateway); not served");
                            continue;
                        }
                        out.put(proxy.key(), GatewayTranslator.translate(proxy, gatewayContext));
                    }
                } catch (RuntimeException e) {
                    // A bug in one source must not take the waypoints down.
                    log.error("gateway source {} failed; its proxies are left out", source.getClass().getName(), e);
                    problems.note("gateways of " + source.getClass().getSimpleName() + " cannot be translated (a bug "
                            + "in Ambit, please report it): " + e + "; left out");
                }
            }
        }

        private Map<String, Map<String, Message>> waypoint(String key, Gateway gw) {
            Map<String, Message> routeConfigs = new TreeMap<>();
            Map<String, Cluster> cl = new TreeMap<>();
            Map<String, ClusterLoadAssignment> cla = new TreeMap<>();
            List<FilterChain> chains = new ArrayList<>();
            Set<String> referenced = new LinkedHashSet<>();
            Set<String> collectors = new LinkedHashSet<>();
            String gwNs = key.substring(0, key.indexOf('/'));
            String gwName = key.substring(key.indexOf('/') + 1);
            for (Service svc : catalog.services()) {
                var binding = catalog.serviceWaypoint(svc, line -> { });
                if (binding == null || !binding.key().equals(key)) {
                    continue;
                }
                String host = catalog.hostname(svc);
                List<String> vips = ServiceCatalog.vips(svc);
                clusters.addService(svc, false, cl, cla);
                var authzFilters = authz.forChain(gw, svc, referenced);
                ProxyTelemetry telemetry = telemetries.resolve(ProxyScope.waypoint(gwNs, gwName,
                        svc.getMetadata().getNamespace(), svc.getMetadata().getName()));
                for (ServicePort p : ServiceCatalog.tcpPorts(svc)) {
                    boolean http = ServiceCatalog.protocol(p).isHttp();
                    String name = Listeners.chainName(p.getPort(), http, host);
                    if (!vips.isEmpty()) {
                        chains.add(Listeners.chain(name, vips, p.getPort(), http,
                                ClusterTranslator.name(p.getPort(), "", host),
                                http ? concat(jwtFilters.forChain(gwNs, gwName, svc), authzFilters) : authzFilters,
                                mesh.pathNormalization(), telemetry)); // TCP: its istio.stats (issue 19)
                        if (http) {
                            collectors.addAll(telemetry.collectorClusters()); // telemetry: the collector's cluster
                        }
                    }
                    if (http) {
                        routeConfigs.put(name, routeConfiguration(name, host + ":" + p.getPort(), List.of("*"),
                                host, p.getPort(), false, referenced));
                    }
                }
            }
            for (String name : referenced) {
                if (!clusters.add(name, false, cl, cla)) {
                    problems.note("waypoint " + key + ": a route sends traffic to " + name + ", which does not "
                            + "exist (no such service, port or subset); those requests fail with 503");
                }
            }
            for (String name : collectors) {
                if (!cl.containsKey(name) && !clusters.add(name, false, cl, cla)) {
                    problems.note("waypoint " + key + ": the tracing collector " + name + " is no known service "
                            + "port; spans are not exported");
                }
            }
            cl.put(ClusterTranslator.PASSTHROUGH, ClusterTranslator.passthrough());
            Map<String, Map<String, Message>> out = new LinkedHashMap<>();
            out.put(TypeUrls.LISTENER, Map.of(Listeners.WAYPOINT_LISTENER, Listeners.waypoint(chains)));
            out.put(TypeUrls.ROUTE_CONFIGURATION, routeConfigs);
            out.put(TypeUrls.CLUSTER, new TreeMap<>(cl));
            out.put(TypeUrls.CLUSTER_LOAD_ASSIGNMENT, new TreeMap<>(cla));
            return out;
        }

        /** Every mesh service port as proxyless gRPC clients ask for it: {@code host:port}. */
        private Map<String, Map<String, Message>> grpc() {
            Map<String, Message> listeners = new TreeMap<>();
            Map<String, Message> routeConfigs = new TreeMap<>();
            Map<String, Cluster> cl = new TreeMap<>();
            Map<String, ClusterLoadAssignment> cla = new TreeMap<>();
            Set<String> referenced = new LinkedHashSet<>();
            for (Service svc : catalog.services()) {
                String host = catalog.hostname(svc);
                clusters.addService(svc, true, cl, cla);
                String shortName = svc.getMetadata().getName();
                String ns = svc.getMetadata().getNamespace();
                for (ServicePort p : ServiceCatalog.tcpPorts(svc)) {
                    String name = host + ":" + p.getPort();
                    listeners.put(name, Listeners.grpc(name));
                    List<String> domains = new ArrayList<>();
                    for (String d : List.of(host, shortName + "." + ns + ".svc", shortName + "." + ns, shortName)) {
                        domains.add(d);
                        domains.add(d + ":" + p.getPort());
                    }
                    routeConfigs.put(name, routeConfiguration(name, name, domains, host, p.getPort(), true, referenced));
                }
            }
            for (String name : referenced) {
                clusters.add(name, true, cl, cla);
            }
            Map<String, Map<String, Message>> out = new LinkedHashMap<>();
            out.put(TypeUrls.LISTENER, listeners);
            out.put(TypeUrls.ROUTE_CONFIGURATION, routeConfigs);
            out.put(TypeUrls.CLUSTER, new TreeMap<>(cl));
            out.put(TypeUrls.CLUSTER_LOAD_ASSIGNMENT, new TreeMap<>(cla));
            return out;
        }

        private RouteConfiguration routeConfiguration(String name, String vhostName, List<String> domains,
                                                      String host, int port, boolean grpc, Set<String> referenced) {
            List<Route> routes = sources.routes(host, port, grpc, referenced);
            if (routes == null) {
                String cluster = ClusterTranslator.name(port, "", host);
                referenced.add(cluster);
                RouteAction.Builder action = RouteAction.newBuilder().setCluster(cluster)
                        .setTimeout(com.google.protobuf.Duration.getDefaultInstance());
                if (!grpc) {
                    action.setRetryPolicy(RouteTranslator.defaultRetryPolicy());
                }
                routes = List.of(Route.newBuilder().setName("default")
                        .setMatch(RouteMatch.newBuilder().setPrefix("/")).setRoute(action).build());
            }
            if (!grpc) {
                routes = LoadBalancers.withHashPolicies(routes, rules::loadBalancer); // lb: consistentHash → hash_policy
            }
            return RouteConfiguration.newBuilder().setName(name)
                    .addVirtualHosts(VirtualHost.newBuilder().setName(vhostName).addAllDomains(domains)
                            .addAllRoutes(routes))
                    .build();
        }
    }

    /** jwt_authn first, then the authorization filters: Istio's order in a waypoint's HCM. */
    private static <T> List<T> concat(List<? extends T> first, List<? extends T> then) {
        List<T> out = new ArrayList<>(first.size() + then.size());
        out.addAll(first);
        out.addAll(then);
        return List.copyOf(out);
    }
}
