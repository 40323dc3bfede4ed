package dev.ambit.istiod.model;

import static java.util.Objects.requireNonNull;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * Mesh-wide settings the translation depends on (Istio's MeshConfig subset).
 *
 * @param trustDomain   SPIFFE trust domain of every identity ({@code cluster.local})
 * @param clusterId     cluster name in workload uids ({@code Kubernetes})
 * @param domainSuffix  service DNS suffix ({@code cluster.local})
 * @param rootNamespace where mesh-wide policies live ({@code istio-system})
 * @param network       network of every address ("" = the default network)
 * @param pathNormalization Istio's {@code pathNormalization.normalization}: how waypoints
 *        normalize request paths before authorization and routing ({@code BASE} by default)
 * @param extensionProviders Istio's {@code extensionProviders} (CUSTOM authorization:
 *        {@code envoyExtAuthzHttp} only)
 * @param telemetry the telemetry providers and defaults (issue 19: zipkin, opentelemetry,
 *        prometheus, envoyFileAccessLog, {@code defaultProviders}, sampling)
 */
public record MeshConfig(String trustDomain, String clusterId, String domainSuffix, String rootNamespace,
                         String network, PathNormalization pathNormalization,
                         List<ExtAuthzHttpProvider> extensionProviders, TelemetryProviders telemetry) {

    /** Istio's {@code MeshConfig.ProxyPathNormalization.NormalizationType}. */
    public enum PathNormalization {
        /** Istio's default: BASE. */
        DEFAULT,
        /** Nothing: the path is matched and forwarded as sent. */
        NONE,
        /** RFC 3986 normalization (dot segments, unreserved escapes, backslashes). */
        BASE,
        /** BASE, then runs of slashes merged. */
        MERGE_SLASHES,
        /** BASE and merged slashes, {@code %2F}/{@code %5C} unescaped first. */
        DECODE_AND_MERGE_SLASHES
    }

    /**
     * One {@code extensionProviders[]} entry with {@code envoyExtAuthzHttp}, field for field.
     *
     * @param service the authorizer's host ({@code ext-authz.foo.svc.cluster.local} or {@code ns/host})
     * @param timeout the check's deadline (Istio's default 600 s when unset)
     * @param statusOnError status sent when the authorizer cannot be reached (Istio's default 403)
     */
    public record ExtAuthzHttpProvider(String name, String service, int port, String pathPrefix,
                                       List<String> includeRequestHeadersInCheck,
                                       List<String> headersToUpstreamOnAllow,
                                       List<String> headersToDownstreamOnDeny, boolean failOpen, Duration timeout,
                                       int statusOnError) {
        public ExtAuthzHttpProvider {
            requireNonNull(name, "name");
            requireNonNull(service, "service");
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException("extensionProviders[" + name + "].envoyExtAuthzHttp.port: " + port
                        + " (expected: 1-65535)");
            }
            pathPrefix = pathPrefix == null ? "" : pathPrefix;
            if (!pathPrefix.isEmpty() && !pathPrefix.startsWith("/")) {
                throw new IllegalArgumentException("extensionProviders[" + name + "].envoyExtAuthzHttp.pathPrefix: "
                        + pathPrefix + " (expected: beginning with /)");
            }
            includeRequestHeadersInCheck = List.copyOf(includeRequestHeadersInCheck);
            headersToUpstreamOnAllow = List.copyOf(headersToUpstreamOnAllow);
            headersToDownstreamOnDeny = List.copyOf(headersToDownstreamOnDeny);
            requireNonNull(timeout, "timeout");
        }
    }

    public MeshConfig {
        requireNonNull(trustDomain, "trustDomain");
        requireNonNull(clusterId, "clusterId");
        requireNonNull(domainSuffix, "domainSuffix");
        requireNonNull(rootNamespace, "rootNamespace");
        requireNonNull(network, "network");
        requireNonNull(pathNormalization, "pathNormalization");
        extensionProviders = List.copyOf(extensionProviders);
        requireNonNull(telemetry, "telemetry");
    }

    /** Istio's defaults for the settings added later: BASE normalization, no extension providers. */
    public MeshConfig(String trustDomain, String clusterId, String domainSuffix, String rootNamespace, String network) {
        this(trustDomain, clusterId, domainSuffix, rootNamespace, network, PathNormalization.DEFAULT, List.of(),
                TelemetryProviders.defaults());
    }

    public static MeshConfig defaults() {
        return new MeshConfig("cluster.local", "Kubernetes", "cluster.local", "istio-system", "");
    }

    /** This config with {@code pathNormalization} and {@code extensionProviders} replaced. */
    public MeshConfig withAuthorization(PathNormalization normalization, List<ExtAuthzHttpProvider> providers) {
        return new MeshConfig(trustDomain, clusterId, domainSuffix, rootNamespace, network, normalization, providers,
                telemetry);
    }

    /** This config with the telemetry providers and defaults replaced. */
    public MeshConfig withTelemetry(TelemetryProviders telemetry) {
        return new MeshConfig(trustDomain, clusterId, domainSuffix, rootNamespace, network, pathNormalization,
                extensionProviders, telemetry);
    }

    /** The extension provider named {@code name}. */
    public Optional<ExtAuthzHttpProvider> extensionProvider(String name) {
        return extensionProviders.stream().filter(p -> p.name().equals(name)).findFirst();
    }
}
