package dev.ambit.proxy.telemetry.trace;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.MetricsRegistry;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.samplers.Sampler;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * A proxy's tracers: one {@link Tracer} per distinct {@link TraceSettings}, one export pipeline
 * (an SDK tracer provider with a {@link BoundedSpanProcessor} and a {@link CollectorExporter})
 * per collector and service, kept while the process runs (a handful at most: one per provider
 * the mesh configures). Spans never wait for a collector: the queue is bounded and its drops are
 * counted in {@code ambit_trace_spans_dropped_total{reason}}.
 */
public final class Tracers implements AutoCloseable {

    /** Queue bound of each pipeline (the SDK's default maximum). */
    public static final int DEFAULT_QUEUE_SIZE = 2048;

    private final Function<String, InetSocketAddress> endpoints;
    private final int queueSize;
    private final Duration scheduleDelay;
    private final Duration exportTimeout;
    private final Counter queueFull;
    private final Counter exportFailed;
    private final Map<TraceSettings, Tracer> tracers = new ConcurrentHashMap<>();
    private final Map<List<Object>, Pipeline> pipelines = new ConcurrentHashMap<>();
    private volatile boolean closed;

    private record Pipeline(SdkTracerProvider provider, BoundedSpanProcessor processor) {}

    private Tracers(Builder b) {
        endpoints = b.endpoints;
        queueSize = b.queueSize;
        scheduleDelay = b.scheduleDelay;
        exportTimeout = b.exportTimeout;
        Counter.Family dropped = b.metrics.counter("ambit_trace_spans_dropped_total",
                "Sampled spans not exported: the export queue was full, or the collector did not take their batch.",
                "reason");
        queueFull = dropped.labels("queue_full");
        exportFailed = dropped.labels("export_failed");
    }

    /**
     * @param metrics where the drop counter goes
     * @param endpoints a collector cluster's endpoint now (null: none)
     */
    public static Builder builder(MetricsRegistry metrics, Function<String, InetSocketAddress> endpoints) {
        return new Builder(requireNonNull(metrics, "metrics"), requireNonNull(endpoints, "endpoints"));
    }

    /** The tracer of {@code settings} (the same instance for equal settings). */
    public Tracer tracer(TraceSettings settings) {
        requireNonNull(settings, "settings");
        Tracer t = tracers.get(settings);
        if (t != null) {
            return t;
        }
        if (tracers.size() > 256) {
            tracers.clear(); // configs come and go; their pipelines stay (keyed by collector)
        }
        return tracers.computeIfAbsent(settings, s -> new Tracer(s, pipeline(s).provider().get("ambit")));
    }

    private Pipeline pipeline(TraceSettings s) {
        if (closed) {
            throw new IllegalStateException("tracers: closed");
        }
        return pipelines.computeIfAbsent(List.of(s.collector(), s.serviceName()), k -> {
            BoundedSpanProcessor processor = new BoundedSpanProcessor(
                    new CollectorExporter(s.collector(), endpoints, exportTimeout), queueSize, scheduleDelay,
                    exportTimeout, queueFull, exportFailed);
            SdkTracerProvider provider = SdkTracerProvider.builder()
                    .setResource(Resource.create(Attributes.of(
                            io.opentelemetry.api.common.AttributeKey.stringKey("service.name"), s.serviceName())))
                    .setSampler(Sampler.alwaysOn()) // the decision is made before a span is recorded (Tracer)
                    .addSpanProcessor(processor)
                    .build();
            return new Pipeline(provider, processor);
        });
    }

    /** Exports what waits now (tests, shutdown); waits at most {@code timeout}. */
    public void flush(Duration timeout) {
        List<io.opentelemetry.sdk.common.CompletableResultCode> all = new ArrayList<>();
        pipelines.values().forEach(p -> all.add(p.provider().forceFlush()));
        io.opentelemetry.sdk.common.CompletableResultCode.ofAll(all).join(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Spans waiting for export in every pipeline. */
    public int pending() {
        return pipelines.values().stream().mapToInt(p -> p.processor().pending()).sum();
    }

    /** Stops every pipeline, exporting what waits for at most the export timeout. */
    @Override
    public void close() {
        closed = true;
        List<io.opentelemetry.sdk.common.CompletableResultCode> all = new ArrayList<>();
        pipelines.values().forEach(p -> all.add(p.provider().shutdown()));
        io.opentelemetry.sdk.common.CompletableResultCode.ofAll(all).join(exportTimeout.toMillis(),
                TimeUnit.MILLISECONDS);
    }

    public static final class Builder {
        private final MetricsRegistry metrics;
        private final Function<String, InetSocketAddress> endpoints;
        private int queueSize = DEFAULT_QUEUE_SIZE;
        private Duration scheduleDelay = Duration.ofSeconds(1);
        private Duration exportTimeout = Duration.ofSeconds(5);

        private Builder(MetricsRegistry metrics, Function<String, InetSocketAddress> endpoints) {
            this.metrics = metrics;
            this.endpoints = endpoints;
        }

        /** Spans that may wait for export per pipeline (default {@value #DEFAULT_QUEUE_SIZE}). */
        public Builder queueSize(int size) {
            if (size < 1) {
                throw new IllegalArgumentException("queueSize: " + size + " (expected: >= 1)");
            }
            this.queueSize = size;
            return this;
        }

        /** How long a span may wait before its batch is sent (default 1 s; Envoy's zipkin flushes every 5 s). */
        public Builder scheduleDelay(Duration delay) {
            requireNonNull(delay, "delay");
            if (delay.isNegative() || delay.isZero()) {
                throw new IllegalArgumentException("scheduleDelay: " + delay + " (expected: > 0)");
            }
            this.scheduleDelay = delay;
            return this;
        }

        /** How long one export may take before its batch counts as dropped (default 5 s). */
        public Builder exportTimeout(Duration timeout) {
            requireNonNull(timeout, "timeout");
            if (timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("exportTimeout: " + timeout + " (expected: > 0)");
            }
            this.exportTimeout = timeout;
            return this;
        }

        public Tracers build() {
            return new Tracers(this);
        }
    }
}
