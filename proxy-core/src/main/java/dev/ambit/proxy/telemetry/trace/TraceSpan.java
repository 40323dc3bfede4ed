package dev.ambit.proxy.telemetry.trace;

import static java.util.Objects.requireNonNull;

import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.context.Context;
import io.netty.handler.codec.http.HttpHeaders;

/**
 * One span of a request: recorded (sampled: an OpenTelemetry SDK span, exported when it ends)
 * or not (ids only, so the next hop still gets a consistent context with {@code sampled=0}, as
 * Envoy's zipkin tracer propagates unsampled spans). Its {@link #context()} is what the next hop
 * sees as its parent. Not thread-safe: one request's thread at a time.
 */
public final class TraceSpan {

    private final Tracer tracer;
    private final Span span; // null: not recorded
    private final TraceContext context;
    private boolean ended;

    private TraceSpan(Tracer tracer, Span span, TraceContext context) {
        this.tracer = tracer;
        this.span = span;
        this.context = context;
    }

    /** A span of {@code tracer}, child of {@code parent} (null: a new trace), sampled or not. */
    static TraceSpan start(Tracer tracer, String name, SpanKind kind, TraceContext parent, boolean sampled,
                           boolean debug) {
        requireNonNull(name, "name");
        if (!sampled) {
            String traceId = parent != null ? parent.traceId() : TraceContext.newTraceId();
            return new TraceSpan(tracer, null, new TraceContext(traceId, TraceContext.newSpanId(),
                    parent != null ? parent.spanId() : null, Boolean.FALSE, false));
        }
        var builder = tracer.sdk().spanBuilder(name).setSpanKind(kind);
        if (parent != null) {
            builder.setParent(remoteParent(parent));
        } else {
            builder.setNoParent();
        }
        Span s = builder.startSpan();
        String traceId = parent != null ? parent.traceId() : s.getSpanContext().getTraceId();
        return new TraceSpan(tracer, s, new TraceContext(traceId, s.getSpanContext().getSpanId(),
                parent != null ? parent.spanId() : null, Boolean.TRUE, debug));
    }

    /** The OpenTelemetry context whose span is {@code parent}, a sampled span of another process. */
    static Context remoteParent(TraceContext parent) {
        return Context.root().with(Span.wrap(SpanContext.createFromRemoteParent(parent.traceId128(),
                parent.spanId(), TraceFlags.getSampled(), TraceState.getDefault())));
    }

    /** A child of this span (a client span per upstream attempt, a mirror), sampled as this one is. */
    public TraceSpan child(String name, SpanKind kind) {
        return start(tracer, name, kind, context, span != null, context.debug());
    }

    /** This span's context: trace id, its own span id, its parent, the decision. */
    public TraceContext context() {
        return context;
    }

    /** Whether this span is recorded (and exported when it ends). */
    public boolean recording() {
        return span != null;
    }

    /** The tracer this span belongs to (its settings: custom tags, path length). */
    public Tracer tracer() {
        return tracer;
    }

    /** Sets a string tag (ignored when not recorded or when {@code value} is null). */
    public TraceSpan tag(String key, String value) {
        if (span != null && value != null) {
            span.setAttribute(key, value);
        }
        return this;
    }

    /** Marks the span failed, as Envoy's {@code error: true} tag. */
    public TraceSpan error() {
        if (span != null) {
            span.setStatus(StatusCode.ERROR);
            span.setAttribute("error", "true");
        }
        return this;
    }

    /** Writes this span's context into {@code headers} for the next hop ({@link TracePropagation#inject}). */
    public void inject(HttpHeaders headers) {
        TracePropagation.inject(context, headers);
    }

    /** Ends the span once (later calls do nothing); a recorded span goes to the export queue. */
    public void end() {
        if (!ended) {
            ended = true;
            if (span != null) {
                span.end();
            }
        }
    }
}
