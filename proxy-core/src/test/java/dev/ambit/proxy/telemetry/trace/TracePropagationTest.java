package dev.ambit.proxy.telemetry.trace;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import org.junit.jupiter.api.Test;

/** Trace headers in and out, as Envoy's zipkin tracer reads and writes them (B3 first, then W3C). */
class TracePropagationTest {

    static final String TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
    static final String SPAN = "00f067aa0ba902b7";
    static final String PARENT = "a3ce929d0e0e4736";

    private static HttpHeaders headers(String... kv) {
        HttpHeaders h = new DefaultHttpHeaders();
        for (int i = 0; i < kv.length; i += 2) {
            h.add(kv[i], kv[i + 1]);
        }
        return h;
    }

    @Test
    void b3MultiHeadersWithParentAndDecision() {
        var e = TracePropagation.extract(headers("X-B3-TraceId", TRACE.toUpperCase(), "x-b3-spanid", SPAN,
                "x-b3-parentspanid", PARENT, "x-b3-sampled", "0"));
        assertThat(e.context()).isEqualTo(new TraceContext(TRACE, SPAN, PARENT, false, false));
        assertThat(e.sampled()).isFalse();
    }

    @Test
    void b3WithoutADecisionLeavesItToUsAndFlagsMeanDebugSampled() {
        assertThat(TracePropagation.extract(headers("x-b3-traceid", SPAN, "x-b3-spanid", SPAN)).sampled()).isNull();
        var debug = TracePropagation.extract(headers("x-b3-traceid", TRACE, "x-b3-spanid", SPAN,
                "x-b3-sampled", "0", "x-b3-flags", "1"));
        assertThat(debug.context().debug()).isTrue();
        assertThat(debug.sampled()).isTrue();
    }

    @Test
    void singleB3WinsOverMultiAndW3c() {
        var e = TracePropagation.extract(headers("b3", TRACE + "-" + SPAN + "-1-" + PARENT,
                "x-b3-traceid", "1111111111111111", "x-b3-spanid", "2222222222222222",
                "traceparent", "00-" + "3".repeat(32) + "-" + "4".repeat(16) + "-00"));
        assertThat(e.context()).isEqualTo(new TraceContext(TRACE, SPAN, PARENT, true, false));
        assertThat(TracePropagation.extract(headers("b3", "0")).context()).isNull();
        assertThat(TracePropagation.extract(headers("b3", "0")).sampled()).isFalse();
        assertThat(TracePropagation.extract(headers("b3", "d")).sampled()).isTrue();
    }

    @Test
    void w3cWhenNoB3AndMalformedHeadersAreIgnored() {
        var e = TracePropagation.extract(headers("traceparent", "00-" + TRACE + "-" + SPAN + "-01"));
        assertThat(e.context()).isEqualTo(new TraceContext(TRACE, SPAN, null, true, false));
        assertThat(TracePropagation.extract(headers("traceparent", "00-" + TRACE + "-" + SPAN + "-01-x"))
                .context()).isNull();
        assertThat(TracePropagation.extract(headers("b3", "nonsense", "x-b3-traceid", "xyz", "x-b3-spanid", SPAN)))
                .isEqualTo(TracePropagation.Extracted.NONE);
        // A decision alone is kept for the new trace.
        assertThat(TracePropagation.extract(headers("x-b3-sampled", "true")).sampled()).isTrue();
    }

    @Test
    void injectWritesB3AndW3cAndRewritesASingleB3() {
        HttpHeaders h = headers("b3", "stale", "x-b3-parentspanid", "1".repeat(16), "tracestate", "k=v");
        TracePropagation.inject(new TraceContext(TRACE, SPAN, PARENT, true, false), h);
        assertThat(h.get("x-b3-traceid")).isEqualTo(TRACE);
        assertThat(h.get("x-b3-spanid")).isEqualTo(SPAN);
        assertThat(h.get("x-b3-parentspanid")).isEqualTo(PARENT);
        assertThat(h.get("x-b3-sampled")).isEqualTo("1");
        assertThat(h.get("traceparent")).isEqualTo("00-" + TRACE + "-" + SPAN + "-01");
        assertThat(h.get("b3")).isEqualTo(TRACE + "-" + SPAN + "-1-" + PARENT);
        assertThat(h.get("tracestate")).isEqualTo("k=v");

        HttpHeaders root = headers("x-b3-parentspanid", "1".repeat(16));
        TracePropagation.inject(new TraceContext(SPAN, SPAN, null, false, false), root);
        assertThat(root.contains("x-b3-parentspanid")).isFalse();
        assertThat(root.contains("b3")).isFalse();
        assertThat(root.get("x-b3-sampled")).isEqualTo("0");
        // A 64-bit B3 trace id is widened for W3C.
        assertThat(root.get("traceparent")).isEqualTo("00-0000000000000000" + SPAN + "-" + SPAN + "-00");
    }
}
