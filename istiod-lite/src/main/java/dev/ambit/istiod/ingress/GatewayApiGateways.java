package dev.ambit.istiod.ingress;

import static java.util.Objects.requireNonNull;

import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.config.ObjectRef;
import dev.ambit.istiod.ingress.GatewayApiAttachments.Attachment;
import dev.ambit.istiod.ingress.GatewayApiAttachments.GatewayState;
import dev.ambit.istiod.ingress.GatewayApiAttachments.ListenerState;
import dev.ambit.istiod.l7.GatewayRouteRules;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.istiod.model.ServiceCatalog;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.BackendRef;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.TLSRoute;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Gateway API Gateways of class {@value GatewayApiAttachments#CLASS} as {@link GatewayModel.Proxy}s,
 * one per Gateway under the proxy key {@code NS/NAME} (its pods carry the label
 * {@code gateway.networking.k8s.io/gateway-name}). Each usable listener
 * ({@link GatewayApiAttachments}) is a {@link GatewayModel.Server} named after it; the
 * HTTPRoutes and GRPCRoutes attached to it become one {@link GatewayModel.HttpHost} per
 * intersected hostname, their rules translated by the waypoints' translators
 * ({@link GatewayRouteRules}: Gateway API precedence, 500 for a rule whose backends do not exist);
 * the TLSRoutes on a TLS listener become {@link GatewayModel.StreamRoute}s by SNI. A backend in
 * another namespace no ReferenceGrant allows is left out of its rule (reported; with no backend
 * left the rule answers 500). Certificates: {@code kubernetes://NAME} for a Secret in the
 * Gateway's namespace, {@code kubernetes://NS/NAME} otherwise, as Istio names them for SDS.
 */
public final class GatewayApiGateways {

    /** What one translation produced. */
    public record Result(List<GatewayModel.Proxy> proxies, List<String> problems) {
        public Result {
            proxies = List.copyOf(proxies);
            problems = List.copyOf(problems);
        }
    }

    private GatewayApiGateways() {
    }

    /** The proxies of every Gateway of class istio in {@code config}. */
    public static Result proxies(ConfigSnapshot config, MeshConfig mesh, ServiceCatalog catalog) {
        requireNonNull(config, "config");
        requireNonNull(mesh, "mesh");
        requireNonNull(catalog, "catalog");
        GatewayApiAttachments attachments = GatewayApiAttachments.of(config);
        ReferenceGrants grants = attachments.grants();
        // A backend no ReferenceGrant allows keeps its share of the requests, answered 500
        // (Gateway API: the share of an invalid backendRef), rather than being left out.
        GatewayRouteRules rules = new GatewayRouteRules(config, mesh, catalog, (kind, route, b) ->
                permitted(kind, route, b.getGroup(), b.getKind(), b.getNamespace(), b.getName(), grants));
        List<String> problems = new ArrayList<>();
        List<GatewayModel.Proxy> out = new ArrayList<>();
        for (GatewayState gw : attachments.gateways()) {
            out.add(proxy(gw, attachments, rules, mesh, catalog, problems));
        }
        problems.addAll(rules.problems());
        return new Result(out, new ArrayList<>(new LinkedHashSet<>(problems)));
    }

    /** The SDS name Istio gives a Secret seen from a proxy in {@code proxyNamespace}. */
    public static String sdsName(String proxyNamespace, GatewayModel.SecretRef secret) {
        return "kubernetes://" + (secret.namespace().equals(proxyNamespace) ? "" : secret.namespace() + "/")
                + secret.name();
    }

    private static GatewayModel.Proxy proxy(GatewayState gw, GatewayApiAttachments attachments, GatewayRouteRules rules,
                                            MeshConfig mesh, ServiceCatalog catalog, List<String> problems) {
        String ns = gw.gateway().getMetadata().getNamespace();
        ObjectRef origin = ConfigSnapshot.refOf(Kind.GATEWAY, gw.gateway());
        List<GatewayModel.Server> servers = new ArrayList<>();
        List<GatewayModel.HttpHost> hosts = new ArrayList<>();
        List<GatewayModel.StreamRoute> streams = new ArrayList<>();
        Set<String> clusters = new LinkedHashSet<>();
        Map<String, GatewayModel.SecretRef> secrets = new TreeMap<>();
        for (ListenerState l : gw.listeners()) {
            if (!l.usable()) {
                problems.add("Gateway " + gw.key() + ": listener " + l.name() + " is not served: " + why(l));
                continue;
            }
            servers.add(new GatewayModel.Server(l.name(), l.port(), l.protocol(), List.of(l.hostname()), l.tls(), false,
                    origin));
            if (l.tls() != null && l.tls().credential() != null) {
                secrets.put(sdsName(ns, l.tls().credential()), l.tls().credential());
            }
            List<Attachment> attached = attachments.attachments().stream()
                    .filter(a -> a.gateway().key().equals(gw.key()) && a.listener().index() == l.index()).toList();
            if (l.protocol().isHttp()) {
                httpHosts(l, attached, rules, clusters, hosts);
            } else {
                for (Attachment a : attached) {
                    if (a.route() instanceof TLSRoute r) {
                        stream(l, r, a.hosts(), attachments.grants(), mesh, catalog, clusters, streams, problems);
                    }
                }
            }
        }
        return new GatewayModel.Proxy(gw.key(), ns, servers, hosts, streams, List.copyOf(clusters), secrets);
    }

    private static String why(ListenerState l) {
        if (l.notAccepted() != null) {
            return l.notAccepted()[1];
        }
        if (l.conflict() != null) {
            return l.conflict() + " with another listener on port " + l.port();
        }
        return l.unresolved()[0] + ": " + l.unresolved()[1];
    }

    /** One HttpHost per host the listener's routes serve, each host's routes oldest first. */
    private static void httpHosts(ListenerState l, List<Attachment> attached, GatewayRouteRules rules,
                                  Set<String> clusters, List<GatewayModel.HttpHost> out) {
        Map<String, List<HasMetadata>> byHost = new LinkedHashMap<>();
        for (Attachment a : attached) {
            for (String h : a.hosts()) {
                byHost.computeIfAbsent(h, k -> new ArrayList<>()).add(a.route());
            }
        }
        for (var e : byHost.entrySet()) {
            List<HTTPRoute> http = new ArrayList<>();
            List<GRPCRoute> grpc = new ArrayList<>();
            for (HasMetadata r : e.getValue()) {
                switch (r) {
                    case HTTPRoute h -> http.add(h);
                    case GRPCRoute g -> grpc.add(g);
                    default -> { }
                }
            }
            List<Route> routes = rules.routes(http, grpc, l.port(), clusters);
            HasMetadata first = e.getValue().get(0);
            Kind kind = first instanceof GRPCRoute ? Kind.GRPC_ROUTE : Kind.HTTP_ROUTE;
            out.add(new GatewayModel.HttpHost(l.name(), e.getKey(), routes, ConfigSnapshot.refOf(kind, first)));
        }
    }

    static boolean permitted(Kind kind, HasMetadata route, String group, String backendKind, String namespace,
                             String name, ReferenceGrants grants) {
        String routeNs = route.getMetadata().getNamespace();
        return grants.permitted(GatewayApiAttachments.GROUP, kind.kind(), routeNs, group == null ? "" : group,
                backendKind == null ? "Service" : backendKind, namespace == null ? routeNs : namespace, name);
    }

    private static void stream(ListenerState l, TLSRoute r, List<String> hosts, ReferenceGrants grants, MeshConfig mesh,
                               ServiceCatalog catalog, Set<String> clusters, List<GatewayModel.StreamRoute> out,
                               List<String> problems) {
        String where = "TLSRoute " + r.getMetadata().getNamespace() + "/" + r.getMetadata().getName();
        var rules = r.getSpec().getRules() == null ? List.<io.fabric8.kubernetes.api.model.gatewayapi.v1.TLSRouteRule>of()
                : r.getSpec().getRules();
        for (int i = 0; i < rules.size(); i++) {
            List<BackendRef> refs = rules.get(i) == null || rules.get(i).getBackendRefs() == null ? List.of()
                    : rules.get(i).getBackendRefs();
            if (refs.isEmpty()) {
                continue;
            }
            if (refs.size() > 1) {
                problems.add(where + ": field spec.rules[" + i + "].backendRefs: only the first backend is used "
                        + "(weighted TLS passthrough is not supported)");
            }
            BackendRef b = refs.get(0);
            String field = where + ": field spec.rules[" + i + "].backendRefs[0]";
            String ns = b.getNamespace() == null ? r.getMetadata().getNamespace() : b.getNamespace();
            if (!(b.getKind() == null || b.getKind().equals("Service")) || b.getPort() == null) {
                problems.add(field + ": expected a Service with a port; left out");
            } else if (!permitted(Kind.TLS_ROUTE, r, b.getGroup(), b.getKind(), b.getNamespace(), b.getName(), grants)) {
                problems.add(field + ": Service " + ns + "/" + b.getName() + " is in another namespace and no "
                        + "ReferenceGrant there allows it (RefNotPermitted); left out");
            } else {
                String host = b.getName() + "." + ns + ".svc." + mesh.domainSuffix();
                if (catalog.byHostname(host).isEmpty()) {
                    problems.add(field + ": Service " + host + " does not exist; its connections are refused");
                    continue;
                }
                String cluster = "outbound|" + b.getPort() + "||" + host;
                clusters.add(cluster);
                List<String> sni = hosts.contains("*") ? List.of() : hosts;
                out.add(new GatewayModel.StreamRoute(l.name(), sni, cluster, ConfigSnapshot.refOf(Kind.TLS_ROUTE, r)));
            }
        }
    }
}
