package dev.ambit.proxy.telemetry;

import static java.util.Objects.requireNonNull;

import dev.ambit.proxy.telemetry.trace.TraceContext;
import java.util.concurrent.ThreadLocalRandom;
import java.util.random.RandomGenerator;

/**
 * W3C Trace Context {@code traceparent} headers for the tunnels a proxy opens: each is the root
 * of a new trace, so the peer's logs can be joined with the client's.
 */
public final class Traceparent {

    private Traceparent() {}

    /** A new trace context: version {@code 00}, random trace and span ids, not sampled ({@code -00}). */
    public static String random() {
        return random(ThreadLocalRandom.current());
    }

    /**
     * The trace id (32 lower-case hex digits) of a W3C {@code traceparent} header; null when the
     * header is absent or malformed (a bad header is not an error for a tunnel, only not logged).
     */
    public static String traceId(String traceparent) {
        TraceContext context = TraceContext.fromTraceparent(traceparent);
        return context == null ? null : context.traceId();
    }

    static String random(RandomGenerator random) {
        requireNonNull(random, "random");
        long hi;
        long lo;
        do {
            hi = random.nextLong();
            lo = random.nextLong();
        } while (hi == 0 && lo == 0); // all-zero ids are invalid
        long span;
        do {
            span = random.nextLong();
        } while (span == 0);
        return "00-" + hex(hi) + hex(lo) + "-" + hex(span) + "-00";
    }

    private static String hex(long v) {
        String s = Long.toHexString(v);
        return "0".repeat(16 - s.length()) + s;
    }
}
