package dev.ambit.waypoint.config;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import java.math.BigInteger;
import java.util.function.BiConsumer;

/**
 * Envoy's constraints on the load-balancing fields the waypoint honours (its
 * protoc-gen-validate rules and config checks), for {@link ResourceValidator}: ring sizes up
 * to 8M with minimum ≤ maximum, a prime Maglev table up to 5000011, and a hash policy that
 * names what it hashes. Problems go to {@code problem(path, reason)}.
 */
final class LbValidation {

    static final long MAX_RING_SIZE = 8L * 1024 * 1024;
    static final long MAX_MAGLEV_TABLE = 5_000_011;

    private LbValidation() {}

    static void ringHash(Cluster.RingHashLbConfig r, String path, BiConsumer<String, String> problem) {
        long min = r.hasMinimumRingSize() ? r.getMinimumRingSize().getValue() : 1024;
        long max = r.hasMaximumRingSize() ? r.getMaximumRingSize().getValue() : MAX_RING_SIZE;
        if (min < 0 || min > MAX_RING_SIZE) {
            problem.accept(join(path, "minimum_ring_size"), Long.toUnsignedString(min) + " (expected: at most "
                    + MAX_RING_SIZE + ")");
        }
        if (max < 0 || max > MAX_RING_SIZE) {
            problem.accept(join(path, "maximum_ring_size"), Long.toUnsignedString(max) + " (expected: at most "
                    + MAX_RING_SIZE + ")");
        } else if (min > max) {
            problem.accept(join(path, "minimum_ring_size"), min + " is above maximum_ring_size " + max);
        }
    }

    static void maglev(Cluster.MaglevLbConfig m, String path, BiConsumer<String, String> problem) {
        if (m.hasTableSize()) {
            long size = m.getTableSize().getValue();
            if (size < 2 || size > MAX_MAGLEV_TABLE || !BigInteger.valueOf(size).isProbablePrime(30)) {
                problem.accept(join(path, "table_size"), Long.toUnsignedString(size) + " (expected: a prime up to "
                        + MAX_MAGLEV_TABLE + ")");
            }
        }
    }

    static void hashPolicy(RouteAction.HashPolicy h, String path, BiConsumer<String, String> problem) {
        switch (h.getPolicySpecifierCase()) {
            case HEADER -> notEmpty(h.getHeader().getHeaderName(), join(path, "header.header_name"), problem);
            case COOKIE -> notEmpty(h.getCookie().getName(), join(path, "cookie.name"), problem);
            case QUERY_PARAMETER -> notEmpty(h.getQueryParameter().getName(), join(path, "query_parameter.name"),
                    problem);
            case POLICYSPECIFIER_NOT_SET -> problem.accept(path, "no policy (expected: header, cookie, "
                    + "connection_properties or query_parameter)");
            default -> { } // connection_properties; the others are named by the field table
        }
    }

    private static void notEmpty(String value, String path, BiConsumer<String, String> problem) {
        if (value.isEmpty()) {
            problem.accept(path, "empty (expected: a value)");
        }
    }

    private static String join(String path, String field) {
        return path.isEmpty() ? field : path + "." + field;
    }
}
