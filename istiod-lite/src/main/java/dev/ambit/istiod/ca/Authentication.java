package dev.ambit.istiod.ca;

import static java.util.Objects.requireNonNull;

/**
 * What a {@link CallerAuthenticator} concluded about a caller: the node it speaks for (a node
 * agent, which may ask for the identities of the pods on its node), a workload speaking for
 * itself (which may ask for its own identity only), or why it was turned away.
 */
public sealed interface Authentication {

    /** The caller holds a credential of node agent {@code name}. */
    static Authentication node(String name) {
        return new Node(name);
    }

    /**
     * The caller holds a pod-bound token of service account {@code serviceAccount} in
     * {@code namespace}: it may obtain {@code spiffe://<td>/ns/<namespace>/sa/<serviceAccount>}
     * and nothing else (a waypoint asking for its own certificate).
     */
    static Authentication workload(String namespace, String serviceAccount) {
        return new Workload(namespace, serviceAccount);
    }

    /** The caller is refused; {@code reason} is returned to it, so it never contains the credential. */
    static Authentication denied(String reason) {
        return new Denied(reason);
    }

    record Node(String name) implements Authentication {
        public Node {
            requireNonNull(name, "name");
            if (name.isEmpty()) {
                throw new IllegalArgumentException("name: empty (expected: a node name)");
            }
        }
    }

    record Workload(String namespace, String serviceAccount) implements Authentication {
        public Workload {
            requireNonNull(namespace, "namespace");
            requireNonNull(serviceAccount, "serviceAccount");
            if (namespace.isEmpty() || serviceAccount.isEmpty()) {
                throw new IllegalArgumentException("workload: " + namespace + "/" + serviceAccount
                        + " (expected: a namespace and a service account)");
            }
        }
    }

    record Denied(String reason) implements Authentication {
        public Denied {
            requireNonNull(reason, "reason");
        }
    }
}
