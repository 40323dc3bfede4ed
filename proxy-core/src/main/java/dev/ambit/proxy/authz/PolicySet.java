package dev.ambit.proxy.authz;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Scope;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An immutable {@link PolicyLookup} over a fixed collection of policies, indexed by key,
 * scope and namespace. Replace it as a whole when policies change.
 */
public final class PolicySet implements PolicyLookup {

    private static final PolicySet EMPTY = new PolicySet(List.of());

    private final Map<String, CompiledPolicy> byKey;
    private final List<CompiledPolicy> global;
    private final Map<String, List<CompiledPolicy>> byNamespace;

    private PolicySet(Collection<CompiledPolicy> policies) {
        // A later policy with the same key replaces an earlier one, as an xDS update would.
        Map<String, CompiledPolicy> keyed = new LinkedHashMap<>();
        for (CompiledPolicy p : policies) {
            keyed.put(requireNonNull(p, "policies contains null").key(), p);
        }
        List<CompiledPolicy> g = new ArrayList<>();
        Map<String, List<CompiledPolicy>> ns = new HashMap<>();
        for (CompiledPolicy p : keyed.values()) {
            if (p.scope() == Scope.GLOBAL) {
                g.add(p);
            } else if (p.scope() == Scope.NAMESPACE) {
                ns.computeIfAbsent(p.namespace(), k -> new ArrayList<>()).add(p);
            }
        }
        byKey = Map.copyOf(keyed);
        global = List.copyOf(g);
        Map<String, List<CompiledPolicy>> frozen = new HashMap<>();
        ns.forEach((k, v) -> frozen.put(k, List.copyOf(v)));
        byNamespace = Map.copyOf(frozen);
    }

    /** No policies: every connection is allowed. */
    public static PolicySet empty() {
        return EMPTY;
    }

    /**
     * Compiles and indexes {@code policies}.
     *
     * @throws IllegalArgumentException if a policy is malformed; see
     *         {@link CompiledPolicy#compile(Authorization)}
     */
    public static PolicySet of(Collection<Authorization> policies) {
        requireNonNull(policies, "policies");
        return new PolicySet(policies.stream().map(CompiledPolicy::compile).toList());
    }

    /** Compiles and indexes {@code policies}. */
    public static PolicySet of(Authorization... policies) {
        return of(List.of(requireNonNull(policies, "policies")));
    }

    /** Indexes policies that are already compiled. */
    public static PolicySet ofCompiled(Collection<CompiledPolicy> policies) {
        return new PolicySet(requireNonNull(policies, "policies"));
    }

    @Override
    public List<CompiledPolicy> global() {
        return global;
    }

    @Override
    public List<CompiledPolicy> namespaced(String namespace) {
        return byNamespace.getOrDefault(namespace, List.of());
    }

    @Override
    public CompiledPolicy get(String key) {
        return byKey.get(key);
    }

    /** The number of distinct policies. */
    public int size() {
        return byKey.size();
    }
}
