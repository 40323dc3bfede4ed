package dev.ambit.proxy.authz;

import java.util.List;

/**
 * Where the {@link Authorizer} finds compiled policies. Implemented by the agent's state
 * store, or by {@link PolicySet}. Implementations must be safe to call from any thread
 * and should not allocate: they are called for every inbound connection.
 */
public interface PolicyLookup {

    /** The GLOBAL-scoped policies (they apply in every namespace). */
    List<CompiledPolicy> global();

    /** The NAMESPACE-scoped policies of {@code namespace}. */
    List<CompiledPolicy> namespaced(String namespace);

    /**
     * The policy with the given {@code namespace/name} key, or {@code null} if it is not
     * (yet) known.
     */
    CompiledPolicy get(String key);
}
