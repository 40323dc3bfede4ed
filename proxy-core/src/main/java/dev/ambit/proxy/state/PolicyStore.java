package dev.ambit.proxy.state;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.security.Action;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Scope;
import dev.ambit.api.workload.Workload;
import dev.ambit.proxy.authz.Authorizer;
import dev.ambit.proxy.authz.CompiledPolicy;
import dev.ambit.proxy.authz.PolicyLookup;
import dev.ambit.proxy.authz.PolicySet;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The authorization policies the proxy knows, as received ({@code <namespace>/<name>} →
 * {@link Authorization}) and compiled for the {@link Authorizer}, whose
 * {@link PolicyLookup} this store is.
 *
 * <p>The lookup is a {@link PolicySet}, rebuilt by the writer on every change and published
 * with one volatile write: a reader sees one update entirely or not at all. Policies are
 * compiled when applied; a policy that does not compile rejects its update, because
 * guessing its meaning could open traffic a DENY was meant to stop. The set indexes each
 * policy under its own {@code <namespace>/<name>}, which is how Istio names the resource
 * and how workloads list it in {@code authorization_policies}.
 */
public final class PolicyStore implements PolicyLookup {

    // Read by any thread.
    private final ConcurrentHashMap<String, Authorization> byName = new ConcurrentHashMap<>();
    private volatile PolicySet compiled = PolicySet.empty();
    // Writer side, sorted by name so that the set lists policies in a stable order.
    private final TreeMap<String, CompiledPolicy> compiledByName = new TreeMap<>();

    PolicyStore() {}

    /** The GLOBAL policies, compiled; never allocates. */
    @Override
    public List<CompiledPolicy> global() {
        return compiled.global();
    }

    /** The NAMESPACE policies of {@code namespace}, compiled; never allocates. */
    @Override
    public List<CompiledPolicy> namespaced(String namespace) {
        return compiled.namespaced(namespace);
    }

    /** The compiled policy named {@code <namespace>/<name>}, or {@code null}. */
    @Override
    public CompiledPolicy get(String key) {
        return compiled.get(key);
    }

    /** The policy named {@code <namespace>/<name>}, or {@code null}. */
    public Authorization policy(String name) {
        return byName.get(name);
    }

    /**
     * The policies that apply to connections to {@code workload}, as the {@link Authorizer}
     * selects them: the GLOBAL ones, those of the workload's namespace, then the
     * WORKLOAD_SELECTOR ones its {@code authorization_policies} names (names not, or not yet,
     * known are skipped). Each policy appears once. For inspection: it allocates.
     */
    public List<Authorization> policiesFor(Workload workload) {
        requireNonNull(workload, "workload");
        return Authorizer.of(compiled).applicable(workload).stream().map(CompiledPolicy::source).toList();
    }

    /** Every authorization policy (a live, unmodifiable view). */
    public Collection<Authorization> policies() {
        return Collections.unmodifiableCollection(byName.values());
    }

    /** The number of policies. */
    public int size() {
        return byName.size();
    }

    // ---------------------------------------------------------------- writer (ProxyState's lock held)

    /**
     * Checks and compiles one resource before anything changes.
     *
     * @throws IllegalArgumentException naming the resource, if it is invalid or does not compile
     */
    static CompiledPolicy prepare(String name, Authorization policy) {
        requireNonNull(name, "name");
        requireNonNull(policy, "policy " + name);
        if (policy.getName().isEmpty()) {
            throw new IllegalArgumentException("authorization " + name + ": name: empty");
        }
        if (policy.getScope() == Scope.UNRECOGNIZED || policy.getAction() == Action.UNRECOGNIZED) {
            // An unknown action must never be read as the default ALLOW.
            throw new IllegalArgumentException("authorization " + name + ": unknown scope or action ("
                    + policy.getScopeValue() + ", " + policy.getActionValue() + ")");
        }
        try {
            return CompiledPolicy.compile(policy);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("authorization " + name + ": " + e.getMessage(), e);
        }
    }

    /**
     * Removes the policies named in {@code removed}, then adds or replaces those in
     * {@code prepared} ({@link #prepare}d from {@code upserted}), and publishes the new set.
     */
    void apply(Map<String, Authorization> upserted, Map<String, CompiledPolicy> prepared,
               Collection<String> removed) {
        for (String name : removed) {
            byName.remove(name);
            compiledByName.remove(name);
        }
        for (Map.Entry<String, CompiledPolicy> e : prepared.entrySet()) {
            byName.put(e.getKey(), upserted.get(e.getKey()));
            compiledByName.put(e.getKey(), e.getValue());
        }
        compiled = PolicySet.ofCompiled(compiledByName.values());
    }
}
