package dev.ambit.waypoint.http.rbac;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.config.rbac.v3.Policy;
import io.envoyproxy.envoy.config.rbac.v3.RBAC;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Predicate;

/**
 * Envoy's RBAC engine over one {@code config.rbac.v3.RBAC}: a policy matches a request when
 * any of its permissions and any of its principals match. {@code DENY} denies when a policy
 * matches; {@code ALLOW} allows only when one does (no policies: nothing is allowed);
 * {@code LOG} never denies and reports whether a policy matched (Istio's AUDIT). Policies are
 * tried in name order, as Envoy's map holds them, so the reported policy is Envoy's. Compiled
 * once, immutable, thread-safe.
 */
public final class RbacEngine {

    /**
     * The outcome for one request.
     *
     * @param allowed whether the request may go on
     * @param matchedPolicy the first policy that matched, or null
     */
    public record Decision(boolean allowed, String matchedPolicy) {}

    private record Compiled(String name, Predicate<RequestAttributes> permissions,
                            Predicate<RequestAttributes> principals) {}

    private final RBAC.Action action;
    private final List<Compiled> policies;

    private RbacEngine(RBAC.Action action, List<Compiled> policies) {
        this.action = action;
        this.policies = policies;
    }

    /**
     * Compiles {@code rbac}.
     *
     * @throws IllegalArgumentException naming the policy and the part the waypoint cannot evaluate
     */
    public static RbacEngine of(RBAC rbac) {
        requireNonNull(rbac, "rbac");
        if (rbac.getAction() == RBAC.Action.UNRECOGNIZED) {
            throw new IllegalArgumentException("RBAC action: unrecognized (expected: ALLOW, DENY or LOG)");
        }
        List<Compiled> out = new ArrayList<>();
        for (Map.Entry<String, Policy> e : new TreeMap<>(rbac.getPoliciesMap()).entrySet()) {
            Policy p = e.getValue();
            if (p.hasCondition() || p.hasCheckedCondition()) {
                throw new IllegalArgumentException("RBAC policy " + e.getKey() + ": condition (expected: none, "
                        + "CEL conditions are not supported)");
            }
            try {
                out.add(new Compiled(e.getKey(), anyOf(p.getPermissionsList().stream().map(Matchers::permission)
                        .toList()), anyOf(p.getPrincipalsList().stream().map(Matchers::principal).toList())));
            } catch (IllegalArgumentException ex) {
                throw new IllegalArgumentException("RBAC policy " + e.getKey() + ": " + ex.getMessage(), ex);
            }
        }
        return new RbacEngine(rbac.getAction(), List.copyOf(out));
    }

    private static Predicate<RequestAttributes> anyOf(List<Predicate<RequestAttributes>> ps) {
        return r -> {
            for (Predicate<RequestAttributes> p : ps) {
                if (p.test(r)) {
                    return true;
                }
            }
            return false;
        };
    }

    public RBAC.Action action() {
        return action;
    }

    /** The first policy (by name) matching {@code request}, or null. */
    public String firstMatch(RequestAttributes request) {
        for (Compiled c : policies) {
            if (c.permissions().test(request) && c.principals().test(request)) {
                return c.name();
            }
        }
        return null;
    }

    /** Decides {@code request} by this engine's action. */
    public Decision decide(RequestAttributes request) {
        String match = firstMatch(request);
        return switch (action) {
            case ALLOW -> new Decision(match != null, match);
            case DENY -> new Decision(match == null, match);
            default -> new Decision(true, match);
        };
    }
}
