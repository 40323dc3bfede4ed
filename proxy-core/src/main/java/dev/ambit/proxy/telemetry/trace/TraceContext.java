package dev.ambit.proxy.telemetry.trace;

import static java.util.Objects.requireNonNull;

import java.util.concurrent.ThreadLocalRandom;

/**
 * A span's place in a trace as it travels in headers: the trace id (32 lower-case hex digits;
 * a 64-bit B3 id is kept as 16 digits and widened only for the SDK), the span id (16 hex digits)
 * and the sampling decision.
 *
 * @param traceId 16 or 32 lower-case hex digits, not all zero
 * @param spanId 16 lower-case hex digits, not all zero
 * @param parentSpanId the span's parent (B3's {@code x-b3-parentspanid}), or null
 * @param sampled true / false, or null when the sender left the decision to us (B3 without {@code x-b3-sampled})
 * @param debug B3's {@code x-b3-flags: 1} (or {@code b3: ...-d}): sampled, and said so downstream
 */
public record TraceContext(String traceId, String spanId, String parentSpanId, Boolean sampled, boolean debug) {

    public TraceContext {
        requireNonNull(traceId, "traceId");
        requireNonNull(spanId, "spanId");
        if (!isHexId(traceId, 16) && !isHexId(traceId, 32)) {
            throw new IllegalArgumentException("traceId: " + traceId + " (expected: 16 or 32 hex digits, not all 0)");
        }
        if (!isHexId(spanId, 16)) {
            throw new IllegalArgumentException("spanId: " + spanId + " (expected: 16 hex digits, not all 0)");
        }
        if (parentSpanId != null && !isHexId(parentSpanId, 16)) {
            throw new IllegalArgumentException("parentSpanId: " + parentSpanId + " (expected: 16 hex digits)");
        }
    }

    /** The trace id as 32 hex digits (a 64-bit id left-padded with zeros, as OpenTelemetry and W3C need). */
    public String traceId128() {
        return traceId.length() == 32 ? traceId : "0000000000000000" + traceId;
    }

    /** The W3C {@code traceparent} of this context: {@code 00-<trace>-<span>-<flags>}. */
    public String traceparent() {
        return "00-" + traceId128() + "-" + spanId + (Boolean.TRUE.equals(sampled) || debug ? "-01" : "-00");
    }

    /**
     * Parses a W3C {@code traceparent}; null when absent or malformed (a bad header is ignored, as
     * Envoy ignores it: the request starts a new trace).
     */
    public static TraceContext fromTraceparent(String header) {
        if (header == null) {
            return null;
        }
        String h = header.strip();
        // version 2 hex, trace 32, span 16, flags 2; a future version may append fields after '-'.
        if (h.length() < 55 || h.charAt(2) != '-' || h.charAt(35) != '-' || h.charAt(52) != '-'
                || (h.length() > 55 && h.charAt(55) != '-')) {
            return null;
        }
        String version = h.substring(0, 2);
        if (!isHex(version) || version.equals("ff") || (version.equals("00") && h.length() != 55)) {
            return null;
        }
        String trace = h.substring(3, 35).toLowerCase(java.util.Locale.ROOT);
        String span = h.substring(36, 52).toLowerCase(java.util.Locale.ROOT);
        String flags = h.substring(53, 55);
        if (!isHexId(trace, 32) || !isHexId(span, 16) || !isHex(flags)) {
            return null;
        }
        boolean sampled = (Integer.parseInt(flags, 16) & 1) == 1;
        return new TraceContext(trace, span, null, sampled, false);
    }

    /** A new random id of 16 hex digits, never all zero. */
    public static String newSpanId() {
        long v;
        do {
            v = ThreadLocalRandom.current().nextLong();
        } while (v == 0);
        return hex(v);
    }

    /** A new random 128-bit trace id (Envoy's zipkin tracer with {@code trace_id_128bit}). */
    public static String newTraceId() {
        return hex(ThreadLocalRandom.current().nextLong()) + newSpanId();
    }

    static String hex(long v) {
        char[] c = new char[16];
        for (int i = 15; i >= 0; i--) {
            c[i] = Character.forDigit((int) (v & 0xf), 16);
            v >>>= 4;
        }
        return new String(c);
    }

    static boolean isHexId(String s, int length) {
        if (s == null || s.length() != length || !isHex(s)) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) != '0') {
                return true;
            }
        }
        return false;
    }

    private static boolean isHex(String s) {
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            if (!(ch >= '0' && ch <= '9') && !(ch >= 'a' && ch <= 'f')) {
                return false;
            }
        }
        return !s.isEmpty();
    }
}
