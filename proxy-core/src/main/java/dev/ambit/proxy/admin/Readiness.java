package dev.ambit.proxy.admin;

import static java.util.Objects.requireNonNull;

import dev.ambit.proxy.xds.XdsClient;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;

/**
 * Named conditions that must all hold for a proxy to be ready, checked on every probe.
 * Names are what {@code /healthz/ready} reports while not ready, so they should say what is
 * awaited (for example {@code "xds synced"}).
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

    private final Map<String, BooleanSupplier> conditions;
    private final List<String> order;

    private Readiness(Map<String, BooleanSupplier> conditions) {
        this.conditions = Map.copyOf(conditions);
        this.order = List.copyOf(conditions.keySet());
    }

    /**
     * The names of the conditions that do not hold now, in registration order; empty when
     * ready. A condition that throws counts as not holding (a probe must answer, not fail).
     */
    public List<String> notReady() {
        List<String> out = new ArrayList<>();
        for (String name : order) {
            boolean ok;
            try {
                ok = conditions.get(name).getAsBoolean();
            } catch (RuntimeException e) {
                ok = false;
            }
            if (!ok) {
                out.add(name);
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
        private final Map<String, BooleanSupplier> conditions = new LinkedHashMap<>();

        private Builder() {}

        /**
         * Adds a condition.
         *
         * @throws IllegalArgumentException if {@code name} is blank or already used
         */
        public Builder condition(String name, BooleanSupplier condition) {
            requireNonNull(name, "name");
            requireNonNull(condition, "condition");
            if (name.isBlank()) {
                throw new IllegalArgumentException("name: \"" + name + "\" (expected: not blank)");
            }
            if (conditions.putIfAbsent(name, condition) != null) {
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
