package dev.ambit.istiod.config;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GRPCRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.ReferenceGrant;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.TLSRoute;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import io.fabric8.istio.api.networking.v1.DestinationRule;
import io.fabric8.istio.api.networking.v1.ServiceEntry;
import io.fabric8.istio.api.networking.v1.VirtualService;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import io.fabric8.istio.api.security.v1.PeerAuthentication;
import io.fabric8.istio.api.security.v1.RequestAuthentication;
import java.util.Optional;

/**
 * The object kinds istiod-lite reads, from either source. Each maps one API group and
 * kind, whatever the served version (Istio serves v1 and v1beta1 of the same schema),
 * to one fabric8 model class.
 */
public enum Kind {
    NAMESPACE("", "Namespace", "namespaces", "v1", Namespace.class, false),
    POD("", "Pod", "pods", "v1", Pod.class, true),
    SERVICE("", "Service", "services", "v1", Service.class, true),
    SERVICE_ACCOUNT("", "ServiceAccount", "serviceaccounts", "v1", ServiceAccount.class, true),
    ENDPOINT_SLICE("discovery.k8s.io", "EndpointSlice", "endpointslices", "v1", EndpointSlice.class, true),
    AUTHORIZATION_POLICY("security.istio.io", "AuthorizationPolicy", "authorizationpolicies", "v1",
            AuthorizationPolicy.class, true),
    PEER_AUTHENTICATION("security.istio.io", "PeerAuthentication", "peerauthentications", "v1",
            PeerAuthentication.class, true),
    REQUEST_AUTHENTICATION("security.istio.io", "RequestAuthentication", "requestauthentications", "v1",
            RequestAuthentication.class, true),
    VIRTUAL_SERVICE("networking.istio.io", "VirtualService", "virtualservices", "v1", VirtualService.class, true),
    DESTINATION_RULE("networking.istio.io", "DestinationRule", "destinationrules", "v1", DestinationRule.class,
            true),
    SERVICE_ENTRY("networking.istio.io", "ServiceEntry", "serviceentries", "v1", ServiceEntry.class, true),
    GATEWAY("gateway.networking.k8s.io", "Gateway", "gateways", "v1", Gateway.class, true),
    HTTP_ROUTE("gateway.networking.k8s.io", "HTTPRoute", "httproutes", "v1", HTTPRoute.class, true),
    GRPC_ROUTE("gateway.networking.k8s.io", "GRPCRoute", "grpcroutes", "v1", GRPCRoute.class, true),
    /** Istio's ingress/egress {@code Gateway} (v1, v1beta1 and v1alpha3 all decode to the v1 model). */
    ISTIO_GATEWAY("networking.istio.io", "Gateway", "gateways", "v1", io.fabric8.istio.api.networking.v1.Gateway.class,
            true),
    /**
     * Core {@code Secret}: only TLS material is kept (type {@code kubernetes.io/tls}, or Opaque with
     * {@code tls.crt}/{@code tls.key} or {@code ca.crt}; {@link TlsSecrets#relevant}); never logged.
     */
    SECRET("", "Secret", "secrets", "v1", io.fabric8.kubernetes.api.model.Secret.class, true),
    /**
     * Core {@code ConfigMap}: only those holding {@code ca.crt} are kept (Gateway API's
     * {@code frontendValidation.caCertificateRefs}; {@link TlsSecrets#relevant}).
     */
    CONFIG_MAP("", "ConfigMap", "configmaps", "v1", io.fabric8.kubernetes.api.model.ConfigMap.class, true),
    // Istio serves Ingress with ingressClassName (or the class annotation) istio on its ingress gateway.
    INGRESS("networking.k8s.io", "Ingress", "ingresses", "v1", Ingress.class, true),
    // Standard channel serves ReferenceGrant at v1beta1 and TLSRoute (experimental) at v1alpha2;
    // the v1 model classes have the same schema.
    REFERENCE_GRANT("gateway.networking.k8s.io", "ReferenceGrant", "referencegrants", "v1beta1",
            ReferenceGrant.class, true),
    TLS_ROUTE("gateway.networking.k8s.io", "TLSRoute", "tlsroutes", "v1alpha2", TLSRoute.class, true),
    /** Istio's Telemetry API (issue 19; v1 and v1alpha1 share the schema): {@code dev.ambit.istiod.telemetry}. */
    TELEMETRY("telemetry.istio.io", "Telemetry", "telemetries", "v1", io.fabric8.istio.api.telemetry.v1.Telemetry.class,
            true);

    private final String group;
    private final String kind;
    private final String plural;
    private final String storedVersion;
    private final Class<? extends HasMetadata> type;
    private final boolean namespaced;

    Kind(String group, String kind, String plural, String storedVersion, Class<? extends HasMetadata> type,
         boolean namespaced) {
        this.group = group;
        this.kind = kind;
        this.plural = plural;
        this.storedVersion = storedVersion;
        this.type = type;
        this.namespaced = namespaced;
    }

    /** The kind for an object's {@code apiVersion} and {@code kind}, any version of the group. */
    public static Optional<Kind> of(String apiVersion, String kind) {
        if (apiVersion == null || kind == null) {
            return Optional.empty();
        }
        int slash = apiVersion.indexOf('/');
        String group = slash < 0 ? "" : apiVersion.substring(0, slash);
        for (Kind k : values()) {
            if (k.group.equals(group) && k.kind.equals(kind)) {
                return Optional.of(k);
            }
        }
        return Optional.empty();
    }

    public String group() {
        return group;
    }

    public String kind() {
        return kind;
    }

    public String plural() {
        return plural;
    }

    /** {@code apiVersion} of the version the model class is bound to. */
    public String apiVersion() {
        return group.isEmpty() ? storedVersion : group + "/" + storedVersion;
    }

    public Class<? extends HasMetadata> type() {
        return type;
    }

    public boolean namespaced() {
        return namespaced;
    }

    /** "AuthorizationPolicy.security.istio.io", or "Pod" for the core group. */
    public String qualifiedName() {
        return group.isEmpty() ? kind : kind + "." + group;
    }
}
