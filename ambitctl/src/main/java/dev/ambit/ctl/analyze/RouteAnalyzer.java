package dev.ambit.ctl.analyze;

import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.l7.RouteReferences;
import dev.ambit.istiod.model.ServiceCatalog;
import io.fabric8.istio.api.api.networking.v1alpha3.Destination;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPMirrorPolicy;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPRoute;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPRouteDestination;
import io.fabric8.istio.api.api.networking.v1alpha3.RouteDestination;
import io.fabric8.istio.api.networking.v1.DestinationRule;
import io.fabric8.istio.api.networking.v1.ServiceEntry;
import io.fabric8.istio.api.networking.v1.VirtualService;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.ParentReference;
import java.util.List;
import java.util.Optional;

/**
 * Routing objects that point at nothing, as istioctl's {@code virtualservice.DestinationHostAnalyzer},
 * {@code DestinationRuleAnalyzer} and {@code destinationrule} analyzers report them: a VirtualService
 * destination whose host is no Service or ServiceEntry host, whose port the Service lacks, or whose
 * subset no DestinationRule defines (IST0101); a DestinationRule for an unknown host (IST0174); an
 * HTTPRoute or GRPCRoute whose Service parent or backend does not exist (IST0101). Hosts are resolved
 * by the L7 translation's own rule ({@link RouteReferences}).
 */
final class RouteAnalyzer implements Analyzer {

    @Override
    public void analyze(Analysis a) {
        for (VirtualService vs : a.config().list(Kind.VIRTUAL_SERVICE, VirtualService.class)) {
            virtualService(a, vs);
        }
        for (DestinationRule dr : a.config().list(Kind.DESTINATION_RULE, DestinationRule.class)) {
            if (dr.getSpec() != null && dr.getSpec().getHost() != null && !dr.getSpec().getHost().isEmpty()) {
                String host = a.routes().resolve(dr.getSpec().getHost(), dr.getMetadata().getNamespace());
                if (!host.contains("*") && !known(a, host)) {
                    a.report(MessageType.UNKNOWN_DESTINATION_RULE_HOST, Kind.DESTINATION_RULE, dr, "spec.host",
                            "The host " + host + " defined in the DestinationRule does not match any services in the mesh.",
                            "create the Service (or a ServiceEntry) for " + host + ", or correct spec.host.");
                }
            }
        }
        for (var r : a.config().list(Kind.HTTP_ROUTE, io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute.class)) {
            if (r.getSpec() == null) {
                continue;
            }
            parents(a, Kind.HTTP_ROUTE, r, r.getSpec().getParentRefs());
            var rules = r.getSpec().getRules() == null ? List.<io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRouteRule>of()
                    : r.getSpec().getRules();
            for (int i = 0; i < rules.size(); i++) {
                var refs = rules.get(i) == null || rules.get(i).getBackendRefs() == null ? List.<io.fabric8.kubernetes.api
                        .model.gatewayapi.v1.HTTPBackendRef>of() : rules.get(i).getBackendRefs();
                for (int j = 0; j < refs.size(); j++) {
                    var b = refs.get(j);
                    backend(a, Kind.HTTP_ROUTE, r, "spec.rules[" + i + "].backendRefs[" + j + "]", b.getGroup(),
                            b.getKind(), b.getNamespace(), b.getName(), b.getPort());
                }
            }
        }
        for (GRPCRoute r : a.config().list(Kind.GRPC_ROUTE, GRPCRoute.class)) {
            if (r.getSpec() == null) {
                continue;
            }
            parents(a, Kind.GRPC_ROUTE, r, r.getSpec().getParentRefs());
            var rules = r.getSpec().getRules() == null ? List.<io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRouteRule>of()
                    : r.getSpec().getRules();
            for (int i = 0; i < rules.size(); i++) {
                var refs = rules.get(i) == null || rules.get(i).getBackendRefs() == null ? List.<io.fabric8.kubernetes.api
                        .model.gatewayapi.v1.GRPCBackendRef>of() : rules.get(i).getBackendRefs();
                for (int j = 0; j < refs.size(); j++) {
                    var b = refs.get(j);
                    backend(a, Kind.GRPC_ROUTE, r, "spec.rules[" + i + "].backendRefs[" + j + "]", b.getGroup(),
                            b.getKind(), b.getNamespace(), b.getName(), b.getPort());
                }
            }
        }
    }

