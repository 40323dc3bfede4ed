package dev.ambit.istiod.ingress;

import static java.util.Objects.requireNonNull;

import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.config.ObjectRef;
import dev.ambit.istiod.l7.GatewayContext;
import dev.ambit.istiod.model.Selectors;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.fabric8.istio.api.api.networking.v1alpha3.L4MatchAttributes;
import io.fabric8.istio.api.api.networking.v1alpha3.RouteDestination;
import io.fabric8.istio.api.api.networking.v1alpha3.ServerTLSSettings;
import io.fabric8.istio.api.api.networking.v1alpha3.TCPRoute;
import io.fabric8.istio.api.api.networking.v1alpha3.TLSMatchAttributes;
import io.fabric8.istio.api.api.networking.v1alpha3.TLSRoute;
import io.fabric8.istio.api.networking.v1.Gateway;
import io.fabric8.istio.api.networking.v1.VirtualService;
import io.fabric8.kubernetes.api.model.Pod;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Istio {@code Gateway}s (networking.istio.io) and the VirtualServices bound to them by
 * {@code gateways:} ({@code ns/name}, or a bare name in the VirtualService's namespace) →
 * one {@link GatewayModel.Proxy} per distinct (namespace, labels) of the pods in the config
 * that a Gateway's {@code selector} picks, in any namespace (Istio's default), keyed
 * {@code NS/~k=v,...}. Servers are named {@code <port name>.<gateway>.<gateway namespace>}
 * (so an HTTPS server's RDS name is Istio's {@code https.<port>.<port name>.<gateway>.<ns>}),
 * {@code credentialName} is read in the proxy's namespace. Server hosts keep their
 * {@code namespace/} restriction: {@code ./h} binds VirtualServices of the Gateway's
 * namespace only, {@code ns/h} of {@code ns}, {@code h} and {@code * /h} of any. HTTP routes are
 * the waypoints' translation ({@link GatewayContext#httpRoutes}); {@code tls} routes (SNI)
 * serve PASSTHROUGH servers, {@code tcp} routes TCP servers. Contributions of other sources
 * ({@link GatewayContribution}, Kubernetes Ingress) join the proxies of the pods they select.
 */
public final class IstioGateways implements GatewayProxies {

    /** Istio's default ingress selector, which the Ingress contributions use. */
    public static final Map<String, String> INGRESS_SELECTOR = Map.of("istio", "ingressgateway");

    private static final String GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name";

    private final List<GatewayContribution.Source> contributions;

    public IstioGateways() {
        this(List.of());
    }

    /** With {@code contributions} merged into the proxies of the pods they select. */
    public IstioGateways(List<GatewayContribution.Source> contributions) {
        this.contributions = List.copyOf(requireNonNull(contributions, "contributions"));
    }

    /** A server host with its namespace restriction ({@code *}: any). */
    private record ServerHost(String namespace, String host) {}

    @Override
    public List<GatewayModel.Proxy> proxies(ConfigSnapshot config, GatewayContext context) {
        List<Gateway> gateways = new ArrayList<>(config.list(Kind.ISTIO_GATEWAY, Gateway.class));
        gateways.sort(Comparator.comparing((Gateway g) -> created(g)).thenComparing(IstioGateways::key));
        List<GatewayContribution> contributed = new ArrayList<>();
        for (GatewayContribution.Source source : contributions) {
            try {
                contributed.addAll(source.contribute(config, context));
            } catch (RuntimeException e) {
                context.note("gateway contributions of " + source.getClass().getSimpleName() + " failed (a bug in "
                        + "Ambit, please report it): " + e + "; left out");
            }
        }
        Map<String, String> namespaces = new TreeMap<>();
        Map<String, List<Gateway>> selecting = new HashMap<>();
        Map<String, List<GatewayContribution>> joined = new HashMap<>();
        Map<String, Map<String, String>> podLabels = new HashMap<>();
        Map<String, List<String>> podKeys = new HashMap<>();
        Set<Gateway> used = new java.util.HashSet<>();
        for (Pod pod : config.list(Kind.POD, Pod.class)) {
            Map<String, String> labels = pod.getMetadata().getLabels() == null ? Map.of() : pod.getMetadata().getLabels();
            if (labels.isEmpty() || labels.containsKey(GATEWAY_NAME_LABEL)) {
                continue; // no selector picks it, or a waypoint / Gateway API gateway keyed by name
            }
            List<Gateway> gws = gateways.stream().filter(g -> selects(g, labels)).toList();
            List<GatewayContribution> cs = contributed.stream()
                    .filter(c -> c.reaches(pod.getMetadata().getNamespace(), labels)).toList();
            if (gws.isEmpty() && cs.isEmpty()) {
                continue;
            }
            String key = GatewayModel.labelKey(pod.getMetadata().getNamespace(), labels);
            namespaces.put(key, pod.getMetadata().getNamespace());
            selecting.put(key, gws);
            joined.put(key, cs);
            podLabels.put(key, labels);
            podKeys.computeIfAbsent(key, k -> new ArrayList<>())
                    .add(GatewayModel.podKey(pod.getMetadata().getNamespace(), pod.getMetadata().getName()));
            used.addAll(gws);
        }
        for (Gateway g : gateways) {
            if (!used.contains(g)) {
                context.object(Kind.ISTIO_GATEWAY, g, "its selector " + selector(g) + " matches no pod; "
                        + "no gateway proxy serves it");
            }
        }
        List<GatewayModel.Proxy> out = new ArrayList<>();
        namespaces.forEach((key, ns) -> {
            GatewayModel.Proxy p = listeningOnTargetPorts(proxy(key, ns, selecting.get(key), joined.get(key), context),
                    podLabels.get(key), config);
            out.add(p);
            // The same resources under each pod's name (GatewayModel.podKey): translated once per label set.
            for (String podKey : podKeys.get(key)) {
                out.add(new GatewayModel.Proxy(podKey, p.namespace(), p.servers(), p.hosts(), p.streams(), p.clusters(),
                        p.secrets()));
            }
        });
        return out;
    }

