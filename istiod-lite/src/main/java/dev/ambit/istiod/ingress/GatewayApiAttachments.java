package dev.ambit.istiod.ingress;

import static java.util.Objects.requireNonNull;

import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.config.TlsSecrets;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.LabelSelectorRequirement;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.FrontendTLSValidation;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Listener;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.ParentReference;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.RouteGroupKind;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.SecretObjectReference;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.TLSRoute;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Which Gateway API routes attach to which listeners of the Gateways of class {@value #CLASS},
 * as Gateway API specifies it; one evaluation of a snapshot serves both the translation
 * ({@link GatewayApiGateways}) and the status ({@link GatewayApiStatus}), so what is served and
 * what status says cannot disagree.
 *
 * <p><b>Listeners.</b> Protocols HTTP, HTTPS (TLS {@code Terminate} with a {@code certificateRefs}
 * Secret; {@code Passthrough} is served as TLS passthrough) and TLS ({@code Passthrough}, or
 * {@code Terminate} with a Secret); others are not accepted ({@code UnsupportedProtocol}). Listeners
 * on one port must agree on the protocol family (HTTP alone; HTTPS and TLS share by SNI), else all
 * of them are {@code Conflicted} ({@code ProtocolConflict}); two with the same hostname on one port are
 * {@code Conflicted} ({@code HostnameConflict}). A certificate in another namespace needs a
 * ReferenceGrant ({@code RefNotPermitted}); a reference to anything but a core Secret is
 * {@code InvalidCertificateRef}. {@code allowedRoutes.kinds} not served on the protocol make
 * {@code ResolvedRefs} False {@code InvalidRouteKinds}, the others still apply.
 *
 * <p><b>Routes.</b> A route's {@code parentRefs} entry naming a Gateway of this class picks its
 * listeners by {@code sectionName} and {@code port}; a listener takes the route when it is usable
 * (accepted, not conflicted, its certificate permitted), allows the route's kind and namespace
 * ({@code From} Same, All or Selector on the namespace's labels), and the route's hostnames meet
 * the listener's (Gateway API's intersection: the more specific of two matching names).
 */
public final class GatewayApiAttachments {

    /** Istio's GatewayClass for automatically deployed gateways. */
    public static final String CLASS = "istio";
    static final String GROUP = ReferenceGrants.GATEWAY_GROUP;

    /**
     * A listener as evaluated.
     *
     * @param protocol what the proxy serves; null when not accepted
     * @param notAccepted {reason, message} when not accepted, else null
     * @param conflict the Conflicted reason, or null
     * @param unresolved {reason, message} of ResolvedRefs False, or null
     * @param kinds the route kinds it takes ({@code HTTPRoute}, {@code GRPCRoute}, {@code TLSRoute})
     * @param tls its TLS, null for HTTP
     */
    public record ListenerState(int index, Listener listener, GatewayModel.Protocol protocol, String[] notAccepted,
                                String conflict, String[] unresolved, Set<String> kinds, GatewayModel.Tls tls) {
        /** Whether the proxy serves it: accepted, not conflicted, and its certificate may be used. */
        public boolean usable() {
            return notAccepted == null && conflict == null
                    && (unresolved == null || unresolved[0].equals("InvalidRouteKinds"));
        }

        public String name() {
            return listener.getName();
        }

        public int port() {
            return listener.getPort() == null ? 0 : listener.getPort();
        }

        /** The listener's hostname, {@code *} when it has none. */
        public String hostname() {
            return listener.getHostname() == null || listener.getHostname().isEmpty() ? "*" : listener.getHostname();
        }
    }

    /** A Gateway of class {@value #CLASS} with its listeners. */
    public record GatewayState(Gateway gateway, List<ListenerState> listeners) {
        public String key() {
            return gateway.getMetadata().getNamespace() + "/" + gateway.getMetadata().getName();
        }
    }

    /** A route attached to one listener, with the hosts it serves there. */
    public record Attachment(HasMetadata route, GatewayState gateway, ListenerState listener, List<String> hosts) {}

    /**
     * The outcome of one {@code parentRefs} entry naming a Gateway of this class.
     *
     * @param accepted whether at least one listener took the route
     * @param reason {@code Accepted}, {@code NoMatchingParent}, {@code NotAllowedByListeners} or
     *     {@code NoMatchingListenerHostname}
     */
    public record ParentOutcome(ParentReference ref, GatewayState gateway, boolean accepted, String reason,
                                String message) {}

    private final ConfigSnapshot config;
    private final ReferenceGrants grants;
    private final Map<String, GatewayState> gateways = new LinkedHashMap<>();
    private final List<Attachment> attachments = new ArrayList<>();

    private GatewayApiAttachments(ConfigSnapshot config) {
        this.config = config;
        this.grants = ReferenceGrants.of(config);
        for (Gateway gw : config.list(Kind.GATEWAY, Gateway.class)) {
            if (isIstioClass(gw)) {
                GatewayState state = new GatewayState(gw, listeners(gw));
                gateways.put(state.key(), state);
            }
        }
        for (HasMetadata route : routes(config)) {
            for (ParentReference ref : parentRefs(route)) {
                evaluate(route, ref, attachments);
            }
        }
    }

    /** Evaluates {@code config}. */
    public static GatewayApiAttachments of(ConfigSnapshot config) {
        return new GatewayApiAttachments(requireNonNull(config, "config"));
    }

    /** Whether {@code gw} is a Gateway of class {@value #CLASS}. */
    public static boolean isIstioClass(Gateway gw) {
        return gw.getSpec() != null && CLASS.equals(gw.getSpec().getGatewayClassName());
    }

    public ReferenceGrants grants() {
        return grants;
    }

    /** The Gateways of this class, by namespace then name. */
    public List<GatewayState> gateways() {
        return List.copyOf(gateways.values());
    }

    /** Every (route, listener) attachment, routes oldest first. */
    public List<Attachment> attachments() {
        return List.copyOf(attachments);
    }

    /** How many routes attach to {@code listener} of {@code gw} (Gateway API's {@code attachedRoutes}). */
    public int attachedRoutes(GatewayState gw, ListenerState listener) {
        return (int) attachments.stream().filter(a -> a.gateway().key().equals(gw.key())
                && a.listener().index() == listener.index()).map(Attachment::route).distinct().count();
    }

    /** The outcome of each of {@code route}'s parentRefs naming a Gateway of this class. */
    public List<ParentOutcome> outcomes(HasMetadata route) {
        List<ParentOutcome> out = new ArrayList<>();
        for (ParentReference ref : parentRefs(route)) {
            ParentOutcome o = evaluate(route, ref, new ArrayList<>());
            if (o != null) {
                out.add(o);
            }
        }
        return out;
    }

    /** HTTPRoutes, GRPCRoutes and TLSRoutes of {@code config}, oldest first (then namespace/name). */
    static List<HasMetadata> routes(ConfigSnapshot config) {
        List<HasMetadata> all = new ArrayList<>();
        all.addAll(config.list(Kind.HTTP_ROUTE, HTTPRoute.class));
        all.addAll(config.list(Kind.GRPC_ROUTE, GRPCRoute.class));
        all.addAll(config.list(Kind.TLS_ROUTE, TLSRoute.class));
        all.sort(Comparator.comparing((HasMetadata o) -> created(o))
                .thenComparing(o -> o.getMetadata().getNamespace() + "/" + o.getMetadata().getName()));
        return all;
    }

    static String created(HasMetadata o) {
        return o.getMetadata().getCreationTimestamp() == null ? "" : o.getMetadata().getCreationTimestamp();
    }

    static String kindOf(HasMetadata route) {
        return switch (route) {
            case GRPCRoute r -> "GRPCRoute";
            case TLSRoute r -> "TLSRoute";
            default -> "HTTPRoute";
        };
    }

    static List<ParentReference> parentRefs(HasMetadata route) {
        List<ParentReference> refs = switch (route) {
            case HTTPRoute r when r.getSpec() != null -> r.getSpec().getParentRefs();
            case GRPCRoute r when r.getSpec() != null -> r.getSpec().getParentRefs();
            case TLSRoute r when r.getSpec() != null -> r.getSpec().getParentRefs();
            default -> null;
        };
        return refs == null ? List.of() : refs.stream().filter(Objects::nonNull).toList();
    }

    static List<String> hostnames(HasMetadata route) {
        List<String> h = switch (route) {
            case HTTPRoute r when r.getSpec() != null -> r.getSpec().getHostnames();
            case GRPCRoute r when r.getSpec() != null -> r.getSpec().getHostnames();
            case TLSRoute r when r.getSpec() != null -> r.getSpec().getHostnames();
            default -> null;
        };
        return h == null ? List.of() : h.stream().filter(Objects::nonNull).toList();
    }

    /** Whether {@code ref} names a Gateway (group and kind as defaulted by Gateway API). */
    static boolean isGatewayRef(ParentReference ref) {
        return (ref.getGroup() == null || ref.getGroup().equals(GROUP))
                && (ref.getKind() == null || ref.getKind().equals("Gateway"));
    }

    private ParentOutcome evaluate(HasMetadata route, ParentReference ref, List<Attachment> out) {
        if (!isGatewayRef(ref)) {
            return null;
        }
        String routeNs = route.getMetadata().getNamespace();
        GatewayState gw = gateways.get((ref.getNamespace() == null ? routeNs : ref.getNamespace()) + "/"
                + ref.getName());
        if (gw == null) {
            return null; // not a Gateway of this class: another controller's to report
        }
        String kind = kindOf(route);
        List<String> routeHosts = hostnames(route);
        boolean anyListener = false;
        boolean allowedSomewhere = false;
        boolean attached = false;
        for (ListenerState l : gw.listeners()) {
            if ((ref.getSectionName() != null && !ref.getSectionName().equals(l.name()))
                    || (ref.getPort() != null && ref.getPort() != l.port())) {
                continue;
            }
            anyListener = true;
            if (!l.usable() || !l.kinds().contains(kind) || !namespaceAllowed(gw, l, routeNs)) {
                continue;
            }
            allowedSomewhere = true;
            List<String> hosts = intersect(l.hostname(), routeHosts);
            if (!hosts.isEmpty()) {
                attached = true;
                out.add(new Attachment(route, gw, l, hosts));
            }
        }
        String gwName = "Gateway " + gw.key();
        if (attached) {
            return new ParentOutcome(ref, gw, true, "Accepted", "Route was valid");
        }
        if (!anyListener) {
            return new ParentOutcome(ref, gw, false, "NoMatchingParent", gwName + " has no listener "
                    + (ref.getSectionName() != null ? "named \"" + ref.getSectionName() + "\"" : "")
                    + (ref.getSectionName() != null && ref.getPort() != null ? " and " : "")
                    + (ref.getPort() != null ? "on port " + ref.getPort() : ""));
        }
        if (!allowedSomewhere) {
            return new ParentOutcome(ref, gw, false, "NotAllowedByListeners", "no usable listener of " + gwName
                    + " allows a " + kind + " from namespace " + routeNs + " (see the listeners' allowedRoutes and "
                    + "status)");
        }
        return new ParentOutcome(ref, gw, false, "NoMatchingListenerHostname", "no hostname of the route ("
                + (routeHosts.isEmpty() ? "none" : String.join(", ", routeHosts)) + ") matches a listener of "
                + gwName);
    }

    private boolean namespaceAllowed(GatewayState gw, ListenerState l, String routeNs) {
        var allowed = l.listener().getAllowedRoutes();
        var ns = allowed == null ? null : allowed.getNamespaces();
        String from = ns == null || ns.getFrom() == null ? "Same" : ns.getFrom();
        return switch (from) {
            case "All" -> true;
            case "Selector" -> selects(ns.getSelector(), config.get(Kind.NAMESPACE, "", routeNs, Namespace.class)
                    .map(n -> n.getMetadata().getLabels()).orElse(null));
            default -> routeNs.equals(gw.gateway().getMetadata().getNamespace());
        };
    }

    /** A Kubernetes label selector (matchLabels and matchExpressions) applied to {@code labels}. */
    static boolean selects(LabelSelector selector, Map<String, String> labels) {
        if (selector == null) {
            return false;
        }
        Map<String, String> l = labels == null ? Map.of() : labels;
        if (selector.getMatchLabels() != null) {
            for (var e : selector.getMatchLabels().entrySet()) {
                if (!e.getValue().equals(l.get(e.getKey()))) {
                    return false;
                }
            }
        }
        for (LabelSelectorRequirement r : selector.getMatchExpressions() == null
                ? List.<LabelSelectorRequirement>of() : selector.getMatchExpressions()) {
            List<String> values = r.getValues() == null ? List.of() : r.getValues();
            boolean ok = switch (r.getOperator() == null ? "" : r.getOperator()) {
                case "In" -> l.containsKey(r.getKey()) && values.contains(l.get(r.getKey()));
                case "NotIn" -> !l.containsKey(r.getKey()) || !values.contains(l.get(r.getKey()));
                case "Exists" -> l.containsKey(r.getKey());
                case "DoesNotExist" -> !l.containsKey(r.getKey());
                default -> false;
            };
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    /**
     * The hosts a route with {@code routeHosts} serves on a listener with {@code listenerHost}
     * ({@code *} for none): Gateway API's intersection, the more specific name of each matching pair.
     */
    static List<String> intersect(String listenerHost, List<String> routeHosts) {
        if (routeHosts.isEmpty()) {
            return List.of(listenerHost);
        }
        Set<String> out = new LinkedHashSet<>();
        for (String h : routeHosts) {
            String host = h.toLowerCase(java.util.Locale.ROOT);
            if (listenerHost.equals("*") || listenerHost.equals(host)) {
                out.add(host);
            } else if (listenerHost.startsWith("*.") && host.endsWith(listenerHost.substring(1))) {
                out.add(host);
            } else if (host.startsWith("*.") && listenerHost.endsWith(host.substring(1))) {
                out.add(listenerHost);
            }
        }
        return List.copyOf(out);
    }

    private List<ListenerState> listeners(Gateway gw) {
        List<Listener> specListeners = gw.getSpec().getListeners() == null ? List.of() : gw.getSpec().getListeners();
        String ns = gw.getMetadata().getNamespace();
        List<ListenerState> first = new ArrayList<>();
        for (int i = 0; i < specListeners.size(); i++) {
            Listener l = specListeners.get(i);
            if (l == null) {
                continue;
            }
            ListenerState state = listener(i, l, ns);
            Validation validation = frontendValidation(gw, l, i);
            if (validation != null && state.notAccepted() == null && state.unresolved() == null && state.tls() != null
                    && state.tls().mode() == GatewayModel.TlsMode.SIMPLE) {
                state = clientValidation(state, validation, ns);
            }
            first.add(state);
        }
        // Conflicts among the accepted listeners of each port.
        List<ListenerState> out = new ArrayList<>();
        for (ListenerState l : first) {
            String conflict = null;
            if (l.notAccepted() == null) {
                for (ListenerState o : first) {
                    if (o == l || o.notAccepted() != null || o.port() != l.port()) {
                        continue;
                    }
                    if ((o.protocol() == GatewayModel.Protocol.HTTP) != (l.protocol() == GatewayModel.Protocol.HTTP)) {
                        conflict = "ProtocolConflict";
                        break;
                    }
                    if (o.hostname().equals(l.hostname())) {
                        conflict = "HostnameConflict";
                    }
                }
            }
            out.add(new ListenerState(l.index(), l.listener(), l.protocol(), l.notAccepted(), conflict, l.unresolved(),
                    l.kinds(), l.tls()));
        }
        return List.copyOf(out);
    }

    /**
     * Client certificate validation asked for a listener: the field, the CA references
     * ({@code group/kind/namespace/name}, nulls allowed) and the mode.
     */
    private record Validation(String field, List<String[]> refs, String mode) {}

    /**
     * The client certificate validation asked for listener {@code l}, or null: the
     * experimental {@code listeners[].tls.frontendValidation}, or {@code spec.tls.frontend}
     * ({@code default}, or the {@code perPort} entry of its port, which wins).
     */
    private static Validation frontendValidation(io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway gw, Listener l,
                                                 int index) {
        if (l.getTls() != null && l.getTls().getAdditionalProperties().get("frontendValidation") instanceof Map<?, ?> m) {
            List<String[]> refs = new ArrayList<>();
            if (m.get("caCertificateRefs") instanceof List<?> list) {
                for (Object o : list) {
                    if (o instanceof Map<?, ?> r) {
                        refs.add(new String[] {str(r.get("group")), str(r.get("kind")), str(r.get("namespace")),
                                str(r.get("name"))});
                    }
                }
            }
            return new Validation("spec.listeners[" + index + "].tls.frontendValidation", refs, str(m.get("mode")));
        }
        var frontend = gw.getSpec().getTls() == null ? null : gw.getSpec().getTls().getFrontend();
        if (frontend == null) {
            return null;
        }
        if (frontend.getPerPort() != null) {
            for (int i = 0; i < frontend.getPerPort().size(); i++) {
                var pp = frontend.getPerPort().get(i);
                if (pp != null && java.util.Objects.equals(pp.getPort(), l.getPort()) && pp.getTls() != null
                        && pp.getTls().getValidation() != null) {
                    return validation("spec.tls.frontend.perPort[" + i + "].tls.validation", pp.getTls().getValidation());
                }
            }
        }
        return frontend.getDefault() != null && frontend.getDefault().getValidation() != null
                ? validation("spec.tls.frontend.default.validation", frontend.getDefault().getValidation()) : null;
    }

    private static Validation validation(String field, FrontendTLSValidation v) {
        List<String[]> refs = new ArrayList<>();
        if (v.getCaCertificateRefs() != null) {
            for (var r : v.getCaCertificateRefs()) {
                if (r != null) {
                    refs.add(new String[] {r.getGroup(), r.getKind(), r.getNamespace(), r.getName()});
                }
            }
        }
        return new Validation(field, refs, v.getMode());
    }

    private static String str(Object o) {
        return o == null ? null : o.toString();
    }

    /**
     * {@code state} verifying client certificates against the first CA reference (a ConfigMap,
     * Gateway API's core support, or a Secret, with {@code ca.crt}): MUTUAL, or OPTIONAL_MUTUAL
     * for mode {@code AllowInsecureFallback}. A reference that cannot be used leaves the
     * listener unresolved ({@code InvalidCACertificateRef}, or {@code RefNotPermitted} without a
     * ReferenceGrant): serving without the verification asked for would be a silent downgrade.
     * Whether the object exists and holds certificates is checked by the translation.
     */
    private ListenerState clientValidation(ListenerState state, Validation v, String gwNs) {
        String[] unresolved = null;
        GatewayModel.Tls tls = state.tls();
        String mode = v.mode() == null ? "AllowValidOnly" : v.mode();
        if (v.refs().isEmpty()) {
            unresolved = new String[] {"InvalidCACertificateRef", v.field() + ".caCertificateRefs: none (expected: a "
                    + "ConfigMap or Secret with " + TlsSecrets.CA + ")"};
        } else if (!mode.equals("AllowValidOnly") && !mode.equals("AllowInsecureFallback")) {
            unresolved = new String[] {"InvalidCACertificateRef", v.field() + ".mode: " + mode
                    + " (expected: AllowValidOnly or AllowInsecureFallback)"};
        } else {
            String[] r = v.refs().get(0);
            String group = r[0] == null || r[0].equals("core") ? "" : r[0];
            String kind = r[1] == null ? "ConfigMap" : r[1];
            String ns = r[2] == null ? gwNs : r[2];
            if (!group.isEmpty() || !(kind.equals("ConfigMap") || kind.equals("Secret")) || r[3] == null) {
                unresolved = new String[] {"InvalidCACertificateRef", v.field() + ".caCertificateRefs[0]: "
                        + (group.isEmpty() ? "" : group + "/") + kind + " " + r[3]
                        + " is not supported (expected: a ConfigMap or Secret with " + TlsSecrets.CA + ")"};
            } else if (!grants.permitted(GROUP, "Gateway", gwNs, "", kind, ns, r[3])) {
                unresolved = new String[] {"RefNotPermitted", v.field() + ".caCertificateRefs[0]: " + kind + " " + ns
                        + "/" + r[3] + " is in another namespace and no ReferenceGrant there allows it"};
            } else {
                tls = tls.withClientCa(mode.equals("AllowInsecureFallback") ? GatewayModel.TlsMode.OPTIONAL_MUTUAL
                        : GatewayModel.TlsMode.MUTUAL, new GatewayModel.CaRef(kind.equals("ConfigMap"), ns, r[3]));
            }
        }
        return new ListenerState(state.index(), state.listener(), state.protocol(), null, null, unresolved,
                state.kinds(), tls);
    }

    private ListenerState listener(int index, Listener l, String gwNs) {
        String field = "spec.listeners[" + index + "]";
        String protocol = l.getProtocol() == null ? "" : l.getProtocol();
        var tlsConfig = l.getTls();
        String mode = tlsConfig == null || tlsConfig.getMode() == null ? "Terminate" : tlsConfig.getMode();
        GatewayModel.Protocol p;
        Set<String> supported;
        switch (protocol) {
            case "HTTP" -> {
                p = GatewayModel.Protocol.HTTP;
                supported = Set.of("HTTPRoute", "GRPCRoute");
            }
            case "HTTPS" -> {
                p = mode.equals("Passthrough") ? GatewayModel.Protocol.TLS : GatewayModel.Protocol.HTTPS;
                supported = mode.equals("Passthrough") ? Set.of("TLSRoute") : Set.of("HTTPRoute", "GRPCRoute");
            }
            case "TLS" -> {
                p = GatewayModel.Protocol.TLS;
                supported = Set.of("TLSRoute");
            }
            default -> {
                return new ListenerState(index, l, null, new String[] {"UnsupportedProtocol", field + ".protocol: \""
                        + protocol + "\" is not supported (expected: HTTP, HTTPS or TLS)"}, null, null, Set.of(), null);
            }
        }
        String[] unresolved = null;
        Set<String> kinds = new LinkedHashSet<>();
        List<RouteGroupKind> asked = l.getAllowedRoutes() == null || l.getAllowedRoutes().getKinds() == null
                ? List.of() : l.getAllowedRoutes().getKinds();
        if (asked.isEmpty()) {
            kinds.addAll(supported);
        }
        for (RouteGroupKind k : asked) {
            boolean ours = (k.getGroup() == null || k.getGroup().equals(GROUP)) && supported.contains(k.getKind());
            if (ours) {
                kinds.add(k.getKind());
            } else if (unresolved == null) {
                unresolved = new String[] {"InvalidRouteKinds", field + ".allowedRoutes.kinds: " + k.getKind()
                        + " is not supported on a " + protocol + " listener (expected: "
                        + String.join(" or ", new java.util.TreeSet<>(supported)) + ")"};
            }
        }
        GatewayModel.Tls tls = null;
        if (mode.equals("Passthrough") && p == GatewayModel.Protocol.TLS) {
            tls = new GatewayModel.Tls(GatewayModel.TlsMode.PASSTHROUGH, null, List.of(), "", "");
        } else if (p != GatewayModel.Protocol.HTTP) {
            List<SecretObjectReference> certs = tlsConfig == null || tlsConfig.getCertificateRefs() == null
                    ? List.of() : tlsConfig.getCertificateRefs();
            SecretObjectReference cert = certs.isEmpty() ? null : certs.get(0);
            if (cert == null) {
                unresolved = new String[] {"InvalidCertificateRef", field + ".tls.certificateRefs: none (expected: "
                        + "a Secret with tls.crt and tls.key for tls.mode Terminate)"};
            } else if (!(cert.getKind() == null || cert.getKind().equals("Secret"))
                    || !(cert.getGroup() == null || cert.getGroup().isEmpty() || cert.getGroup().equals("core"))) {
                unresolved = new String[] {"InvalidCertificateRef", field + ".tls.certificateRefs[0]: "
                        + cert.getKind() + " is not supported (expected: a Secret)"};
            } else {
                String certNs = cert.getNamespace() == null ? gwNs : cert.getNamespace();
                if (!grants.permitted(GROUP, "Gateway", gwNs, "", "Secret", certNs, cert.getName())) {
                    unresolved = new String[] {"RefNotPermitted", field + ".tls.certificateRefs[0]: Secret " + certNs
                            + "/" + cert.getName() + " is in another namespace and no ReferenceGrant there allows it"};
                }
                tls = new GatewayModel.Tls(GatewayModel.TlsMode.SIMPLE, new GatewayModel.SecretRef(certNs,
                        cert.getName()), List.of(), "", "");
            }
        }
        return new ListenerState(index, l, p, null, null, unresolved, Set.copyOf(kinds), tls);
    }
}
