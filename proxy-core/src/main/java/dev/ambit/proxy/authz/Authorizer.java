package dev.ambit.proxy.authz;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.security.Scope;
import dev.ambit.api.workload.Workload;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Decides whether an inbound connection may reach a workload, with Istio's L4
 * authorization semantics (as ztunnel enforces them).
 *
 * <p>The applicable policies are the GLOBAL-scoped ones (from any namespace), the
 * NAMESPACE-scoped ones of the destination workload's namespace, and the
 * WORKLOAD_SELECTOR-scoped ones the workload names in {@code authorization_policies}.
 * Among the enforced ones (dry-run policies never count):
 * <ol>
 *   <li>if a DENY policy matches, the connection is denied ({@code policy_denied});</li>
 *   <li>otherwise, if no ALLOW policy applies, it is allowed ({@code no_policy});</li>
 *   <li>otherwise it is allowed if an ALLOW policy matches ({@code allow_matched}), and
 *       denied if none does ({@code no_allow_match}).</li>
 * </ol>
 * A name in {@code authorization_policies} that the lookup does not know is skipped, as
 * ztunnel does, until the policy arrives.
 *
 * <p>Thread-safe if the {@link PolicyLookup} is. Without dry-run policies a decision
 * allocates one small object and the two address byte arrays.
 */
public final class Authorizer {

    private final PolicyLookup policies;

    private Authorizer(PolicyLookup policies) {
        this.policies = policies;
    }

    /** An authorizer that reads policies from {@code policies} on every decision. */
    public static Authorizer of(PolicyLookup policies) {
        return new Authorizer(requireNonNull(policies, "policies"));
    }

    /** Authorizes {@code connection} to {@code destination}. */
    public Decision authorize(ConnectionAttributes connection, Workload destination) {
        requireNonNull(destination, "destination");
        return authorize(connection, destination.getNamespace(), destination.getAuthorizationPoliciesList());
    }

    /**
     * Authorizes {@code connection} to a workload in {@code namespace} that names
     * {@code workloadPolicies} ({@code namespace/name} keys).
     */
    public Decision authorize(ConnectionAttributes connection, String namespace, List<String> workloadPolicies) {
        requireNonNull(connection, "connection");
        requireNonNull(namespace, "namespace");
        requireNonNull(workloadPolicies, "workloadPolicies");
        Evaluation e = new Evaluation(connection);
        select(namespace, workloadPolicies, e);
        return e.decision();
    }

    /**
     * The policies {@link #authorize(ConnectionAttributes, Workload)} considers for
     * {@code destination}, each once, in the order it considers them: GLOBAL, then the
     * namespace's, then those the workload names. For inspection (it allocates), not the
     * data path.
     */
    public List<CompiledPolicy> applicable(Workload destination) {
        requireNonNull(destination, "destination");
        return applicable(destination.getNamespace(), destination.getAuthorizationPoliciesList());
    }

    /** As {@link #applicable(Workload)}, for a workload in {@code namespace} that names {@code workloadPolicies}. */
    public List<CompiledPolicy> applicable(String namespace, List<String> workloadPolicies) {
        requireNonNull(namespace, "namespace");
        requireNonNull(workloadPolicies, "workloadPolicies");
        List<CompiledPolicy> out = new ArrayList<>();
        select(namespace, workloadPolicies, out::add);
        return List.copyOf(out);
    }

    /** The one place that picks the policies applying to a destination. */
    private void select(String namespace, List<String> workloadPolicies, Consumer<CompiledPolicy> sink) {
        // Scopes are checked again here so that a lookup returning a policy under the wrong
        // scope cannot widen it, and no policy is counted twice.
        List<CompiledPolicy> global = policies.global();
        for (int i = 0; i < global.size(); i++) {
            CompiledPolicy p = global.get(i);
            if (p.scope() == Scope.GLOBAL) {
                sink.accept(p);
            }
        }
        List<CompiledPolicy> namespaced = policies.namespaced(namespace);
        for (int i = 0; i < namespaced.size(); i++) {
            CompiledPolicy p = namespaced.get(i);
            if (p.scope() == Scope.NAMESPACE && p.namespace().equals(namespace)) {
                sink.accept(p);
            }
        }
        for (int i = 0; i < workloadPolicies.size(); i++) {
            CompiledPolicy p = policies.get(workloadPolicies.get(i));
            if (p != null && p.scope() == Scope.WORKLOAD_SELECTOR && !listedBefore(workloadPolicies, i)) {
                sink.accept(p);
            }
        }
    }

    /**
     * Authorizes {@code connection} against {@code applicable}, which the caller has
     * already selected for the destination (scopes are not checked). Each policy must
     * appear at most once.
     */
    public static Decision evaluate(ConnectionAttributes connection, List<CompiledPolicy> applicable) {
        requireNonNull(connection, "connection");
        requireNonNull(applicable, "applicable");
        Evaluation e = new Evaluation(connection);
        for (int i = 0; i < applicable.size(); i++) {
            e.consider(requireNonNull(applicable.get(i), "applicable contains null"));
        }
        return e.decision();
    }

    // Workloads list a handful of policies, so a scan beats allocating a set.
    private static boolean listedBefore(List<String> keys, int index) {
        String key = keys.get(index);
        for (int i = 0; i < index; i++) {
            if (keys.get(i).equals(key)) {
                return true;
            }
        }
        return false;
    }
}
