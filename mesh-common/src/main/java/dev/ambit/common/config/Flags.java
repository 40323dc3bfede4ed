package dev.ambit.common.config;

import static java.util.Objects.requireNonNull;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Command-line flags of the mesh's daemons: {@code --name value}, {@code --name=value} and
 * boolean {@code --name}. Unknown flags and malformed values are rejected with the flag's
 * name and what was expected, so a typo in a DaemonSet's args fails the start instead of
 * being ignored.
 */
public final class Flags {

    private final Map<String, String> values;

    private Flags(Map<String, String> values) {
        this.values = values;
    }

    /**
     * Parses {@code args}.
     *
     * @param known every flag name accepted (without {@code --})
     * @param booleans the names among {@code known} that take no value
     * @throws IllegalArgumentException naming the argument at fault
     */
    public static Flags parse(String[] args, Set<String> known, Set<String> booleans) {
        requireNonNull(args, "args");
        requireNonNull(known, "known");
        requireNonNull(booleans, "booleans");
        Map<String, String> flags = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--")) {
                throw new IllegalArgumentException("argument: " + a + " (expected: --flag; see --help)");
            }
            String name = a.substring(2);
            String value;
            int eq = name.indexOf('=');
            if (eq >= 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            } else if (booleans.contains(name)) {
                value = "true";
            } else if (i + 1 < args.length) {
                value = args[++i];
            } else {
                throw new IllegalArgumentException("--" + name + ": missing value");
            }
            if (!known.contains(name)) {
                List<String> sorted = new ArrayList<>(known);
                sorted.sort(null);
                throw new IllegalArgumentException("--" + name + ": unknown flag (expected one of: --"
                        + String.join(", --", sorted) + ")");
            }
            flags.put(name, value);
        }
        return new Flags(flags);
    }

    public boolean has(String name) {
        return values.containsKey(name);
    }

    /** The flag's value, or {@code fallback} (may be null) when absent. */
    public String string(String name, String fallback) {
        return values.getOrDefault(name, fallback);
    }

    /** The flag as a path, or {@code fallback} (may be null) when absent. */
    public Path path(String name, Path fallback) {
        String v = values.get(name);
        return v == null ? fallback : Path.of(v);
    }

    public boolean bool(String name) {
        String v = values.get(name);
        if (v == null) {
            return false;
        }
        if (!v.equals("true") && !v.equals("false")) {
            throw new IllegalArgumentException("--" + name + ": " + v + " (expected: true or false)");
        }
        return Boolean.parseBoolean(v);
    }

    /** A port number, 0-65535 (0 picks a free port). */
    public int port(String name, int fallback) {
        String v = values.get(name);
        if (v == null) {
            return fallback;
        }
        try {
            int p = Integer.parseInt(v);
            if (p >= 0 && p <= 65535) {
                return p;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("--" + name + ": " + v + " (expected: a port number 0-65535)");
    }

    /** A whole number in {@code [min, max]}. */
    public int integer(String name, int fallback, int min, int max) {
        String v = values.get(name);
        if (v == null) {
            return fallback;
        }
        try {
            int n = Integer.parseInt(v);
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("--" + name + ": " + v + " (expected: a number " + min + "-" + max + ")");
    }

    /** A duration written {@code 500ms}, {@code 30s}, {@code 10m}, {@code 24h} or ISO-8601. */
    public Duration duration(String name, String fallback) {
        return durationOf(name, values.getOrDefault(name, fallback));
    }

    /** Parses {@code v} as {@link #duration(String, String)} does, naming {@code flag} in errors. */
    public static Duration durationOf(String flag, String v) {
        try {
            if (v.startsWith("P") || v.startsWith("p")) {
                return Duration.parse(v);
            }
            if (v.endsWith("ms")) {
                return Duration.ofMillis(Long.parseLong(v.substring(0, v.length() - 2)));
            }
            long n = Long.parseLong(v.substring(0, v.length() - 1));
            return switch (v.charAt(v.length() - 1)) {
                case 's' -> Duration.ofSeconds(n);
                case 'm' -> Duration.ofMinutes(n);
                case 'h' -> Duration.ofHours(n);
                default -> throw new NumberFormatException();
            };
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("--" + flag + ": " + v
                    + " (expected: a duration like 500ms, 30s, 10m, 24h)");
        }
    }
}
