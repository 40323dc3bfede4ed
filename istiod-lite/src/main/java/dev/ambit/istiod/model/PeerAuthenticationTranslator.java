package dev.ambit.istiod.model;

import com.google.protobuf.Empty;
import dev.ambit.api.security.Action;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Clause;
import dev.ambit.api.security.Match;
import dev.ambit.api.security.Rule;
import dev.ambit.api.security.Scope;
import dev.ambit.api.security.StringMatch;
import dev.ambit.istiod.config.FailClosed;
import io.fabric8.istio.api.api.security.v1beta1.PeerAuthenticationMutualTLS;
import io.fabric8.istio.api.api.security.v1beta1.PeerAuthenticationMutualTLSMode;
import io.fabric8.istio.api.security.v1.PeerAuthentication;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * PeerAuthentication for the node agent, as Istio does it in ambient mode: "STRICT" is
 * a DENY of every connection without a verified peer identity. Precedence is Istio's:
 * a workload-selector policy beats the namespace's, which beats the mesh-wide one in the
 * root namespace; UNSET inherits; with several candidates the oldest wins. DISABLE means
 * PERMISSIVE here: the agent always uses mTLS when the peer can.
 *
 * <p>A rejected PeerAuthentication ({@link FailClosed}) makes every workload in its scope
 * STRICT, beating every valid policy.
 *
 * <p>Every workload whose effective mode is STRICT on all ports references the static
 * policy {@value #STATIC_STRICT}; a workload policy with port-level modes becomes its own
 * {@code converted_peer_authentication_<name>} policy naming the ports.
 */
final class PeerAuthenticationTranslator {

    static final String STATIC_STRICT = "istio_converted_static_strict";
    static final String CONVERTED_PREFIX = "converted_peer_authentication_";

    private static final Comparator<PeerAuthentication> OLDEST_FIRST = Comparator
            .comparing((PeerAuthentication p) -> String.valueOf(p.getMetadata().getCreationTimestamp()))
            .thenComparing(p -> p.getMetadata().getName());

    private final MeshConfig mesh;
    private final Consumer<String> warnings;
    private final Map<String, List<PeerAuthentication>> byNamespace = new TreeMap<>();
    private final List<FailClosed> failedStrict;

    PeerAuthenticationTranslator(MeshConfig mesh, List<PeerAuthentication> policies, List<FailClosed> failClosed,
                                 Consumer<String> warnings) {
        this.mesh = mesh;
        this.warnings = warnings;
        this.failedStrict = failClosed.stream().filter(f -> f.effect() == FailClosed.Effect.STRICT).toList();
        for (PeerAuthentication p : policies) {
            byNamespace.computeIfAbsent(p.getMetadata().getNamespace(), k -> new ArrayList<>()).add(p);
        }
        byNamespace.values().forEach(l -> l.sort(OLDEST_FIRST));
    }

    /** The always-present static DENY for workloads that are STRICT everywhere. */
    Authorization staticStrict() {
        return Authorization.newBuilder()
                .setName(STATIC_STRICT)
                .setNamespace(mesh.rootNamespace())
                .setScope(Scope.WORKLOAD_SELECTOR)
                .setAction(Action.DENY)
                .addRules(Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(noIdentity())))
                .build();
    }

    /** What one workload gets: policy references, plus converted policies to emit. */
    record Result(List<String> references, Map<String, Authorization> converted) {}

    Result forWorkload(String namespace, Map<String, String> labels) {
        if (failedClosed(namespace, labels)) {
            return new Result(List.of(staticName()), Map.of());
        }
        boolean inheritedStrict = inheritedStrict(namespace);
        Optional<PeerAuthentication> workloadPolicy = byNamespace.getOrDefault(namespace, List.of()).stream()
                .filter(p -> hasSelector(p) && Selectors.matches(p.getSpec().getSelector().getMatchLabels(), labels))
                .findFirst();
        if (workloadPolicy.isEmpty()) {
            return new Result(inheritedStrict ? List.of(staticName()) : List.of(), Map.of());
        }
        PeerAuthentication pa = workloadPolicy.get();
        boolean strict = modeOf(pa.getSpec().getMtls()).map(m -> m == PeerAuthenticationMutualTLSMode.STRICT)
                .orElse(inheritedStrict);
        Map<String, PeerAuthenticationMutualTLS> portLevel = pa.getSpec().getPortLevelMtls();
        if (portLevel == null || portLevel.isEmpty()) {
            return new Result(strict ? List.of(staticName()) : List.of(), Map.of());
        }
        List<Integer> strictPorts = new ArrayList<>();
        List<Integer> permissivePorts = new ArrayList<>();
        new TreeMap<>(portLevel).forEach((port, mtls) -> {
            Optional<PeerAuthenticationMutualTLSMode> m = modeOf(mtls);
            boolean portStrict = m.map(x -> x == PeerAuthenticationMutualTLSMode.STRICT).orElse(strict);
            (portStrict ? strictPorts : permissivePorts).add(Integer.parseInt(port));
        });
        Match.Builder match = noIdentity().toBuilder();
        if (strict) {
            if (permissivePorts.isEmpty()) {
                return new Result(List.of(staticName()), Map.of());
            }
            match.addAllNotDestinationPorts(permissivePorts);
        } else {
            if (strictPorts.isEmpty()) {
                return new Result(List.of(), Map.of());
            }
            match.addAllDestinationPorts(strictPorts);
        }
        String name = CONVERTED_PREFIX + pa.getMetadata().getName();
        Authorization converted = Authorization.newBuilder()
                .setName(name)
                .setNamespace(namespace)
                .setScope(Scope.WORKLOAD_SELECTOR)
                .setAction(Action.DENY)
                .addRules(Rule.newBuilder().addClauses(Clause.newBuilder().addMatches(match)))
                .build();
        String key = namespace + "/" + name;
        return new Result(List.of(key), Map.of(key, converted));
    }

    /**
     * A rejected PeerAuthentication covering the workload (its namespace and selector, or
     * mesh-wide from the root namespace) makes it STRICT, whatever valid policies say.
     */
    private boolean failedClosed(String namespace, Map<String, String> labels) {
        for (FailClosed f : failedStrict) {
            boolean inNamespace = f.namespace().equals(namespace)
                    && (f.selector() == null || Selectors.matches(f.selector(), labels));
            boolean meshWide = f.namespace().equals(mesh.rootNamespace()) && f.selector() == null;
            if (inNamespace || meshWide) {
                return true;
            }
        }
        return false;
    }

    private boolean inheritedStrict(String namespace) {
        Optional<PeerAuthenticationMutualTLSMode> ns = namespaceWide(namespace).flatMap(p -> modeOf(p.getSpec().getMtls()));
        if (ns.isPresent()) {
            return ns.get() == PeerAuthenticationMutualTLSMode.STRICT;
        }
        return namespaceWide(mesh.rootNamespace()).flatMap(p -> modeOf(p.getSpec().getMtls()))
                .map(m -> m == PeerAuthenticationMutualTLSMode.STRICT).orElse(false);
    }

    private Optional<PeerAuthentication> namespaceWide(String namespace) {
        List<PeerAuthentication> candidates = byNamespace.getOrDefault(namespace, List.of()).stream()
                .filter(p -> !hasSelector(p)).toList();
        if (candidates.size() > 1) {
            warnings.accept("PeerAuthentication: " + candidates.size() + " namespace-wide policies in " + namespace
                    + "; the oldest, " + candidates.getFirst().getMetadata().getName() + ", applies");
        }
        return candidates.stream().findFirst();
    }

    private String staticName() {
        return mesh.rootNamespace() + "/" + STATIC_STRICT;
    }

    private static boolean hasSelector(PeerAuthentication p) {
        return p.getSpec() != null && p.getSpec().getSelector() != null
                && p.getSpec().getSelector().getMatchLabels() != null
                && !p.getSpec().getSelector().getMatchLabels().isEmpty();
    }

    /** The mode a policy sets, or empty when it inherits (UNSET or absent). */
    private static Optional<PeerAuthenticationMutualTLSMode> modeOf(PeerAuthenticationMutualTLS mtls) {
        if (mtls == null || mtls.getMode() == null || mtls.getMode() == PeerAuthenticationMutualTLSMode.UNSET) {
            return Optional.empty();
        }
        return Optional.of(mtls.getMode() == PeerAuthenticationMutualTLSMode.DISABLE
                ? PeerAuthenticationMutualTLSMode.PERMISSIVE : mtls.getMode());
    }

    private static Match noIdentity() {
        return Match.newBuilder()
                .addNotPrincipals(StringMatch.newBuilder().setPresence(Empty.getDefaultInstance()))
                .build();
    }
}
