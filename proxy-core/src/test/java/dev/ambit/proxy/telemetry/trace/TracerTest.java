package dev.ambit.proxy.telemetry.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.common.metrics.MetricsRegistry;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.opentelemetry.api.trace.SpanKind;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The sampler: incoming decisions win, only new traces are sampled at {@code random_sampling}. */
class TracerTest {

    // No endpoint: sampled spans are queued and dropped as export failures, never sent.
    private final Tracers tracers = Tracers.builder(MetricsRegistry.create(), cluster -> null).build();

    @AfterEach
    void close() {
        tracers.close();
    }

    private Tracer tracer(double percent) {
        return tracers.tracer(new TraceSettings(percent, List.of(), TraceSettings.DEFAULT_MAX_PATH_TAG_LENGTH,
                new Collector.Zipkin("outbound|9411||zipkin.istio-system.svc.cluster.local", null), "svc.ns"));
    }

    private static int sampled(Tracer t, int n, HttpHeaders headers) {
        int yes = 0;
        for (int i = 0; i < n; i++) {
            TraceSpan s = t.start("op", SpanKind.SERVER, headers);
            if (s.recording()) {
                assertThat(s.context().sampled()).isTrue();
                yes++;
            } else {
                assertThat(s.context().sampled()).isFalse();
            }
            s.end();
        }
        return yes;
    }

    @Test
    void newTracesAreSampledAtTheConfiguredPercent() {
        assertThat(sampled(tracer(0), 2000, new DefaultHttpHeaders())).isZero();
        assertThat(sampled(tracer(100), 2000, new DefaultHttpHeaders())).isEqualTo(2000);
        // 10 % of 10,000: mean 1000, standard deviation 30; the bounds are 10 deviations wide.
        assertThat(sampled(tracer(10), 10_000, new DefaultHttpHeaders())).isBetween(700, 1300);
    }

    @Test
    void anIncomingDecisionWinsOverThePercent() {
        HttpHeaders yes = new DefaultHttpHeaders().add("traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        HttpHeaders no = new DefaultHttpHeaders().add("x-b3-sampled", "0");
        assertThat(sampled(tracer(0), 50, yes)).isEqualTo(50);
        assertThat(sampled(tracer(100), 50, no)).isZero();
        assertThat(sampled(tracer(0), 50, new DefaultHttpHeaders().add("b3", "d"))).isEqualTo(50);
    }

    @Test
    void aSpanContinuesTheCallersTraceAndItsChildrenTheSpan() {
        TraceSpan server = tracer(100).start("op", SpanKind.SERVER, new DefaultHttpHeaders()
                .add("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        TraceSpan client = server.child("cluster", SpanKind.CLIENT);
        assertThat(server.context().traceId()).isEqualTo("4bf92f3577b34da6a3ce929d0e0e4736");
        assertThat(server.context().parentSpanId()).isEqualTo("00f067aa0ba902b7");
        assertThat(client.context().traceId()).isEqualTo(server.context().traceId());
        assertThat(client.context().parentSpanId()).isEqualTo(server.context().spanId());
        assertThat(client.context().spanId()).isNotEqualTo(server.context().spanId());
        client.end();
        server.end();
        // An unsampled caller's children are unsampled, in the caller's trace.
        TraceSpan quiet = tracer(100).start("op", SpanKind.SERVER, new DefaultHttpHeaders()
                .add("x-b3-traceid", "463ac35c9f6413ad").add("x-b3-spanid", "a2fb4a1d1a96d312")
                .add("x-b3-sampled", "0"));
        assertThat(quiet.child("c", SpanKind.CLIENT).context())
                .returns("463ac35c9f6413ad", TraceContext::traceId)
                .returns(false, TraceContext::sampled);
    }

    @Test
    void theUrlTagIsCutAtMaxPathTagLength() {
        Tracer t = tracers.tracer(new TraceSettings(100, List.of(), 10,
                new Collector.Zipkin("c", "/api/v2/spans"), "svc.ns"));
        assertThat(t.pathTag("http://a/0123456789")).isEqualTo("http://a/0");
        assertThat(t.pathTag("http://a/")).isEqualTo("http://a/");
    }
}
