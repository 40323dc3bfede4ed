package dev.ambit.proxy.admin;

import static java.util.Objects.requireNonNull;

import dev.ambit.proxy.xds.XdsClient;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * Named conditions that must all hold for a proxy to be ready, checked on every probe.
 * Names are what {@code /healthz/ready} reports while not ready, so they should say what is
 * awaited (for example {@code "xds synced"}). A condition may also say why it does not hold
 * ({@link Builder#conditionWithReason}), which the probe's answer adds after the name.
 *
 * <pre>{@code
 * Readiness readiness = Readiness.builder()
 *         .xdsSynced(xdsClient)
 *         .condition("certificates", () -> manager.current(id).isPresent())
 *         .build();
 * }</pre>
 */
public final class Readiness {

    public static Builder builder() {
        return new Builder();
    }

    // name → why it does not hold now, null when it holds.
    private final Map<String, Supplier<String>> conditions;
    private final List<String> order;

    private Readiness(Map<String, Supplier<String>> conditions) {
        this.conditions = Map.copyOf(conditions);
        this.order = List.copyOf(conditions.keySet());
    }

    /**
     * The names of the conditions that do not hold now, in registration order; empty when
     * ready. A condition that throws counts as not holding (a probe must answer, not fail).
     */
    public List<String> notReady() {
        return waiting(false);
    }

    /**
     * As {@link #notReady()}, each name followed by {@code ": <reason>"} when its condition
     * gives one; what {@code /healthz/ready} answers while not ready.
     */
    public List<String> notReadyWithReasons() {
        return waiting(true);
    }

    private List<String> waiting(boolean reasons) {
        List<String> out = new ArrayList<>();
        for (String name : order) {
            String problem;
            try {
                problem = conditions.get(name).get();
            } catch (RuntimeException e) {
                problem = "";
            }
            if (problem != null) {
                out.add(reasons && !problem.isEmpty() ? name + ": " + problem : name);
            }
        }
        return out;
    }

    public boolean isReady() {
        return notReady().isEmpty();
    }

    /** The condition names, in registration order. */
    public List<String> names() {
        return order;
    }

    /** Collects conditions; with none, the proxy is always ready. */
    public static final class Builder {
        private final Map<String, Supplier<String>> conditions = new LinkedHashMap<>();

        private Builder() {}

        /**
         * Adds a condition.
         *
         * @throws IllegalArgumentException if {@code name} is blank or already used
         */
        public Builder condition(String name, BooleanSupplier condition) {
            requireNonNull(condition, "condition");
            return conditionWithReason(name, () -> condition.getAsBoolean() ? null : "");
        }

        /**
         * Adds a condition that says why it does not hold: {@code reason} returns null while it
         * holds, else the reason (for example the kernel feature a node lacks).
         *
         * @throws IllegalArgumentException if {@code name} is blank or already used
         */
        public Builder conditionWithReason(String name, Supplier<String> reason) {
            requireNonNull(name, "name");
            requireNonNull(reason, "reason");
            if (name.isBlank()) {
                throw new IllegalArgumentException("name: \"" + name + "\" (expected: not blank)");
            }
            if (conditions.putIfAbsent(name, reason) != null) {
                throw new IllegalArgumentException("name: " + name + " (already registered)");
            }
            return this;
        }

        /**
         * Ready once {@code client} has synced once, as ztunnel: later disconnects keep the
         * last configuration serving, so they do not make the agent unready.
         */
        public Builder xdsSynced(XdsClient client) {
            requireNonNull(client, "client");
            return condition("xds synced", client::isSynced);
        }

        public Readiness build() {
            return new Readiness(conditions);
        }
    }
}
