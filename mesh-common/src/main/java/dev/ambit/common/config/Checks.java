package dev.ambit.common.config;

import static java.util.Objects.requireNonNull;

import java.time.Duration;

/**
 * The argument checks builders repeat, each throwing {@link IllegalArgumentException} with
 * one message style: {@code "<name>: <value> (expected: <what>)"}. Each returns its argument,
 * so a builder can check and assign in one statement.
 */
public final class Checks {

    private Checks() {
    }

    /** {@code value} itself if above zero; {@code name} names it in the message. */
    public static int positive(int value, String name) {
        if (value <= 0) {
            throw new IllegalArgumentException(name + ": " + value + " (expected: > 0)");
        }
        return value;
    }

    /** {@code value} itself if zero or more. */
    public static int notNegative(int value, String name) {
        if (value < 0) {
            throw new IllegalArgumentException(name + ": " + value + " (expected: >= 0)");
        }
        return value;
    }

    /** {@code port} itself if a TCP/UDP port one can connect to: 1-65535. */
    public static int port(int port, String name) {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException(name + ": " + port + " (expected: 1-65535)");
        }
        return port;
    }

    /** {@code duration} itself if longer than zero; {@code null} throws {@link NullPointerException}. */
    public static Duration positive(Duration duration, String name) {
        requireNonNull(duration, name);
        if (duration.isNegative() || duration.isZero()) {
            throw new IllegalArgumentException(name + ": " + duration + " (expected: positive)");
        }
        return duration;
    }

    /** {@code duration} itself if zero or longer; {@code null} throws {@link NullPointerException}. */
    public static Duration notNegative(Duration duration, String name) {
        requireNonNull(duration, name);
        if (duration.isNegative()) {
            throw new IllegalArgumentException(name + ": " + duration + " (expected: >= 0)");
        }
        return duration;
    }
}
