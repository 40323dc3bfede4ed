package dev.ambit.waypoint.http.rbac;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.MetricsRegistry;

/**
 * The waypoint's authorization metrics:
 * <ul>
 *   <li>{@value #DENIED}{@code {filter, policy}}: requests refused, by the filter that refused
 *       ({@code rbac}, {@code ext_authz}) and the matched policy ({@code none} for an ALLOW
 *       filter nothing matched; the authorizer's status or {@code error} for ext_authz);</li>
 *   <li>{@value #AUDITED}{@code {policy}}: requests an AUDIT (RBAC {@code LOG}) policy matched.</li>
 * </ul>
 * Thread-safe.
 */
public final class AuthzMetrics {

    public static final String DENIED = "ambit_waypoint_rbac_denied_total";
    public static final String AUDITED = "ambit_waypoint_rbac_audited_total";

    private final Counter.Family denied;
    private final Counter.Family audited;

    private AuthzMetrics(MetricsRegistry registry) {
        denied = registry.counter(DENIED, "Requests the waypoint's authorization refused, by filter and policy.",
                "filter", "policy");
        audited = registry.counter(AUDITED, "Requests an AUDIT authorization policy matched, by policy.", "policy");
    }

    public static AuthzMetrics of(MetricsRegistry registry) {
        return new AuthzMetrics(requireNonNull(registry, "registry"));
    }

    void denied(String filter, String policy) {
        denied.labels(filter, policy).inc();
    }

    void audited(String policy) {
        audited.labels(policy).inc();
    }
}
