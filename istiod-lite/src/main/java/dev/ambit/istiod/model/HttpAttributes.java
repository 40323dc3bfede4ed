package dev.ambit.istiod.model;

import static java.util.Objects.requireNonNull;

import io.fabric8.istio.api.api.security.v1beta1.Rule;
import java.util.Collections;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * Which HTTP attributes an AuthorizationPolicy rule uses, as the node agent's translation
 * ({@code AuthorizationTranslator}) finds them: the attributes a node agent (ztunnel) cannot
 * check, so a rule using them is omitted (ALLOW) or enforced without them (DENY). Public for
 * {@code ambitctl analyze}, which reports the same finding before the policy is applied.
 */
public final class HttpAttributes {

    private static final AuthorizationTranslator TRANSLATOR =
            new AuthorizationTranslator(MeshConfig.defaults(), warning -> { });

    private HttpAttributes() {
    }

    /**
     * The HTTP attributes {@code rule} uses, in Istio's field names ({@code methods}, {@code paths},
     * {@code requestPrincipals}, {@code when request.headers[x-token]}, ...); empty for an L4-only rule.
     */
    public static SortedSet<String> of(Rule rule) {
        requireNonNull(rule, "rule");
        TreeSet<String> found = new TreeSet<>();
        TRANSLATOR.rule(rule, true, found);
        return Collections.unmodifiableSortedSet(found);
    }
}
