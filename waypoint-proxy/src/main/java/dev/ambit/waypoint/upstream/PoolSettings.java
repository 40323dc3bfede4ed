package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import java.time.Duration;

/**
 * A cluster's settings for its connection pools, from its current configuration.
 *
 * @param connectTimeout the cluster's {@code connect_timeout}
 * @param idleTimeout how long a connection without requests stays open ({@link Duration#ZERO}: for ever)
 * @param maxRequestsPerConnection requests after which a connection takes no more (0: no limit)
 * @param keepalive TCP keepalive of plaintext upstream sockets (null: none)
 */
record PoolSettings(Duration connectTimeout, Duration idleTimeout, int maxRequestsPerConnection,
                    Resilience.Keepalive keepalive) {
    PoolSettings {
        requireNonNull(connectTimeout, "connectTimeout");
        requireNonNull(idleTimeout, "idleTimeout");
    }

    /** The settings of {@code cluster}, its idle timeout {@code defaultIdle} unless it sets one. */
    static PoolSettings of(ClusterInfo cluster, Duration defaultIdle) {
        Resilience r = cluster.resilience();
        return new PoolSettings(cluster.connectTimeout(), r.idleTimeout() != null ? r.idleTimeout() : defaultIdle,
                r.maxRequestsPerConnection(), r.keepalive());
    }
}
