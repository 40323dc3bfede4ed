package dev.ambit.perf;

import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What one {@link ConnectLoad} run printed: successful connections, failed ones, the
 * measured seconds, connections per second and latency percentiles in microseconds.
 */
public record LoadResult(long connections, long errors, double seconds, double cps,
                         double p50Micros, double p90Micros, double p99Micros) {

    private static final Pattern LINE = Pattern.compile("^\\{\"connections\":.*}$", Pattern.MULTILINE);

    /**
     * Finds the JSON line {@link ConnectLoad} prints in {@code stdout}.
     *
     * @return empty when there is no such line (the client died before finishing)
     * @throws IllegalArgumentException when the line lacks a field
     */
    public static Optional<LoadResult> find(String stdout) {
        Matcher m = LINE.matcher(stdout);
        if (!m.find()) {
            return Optional.empty();
        }
        String line = m.group();
        return Optional.of(new LoadResult((long) field(line, "connections"), (long) field(line, "errors"),
                field(line, "seconds"), field(line, "cps"),
                field(line, "p50_us"), field(line, "p90_us"), field(line, "p99_us")));
    }

    private static double field(String line, String name) {
        // The line is ConnectLoad's own flat output, numbers only: no JSON parser needed.
        Matcher m = Pattern.compile("\"" + name + "\":(-?[0-9.eE+-]+)").matcher(line);
        if (!m.find()) {
            throw new IllegalArgumentException("load client output " + line + " has no field " + name
                    + ": is the client on the classpath the same build as the bench?");
        }
        return Double.parseDouble(m.group(1));
    }
}
