package dev.ambit.proxy.identity;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.identity.SpiffeId;

/**
 * A workload certificate could not be obtained. The message names the identity and, for
 * refusals, carries the CA's reason verbatim (istiod-lite puts it in the status description).
 */
public final class CaException extends RuntimeException {

    /** What went wrong, coarse enough to alert on. */
    public enum Kind {
        /** The CA refused: PERMISSION_DENIED (credential, SAN, trust domain, not on this node). */
        DENIED,
        /** The CA found the request malformed: INVALID_ARGUMENT. A bug on this side. */
        INVALID_REQUEST,
        /** The CA could not be reached or answered UNAVAILABLE, a deadline, INTERNAL, ... */
        UNAVAILABLE,
        /** The CA answered, but the chain is unusable: wrong identity, not to the trust bundle. */
        BAD_RESPONSE,
        /** The node agent's own credential (token file) cannot be read. */
        CREDENTIAL,
        /** The identity was forgotten (its last pod left) before a certificate arrived. */
        FORGOTTEN
    }

    private final Kind kind;
    private final SpiffeId identity;

    CaException(Kind kind, SpiffeId identity, String message, Throwable cause) {
        super(message, cause);
        this.kind = requireNonNull(kind, "kind");
        this.identity = requireNonNull(identity, "identity");
    }

    public Kind kind() {
        return kind;
    }

    public SpiffeId identity() {
        return identity;
    }
}