    private static void virtualService(Analysis a, VirtualService vs) {
        var spec = vs.getSpec();
        if (spec == null) {
            return;
        }
        List<HTTPRoute> http = spec.getHttp() == null ? List.of() : spec.getHttp();
        for (int i = 0; i < http.size(); i++) {
            HTTPRoute h = http.get(i);
            if (h == null) {
                continue;
            }
            List<HTTPRouteDestination> route = h.getRoute() == null ? List.of() : h.getRoute();
            for (int j = 0; j < route.size(); j++) {
                if (route.get(j) != null) {
                    destination(a, vs, route.get(j).getDestination(), "spec.http[" + i + "].route[" + j + "].destination",
                            false);
                }
            }
            destination(a, vs, h.getMirror(), "spec.http[" + i + "].mirror", true);
            List<HTTPMirrorPolicy> mirrors = h.getMirrors() == null ? List.of() : h.getMirrors();
            for (int j = 0; j < mirrors.size(); j++) {
                if (mirrors.get(j) != null) {
                    destination(a, vs, mirrors.get(j).getDestination(), "spec.http[" + i + "].mirrors[" + j
                            + "].destination", true);
                }
            }
        }
        var tcp = spec.getTcp() == null ? List.<io.fabric8.istio.api.api.networking.v1alpha3.TCPRoute>of() : spec.getTcp();
        for (int i = 0; i < tcp.size(); i++) {
            streamRoutes(a, vs, tcp.get(i) == null ? null : tcp.get(i).getRoute(), "spec.tcp[" + i + "]");
        }
        var tls = spec.getTls() == null ? List.<io.fabric8.istio.api.api.networking.v1alpha3.TLSRoute>of() : spec.getTls();
        for (int i = 0; i < tls.size(); i++) {
            streamRoutes(a, vs, tls.get(i) == null ? null : tls.get(i).getRoute(), "spec.tls[" + i + "]");
        }
    }

    private static void streamRoutes(Analysis a, VirtualService vs, List<RouteDestination> route, String path) {
        if (route == null) {
            return;
        }
        for (int j = 0; j < route.size(); j++) {
            if (route.get(j) != null) {
                destination(a, vs, route.get(j).getDestination(), path + ".route[" + j + "].destination", false);
            }
        }
    }

    /** One destination: host, then port, then subset, each reported as istioctl's analyzers word them. */
    private static void destination(Analysis a, VirtualService vs, Destination d, String path, boolean mirror) {
        if (d == null || d.getHost() == null || d.getHost().isEmpty()) {
            return;
        }
        String ns = vs.getMetadata().getNamespace();
        String host = a.routes().resolve(d.getHost(), ns);
        if (host.contains("*")) {
            return; // a wildcard destination is resolved by DNS at request time
        }
        Optional<Service> svc = a.catalog().byHostname(host);
        if (svc.isEmpty() && !serviceEntryHost(a, host)) {
            a.report(MessageType.REFERENCED_RESOURCE_NOT_FOUND, Kind.VIRTUAL_SERVICE, vs, path + ".host",
                    "Referenced " + (mirror ? "mirror host" : "host") + " not found: \"" + d.getHost() + "\""
                            + (host.equals(d.getHost()) ? "" : " (" + host + ")") + ".",
                    "create Service " + serviceName(host) + " (or a ServiceEntry for " + host + "), or correct the host;"
                            + " until then requests routed there fail with 503.");
            return;
        }
        Long port = d.getPort() == null ? null : d.getPort().getNumber();
        if (svc.isPresent() && port != null && ServiceCatalog.tcpPorts(svc.get()).stream()
                .noneMatch(p -> p.getPort() != null && p.getPort().longValue() == port)) {
            a.report(MessageType.REFERENCED_RESOURCE_NOT_FOUND, Kind.VIRTUAL_SERVICE, vs, path + ".port.number",
                    "Referenced host:port not found: \"" + d.getHost() + ":" + port + "\".",
                    "use one of the Service's ports " + ServiceCatalog.tcpPorts(svc.get()).stream()
                            .map(p -> String.valueOf(p.getPort())).toList() + ", or add port " + port + " to it.");
        }
        if (d.getSubset() != null && !d.getSubset().isEmpty() && !a.routes().hasSubset(host, d.getSubset())) {
            a.report(MessageType.REFERENCED_RESOURCE_NOT_FOUND, Kind.VIRTUAL_SERVICE, vs, path + ".subset",
                    "Referenced " + (mirror ? "mirror+subset" : "host+subset") + " in destinationrule not found: \""
                            + d.getHost() + "+" + d.getSubset() + "\".",
                    "define subset \"" + d.getSubset() + "\" in a DestinationRule with host " + host
                            + ", or remove the subset; until then the route is not applied (its last good version is kept).");
        }
    }

