package dev.ambit.proxy.authz;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.security.Action;
import dev.ambit.api.security.Authorization;
import dev.ambit.api.security.Clause;
import dev.ambit.api.security.Rule;
import dev.ambit.api.security.Scope;
import java.util.List;

/**
 * An {@link Authorization} compiled once into matchers, so that evaluating it per
 * connection parses nothing and allocates nothing.
 *
 * <p>A policy matches a connection when any rule matches; a rule matches when all its
 * clauses match (a rule without clauses matches everything); a clause matches when any of
 * its matches does. A policy without rules matches nothing: an ALLOW without rules allows
 * nothing, a DENY without rules denies nothing.
 */
public final class CompiledPolicy {

    private final Authorization source;
    private final String key;
    private final Scope scope;
    private final boolean deny;
    private final boolean dryRun;
    // rules[r][c][m]: rule r, clause c, match m. Arrays, not lists: this is the hot loop.
    private final CompiledMatch[][][] rules;
    // Decisions this policy produces when enforced, made once: deciding allocates nothing.
    private final Decision allowedBy;
    private final Decision deniedBy;

    private CompiledPolicy(Authorization source) {
        this.source = source;
        key = source.getNamespace() + '/' + source.getName();
        scope = source.getScope();
        deny = source.getAction() == Action.DENY;
        dryRun = source.getDryRun();
        List<Rule> rs = source.getRulesList();
        rules = new CompiledMatch[rs.size()][][];
        for (int r = 0; r < rs.size(); r++) {
            List<Clause> cs = rs.get(r).getClausesList();
            rules[r] = new CompiledMatch[cs.size()][];
            for (int c = 0; c < cs.size(); c++) {
                var ms = cs.get(c).getMatchesList();
                rules[r][c] = new CompiledMatch[ms.size()];
                for (int m = 0; m < ms.size(); m++) {
                    try {
                        rules[r][c][m] = new CompiledMatch(ms.get(m));
                    } catch (IllegalArgumentException e) {
                        throw new IllegalArgumentException(
                                key + ": rules[" + r + "].clauses[" + c + "].matches[" + m + "]." + e.getMessage(), e);
                    }
                }
            }
        }
        allowedBy = deny ? null : new Decision(true, Decision.Reason.ALLOW_MATCHED, key, List.of(), true);
        deniedBy = deny ? new Decision(false, Decision.Reason.POLICY_DENIED, key, List.of(), false) : null;
    }

    /**
     * Compiles {@code policy}.
     *
     * @throws IllegalArgumentException if the policy is malformed (an unknown scope or
     *         action, a string match without a type, a bad CIDR, a port above 65535). The
     *         caller should reject the resource and keep the previous version: guessing
     *         could open traffic a DENY was meant to stop, or close traffic an ALLOW opens.
     */
    public static CompiledPolicy compile(Authorization policy) {
        requireNonNull(policy, "policy");
        if (policy.getScope() == Scope.UNRECOGNIZED) {
            throw new IllegalArgumentException(policy.getNamespace() + '/' + policy.getName()
                    + ": scope: unknown value " + policy.getScopeValue());
        }
        if (policy.getAction() == Action.UNRECOGNIZED) {
            throw new IllegalArgumentException(policy.getNamespace() + '/' + policy.getName()
                    + ": action: unknown value " + policy.getActionValue());
        }
        return new CompiledPolicy(policy);
    }

    /** {@code namespace/name}, as workloads list it in {@code authorization_policies}. */
    public String key() {
        return key;
    }

    /** The policy's namespace. */
    public String namespace() {
        return source.getNamespace();
    }

    /** The policy's name within its namespace. */
    public String name() {
        return source.getName();
    }

    /** Which workloads the policy applies to. */
    public Scope scope() {
        return scope;
    }

    /** The policy's action. */
    public Action action() {
        return deny ? Action.DENY : Action.ALLOW;
    }

    /** Whether matches are only reported, never enforced. */
    public boolean dryRun() {
        return dryRun;
    }

    /** The policy as received. */
    public Authorization source() {
        return source;
    }

    /** Whether this policy matches {@code connection}, regardless of its action. */
    public boolean matches(ConnectionAttributes connection) {
        return matches(new Evaluation(connection));
    }

    /**
     * The index of this policy's first rule that matches {@code connection}, or -1 if none
     * does (for reports such as {@link RecentDenials}; allocates).
     */
    public int matchingRule(ConnectionAttributes connection) {
        Evaluation e = new Evaluation(requireNonNull(connection, "connection"));
        for (int r = 0; r < rules.length; r++) {
            if (ruleMatches(rules[r], e)) {
                return r;
            }
        }
        return -1;
    }

    boolean isDeny() {
        return deny;
    }

    Decision allowedBy() {
        return allowedBy;
    }

    Decision deniedBy() {
        return deniedBy;
    }

    boolean matches(Evaluation e) {
        for (CompiledMatch[][] rule : rules) {
            if (ruleMatches(rule, e)) {
                return true;
            }
        }
        return false;
    }

    private static boolean ruleMatches(CompiledMatch[][] clauses, Evaluation e) {
        for (CompiledMatch[] clause : clauses) {
            if (!clauseMatches(clause, e)) {
                return false;
            }
        }
        return true;
    }

    private static boolean clauseMatches(CompiledMatch[] matches, Evaluation e) {
        for (CompiledMatch m : matches) {
            if (m.matches(e)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public String toString() {
        return key + " (" + scope + ' ' + action() + (dryRun ? " dry-run" : "") + ", " + rules.length + " rules)";
    }
}
