package dev.ambit.proxy.authz;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.TextFormat;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.json.JsonWriter;
import dev.ambit.proxy.telemetry.ConnectionLabels;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * The last L4 denials of a proxy, newest last, for the mesh view (issue 19): which source was
 * refused by which policy and rule. Bounded: once {@code capacity} denials are held the oldest
 * is dropped; {@link #total()} counts every denial ever recorded.
 *
 * <p>Recording happens only on the deny path (a connection that is refused anyway), so it may
 * allocate: it finds the deciding policy's first matching rule again, and for
 * {@code no_allow_match} the ALLOW policies that applied and did not match. Thread-safe.
 */
public final class RecentDenials {

    /** How many denials a proxy keeps unless told otherwise. */
    public static final int DEFAULT_CAPACITY = 256;

    /**
     * One refused connection.
     *
     * @param at when it was refused
     * @param reason the decision's reason code ({@code policy_denied}, {@code no_allow_match})
     * @param policy the deciding DENY policy ({@code namespace/name}), or null when no single policy decided
     * @param rule the index of the deciding policy's first matching rule, -1 without one
     * @param ruleText that rule in protobuf text form ("" without one)
     * @param allowPolicies for {@code no_allow_match}: the enforced ALLOW policies that applied, none matching
     * @param sourcePrincipal the peer's principal, null for plaintext
     * @param sourceAddress the peer's address
     * @param sourceWorkload the source workload's name ({@code unknown} when not known)
     * @param sourceNamespace the source workload's namespace ({@code unknown} when not known)
     * @param destinationWorkload the destination workload's name (Istio's {@code destination_workload})
     * @param destinationNamespace the destination workload's namespace
     * @param destinationAddress the destination address
     * @param destinationPort the destination port
     */
    public record Denial(Instant at, String reason, String policy, int rule, String ruleText,
                         List<String> allowPolicies, String sourcePrincipal, String sourceAddress,
                         String sourceWorkload, String sourceNamespace, String destinationWorkload,
                         String destinationNamespace, String destinationAddress, int destinationPort) {
        public Denial {
            requireNonNull(at, "at");
            requireNonNull(reason, "reason");
            allowPolicies = List.copyOf(allowPolicies);
        }
    }

    private final PolicyLookup policies;
    private final int capacity;
    private final Clock clock;
    private final ArrayDeque<Denial> ring;
    private long total;

    private RecentDenials(PolicyLookup policies, int capacity, Clock clock) {
        this.policies = policies;
        this.capacity = capacity;
        this.clock = clock;
        ring = new ArrayDeque<>(Math.min(capacity, 64));
    }

    /** A ring of {@code capacity} denials whose policies are found in {@code policies}. */
    public static RecentDenials of(PolicyLookup policies, int capacity) {
        return of(policies, capacity, Clock.systemUTC());
    }

    /** As {@link #of(PolicyLookup, int)}, stamping denials with {@code clock}. */
    public static RecentDenials of(PolicyLookup policies, int capacity, Clock clock) {
        requireNonNull(policies, "policies");
        requireNonNull(clock, "clock");
        if (capacity < 1 || capacity > 100_000) {
            throw new IllegalArgumentException("capacity: " + capacity + " (expected: 1-100000)");
        }
        return new RecentDenials(policies, capacity, clock);
    }

    /**
     * Records {@code decision} for {@code connection} to {@code destination} if it denies;
     * an allowing decision is ignored, so callers may pass every decision.
     *
     * @param sourceWorkload the source workload's name as the metrics label it, or null
     * @param sourceNamespace the source workload's namespace, or null
     */
    public void record(Decision decision, ConnectionAttributes connection, Workload destination,
                       String sourceWorkload, String sourceNamespace) {
        requireNonNull(decision, "decision");
        requireNonNull(connection, "connection");
        requireNonNull(destination, "destination");
        if (decision.allowed()) {
            return;
        }
        int rule = -1;
        String ruleText = "";
        List<String> allows = new ArrayList<>();
        for (CompiledPolicy p : Authorizer.of(policies).applicable(destination)) {
            if (p.dryRun()) {
                continue;
            }
            if (p.key().equals(decision.policy())) {
                rule = p.matchingRule(connection);
                if (rule >= 0) {
                    ruleText = TextFormat.shortDebugString(p.source().getRules(rule));
                }
            } else if (decision.reason() == Decision.Reason.NO_ALLOW_MATCH && !p.isDeny()) {
                allows.add(p.key());
            }
        }
        Denial d = new Denial(clock.instant(), decision.reason().code(), decision.policy(), rule, ruleText, allows,
                connection.principal(), connection.sourceAddress().getHostAddress(), orUnknown(sourceWorkload),
                orUnknown(sourceNamespace), ConnectionLabels.workloadName(destination), destination.getNamespace(),
                connection.destinationAddress().getHostAddress(), connection.destinationPort());
        synchronized (ring) {
            if (ring.size() == capacity) {
                ring.removeFirst();
            }
            ring.addLast(d);
            total++;
        }
    }

    /** The denials held now, oldest first. */
    public List<Denial> snapshot() {
        synchronized (ring) {
            return List.copyOf(ring);
        }
    }

    /** Every denial recorded since this ring was made, including those dropped from it. */
    public long total() {
        synchronized (ring) {
            return total;
        }
    }

    /** How many denials are kept. */
    public int capacity() {
        return capacity;
    }

    /**
     * Writes the admin section: {@code {"capacity", "total", "denials": [...]}}, each denial
     * with the fields of {@link Denial} ({@code at} as an ISO-8601 instant, absent values as "").
     */
    public void write(JsonWriter json) {
        List<Denial> denials;
        long count;
        synchronized (ring) {
            denials = List.copyOf(ring);
            count = total;
        }
        json.open('{').key("capacity").value(capacity).key("total").value(count).key("denials").open('[');
        for (Denial d : denials) {
            json.open('{')
                    .key("at").value(d.at().toString())
                    .key("reason").value(d.reason())
                    .key("policy").value(orEmpty(d.policy()))
                    .key("rule").value(d.rule())
                    .key("ruleText").value(d.ruleText())
                    .key("allowPolicies").list(d.allowPolicies())
                    .key("sourcePrincipal").value(orEmpty(d.sourcePrincipal()))
                    .key("sourceAddress").value(d.sourceAddress())
                    .key("sourceWorkload").value(d.sourceWorkload())
                    .key("sourceNamespace").value(d.sourceNamespace())
                    .key("destinationWorkload").value(d.destinationWorkload())
                    .key("destinationNamespace").value(d.destinationNamespace())
                    .key("destinationAddress").value(d.destinationAddress())
                    .key("destinationPort").value(d.destinationPort())
                    .close('}');
        }
        json.close(']').close('}');
    }

    private static String orUnknown(String s) {
        return s == null || s.isEmpty() ? "unknown" : s;
    }

    private static String orEmpty(String s) {
        return s == null ? "" : s;
    }
}