    private GatewayModel.Proxy proxy(String key, String ns, List<Gateway> gateways, List<GatewayContribution> cs,
                                     GatewayContext context) {
        List<GatewayModel.Server> servers = new ArrayList<>();
        List<GatewayModel.HttpHost> hosts = new ArrayList<>();
        List<GatewayModel.StreamRoute> streams = new ArrayList<>();
        Set<String> clusters = new LinkedHashSet<>();
        Set<String> names = new java.util.HashSet<>();
        List<VirtualService> vses = new ArrayList<>(context.virtualServices());
        vses.sort(Comparator.comparing((VirtualService v) -> created(v)).thenComparing(IstioGateways::key));
        for (Gateway gw : gateways) {
            String gwNs = gw.getMetadata().getNamespace();
            List<VirtualService> bound = vses.stream().filter(v -> binds(v, gwNs, gw.getMetadata().getName())).toList();
            var specServers = gw.getSpec().getServers() == null
                    ? List.<io.fabric8.istio.api.api.networking.v1alpha3.Server>of() : gw.getSpec().getServers();
            for (int i = 0; i < specServers.size(); i++) {
                var s = specServers.get(i);
                GatewayModel.Server server = server(gw, i, s, ns, names, context);
                if (server == null) {
                    continue;
                }
                servers.add(server);
                List<ServerHost> serverHosts = s.getHosts().stream().map(h -> serverHost(h, gwNs)).toList();
                for (VirtualService vs : bound) {
                    if (server.protocol().isHttp()) {
                        http(server, serverHosts, forGateway(vs, gw), hosts, clusters, context);
                    } else if (server.tls() != null && server.tls().mode() == GatewayModel.TlsMode.PASSTHROUGH) {
                        tls(server, serverHosts, vs, gw, streams, context);
                    } else if (server.protocol() == GatewayModel.Protocol.TCP
                            || server.protocol() == GatewayModel.Protocol.TLS) {
                        // TCP, or TLS terminated at the gateway (SIMPLE/MUTUAL/...): then the tcp routes, as Istio.
                        tcp(server, vs, gw, streams, context);
                    }
                }
            }
        }
        for (GatewayContribution c : cs) {
            servers.addAll(c.servers());
            hosts.addAll(c.hosts());
            streams.addAll(c.streams());
            clusters.addAll(c.clusters());
        }
        streams.forEach(r -> clusters.add(r.cluster()));
        Map<String, GatewayModel.SecretRef> secrets = new LinkedHashMap<>();
        for (GatewayModel.Server s : servers) {
            if (s.tls() != null && s.tls().credential() != null) {
                String sds = GatewayTranslator.sdsName(ns, s.tls().credential());
                secrets.put(sds, s.tls().credential());
                if (s.tls().mode().usesCredentialCa()) {
                    secrets.put(sds + GatewayTranslator.CACERT_SUFFIX, s.tls().credential());
                }
            }
        }
        return new GatewayModel.Proxy(key, ns, servers, hosts, streams, List.copyOf(clusters), secrets);
    }

