package dev.ambit.proxy.telemetry.trace;

import static java.util.Objects.requireNonNull;

import io.netty.handler.codec.http.HttpHeaders;
import io.opentelemetry.api.trace.SpanKind;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The tracer of one HttpConnectionManager's {@code tracing}: starts a request's span from its
 * headers. The caller's decision ({@code traceparent} flags, {@code x-b3-sampled},
 * {@code x-b3-flags}, {@code b3}) is honoured; only a request without one is sampled at
 * {@code random_sampling} percent. Thread-safe.
 */
public final class Tracer {

    private final TraceSettings settings;
    private final io.opentelemetry.api.trace.Tracer sdk;

    Tracer(TraceSettings settings, io.opentelemetry.api.trace.Tracer sdk) {
        this.settings = requireNonNull(settings, "settings");
        this.sdk = requireNonNull(sdk, "sdk");
    }

    public TraceSettings settings() {
        return settings;
    }

    io.opentelemetry.api.trace.Tracer sdk() {
        return sdk;
    }

    /**
     * Starts the span of a request that arrived with {@code headers}, a child of the caller's span
     * if the headers carry one.
     */
    public TraceSpan start(String name, SpanKind kind, HttpHeaders headers) {
        TracePropagation.Extracted in = TracePropagation.extract(headers);
        Boolean decision = in.sampled();
        boolean debug = in.context() != null && in.context().debug();
        boolean sampled = debug || (decision != null ? decision : sample());
        return TraceSpan.start(this, name, kind, in.context(), sampled, debug);
    }

    /** A new trace is sampled at {@code random_sampling} percent. */
    private boolean sample() {
        double p = settings.samplingPercent();
        return p >= 100 || (p > 0 && ThreadLocalRandom.current().nextDouble(100) < p);
    }

    /** {@code path} cut to {@code max_path_tag_length}, as Envoy tags {@code http.url}. */
    public String pathTag(String url) {
        int max = settings.maxPathTagLength();
        return url == null || url.length() <= max ? url : url.substring(0, max);
    }
}
