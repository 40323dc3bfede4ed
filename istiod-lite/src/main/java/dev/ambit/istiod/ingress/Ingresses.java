package dev.ambit.istiod.ingress;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Duration;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.config.ObjectRef;
import dev.ambit.istiod.l7.GatewayRouteRules;
import dev.ambit.istiod.model.MeshConfig;
import dev.ambit.istiod.model.ServiceCatalog;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.fabric8.kubernetes.api.model.LoadBalancerIngress;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.networking.v1.HTTPIngressPath;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import io.fabric8.kubernetes.api.model.networking.v1.IngressBackend;
import io.fabric8.kubernetes.api.model.networking.v1.IngressLoadBalancerIngress;
import io.fabric8.kubernetes.api.model.networking.v1.IngressLoadBalancerStatus;
import io.fabric8.kubernetes.api.model.networking.v1.IngressRule;
import io.fabric8.kubernetes.api.model.networking.v1.IngressTLS;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Kubernetes {@code Ingress} objects as Istio serves them: those with {@code ingressClassName:
 * istio} or the annotation {@code kubernetes.io/ingress.class: istio} are served by the pods
 * labelled {@code istio: ingressgateway} (Istio's ingress selector), whose proxy
 * ({@code NS/~istio=ingressgateway}) gets them beside what Istio Gateways give it.
 *
 * <p>Servers: one HTTP server on port 80 for every host ({@value #HTTP_SERVER}), and per
 * {@code spec.tls[]} entry an HTTPS server on 443 (SIMPLE) with the entry's hosts and its
 * {@code secretName}, read from the Ingress's namespace as Istio does ({@code kubernetes-ingress://}).
 * A TLS host an older Ingress already serves with another Secret is reported and left to the
 * older one. Routes: per rule host ({@code *} when none) one {@link GatewayModel.HttpHost} on
 * every server covering it; paths as Istio converts them: {@code Exact} the exact path,
 * {@code Prefix} {@code /} every path, other prefixes the path itself and everything under it
 * by whole path elements, {@code ImplementationSpecific} a prefix when it ends in {@code /*} or
 * {@code .*} and an exact path otherwise; exact paths first, then longer prefixes, then the
 * oldest Ingress; {@code spec.defaultBackend} catches the rest of host {@code *}. Backends:
 * {@code service.name} with {@code port.number} or {@code port.name} (resolved on the Service);
 * a missing Service keeps its route, whose cluster does not exist (503, as Istio).
 */
public final class Ingresses {

    /** Istio's default ingress class and the labels of its ingress gateway pods. */
    public static final String CLASS = "istio";
    public static final String CLASS_ANNOTATION = "kubernetes.io/ingress.class";
    public static final Map<String, String> SELECTOR = Map.of("istio", "ingressgateway");
    /** The Service whose load-balancer address Ingress status reports ({@code istio-system} in Istio's install). */
    public static final String GATEWAY_SERVICE = "istio-ingressgateway";
    static final String HTTP_SERVER = "http-ingress-80";

    /**
     * What Ingresses add to the proxy of the pods {@link #SELECTOR} matches.
     *
     * @param secrets every certificate Secret by the SDS name it is served under
     */
    public record Contribution(List<GatewayModel.Server> servers, List<GatewayModel.HttpHost> hosts,
                               List<String> clusters, Map<String, GatewayModel.SecretRef> secrets,
                               List<String> problems) {
        public Contribution {
            servers = List.copyOf(servers);
            hosts = List.copyOf(hosts);
            clusters = List.copyOf(clusters);
            secrets = Map.copyOf(secrets);
            problems = List.copyOf(problems);
        }

        public boolean isEmpty() {
            return servers.isEmpty();
        }
    }

    private record Path(Route route, int rank, int length, int order) {}

    private Ingresses() {
    }

    /** Whether Istio serves {@code ingress}: its class, or the class annotation, is {@value #CLASS}. */
    public static boolean isIstio(Ingress ingress) {
        if (ingress.getSpec() != null && ingress.getSpec().getIngressClassName() != null) {
            return CLASS.equals(ingress.getSpec().getIngressClassName());
        }
        var annotations = ingress.getMetadata().getAnnotations();
        return annotations != null && CLASS.equals(annotations.get(CLASS_ANNOTATION));
    }

    /** Whether a pod with {@code labels} serves Ingresses (Istio's ingress gateway selector). */
    public static boolean selects(Map<String, String> labels) {
        return labels != null && SELECTOR.entrySet().stream().allMatch(e -> e.getValue().equals(labels.get(e.getKey())));
    }

    /**
     * The servers and routes of every Istio Ingress of {@code config}, for a gateway proxy in
     * {@code proxyNamespace}; empty (no servers) when there is no such Ingress.
     */
    public static Contribution contribute(ConfigSnapshot config, MeshConfig mesh, ServiceCatalog catalog,
                                          String proxyNamespace) {
        requireNonNull(config, "config");
        requireNonNull(mesh, "mesh");
        requireNonNull(catalog, "catalog");
        requireNonNull(proxyNamespace, "proxyNamespace");
        List<Ingress> ingresses = new ArrayList<>(config.list(Kind.INGRESS, Ingress.class).stream()
                .filter(Ingresses::isIstio).toList());
        ingresses.sort(Comparator.comparing(GatewayApiAttachments::created)
                .thenComparing(i -> i.getMetadata().getNamespace() + "/" + i.getMetadata().getName()));
        List<String> problems = new ArrayList<>();
        if (ingresses.isEmpty()) {
            return new Contribution(List.of(), List.of(), List.of(), Map.of(), problems);
        }
        List<GatewayModel.Server> servers = new ArrayList<>();
        Map<String, GatewayModel.SecretRef> secrets = new TreeMap<>();
        servers.add(new GatewayModel.Server(HTTP_SERVER, 80, GatewayModel.Protocol.HTTP, List.of("*"), null, false,
                ConfigSnapshot.refOf(Kind.INGRESS, ingresses.get(0))));
        Map<String, GatewayModel.SecretRef> tlsHosts = new LinkedHashMap<>();
        for (Ingress ing : ingresses) {
            List<IngressTLS> tls = ing.getSpec() == null || ing.getSpec().getTls() == null ? List.of()
                    : ing.getSpec().getTls();
            for (int i = 0; i < tls.size(); i++) {
                IngressTLS t = tls.get(i);
                if (t == null || t.getSecretName() == null || t.getSecretName().isEmpty()) {
                    problems.add(describe(ing) + ": field spec.tls[" + i + "].secretName: missing (expected: the "
                            + "Secret holding tls.crt and tls.key); no HTTPS server for it");
                    continue;
                }
                // Istio reads an Ingress's secretName where the ingress gateway runs (its docs: "the
                // referenced Secret must exist in the namespace of the istio-ingressgateway deployment").
                GatewayModel.SecretRef secret = new GatewayModel.SecretRef(proxyNamespace, t.getSecretName());
                List<String> hosts = new ArrayList<>();
                for (String h : t.getHosts() == null || t.getHosts().isEmpty() ? List.of("*") : t.getHosts()) {
                    GatewayModel.SecretRef before = tlsHosts.putIfAbsent(h, secret);
                    if (before != null && !before.equals(secret)) {
                        problems.add(describe(ing) + ": field spec.tls[" + i + "].hosts: " + h + " is served on "
                                + "port 443 with Secret " + before.namespace() + "/" + before.name() + " by an older "
                                + "Ingress (conflict); left to it");
                    } else if (before == null) {
                        hosts.add(h);
                    }
                }
                if (hosts.isEmpty()) {
                    continue;
                }
                servers.add(new GatewayModel.Server("https-443-ingress-" + ing.getMetadata().getName() + "-"
                        + ing.getMetadata().getNamespace() + "-" + i, 443, GatewayModel.Protocol.HTTPS, hosts,
                        new GatewayModel.Tls(GatewayModel.TlsMode.SIMPLE, secret, List.of(), "", ""), false,
                        ConfigSnapshot.refOf(Kind.INGRESS, ing)));
                secrets.put(GatewayApiGateways.sdsName(proxyNamespace, secret), secret);
            }
        }
        // Routes per host across all Ingresses, then one HttpHost per (server covering it, host).
        Map<String, List<Path>> byHost = new LinkedHashMap<>();
        Map<String, ObjectRef> origins = new LinkedHashMap<>();
        Set<String> clusters = new LinkedHashSet<>();
        int order = 0;
        for (Ingress ing : ingresses) {
            List<IngressRule> rules = ing.getSpec() == null || ing.getSpec().getRules() == null ? List.of()
                    : ing.getSpec().getRules();
            for (int r = 0; r < rules.size(); r++) {
                IngressRule rule = rules.get(r);
                if (rule == null || rule.getHttp() == null || rule.getHttp().getPaths() == null) {
                    continue;
                }
                String host = rule.getHost() == null || rule.getHost().isEmpty() ? "*" : rule.getHost();
                origins.putIfAbsent(host, ConfigSnapshot.refOf(Kind.INGRESS, ing));
                List<HTTPIngressPath> paths = rule.getHttp().getPaths();
                for (int p = 0; p < paths.size(); p++) {
                    String field = "spec.rules[" + r + "].http.paths[" + p + "]";
                    String cluster = cluster(ing, paths.get(p).getBackend(), field, mesh, catalog, problems);
                    if (cluster == null) {
                        continue;
                    }
                    clusters.add(cluster);
                    String name = ing.getMetadata().getNamespace() + "/" + ing.getMetadata().getName() + "/" + r
                            + "/" + p;
                    for (Path path : paths(paths.get(p), name, cluster, order++)) {
                        byHost.computeIfAbsent(host, k -> new ArrayList<>()).add(path);
                    }
                }
            }
        }
        List<Path> defaults = new ArrayList<>();
        for (Ingress ing : ingresses) {
            IngressBackend backend = ing.getSpec() == null ? null : ing.getSpec().getDefaultBackend();
            if (backend == null) {
                continue;
            }
            String cluster = cluster(ing, backend, "spec.defaultBackend", mesh, catalog, problems);
            if (cluster == null) {
                continue;
            }
            if (!defaults.isEmpty()) {
                problems.add(describe(ing) + ": field spec.defaultBackend: an older Ingress already has a default "
                        + "backend (conflict); ignored");
                continue;
            }
            clusters.add(cluster);
            defaults.add(new Path(route(ing.getMetadata().getNamespace() + "/" + ing.getMetadata().getName()
                    + "/default", RouteMatch.newBuilder().setPrefix("/").build(), cluster), 9, 0, 0));
            origins.putIfAbsent("*", ConfigSnapshot.refOf(Kind.INGRESS, ing));
        }
        List<GatewayModel.HttpHost> hosts = new ArrayList<>();
        for (var e : origins.entrySet()) {
            List<Path> paths = new ArrayList<>(byHost.getOrDefault(e.getKey(), List.of()));
            paths.sort(Comparator.comparingInt(Path::rank).thenComparing(Comparator.comparingInt(Path::length)
                    .reversed()).thenComparingInt(Path::order));
            if (e.getKey().equals("*")) {
                paths.addAll(defaults);
            }
            List<Route> routes = paths.stream().map(Path::route).toList();
            for (GatewayModel.Server s : servers) {
                if (s.hosts().stream().anyMatch(h -> covers(h, e.getKey()))) {
                    hosts.add(new GatewayModel.HttpHost(s.name(), e.getKey(), routes, e.getValue()));
                }
            }
        }
        return new Contribution(servers, hosts, List.copyOf(clusters), secrets, problems);
    }

    /**
     * The {@code status.loadBalancer} of an Istio Ingress: the ingress gateway Service's
     * load-balancer addresses, as Istio's ingress status syncer copies them.
     */
    public static IngressLoadBalancerStatus loadBalancer(Service gatewayService) {
        List<IngressLoadBalancerIngress> out = new ArrayList<>();
        var lb = gatewayService == null || gatewayService.getStatus() == null ? null
                : gatewayService.getStatus().getLoadBalancer();
        for (LoadBalancerIngress i : lb == null || lb.getIngress() == null ? List.<LoadBalancerIngress>of()
                : lb.getIngress()) {
            IngressLoadBalancerIngress e = new IngressLoadBalancerIngress();
            e.setIp(i.getIp());
            e.setHostname(i.getHostname());
            out.add(e);
        }
        return new IngressLoadBalancerStatus(out);
    }

    /** Whether server host {@code pattern} ({@code *}, {@code *.suffix} or exact) covers route host {@code host}. */
    static boolean covers(String pattern, String host) {
        if (pattern.equals("*") || pattern.equals(host)) {
            return true;
        }
        return pattern.startsWith("*.") && (host.endsWith(pattern.substring(1))
                || host.startsWith("*.") && host.substring(1).endsWith(pattern.substring(1)));
    }

    private static List<Path> paths(HTTPIngressPath p, String name, String cluster, int order) {
        String path = p.getPath() == null || p.getPath().isEmpty() ? "/" : p.getPath();
        String type = p.getPathType() == null ? "ImplementationSpecific" : p.getPathType();
        switch (type) {
            case "Exact" -> {
                return List.of(new Path(route(name, RouteMatch.newBuilder().setPath(path).build(), cluster), 0,
                        path.length(), order));
            }
            case "Prefix" -> {
                if (path.equals("/")) {
                    return List.of(new Path(route(name, RouteMatch.newBuilder().setPrefix("/").build(), cluster), 1,
                            1, order));
                }
                // Whole path elements: /foo matches /foo and /foo/..., not /foobar.
                String trimmed = path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
                return List.of(
                        new Path(route(name, RouteMatch.newBuilder().setPath(trimmed).build(), cluster), 1,
                                trimmed.length(), order),
                        new Path(route(name, RouteMatch.newBuilder().setPrefix(trimmed + "/").build(), cluster), 1,
                                trimmed.length(), order));
            }
            default -> {
                // Istio's ImplementationSpecific: "x/*" and "x.*" are the prefix x, anything else exact.
                if (path.endsWith("/*") || path.endsWith(".*")) {
                    String prefix = path.substring(0, path.length() - 2);
                    return List.of(new Path(route(name, RouteMatch.newBuilder().setPrefix(prefix.isEmpty() ? "/"
                            : prefix).build(), cluster), 1, prefix.length(), order));
                }
                return List.of(new Path(route(name, RouteMatch.newBuilder().setPath(path).build(), cluster), 0,
                        path.length(), order));
            }
        }
    }

    private static Route route(String name, RouteMatch match, String cluster) {
        return Route.newBuilder().setName(name).setMatch(match).setRoute(RouteAction.newBuilder().setCluster(cluster)
                .setTimeout(Duration.getDefaultInstance()).setRetryPolicy(GatewayRouteRules.defaultRetryPolicy()))
                .build();
    }

    /** The cluster of a backend, or null (reported) when it names no Service port. */
    private static String cluster(Ingress ing, IngressBackend backend, String field, MeshConfig mesh,
                                  ServiceCatalog catalog, List<String> problems) {
        if (backend == null || backend.getService() == null || backend.getService().getName() == null) {
            problems.add(describe(ing) + ": field " + field + ".backend: only service backends are supported "
                    + "(expected: service.name and service.port); ignored");
            return null;
        }
        var svc = backend.getService();
        String host = svc.getName() + "." + ing.getMetadata().getNamespace() + ".svc." + mesh.domainSuffix();
        Integer port = svc.getPort() == null ? null : svc.getPort().getNumber();
        if (port == null && svc.getPort() != null && svc.getPort().getName() != null) {
            String portName = svc.getPort().getName();
            port = catalog.byHostname(host).flatMap(s -> ServiceCatalog.tcpPorts(s).stream()
                    .filter(sp -> portName.equals(sp.getName())).map(sp -> sp.getPort()).findFirst()).orElse(null);
            if (port == null) {
                problems.add(describe(ing) + ": field " + field + ".backend.service.port.name: Service " + host
                        + " has no port named \"" + portName + "\"; ignored");
                return null;
            }
        }
        if (port == null) {
            problems.add(describe(ing) + ": field " + field + ".backend.service.port: missing (expected: number "
                    + "or name); ignored");
            return null;
        }
        if (catalog.byHostname(host).isEmpty()) {
            problems.add(describe(ing) + ": field " + field + ".backend.service: Service " + host + " does not "
                    + "exist; its requests fail with 503");
        }
        return "outbound|" + port + "||" + host;
    }

    private static String describe(Ingress ing) {
        return "Ingress " + ing.getMetadata().getNamespace() + "/" + ing.getMetadata().getName();
    }
}
