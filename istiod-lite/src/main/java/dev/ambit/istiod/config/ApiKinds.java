package dev.ambit.istiod.config;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The kinds and versions Istio and the Gateway API serve, as the API server knows them: an
 * object of an Istio group ({@code *.istio.io}) or of {@code gateway.networking.k8s.io}
 * whose group, version or kind is not one of these would be refused there ("no matches for
 * kind X in version Y"), so istiod-lite and {@code ambitctl local} refuse it too instead
 * of skipping it as a kind they do not read: a typo in a policy's kind must never make the
 * policy disappear.
 */
public final class ApiKinds {

    private static final String GATEWAY_API = "gateway.networking.k8s.io";

    /** Served versions per group. */
    private static final Map<String, Set<String>> VERSIONS = Map.of(
            "security.istio.io", Set.of("v1", "v1beta1"),
            "networking.istio.io", Set.of("v1", "v1beta1", "v1alpha3"),
            "telemetry.istio.io", Set.of("v1", "v1alpha1"),
            "extensions.istio.io", Set.of("v1alpha1"),
            GATEWAY_API, Set.of("v1", "v1beta1", "v1alpha2", "v1alpha3"));

    /** Kinds per group, including those istiod-lite does not read (see {@link Kind} for those it does). */
    private static final Map<String, List<String>> KINDS = Map.of(
            "security.istio.io", List.of("AuthorizationPolicy", "PeerAuthentication", "RequestAuthentication"),
            "networking.istio.io", List.of("VirtualService", "DestinationRule", "ServiceEntry", "Gateway", "Sidecar",
                    "WorkloadEntry", "WorkloadGroup", "EnvoyFilter", "ProxyConfig"),
            "telemetry.istio.io", List.of("Telemetry"),
            "extensions.istio.io", List.of("WasmPlugin"),
            GATEWAY_API, List.of("Gateway", "GatewayClass", "HTTPRoute", "GRPCRoute", "TCPRoute", "TLSRoute",
                    "UDPRoute", "ReferenceGrant", "BackendTLSPolicy"));

    private ApiKinds() {
    }

    /** Whether objects of this API group are held to the exact kinds above: Istio's groups and the Gateway API's. */
    public static boolean checkedGroup(String group) {
        String g = group.toLowerCase(Locale.ROOT);
        return g.contains("istio.io") || g.equals(GATEWAY_API);
    }

    /**
     * Why the API server would not know {@code apiVersion}/{@code kind}, with the likely
     * spelling; empty when it would, or when the group is not Istio's or the Gateway API's.
     */
    public static Optional<String> problem(String apiVersion, String kind) {
        int slash = apiVersion.indexOf('/');
        String group = slash < 0 ? "" : apiVersion.substring(0, slash);
        String version = slash < 0 ? apiVersion : apiVersion.substring(slash + 1);
        if (!checkedGroup(group)) {
            return Optional.empty();
        }
        boolean knownVersion = VERSIONS.getOrDefault(group, Set.of()).contains(version);
        if (knownVersion && KINDS.get(group).contains(kind)) {
            return Optional.empty();
        }
        String message = "no matches for kind \"" + kind + "\" in version \"" + apiVersion + "\"";
        return Optional.of(message + suggestion(group, version, kind));
    }

    /** " (did you mean ...?)" for a kind matching a known one case-insensitively, else a hint. */
    private static String suggestion(String group, String version, String kind) {
        String bestGroup = null;
        String bestKind = null;
        for (var e : KINDS.entrySet()) {
            for (String k : e.getValue()) {
                // Prefer the same group (Gateway is in two), then any.
                if (k.equalsIgnoreCase(kind) && (bestGroup == null || e.getKey().equals(group))) {
                    bestGroup = e.getKey();
                    bestKind = k;
                }
            }
        }
        if (bestKind == null) {
            return KINDS.containsKey(group) ? " (expected one of: " + String.join(", ", KINDS.get(group)) + ")"
                    : " (expected: an Istio or Gateway API kind, e.g. apiVersion: security.istio.io/v1)";
        }
        String v = VERSIONS.get(bestGroup).contains(version) ? version : "v1";
        String av = bestGroup + "/" + v;
        return " (did you mean" + (bestKind.equals(kind) ? "" : " kind: " + bestKind)
                + (av.equals(group + "/" + version) ? "" : (bestKind.equals(kind) ? "" : ",") + " apiVersion: " + av)
                + "?)";
    }
}
