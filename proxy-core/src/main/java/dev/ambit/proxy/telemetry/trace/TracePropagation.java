package dev.ambit.proxy.telemetry.trace;

import io.netty.handler.codec.http.HttpHeaders;
import java.util.Locale;

/**
 * Trace headers as Envoy's zipkin tracer reads and writes them. Extraction: B3 first (the single
 * {@code b3} header, then {@code x-b3-traceid}/{@code x-b3-spanid}/{@code x-b3-sampled}/
 * {@code x-b3-flags}), else W3C {@code traceparent}; a sampling decision alone ({@code b3: 0},
 * {@code x-b3-sampled} without ids) is kept for a new trace. Injection writes both forms Envoy
 * does for the next hop: the B3 multi headers and {@code traceparent} (a single {@code b3} only
 * where the request had one, rewritten so no hop reads a stale parent); {@code tracestate} is
 * passed through untouched.
 */
public final class TracePropagation {

    public static final String TRACEPARENT = "traceparent";
    public static final String B3 = "b3";
    public static final String TRACE_ID = "x-b3-traceid";
    public static final String SPAN_ID = "x-b3-spanid";
    public static final String PARENT_SPAN_ID = "x-b3-parentspanid";
    public static final String SAMPLED = "x-b3-sampled";
    public static final String FLAGS = "x-b3-flags";

    private TracePropagation() {}

    /**
     * The incoming context of {@code headers}: a context whose span is the caller's (our parent),
     * or one with only a decision ({@link Extracted#context()} null), or {@link Extracted#NONE}.
     */
    public static Extracted extract(HttpHeaders headers) {
        String single = headers.get(B3);
        if (single != null) {
            Extracted e = parseSingle(single.strip().toLowerCase(Locale.ROOT));
            if (e != null) {
                return e;
            }
        }
        String traceId = lower(headers.get(TRACE_ID));
        String spanId = lower(headers.get(SPAN_ID));
        Boolean sampled = parseSampled(headers.get(SAMPLED));
        boolean debug = "1".equals(strip(headers.get(FLAGS)));
        if (traceId != null && spanId != null && (TraceContext.isHexId(traceId, 16) || TraceContext.isHexId(traceId, 32))
                && TraceContext.isHexId(spanId, 16)) {
            String parent = lower(headers.get(PARENT_SPAN_ID));
            return new Extracted(new TraceContext(traceId, spanId,
                    TraceContext.isHexId(parent, 16) ? parent : null, debug ? Boolean.TRUE : sampled, debug), null);
        }
        TraceContext w3c = TraceContext.fromTraceparent(headers.get(TRACEPARENT));
        if (w3c != null) {
            return new Extracted(w3c, null);
        }
        if (debug) {
            return new Extracted(null, Boolean.TRUE);
        }
        return sampled == null ? Extracted.NONE : new Extracted(null, sampled);
    }

    /**
     * Writes {@code span}'s context for the next hop ({@code span} is the parent of what the next
     * hop creates): B3 multi headers with {@code x-b3-parentspanid} = {@code parentSpanId} when
     * known, {@code traceparent}, and {@code b3} if present.
     */
    public static void inject(TraceContext span, HttpHeaders headers) {
        boolean sampled = Boolean.TRUE.equals(span.sampled()) || span.debug();
        headers.set(TRACE_ID, span.traceId());
        headers.set(SPAN_ID, span.spanId());
        if (span.parentSpanId() != null) {
            headers.set(PARENT_SPAN_ID, span.parentSpanId());
        } else {
            headers.remove(PARENT_SPAN_ID);
        }
        headers.set(SAMPLED, sampled ? "1" : "0");
        if (span.debug()) {
            headers.set(FLAGS, "1");
        }
        headers.set(TRACEPARENT, span.traceparent());
        if (headers.contains(B3)) {
            headers.set(B3, span.traceId() + "-" + span.spanId() + "-" + (span.debug() ? "d" : sampled ? "1" : "0")
                    + (span.parentSpanId() != null ? "-" + span.parentSpanId() : ""));
        }
    }

    /** {@code b3: {traceid}-{spanid}[-{sampling}[-{parentspanid}]]} or {@code b3: {sampling}}. */
    private static Extracted parseSingle(String v) {
        String[] p = v.split("-", -1);
        if (p.length == 1) {
            Boolean s = parseSingleSampling(p[0]);
            return s == null ? null : new Extracted(null, s);
        }
        if (p.length > 4 || !(TraceContext.isHexId(p[0], 16) || TraceContext.isHexId(p[0], 32))
                || !TraceContext.isHexId(p[1], 16)) {
            return null;
        }
        Boolean sampled = p.length >= 3 ? parseSingleSampling(p[2]) : null;
        if (p.length >= 3 && sampled == null) {
            return null;
        }
        String parent = p.length == 4 && TraceContext.isHexId(p[3], 16) ? p[3] : null;
        boolean debug = p.length >= 3 && p[2].equals("d");
        return new Extracted(new TraceContext(p[0], p[1], parent, sampled, debug), null);
    }

    private static Boolean parseSingleSampling(String s) {
        return switch (s) {
            case "1", "d" -> Boolean.TRUE;
            case "0" -> Boolean.FALSE;
            default -> null;
        };
    }

    private static Boolean parseSampled(String s) {
        if (s == null) {
            return null;
        }
        return switch (s.strip().toLowerCase(Locale.ROOT)) {
            case "1", "true", "d" -> Boolean.TRUE;
            case "0", "false" -> Boolean.FALSE;
            default -> null;
        };
    }

    private static String lower(String s) {
        return s == null ? null : s.strip().toLowerCase(Locale.ROOT);
    }

    private static String strip(String s) {
        return s == null ? null : s.strip();
    }

    /**
     * What a request brought: the caller's span ({@code context}), or only a sampling decision
     * ({@code decision}), or neither.
     */
    public record Extracted(TraceContext context, Boolean decision) {
        public static final Extracted NONE = new Extracted(null, null);

        /** The caller's decision, null when we decide (no decision came with the request). */
        public Boolean sampled() {
            return context != null ? context.sampled() : decision;
        }
    }
}
