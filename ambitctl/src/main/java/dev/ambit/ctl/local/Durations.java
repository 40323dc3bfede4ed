package dev.ambit.ctl.local;

import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Durations as the flags take them: {@code 500ms}, {@code 30s}, {@code 10m}, {@code 1h}. */
public final class Durations {

    private static final Pattern FORMAT = Pattern.compile("(\\d+)(ms|s|m|h)");

    private Durations() {
    }

    /**
     * Parses {@code value} of flag {@code flag}.
     *
     * @throws IllegalArgumentException naming the flag and the expected form
     */
    public static Duration parse(String flag, String value) {
        Matcher m = FORMAT.matcher(value == null ? "" : value.strip());
        if (!m.matches()) {
            throw new IllegalArgumentException(flag + ": " + value + " (expected: a duration such as 500ms, 30s, 10m or 1h)");
        }
        long n = Long.parseLong(m.group(1));
        return switch (m.group(2)) {
            case "ms" -> Duration.ofMillis(n);
            case "s" -> Duration.ofSeconds(n);
            case "m" -> Duration.ofMinutes(n);
            default -> Duration.ofHours(n);
        };
    }

    /**
     * {@code d} in the same form, in the largest unit that holds it exactly ({@code 60s},
     * {@code 1500ms}, {@code 10m}): what istiod-lite's and the agent's duration flags accept.
     *
     * @throws IllegalArgumentException for a negative or zero duration, or one with nanoseconds
     */
    public static String format(Duration d) {
        if (d.isNegative() || d.isZero() || d.toNanosPart() % 1_000_000 != 0) {
            throw new IllegalArgumentException("duration " + d + " (expected: positive, whole milliseconds)");
        }
        long ms = d.toMillis();
        if (ms % 3_600_000 == 0) {
            return ms / 3_600_000 + "h";
        }
        if (ms % 60_000 == 0) {
            return ms / 60_000 + "m";
        }
        if (ms % 1000 == 0) {
            return ms / 1000 + "s";
        }
        return ms + "ms";
    }
}
