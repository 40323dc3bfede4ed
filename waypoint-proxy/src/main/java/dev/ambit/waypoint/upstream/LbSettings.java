package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import java.time.Duration;

/**
 * The load-balancing settings of one cluster, parsed once per configuration version from
 * Envoy's {@code lb_policy} and its {@code lb_config}, with Envoy's defaults where unset.
 *
 * @param policy ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH or MAGLEV (anything else: ROUND_ROBIN;
 *        the config helper NACKs what the waypoint does not implement)
 * @param choiceCount {@code least_request_lb_config.choice_count} (2: power of two choices)
 * @param minRingSize {@code ring_hash_lb_config.minimum_ring_size} (1024)
 * @param maxRingSize {@code ring_hash_lb_config.maximum_ring_size} (8M)
 * @param maglevTableSize {@code maglev_lb_config.table_size} (65537, a prime)
 * @param slowStartWindow {@code slow_start_config.slow_start_window} of the round-robin or
 *        least-request config; {@link Duration#ZERO}: no slow start
 * @param aggression {@code slow_start_config.aggression.default_value} (1.0: linear ramp)
 * @param minWeightPercent {@code slow_start_config.min_weight_percent} (10%)
 */
public record LbSettings(Cluster.LbPolicy policy, int choiceCount, long minRingSize, long maxRingSize,
                         long maglevTableSize, Duration slowStartWindow, double aggression, double minWeightPercent) {

    /** Envoy's defaults. */
    public static final long DEFAULT_MIN_RING_SIZE = 1024;
    public static final long DEFAULT_MAX_RING_SIZE = 8 * 1024 * 1024;
    public static final long DEFAULT_MAGLEV_TABLE_SIZE = 65537;
    static final double DEFAULT_MIN_WEIGHT_PERCENT = 10.0;

    /** Round robin without slow start. */
    public static final LbSettings ROUND_ROBIN = defaults(Cluster.LbPolicy.ROUND_ROBIN);

    public LbSettings {
        requireNonNull(policy, "policy");
        requireNonNull(slowStartWindow, "slowStartWindow");
        if (choiceCount < 2) {
            throw new IllegalArgumentException("choiceCount: " + choiceCount + " (expected: >= 2)");
        }
        if (minRingSize < 1 || maxRingSize < minRingSize) {
            throw new IllegalArgumentException("ring sizes: " + minRingSize + ".." + maxRingSize
                    + " (expected: 1 <= minimum <= maximum)");
        }
        if (maglevTableSize < 2) {
            throw new IllegalArgumentException("maglevTableSize: " + maglevTableSize + " (expected: a prime)");
        }
    }

    /** {@code policy} with Envoy's defaults for everything else. */
    public static LbSettings defaults(Cluster.LbPolicy policy) {
        return new LbSettings(policy, 2, DEFAULT_MIN_RING_SIZE, DEFAULT_MAX_RING_SIZE, DEFAULT_MAGLEV_TABLE_SIZE,
                Duration.ZERO, 1.0, DEFAULT_MIN_WEIGHT_PERCENT);
    }

    /** Whether the policy hashes requests (ring hash or Maglev). */
    public boolean consistentHashing() {
        return policy == Cluster.LbPolicy.RING_HASH || policy == Cluster.LbPolicy.MAGLEV;
    }

    /** Reads {@code cluster}'s policy and the config of that policy (configs of other policies are ignored, as Envoy). */
    public static LbSettings of(Cluster cluster) {
        requireNonNull(cluster, "cluster");
        Cluster.LbPolicy policy = switch (cluster.getLbPolicy()) {
            case LEAST_REQUEST, RANDOM, RING_HASH, MAGLEV -> cluster.getLbPolicy();
            default -> Cluster.LbPolicy.ROUND_ROBIN;
        };
        int choices = 2;
        long minRing = DEFAULT_MIN_RING_SIZE;
        long maxRing = DEFAULT_MAX_RING_SIZE;
        long table = DEFAULT_MAGLEV_TABLE_SIZE;
        Cluster.SlowStartConfig slow = null;
        switch (policy) {
            case ROUND_ROBIN -> {
                if (cluster.hasRoundRobinLbConfig() && cluster.getRoundRobinLbConfig().hasSlowStartConfig()) {
                    slow = cluster.getRoundRobinLbConfig().getSlowStartConfig();
                }
            }
            case LEAST_REQUEST -> {
                if (cluster.hasLeastRequestLbConfig()) {
                    Cluster.LeastRequestLbConfig c = cluster.getLeastRequestLbConfig();
                    if (c.hasChoiceCount() && c.getChoiceCount().getValue() >= 2) {
                        choices = c.getChoiceCount().getValue();
                    }
                    if (c.hasSlowStartConfig()) {
                        slow = c.getSlowStartConfig();
                    }
                }
            }
            case RING_HASH -> {
                if (cluster.hasRingHashLbConfig()) {
                    Cluster.RingHashLbConfig c = cluster.getRingHashLbConfig();
                    if (c.hasMinimumRingSize() && c.getMinimumRingSize().getValue() > 0) {
                        minRing = c.getMinimumRingSize().getValue();
                    }
                    if (c.hasMaximumRingSize() && c.getMaximumRingSize().getValue() > 0) {
                        maxRing = c.getMaximumRingSize().getValue();
                    }
                    maxRing = Math.max(minRing, maxRing);
                }
            }
            case MAGLEV -> {
                if (cluster.hasMaglevLbConfig() && cluster.getMaglevLbConfig().hasTableSize()
                        && cluster.getMaglevLbConfig().getTableSize().getValue() >= 2) {
                    table = cluster.getMaglevLbConfig().getTableSize().getValue();
                }
            }
            default -> { }
        }
        Duration window = Duration.ZERO;
        double aggression = 1.0;
        double minWeight = DEFAULT_MIN_WEIGHT_PERCENT;
        if (slow != null) {
            if (slow.hasSlowStartWindow()) {
                window = Duration.ofSeconds(slow.getSlowStartWindow().getSeconds(), slow.getSlowStartWindow().getNanos());
            }
            if (slow.hasAggression() && slow.getAggression().getDefaultValue() > 0) {
                aggression = slow.getAggression().getDefaultValue();
            }
            if (slow.hasMinWeightPercent()) {
                minWeight = Math.max(0, Math.min(100, slow.getMinWeightPercent().getValue()));
            }
        }
        return new LbSettings(policy, choices, minRing, maxRing, table, window, aggression, minWeight);
    }

    /**
     * Envoy's slow-start factor of an endpoint that joined {@code ageNanos} ago:
     * {@code max(minWeightPercent, (max(age, 1 s) / window) ^ (1 / aggression))}, 1 outside the window.
     */
    public double slowStartFactor(long ageNanos) {
        if (slowStartWindow.isZero() || ageNanos >= slowStartWindow.toNanos()) {
            return 1.0;
        }
        double time = Math.max(ageNanos, 1_000_000_000L) / (double) slowStartWindow.toNanos();
        return Math.max(minWeightPercent / 100.0, Math.pow(Math.min(1.0, time), 1.0 / aggression));
    }
}
