package dev.ambit.istiod.ingress;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import com.google.protobuf.BoolValue;
import com.google.protobuf.Message;
import dev.ambit.api.TypeUrls;
import dev.ambit.istiod.l7.GatewayContext;
import dev.ambit.istiod.telemetry.GatewayTelemetry;
import dev.ambit.istiod.telemetry.ProxyTelemetry;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.core.v3.TransportSocket;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.Filter;
import io.envoyproxy.envoy.config.listener.v3.FilterChain;
import io.envoyproxy.envoy.config.listener.v3.FilterChainMatch;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.listener.v3.ListenerFilter;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.route.v3.VirtualHost;
import io.envoyproxy.envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.Rds;
import io.envoyproxy.envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * One {@link GatewayModel.Proxy} → the Envoy resources a gateway proxy is served (CONTRACT
 * seam 2), by type URL and name:
 * <ul>
 *   <li>Listener {@code 0.0.0.0_<port>} per port ({@code envoy.filters.listener.tls_inspector} when a
 *       chain matches on SNI). Chains: plaintext HTTP servers share one HCM chain, RDS {@code http.<port>};
 *       an HTTPS server (SIMPLE/MUTUAL) gets a chain matching its hosts as {@code server_names} (none when
 *       a host is {@code *}), a {@code DownstreamTlsContext} as Istio builds it ({@link DownstreamTls}) and
 *       RDS {@code https.<port>.<server name>}; a TLS server terminating TLS (SIMPLE, MUTUAL, ...) the same
 *       transport socket in front of {@code tcp_proxy} to its tcp route; PASSTHROUGH routes a chain each by
 *       SNI to {@code tcp_proxy}; a TCP server one {@code tcp_proxy} chain.</li>
 *   <li>RouteConfiguration per RDS name: a virtual host {@code <host>:<port>} per host with routes,
 *       domains {@code [host, host:port]} ({@code ["*"]} for {@code *}); {@code require_tls: ALL} on an
 *       {@code httpsRedirect} server. No virtual host for a host: Envoy answers 404.</li>
 *   <li>Cluster and ClusterLoadAssignment for every cluster a route names (the waypoints' translation).</li>
 *   <li>Secret per SDS name; a Secret that is missing or malformed leaves its server out (reported).</li>
 * </ul>
 * Servers on one port conflict (the older origin wins, the other is reported and left out) when
 * one is plaintext HTTP and the other not, when both are TCP, or when two TLS servers share a
 * host (or either serves {@code *}).
 */
public final class GatewayTranslator {

    /** Suffix of the SDS name of a server's client CA certificates. */
    public static final String CACERT_SUFFIX = "-cacert";
    static final String HCM = "envoy.filters.network.http_connection_manager";
    static final String TCP_PROXY = "envoy.filters.network.tcp_proxy";
    static final String TLS_INSPECTOR = "envoy.filters.listener.tls_inspector";
    static final String TLS_TRANSPORT = "envoy.transport_sockets.tls";

    private GatewayTranslator() {
    }

    /** {@code kubernetes://NAME} for a Secret in the proxy's namespace, {@code kubernetes://NS/NAME} otherwise. */
    public static String sdsName(String proxyNamespace, GatewayModel.SecretRef ref) {
        return "kubernetes://" + (ref.namespace().equals(proxyNamespace) ? "" : ref.namespace() + "/") + ref.name();
    }

    /**
     * The SDS name of the CA certificates a terminating server verifies clients with: its
     * credential's {@code <name>-cacert} (Istio's MUTUAL), or for a Gateway API
     * {@code frontendValidation} reference {@code configmap://NS/NAME} or the Secret's
     * {@code kubernetes://[NS/]NAME-cacert}.
     */
    public static String clientCaSdsName(String proxyNamespace, GatewayModel.Tls tls) {
        GatewayModel.CaRef ca = tls.clientCa();
        if (ca == null) {
            return sdsName(proxyNamespace, tls.credential()) + CACERT_SUFFIX;
        }
        return ca.configMap() ? "configmap://" + ca.namespace() + "/" + ca.name()
                : sdsName(proxyNamespace, new GatewayModel.SecretRef(ca.namespace(), ca.name())) + CACERT_SUFFIX;
    }

    /** {@code 0.0.0.0_<port>}. */
    public static String listenerName(int port) {
        return "0.0.0.0_" + port;
    }

    /** The RDS name of a server: {@code http.<port>} for plaintext, {@code https.<port>.<server name>} for TLS. */
    public static String routeName(GatewayModel.Server server) {
        return server.tls() == null ? "http." + server.port() : "https." + server.port() + "." + server.name();
    }

    /** How servers on one port may share it. */
    private enum Family { HTTP, TLS, TCP }

    private static Family family(GatewayModel.Server s) {
        if (s.tls() != null) {
            return Family.TLS;
        }
        return s.protocol().isHttp() ? Family.HTTP : Family.TCP;
    }

    /** The proxy's resources by type URL → name → message; problems go to {@code context}. */
    public static Map<String, Map<String, Message>> translate(GatewayModel.Proxy proxy, GatewayContext context) {
        requireNonNull(proxy, "proxy");
        requireNonNull(context, "context");
        Map<Integer, List<GatewayModel.Server>> claimed = new TreeMap<>();
        for (GatewayModel.Server s : named(proxy, context)) {
            List<GatewayModel.Server> onPort = claimed.computeIfAbsent(s.port(), p -> new ArrayList<>());
            GatewayModel.Server rival = onPort.stream().filter(o -> conflicts(o, s)).findFirst().orElse(null);
            if (rival != null) {
                context.field(s.origin(), "spec.servers", "server " + s.name() + " on port " + s.port()
                        + " conflicts with the older " + rival.origin() + " server " + rival.name() + " ("
                        + (family(rival) != family(s) ? "another protocol on the port" : "overlapping hosts")
                        + "); left out (as Istio, the oldest applies)");
                continue;
            }
            onPort.add(s);
        }
        // Secrets last: a server that lost its port serves none, one whose Secret is bad gives its port to no one.
        Map<String, Message> secrets = new TreeMap<>();
        Map<Integer, List<GatewayModel.Server>> byPort = new TreeMap<>();
        claimed.forEach((port, onPort) -> {
            List<GatewayModel.Server> ok = onPort.stream().filter(s -> secured(s, proxy, context, secrets)).toList();
            if (!ok.isEmpty()) {
                byPort.put(port, ok);
            }
        });
        Map<String, Message> listeners = new TreeMap<>();
        Map<String, Message> routes = new TreeMap<>();
        Set<String> used = new LinkedHashSet<>(proxy.clusters());
        ProxyTelemetry telemetry = GatewayTelemetry.resolve(proxy, context); // telemetry (issue 19)
        byPort.forEach((port, onPort) -> listeners.put(listenerName(port),
                listener(port, onPort, proxy, context, routes, used, telemetry)));
        Map<String, Cluster> clusters = new TreeMap<>();
        Map<String, ClusterLoadAssignment> endpoints = new TreeMap<>();
        for (Message m : routes.values()) {
            clustersOf((RouteConfiguration) m, used);
        }
        for (String name : telemetry.collectorClusters()) {
            if (!context.addCluster(name, clusters, endpoints)) {
                context.note("gateway " + proxy.key() + ": the tracing collector " + name + " is no known service "
                        + "port; spans are not exported");
            }
        }
        for (String name : used) {
            if (!context.addCluster(name, clusters, endpoints)) {
                context.note("gateway " + proxy.key() + ": a route sends traffic to " + name + ", which does not "
                        + "exist (no such service, port or subset); those requests fail with 503");
            }
        }
        Map<String, Map<String, Message>> out = new LinkedHashMap<>();
        out.put(TypeUrls.LISTENER, listeners);
        out.put(TypeUrls.ROUTE_CONFIGURATION, routes);
        out.put(TypeUrls.CLUSTER, new TreeMap<>(clusters));
        out.put(TypeUrls.CLUSTER_LOAD_ASSIGNMENT, new TreeMap<>(endpoints));
        out.put(TypeUrls.SECRET, secrets);
        return out;
    }

    /** The servers oldest origin first, a name declared twice kept once (the older, reported). */
    private static List<GatewayModel.Server> named(GatewayModel.Proxy proxy, GatewayContext context) {
        List<GatewayModel.Server> sorted = new ArrayList<>(proxy.servers());
        sorted.sort(Comparator.comparing((GatewayModel.Server s) -> context.created(s.origin())));
        List<GatewayModel.Server> out = new ArrayList<>();
        Set<String> names = new java.util.HashSet<>();
        for (GatewayModel.Server s : sorted) {
            if (!names.add(s.name())) {
                context.field(s.origin(), "spec.servers", "server " + s.name() + " is declared twice for gateway "
                        + proxy.key() + "; the older one applies");
            } else {
                out.add(s);
            }
        }
        return out;
    }

    /**
     * Whether {@code s} can be served: true without TLS termination; else when its Secret (and,
     * for MUTUAL, its CA certificates) is present and well-formed, added to {@code secrets}.
     * Otherwise the Secret and field are reported and the server is left out.
     */
    private static boolean secured(GatewayModel.Server s, GatewayModel.Proxy proxy, GatewayContext context,
                                   Map<String, Message> secrets) {
        GatewayModel.Tls tls = s.tls();
        if (tls == null || tls.mode() == GatewayModel.TlsMode.PASSTHROUGH
                || tls.mode() == GatewayModel.TlsMode.ISTIO_MUTUAL) {
            return true; // ISTIO_MUTUAL: the gateway's own certificate and the mesh root, no Secret
        }
        if (tls.credential() == null) {
            context.field(s.origin(), "spec.servers", "server " + s.name() + ": TLS " + tls.mode()
                    + " without a credential; left out");
            return false;
        }
        String sds = sdsName(proxy.namespace(), tls.credential());
        GatewaySecrets.Result cert = GatewaySecrets.certificate(context.config(), tls.credential(), sds);
        GatewaySecrets.Result ca = tls.clientCa() != null
                ? GatewaySecrets.caCertificates(context.config(), tls.clientCa(), clientCaSdsName(proxy.namespace(), tls))
                : tls.mode().usesCredentialCa()
                ? GatewaySecrets.caCertificates(context.config(), tls.credential(), sds + CACERT_SUFFIX) : null;
        String problem = cert.problem() != null ? cert.problem() : ca != null ? ca.problem() : null;
        if (problem != null) {
            context.note(problem + "; " + s.origin() + " server " + s.name() + " (port " + s.port()
                    + ") is left out, the other servers keep serving");
            return false;
        }
        secrets.put(sds, cert.secret());
        if (ca != null) {
            secrets.put(ca.secret().getName(), ca.secret());
        }
        return true;
    }

    /** Whether {@code newer} cannot share its port with {@code older}. */
    private static boolean conflicts(GatewayModel.Server older, GatewayModel.Server newer) {
        Family a = family(older);
        Family b = family(newer);
        if (a != b) {
            return true;
        }
        return switch (a) {
            case HTTP -> false; // merged into one route configuration per port
            case TCP -> true;
            case TLS -> older.hosts().contains("*") || newer.hosts().contains("*")
                    || older.hosts().stream().anyMatch(newer.hosts()::contains);
        };
    }

    private static Listener listener(int port, List<GatewayModel.Server> servers, GatewayModel.Proxy proxy,
                                     GatewayContext context, Map<String, Message> routes, Set<String> used,
                                     ProxyTelemetry telemetry) {
        List<FilterChain> chains = new ArrayList<>();
        List<GatewayModel.Server> plain = servers.stream().filter(s -> family(s) == Family.HTTP).toList();
        if (!plain.isEmpty()) {
            String rds = "http." + port;
            chains.add(FilterChain.newBuilder().setName(rds).addFilters(hcm(rds, context, telemetry)).build());
            routes.put(rds, routeConfiguration(rds, port, plain, proxy, context));
        }
        for (GatewayModel.Server s : servers) {
            if (family(s) == Family.TCP) {
                proxy.streams().stream().filter(r -> r.server().equals(s.name())).findFirst().ifPresentOrElse(
                        r -> chains.add(FilterChain.newBuilder().setName("tcp." + port)
                                .addAllFilters(tcpFilters(telemetry, "tcp." + port, r.cluster())).build()),
                        () -> context.field(s.origin(), "spec.servers", "TCP server " + s.name() + " has no tcp "
                                + "route bound to it; connections on port " + port + " are closed"));
            } else if (family(s) == Family.TLS && s.tls().mode() == GatewayModel.TlsMode.PASSTHROUGH) {
                int i = 0;
                for (GatewayModel.StreamRoute r : proxy.streams()) {
                    if (r.server().equals(s.name())) {
                        String name = "tls." + port + "." + s.name() + "." + i++;
                        chains.add(FilterChain.newBuilder().setName(name)
                                .setFilterChainMatch(FilterChainMatch.newBuilder().addAllServerNames(r.sniHosts()))
                                .addAllFilters(tcpFilters(telemetry, name, r.cluster())).build());
                    }
                }
            } else if (family(s) == Family.TLS) {
                String rds = routeName(s);
                FilterChain.Builder chain = FilterChain.newBuilder().setName(rds)
                        .setTransportSocket(TransportSocket.newBuilder().setName(TLS_TRANSPORT)
                                .setTypedConfig(Any.pack(DownstreamTls.of(proxy.namespace(), s.tls()))));
                if (!s.hosts().contains("*")) {
                    chain.setFilterChainMatch(FilterChainMatch.newBuilder().addAllServerNames(s.hosts()));
                }
                if (s.protocol().isHttp()) {
                    chains.add(chain.addFilters(hcm(rds, context, telemetry)).build());
                    routes.put(rds, routeConfiguration(rds, port, List.of(s), proxy, context));
                } else {
                    // Protocol TLS terminated here: the decrypted bytes go to the server's tcp route (Istio).
                    var route = proxy.streams().stream().filter(r -> r.server().equals(s.name())).findFirst();
                    if (route.isPresent()) {
                        chains.add(chain.setName("tls." + port + "." + s.name())
                                .addAllFilters(tcpFilters(telemetry, "tls." + port + "." + s.name(), route.get().cluster())).build());
                    } else {
                        context.field(s.origin(), "spec.servers", "TLS server " + s.name() + " (" + s.tls().mode()
                                + ") has no tcp route bound to it; its connections are closed");
                    }
                }
            }
        }
        Listener.Builder l = Listener.newBuilder().setName(listenerName(port))
                .setAddress(Address.newBuilder().setSocketAddress(SocketAddress.newBuilder().setAddress("0.0.0.0")
                        .setPortValue(port)))
                .addAllFilterChains(chains);
        if (chains.stream().anyMatch(c -> c.getFilterChainMatch().getServerNamesCount() > 0)) {
            l.addListenerFilters(ListenerFilter.newBuilder().setName(TLS_INSPECTOR)
                    .setTypedConfig(Any.pack(TlsInspector.getDefaultInstance())));
        }
        return l.build();
    }

    private static Filter hcm(String rds, GatewayContext context, ProxyTelemetry telemetry) {
        HttpConnectionManager.Builder hcm = HttpConnectionManager.newBuilder()
                .setStatPrefix(rds)
                .setCodecType(HttpConnectionManager.CodecType.AUTO)
                .setRds(Rds.newBuilder().setRouteConfigName(rds).setConfigSource(GatewayContext.ads()))
                .setUseRemoteAddress(BoolValue.of(true))
                .setXffNumTrustedHops(0)
                .setGenerateRequestId(BoolValue.of(true));
        context.normalization(hcm);
        telemetry.apply(hcm); // telemetry (issue 19): first filter istio.stats, tracing, access_log
        hcm.addAllHttpFilters(GatewayContext.standardFilters());
        return Filter.newBuilder().setName(HCM).setTypedConfig(Any.pack(hcm.build())).build();
    }

    /** A TCP chain's filters: {@code istio.stats} when the Telemetry API changes metrics (issue 19), then tcp_proxy. */
    private static List<Filter> tcpFilters(ProxyTelemetry telemetry, String statPrefix, String cluster) {
        List<Filter> out = new ArrayList<>(2);
        telemetry.tcpStats().ifPresent(out::add);
        out.add(tcpProxy(statPrefix, cluster));
        return out;
    }

    private static Filter tcpProxy(String statPrefix, String cluster) {
        return Filter.newBuilder().setName(TCP_PROXY).setTypedConfig(Any.pack(TcpProxy.newBuilder()
                .setStatPrefix(statPrefix).setCluster(cluster).build())).build();
    }

    /**
     * One virtual host per (server, host) of {@code servers}: {@code <host>:<port>}; a host
     * claimed by an earlier server keeps that server's routes (the later is reported).
     */
    private static RouteConfiguration routeConfiguration(String name, int port, List<GatewayModel.Server> servers,
                                                         GatewayModel.Proxy proxy, GatewayContext context) {
        Map<String, VirtualHost.Builder> vhosts = new LinkedHashMap<>();
        Map<String, String> owner = new LinkedHashMap<>();
        for (GatewayModel.Server s : servers) {
            for (GatewayModel.HttpHost h : proxy.hosts()) {
                if (!h.server().equals(s.name())) {
                    continue;
                }
                String vhName = h.host() + ":" + port;
                String claimed = owner.putIfAbsent(vhName, s.name());
                if (claimed != null && !claimed.equals(s.name())) {
                    context.field(h.origin(), "spec.hosts", "host " + h.host() + " on port " + port
                            + " is already served by server " + claimed + "; not applied to server " + s.name());
                    continue;
                }
                vhosts.computeIfAbsent(vhName, k -> virtualHost(k, h.host(), port, s)).addAllRoutes(h.routes());
            }
            if (s.httpsRedirect()) {
                // Envoy redirects before routing: a host no route binds still answers 301.
                for (String host : s.hosts()) {
                    String vhName = host + ":" + port;
                    if (owner.putIfAbsent(vhName, s.name()) == null) {
                        vhosts.put(vhName, virtualHost(vhName, host, port, s));
                    }
                }
            }
        }
        RouteConfiguration.Builder rc = RouteConfiguration.newBuilder().setName(name);
        vhosts.values().forEach(rc::addVirtualHosts);
        return rc.build();
    }

    private static VirtualHost.Builder virtualHost(String name, String host, int port, GatewayModel.Server s) {
        VirtualHost.Builder vh = VirtualHost.newBuilder().setName(name);
        if (host.equals("*")) {
            vh.addDomains("*");
        } else {
            vh.addDomains(host).addDomains(host + ":" + port);
        }
        if (s.httpsRedirect()) {
            vh.setRequireTls(VirtualHost.TlsRequirementType.ALL);
        }
        return vh;
    }

    /** Every cluster a route configuration's routes name (plain, weighted, mirrors). */
    private static void clustersOf(RouteConfiguration rc, Set<String> out) {
        for (VirtualHost vh : rc.getVirtualHostsList()) {
            for (Route r : vh.getRoutesList()) {
                if (!r.hasRoute()) {
                    continue;
                }
                if (!r.getRoute().getCluster().isEmpty()) {
                    out.add(r.getRoute().getCluster());
                }
                r.getRoute().getWeightedClusters().getClustersList().forEach(c -> out.add(c.getName()));
                r.getRoute().getRequestMirrorPoliciesList().forEach(m -> out.add(m.getCluster()));
            }
        }
    }
}
