package dev.ambit.perf.l4;

import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What one {@code h2load} run printed: requests per second, how many succeeded (2xx) and
 * failed, and the mean and maximum time per request (h2load prints no percentiles).
 */
record H2load(double rps, long succeeded, long failed, double meanMs, double maxMs) {

    private static final Pattern FINISHED = Pattern.compile("finished in [0-9.]+\\w+, ([0-9.]+) req/s");
    private static final Pattern REQUESTS = Pattern.compile(
            "requests: (\\d+) total, (\\d+) started, (\\d+) done, (\\d+) succeeded, (\\d+) failed, (\\d+) errored");
    private static final Pattern STATUS = Pattern.compile("status codes: (\\d+) 2xx, (\\d+) 3xx, (\\d+) 4xx, (\\d+) 5xx");
    private static final Pattern REQUEST_TIME = Pattern.compile(
            "time for request:\\s+([0-9.]+)(us|ms|s)\\s+([0-9.]+)(us|ms|s)\\s+([0-9.]+)(us|ms|s)");

    /** Parses h2load's report; empty if it is not one (or no request completed). */
    static Optional<H2load> parse(String out) {
        Matcher f = FINISHED.matcher(out);
        Matcher r = REQUESTS.matcher(out);
        Matcher s = STATUS.matcher(out);
        Matcher t = REQUEST_TIME.matcher(out);
        if (!f.find() || !r.find() || !s.find() || !t.find()) {
            return Optional.empty();
        }
        long ok = Long.parseLong(s.group(1));
        // "succeeded" counts any answered request; anything but a 2xx is a failure for a load.
        long failed = Long.parseLong(r.group(5)) + Long.parseLong(r.group(6)) + Long.parseLong(s.group(2))
                + Long.parseLong(s.group(3)) + Long.parseLong(s.group(4));
        return Optional.of(new H2load(Double.parseDouble(f.group(1)), ok, failed,
                Wrk.toMillis(Double.parseDouble(t.group(5)), t.group(6)),
                Wrk.toMillis(Double.parseDouble(t.group(3)), t.group(4))));
    }
}
