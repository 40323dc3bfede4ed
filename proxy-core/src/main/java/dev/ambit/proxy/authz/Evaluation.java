package dev.ambit.proxy.authz;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * One authorization in progress: the connection in the form the matchers read (addresses
 * as 128-bit longs, converted once) and the tally of matching policies. The only object
 * allocated per decision unless dry-run policies apply. A {@link Consumer} of the policies
 * that apply, so that {@link Authorizer} selects them in one place without a lambda per decision.
 */
final class Evaluation implements Consumer<CompiledPolicy> {

    final String principal;
    final String namespace;
    final String serviceAccount;
    final long srcHi;
    final long srcLo;
    final long dstHi;
    final long dstLo;
    final int port;

    private CompiledPolicy denied;
    private CompiledPolicy allowed;
    private boolean anyAllow;

    // Dry-run bookkeeping: the outcome with dry-run policies enforced too.
    private boolean sawDryRun;
    private boolean dryDenied;
    private boolean dryAnyAllow;
    private boolean dryAllowed;
    private List<String> dryRunMatches;

    Evaluation(ConnectionAttributes c) {
        principal = c.principal();
        namespace = c.sourceNamespace();
        serviceAccount = c.sourceServiceAccount();
        byte[] src = c.sourceAddress().getAddress();
        byte[] dst = c.destinationAddress().getAddress();
        srcHi = CidrSet.hi(src);
        srcLo = CidrSet.lo(src);
        dstHi = CidrSet.hi(dst);
        dstLo = CidrSet.lo(dst);
        port = c.destinationPort();
    }

    /** Counts one applicable policy, as {@link #consider}. */
    @Override
    public void accept(CompiledPolicy p) {
        consider(p);
    }

    /** Counts one applicable policy. Each policy must be offered at most once. */
    void consider(CompiledPolicy p) {
        if (p.dryRun()) {
            sawDryRun = true;
            // Always evaluated: the report lists every dry-run match.
            boolean matched = p.matches(this);
            if (p.isDeny()) {
                dryDenied |= matched;
            } else {
                dryAnyAllow = true;
                dryAllowed |= matched;
            }
            if (matched) {
                if (dryRunMatches == null) {
                    dryRunMatches = new ArrayList<>(2);
                }
                dryRunMatches.add(p.key());
            }
            return;
        }
        // Enforced: the first matching DENY and the first matching ALLOW are all that count.
        if (p.isDeny()) {
            if (denied == null && p.matches(this)) {
                denied = p;
            }
        } else {
            anyAllow = true;
            if (allowed == null && denied == null && p.matches(this)) {
                allowed = p;
            }
        }
    }

    Decision decision() {
        Decision d;
        if (denied != null) {
            d = denied.deniedBy();
        } else if (!anyAllow) {
            d = Decision.NO_POLICY;
        } else if (allowed != null) {
            d = allowed.allowedBy();
        } else {
            d = Decision.NO_ALLOW_MATCH;
        }
        if (!sawDryRun) {
            return d;
        }
        boolean wouldAllow = denied == null && !dryDenied
                             && (!(anyAllow || dryAnyAllow) || allowed != null || dryAllowed);
        return d.withDryRun(dryRunMatches == null ? List.of() : dryRunMatches, wouldAllow);
    }
}
