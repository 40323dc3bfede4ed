package dev.ambit.waypoint;

/**
 * Envoy's response flags, as they appear in its access logs and in Istio's
 * {@code response_flags} label ({@code -} when none).
 */
public enum ResponseFlag {
    /** No healthy upstream host. */
    UH,
    /** Upstream connection failure. */
    UF,
    /** Upstream connection overflow (circuit breaking). */
    UO,
    /** Upstream request timeout. */
    UT,
    /** Upstream remote reset. */
    UR,
    /** Upstream connection termination. */
    UC,
    /** Upstream retry limit exceeded. */
    URX,
    /** No route configured for the request. */
    NR,
    /** No cluster found for the route's cluster name. */
    NC,
    /** The request was delayed by fault injection. */
    DI,
    /** The request was aborted by fault injection. */
    FI,
    /** Downstream connection termination. */
    DC,
    /** Request denied by the RBAC (authorization) filter. */
    RBAC_DENIED("RBAC"),
    /** Request denied by the external authorization service (ext_authz). */
    UAEX,
    /** Downstream protocol error. */
    DPE;

    private final String code;

    ResponseFlag() {
        this.code = name();
    }

    ResponseFlag(String code) {
        this.code = code;
    }

    /** The short code Envoy prints. */
    public String code() {
        return code;
    }
}
