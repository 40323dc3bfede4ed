package dev.ambit.perf.l4;

import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** What one {@code wrk --latency} run printed. */
record Wrk(long requests, double seconds, double rps, double p50Ms, double p90Ms, double p99Ms, long socketErrors,
           long non2xx) {

    private static final Pattern REQUESTS = Pattern.compile("(\\d+) requests in ([0-9.]+)(us|ms|s|m)");
    private static final Pattern RPS = Pattern.compile("Requests/sec:\\s+([0-9.]+)");
    private static final Pattern PERCENTILE = Pattern.compile("^\\s*(50|90|99)(?:\\.000)?%\\s+([0-9.]+)(us|ms|s|m)\\s*$",
            Pattern.MULTILINE);
    private static final Pattern SOCKET_ERRORS = Pattern.compile(
            "Socket errors: connect (\\d+), read (\\d+), write (\\d+), timeout (\\d+)");
    private static final Pattern NON_2XX = Pattern.compile("Non-2xx or 3xx responses: (\\d+)");

    long errors() {
        return socketErrors + non2xx;
    }

    /** Parses wrk's standard report (with {@code --latency}); empty if it is not one. */
    static Optional<Wrk> parse(String out) {
        Matcher req = REQUESTS.matcher(out);
        Matcher rps = RPS.matcher(out);
        if (!req.find() || !rps.find()) {
            return Optional.empty();
        }
        double p50 = -1;
        double p90 = -1;
        double p99 = -1;
        Matcher p = PERCENTILE.matcher(out);
        while (p.find()) {
            double ms = toMillis(Double.parseDouble(p.group(2)), p.group(3));
            switch (p.group(1)) {
                case "50" -> p50 = ms;
                case "90" -> p90 = ms;
                default -> p99 = ms;
            }
        }
        if (p50 < 0 || p90 < 0 || p99 < 0) {
            return Optional.empty();
        }
        long socketErrors = 0;
        Matcher se = SOCKET_ERRORS.matcher(out);
        if (se.find()) {
            for (int i = 1; i <= 4; i++) {
                socketErrors += Long.parseLong(se.group(i));
            }
        }
        Matcher n = NON_2XX.matcher(out);
        long non2xx = n.find() ? Long.parseLong(n.group(1)) : 0;
        return Optional.of(new Wrk(Long.parseLong(req.group(1)),
                toMillis(Double.parseDouble(req.group(2)), req.group(3)) / 1000, Double.parseDouble(rps.group(1)),
                p50, p90, p99, socketErrors, non2xx));
    }

    static double toMillis(double value, String unit) {
        return switch (unit.toLowerCase(Locale.ROOT)) {
            case "us" -> value / 1000;
            case "ms" -> value;
            case "s" -> value * 1000;
            case "m" -> value * 60_000;
            default -> throw new IllegalArgumentException("unit: " + unit);
        };
    }
}
