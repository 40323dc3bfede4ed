package dev.ambit.proxy.authz;

import static java.util.Objects.requireNonNull;

import java.util.List;

/**
 * The outcome of authorizing one connection, for enforcement, access logs and the
 * {@code reason} label of a denial metric.
 *
 * <p>Dry-run policies never change {@link #allowed()}. {@link #dryRunMatches()} lists the
 * dry-run policies that matched, and {@link #dryRunAllowed()} is what the decision would
 * have been had they been enforced; {@link #dryRunDiffers()} says whether they would
 * have changed it. Without applicable dry-run policies the list is empty and
 * {@code dryRunAllowed == allowed}.
 *
 * @param allowed whether the connection may proceed
 * @param reason why, as a short code
 * @param policy the deciding policy ({@code namespace/name}): the matching DENY, or the
 *        matching ALLOW; {@code null} when no single policy decided
 * @param dryRunMatches the dry-run policies ({@code namespace/name}) that matched
 * @param dryRunAllowed the decision had the dry-run policies been enforced
 */
public record Decision(boolean allowed, Reason reason, String policy, List<String> dryRunMatches,
                       boolean dryRunAllowed) {

    /** Why a connection was allowed or denied. {@link #code()} is stable: use it in metrics. */
    public enum Reason {
        /** An ALLOW policy matched and no DENY policy did. */
        ALLOW_MATCHED(true, "allow_matched", "allowed by policy"),
        /** Neither a DENY policy matched nor does any ALLOW policy apply. */
        NO_POLICY(true, "no_policy", "no ALLOW policy applies"),
        /** A DENY policy matched. */
        POLICY_DENIED(false, "policy_denied", "denied by policy"),
        /** ALLOW policies apply but none matched. */
        NO_ALLOW_MATCH(false, "no_allow_match", "no ALLOW policy matched");

        private final boolean allows;
        private final String code;
        private final String description;

        Reason(boolean allows, String code, String description) {
            this.allows = allows;
            this.code = code;
            this.description = description;
        }

        /** A short code for metric labels and logs, such as {@code policy_denied}. */
        public String code() {
            return code;
        }

        /** A phrase for humans, such as {@code no ALLOW policy matched}. */
        public String description() {
            return description;
        }
    }

    static final Decision NO_POLICY = new Decision(true, Reason.NO_POLICY, null, List.of(), true);
    static final Decision NO_ALLOW_MATCH = new Decision(false, Reason.NO_ALLOW_MATCH, null, List.of(), false);

    public Decision {
        requireNonNull(reason, "reason");
        dryRunMatches = List.copyOf(requireNonNull(dryRunMatches, "dryRunMatches"));
        if (allowed != reason.allows) {
            throw new IllegalArgumentException("reason " + reason.code + " contradicts allowed=" + allowed);
        }
        if ((reason == Reason.ALLOW_MATCHED || reason == Reason.POLICY_DENIED) && policy == null) {
            throw new IllegalArgumentException("reason " + reason.code + " needs the deciding policy");
        }
    }

    /** Whether enforcing the dry-run policies would have changed the outcome. */
    public boolean dryRunDiffers() {
        return dryRunAllowed != allowed;
    }

    Decision withDryRun(List<String> matches, boolean wouldAllow) {
        return new Decision(allowed, reason, policy, matches, wouldAllow);
    }

    /**
     * One line for access and debug logs, for example
     * {@code deny policy_denied shop/deny-legacy} or
     * {@code allow no_policy dry-run [shop/lockdown] would deny}.
     */
    @Override
    public String toString() {
        StringBuilder b = new StringBuilder(allowed ? "allow " : "deny ").append(reason.code);
        if (policy != null) {
            b.append(' ').append(policy);
        }
        if (!dryRunMatches.isEmpty() || dryRunDiffers()) {
            b.append(" dry-run ").append(dryRunMatches).append(dryRunAllowed ? " would allow" : " would deny");
        }
        return b.toString();
    }
}