    /**
     * The proxy with each server's port moved to the pod port its Service sends it to, as Istio
     * binds gateway listeners: a Service of the proxy's namespace selecting these pods that maps
     * port {@code N} to a numeric {@code targetPort} makes the server on {@code N} listen there
     * (Istio's gateway chart: 80 → 8080). Without such a Service the server's own port is bound.
     * Routes were translated against the server's port ({@code match.port} is the Gateway's).
     */
    static GatewayModel.Proxy listeningOnTargetPorts(GatewayModel.Proxy proxy, Map<String, String> labels,
                                                     ConfigSnapshot config) {
        Map<Integer, Integer> targets = new HashMap<>();
        for (io.fabric8.kubernetes.api.model.Service svc : config.list(Kind.SERVICE, proxy.namespace(),
                io.fabric8.kubernetes.api.model.Service.class)) {
            var spec = svc.getSpec();
            if (spec == null || spec.getSelector() == null || spec.getSelector().isEmpty()
                    || !Selectors.matches(spec.getSelector(), labels) || spec.getPorts() == null) {
                continue;
            }
            for (var p : spec.getPorts()) {
                if (p.getPort() != null && p.getTargetPort() != null && p.getTargetPort().getIntVal() != null
                        && (p.getProtocol() == null || p.getProtocol().equals("TCP"))) {
                    targets.putIfAbsent(p.getPort(), p.getTargetPort().getIntVal());
                }
            }
        }
        if (targets.isEmpty()) {
            return proxy;
        }
        List<GatewayModel.Server> servers = proxy.servers().stream().map(s -> {
            Integer target = targets.get(s.port());
            return target == null || target == s.port() ? s : new GatewayModel.Server(s.name(), target, s.protocol(),
                    s.hosts(), s.tls(), s.httpsRedirect(), s.origin());
        }).toList();
        return new GatewayModel.Proxy(proxy.key(), proxy.namespace(), servers, proxy.hosts(), proxy.streams(),
                proxy.clusters(), proxy.secrets());
    }

