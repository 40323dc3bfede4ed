package dev.ambit.istiod.ca;

import static java.util.Objects.requireNonNull;

/**
 * What a {@link CallerAuthenticator} concluded about a caller: the node it speaks for, or
 * why it was turned away.
 */
public sealed interface Authentication {

    /** The caller holds a credential of node agent {@code name}. */
    static Authentication node(String name) {
        return new Node(name);
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

    record Denied(String reason) implements Authentication {
        public Denied {
            requireNonNull(reason, "reason");
        }
    }
}