    /** A GAMMA parent (a Service) or a Gateway parent that does not exist. */
    private static void parents(Analysis a, Kind kind, HasMetadata route, List<ParentReference> refs) {
        if (refs == null) {
            return;
        }
        String ns = route.getMetadata().getNamespace();
        for (int i = 0; i < refs.size(); i++) {
            ParentReference p = refs.get(i);
            if (p == null || p.getName() == null) {
                continue;
            }
            String pns = p.getNamespace() == null || p.getNamespace().isEmpty() ? ns : p.getNamespace();
            String pkind = p.getKind() == null || p.getKind().isEmpty() ? "Gateway" : p.getKind();
            boolean exists = switch (pkind) {
                case "Service" -> a.config().get(Kind.SERVICE, pns, p.getName(), Service.class).isPresent();
                case "Gateway" -> a.config().get(Kind.GATEWAY, pns, p.getName(),
                        io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway.class).isPresent();
                default -> true; // a kind Ambit does not read: not ours to judge
            };
            if (!exists) {
                a.report(MessageType.REFERENCED_RESOURCE_NOT_FOUND, kind, route, "spec.parentRefs[" + i + "]",
                        "Referenced " + pkind + " not found: \"" + pns + "/" + p.getName() + "\".",
                        "create " + pkind + " " + pns + "/" + p.getName() + ", or correct the parentRef; until then"
                                + " the route attaches to nothing.");
            }
        }
    }

    private static void backend(Analysis a, Kind kind, HasMetadata route, String path, String group, String backendKind,
                                String namespace, String name, Integer port) {
        if ((group != null && !group.isEmpty()) || (backendKind != null && !backendKind.isEmpty()
                && !backendKind.equals("Service")) || name == null) {
            return; // only core Services are backends Ambit routes to; the translation reports the rest
        }
        String ns = namespace == null || namespace.isEmpty() ? route.getMetadata().getNamespace() : namespace;
        Optional<Service> svc = a.config().get(Kind.SERVICE, ns, name, Service.class);
        if (svc.isEmpty()) {
            a.report(MessageType.REFERENCED_RESOURCE_NOT_FOUND, kind, route, path,
                    "Referenced Service not found: \"" + ns + "/" + name + "\".",
                    "create Service " + ns + "/" + name + ", or correct the backendRef; until then its share of"
                            + " requests fails with 500.");
        } else if (port != null && ServiceCatalog.tcpPorts(svc.get()).stream()
                .noneMatch(p -> p.getPort() != null && p.getPort().intValue() == port)) {
            a.report(MessageType.REFERENCED_RESOURCE_NOT_FOUND, kind, route, path + ".port",
                    "Referenced host:port not found: \"" + ns + "/" + name + ":" + port + "\".",
                    "use one of the Service's ports " + ServiceCatalog.tcpPorts(svc.get()).stream()
                            .map(p -> String.valueOf(p.getPort())).toList() + ".");
        }
    }

    /** Whether a Service or a ServiceEntry is {@code host}. */
    private static boolean known(Analysis a, String host) {
        return a.catalog().byHostname(host).isPresent() || serviceEntryHost(a, host);
    }

    private static boolean serviceEntryHost(Analysis a, String host) {
        for (ServiceEntry se : a.config().list(Kind.SERVICE_ENTRY, ServiceEntry.class)) {
            List<String> hosts = se.getSpec() == null || se.getSpec().getHosts() == null ? List.of() : se.getSpec().getHosts();
            for (String h : hosts) {
                if (h != null && RouteReferences.covers(a.routes().resolve(h, se.getMetadata().getNamespace()), host)) {
                    return true;
                }
            }
        }
        return false;
    }

    /** {@code ns/name} for a {@code name.ns.svc.<suffix>} host, else the host. */
    private static String serviceName(String host) {
        String[] parts = host.split("\\.");
        return parts.length >= 3 && parts[2].equals("svc") ? parts[1] + "/" + parts[0] : host;
    }
}