    /** One Istio server as the model's; null (reported) when the gateway proxy cannot serve it. */
    private static GatewayModel.Server server(Gateway gw, int index, io.fabric8.istio.api.api.networking.v1alpha3.Server s,
                                              String proxyNs, Set<String> names, GatewayContext context) {
        ObjectRef ref = ObjectRef.of(Kind.ISTIO_GATEWAY, gw.getMetadata().getNamespace(), gw.getMetadata().getName());
        String f = "spec.servers[" + index + "]";
        if (s == null || s.getPort() == null || s.getPort().getNumber() == null || s.getHosts() == null) {
            return null; // refused by validation already
        }
        GatewayModel.Protocol protocol;
        try {
            protocol = GatewayModel.Protocol.valueOf(String.valueOf(s.getPort().getProtocol()).toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            return null; // refused by validation already
        }
        int port = s.getPort().getNumber().intValue();
        String portName = s.getPort().getName() == null || s.getPort().getName().isEmpty()
                ? protocol.name().toLowerCase(Locale.ROOT) + "-" + port : s.getPort().getName();
        String name = portName + "." + gw.getMetadata().getName() + "." + gw.getMetadata().getNamespace();
        if (!names.add(name)) {
            name = portName + "-" + index + "." + gw.getMetadata().getName() + "." + gw.getMetadata().getNamespace();
            names.add(name);
        }
        ServerTLSSettings t = s.getTls();
        boolean redirect = t != null && Boolean.TRUE.equals(t.getHttpsRedirect());
        GatewayModel.Tls tls = null;
        boolean terminates = protocol == GatewayModel.Protocol.HTTPS || protocol == GatewayModel.Protocol.TLS;
        if (t != null && terminates) {
            tls = ServerTls.of(t, protocol, proxyNs, ref, f, context);
            if (tls == null) {
                return null; // reported
            }
        }
        List<String> hosts = s.getHosts().stream().map(h -> serverHost(h, "").host()).distinct().toList();
        return new GatewayModel.Server(name, port, protocol, hosts, tls, redirect, ref);
    }

    /** VirtualService {@code http} routes for each host it shares with the server. */
    private static void http(GatewayModel.Server server, List<ServerHost> serverHosts, VirtualService vs,
                             List<GatewayModel.HttpHost> out, Set<String> clusters, GatewayContext context) {
        String vsNs = vs.getMetadata().getNamespace();
        ObjectRef ref = ObjectRef.of(Kind.VIRTUAL_SERVICE, vsNs, vs.getMetadata().getName());
        List<Route> routes = null;
        Set<String> done = new java.util.HashSet<>();
        for (String h : vs.getSpec().getHosts() == null ? List.<String>of() : vs.getSpec().getHosts()) {
            String host = context.resolveHost(h, vsNs);
            for (ServerHost sh : serverHosts) {
                String shared = sh.namespace().equals("*") || sh.namespace().equals(vsNs)
                        ? intersection(sh.host(), host) : null;
                if (shared == null || !done.add(shared)) {
                    continue;
                }
                if (routes == null) {
                    Set<String> used = new LinkedHashSet<>();
                    routes = context.httpRoutes(vs, server.port(), used);
                    clusters.addAll(used);
                }
                if (!routes.isEmpty()) {
                    out.add(new GatewayModel.HttpHost(server.name(), shared, routes, ref));
                }
            }
        }
    }

    /**
     * {@code vs} as this gateway sees it: an {@code http} match whose own {@code gateways} list
     * leaves this gateway out is dropped, and a route left with no match is dropped (Istio: a
     * match's {@code gateways} overrides the VirtualService's). Unnamed routes keep their index
     * as name. The same object when no match names gateways.
     */
    static VirtualService forGateway(VirtualService vs, Gateway gw) {
        var http = vs.getSpec().getHttp();
        if (http == null || http.stream().noneMatch(h -> h != null && h.getMatch() != null && h.getMatch().stream()
                .anyMatch(m -> m != null && m.getGateways() != null && !m.getGateways().isEmpty()))) {
            return vs;
        }
        List<io.fabric8.istio.api.api.networking.v1alpha3.HTTPRoute> kept = new ArrayList<>();
        for (int i = 0; i < http.size(); i++) {
            var h = http.get(i);
            if (h == null || h.getMatch() == null || h.getMatch().isEmpty()) {
                kept.add(h);
                continue;
            }
            var matches = h.getMatch().stream().filter(m -> m == null || m.getGateways() == null
                    || m.getGateways().isEmpty() || m.getGateways().stream().anyMatch(g -> names(g, vs, gw))).toList();
            if (!matches.isEmpty()) {
                kept.add(new io.fabric8.istio.api.api.networking.v1alpha3.HTTPRouteBuilder(h).withMatch(matches)
                        .withName(h.getName() == null || h.getName().isEmpty() ? String.valueOf(i) : h.getName())
                        .build());
            }
        }
        return new io.fabric8.istio.api.networking.v1.VirtualServiceBuilder(vs).editSpec().withHttp(kept).endSpec()
                .build();
    }

    /** VirtualService {@code tls} routes (SNI) for a PASSTHROUGH server. */
    private static void tls(GatewayModel.Server server, List<ServerHost> serverHosts, VirtualService vs, Gateway gw,
                            List<GatewayModel.StreamRoute> out, GatewayContext context) {
        List<TLSRoute> routes = vs.getSpec().getTls() == null ? List.of() : vs.getSpec().getTls();
        String vsNs = vs.getMetadata().getNamespace();
        ObjectRef ref = ObjectRef.of(Kind.VIRTUAL_SERVICE, vsNs, vs.getMetadata().getName());
        for (int i = 0; i < routes.size(); i++) {
            TLSRoute r = routes.get(i);
            String cluster = destination(r == null ? null : r.getRoute(), vs, "spec.tls[" + i + "]", server, context);
            if (cluster == null || r.getMatch() == null) {
                continue;
            }
            for (TLSMatchAttributes m : r.getMatch()) {
                if (m == null || (m.getPort() != null && m.getPort() != server.port())
                        || !matchesGateway(m.getGateways(), vs, gw)) {
                    continue;
                }
                List<String> sni = new ArrayList<>();
                for (String h : m.getSniHosts() == null ? List.<String>of() : m.getSniHosts()) {
                    for (ServerHost sh : serverHosts) {
                        String shared = sh.namespace().equals("*") || sh.namespace().equals(vsNs)
                                ? intersection(sh.host(), h.toLowerCase(Locale.ROOT)) : null;
                        if (shared != null && !sni.contains(shared)) {
                            sni.add(shared);
                        }
                    }
                }
                if (!sni.isEmpty()) {
                    out.add(new GatewayModel.StreamRoute(server.name(), sni, cluster, ref));
                }
            }
        }
    }

    /** The first VirtualService {@code tcp} route for a TCP server's port. */
    private static void tcp(GatewayModel.Server server, VirtualService vs, Gateway gw,
                            List<GatewayModel.StreamRoute> out, GatewayContext context) {
        List<TCPRoute> routes = vs.getSpec().getTcp() == null ? List.of() : vs.getSpec().getTcp();
        ObjectRef ref = ObjectRef.of(Kind.VIRTUAL_SERVICE, vs.getMetadata().getNamespace(), vs.getMetadata().getName());
        for (int i = 0; i < routes.size(); i++) {
            TCPRoute r = routes.get(i);
            if (r == null) {
                continue;
            }
            List<L4MatchAttributes> matches = r.getMatch() == null || r.getMatch().isEmpty()
                    ? java.util.Collections.singletonList(null) : r.getMatch();
            boolean applies = matches.stream().anyMatch(m -> m == null || ((m.getPort() == null
                    || m.getPort() == server.port()) && matchesGateway(m.getGateways(), vs, gw)));
            if (!applies) {
                continue;
            }
            String cluster = destination(r.getRoute(), vs, "spec.tcp[" + i + "]", server, context);
            if (cluster != null) {
                out.add(new GatewayModel.StreamRoute(server.name(), List.of(), cluster, ref));
                return; // the first matching route takes the port's connections
            }
        }
    }

    /** The cluster of a stream route's destination; more than one destination: the first, reported. */
    private static String destination(List<RouteDestination> dests, VirtualService vs, String field,
                                      GatewayModel.Server server, GatewayContext context) {
        if (dests == null || dests.isEmpty() || dests.getFirst() == null || dests.getFirst().getDestination() == null) {
            context.field(Kind.VIRTUAL_SERVICE, vs, field + ".route", "no destination; left out");
            return null;
        }
        if (dests.size() > 1) {
            context.field(Kind.VIRTUAL_SERVICE, vs, field + ".route", "weighted TLS/TCP destinations are not "
                    + "supported by Ambit's gateway; all connections go to the first destination");
        }
        return context.cluster(dests.getFirst().getDestination(), vs.getMetadata().getNamespace(), server.port());
    }

    private static boolean matchesGateway(List<String> gateways, VirtualService vs, Gateway gw) {
        return gateways == null || gateways.isEmpty() || gateways.stream().anyMatch(g -> names(g, vs, gw));
    }

    /** Whether {@code vs} binds to Gateway {@code ns/name} ({@code gateways:} entry {@code ns/name} or bare {@code name}). */
    static boolean binds(VirtualService vs, String ns, String name) {
        List<String> gateways = vs.getSpec() == null ? null : vs.getSpec().getGateways();
        if (gateways == null) {
            return false;
        }
        String vsNs = vs.getMetadata().getNamespace();
        return gateways.stream().anyMatch(g -> g != null && !g.equals("mesh")
                && (g.contains("/") ? g.equals(ns + "/" + name) : vsNs.equals(ns) && g.equals(name)));
    }

    private static boolean names(String entry, VirtualService vs, Gateway gw) {
        String ns = gw.getMetadata().getNamespace();
        String name = gw.getMetadata().getName();
        return entry.contains("/") ? entry.equals(ns + "/" + name)
                : vs.getMetadata().getNamespace().equals(ns) && entry.equals(name);
    }

    /** {@code [ns/]host} → restriction ({@code .} → {@code gatewayNs}) and lower-cased host. */
    private static ServerHost serverHost(String value, String gatewayNs) {
        int slash = value.indexOf('/');
        String ns = slash < 0 ? "*" : value.substring(0, slash);
        return new ServerHost(ns.equals(".") ? gatewayNs : ns, value.substring(slash + 1).toLowerCase(Locale.ROOT));
    }

    /** The more specific of two host patterns when one covers the other; null when they share no host. */
    static String intersection(String a, String b) {
        if (GatewayContext.covers(a, b)) {
            return b;
        }
        return GatewayContext.covers(b, a) ? a : null;
    }

    private static boolean selects(Gateway g, Map<String, String> labels) {
        Map<String, String> selector = g.getSpec() == null ? null : g.getSpec().getSelector();
        return selector != null && !selector.isEmpty() && Selectors.matches(selector, labels);
    }

    private static String selector(Gateway g) {
        return g.getSpec() == null || g.getSpec().getSelector() == null ? "{}"
                : new TreeMap<>(g.getSpec().getSelector()).toString();
    }

    private static String created(io.fabric8.kubernetes.api.model.HasMetadata o) {
        String ts = o.getMetadata().getCreationTimestamp();
        return ts == null ? "" : ts;
    }

    private static String key(io.fabric8.kubernetes.api.model.HasMetadata o) {
        return o.getMetadata().getNamespace() + "/" + o.getMetadata().getName();
    }
}
