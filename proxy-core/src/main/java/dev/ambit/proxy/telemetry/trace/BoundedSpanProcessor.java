package dev.ambit.proxy.telemetry.trace;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.metrics.Counter;
import io.opentelemetry.api.metrics.MeterProvider;
import io.opentelemetry.context.Context;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.ReadWriteSpan;
import io.opentelemetry.sdk.trace.ReadableSpan;
import io.opentelemetry.sdk.trace.SpanProcessor;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.time.Duration;
import java.util.Collection;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The SDK's {@link BatchSpanProcessor} behind a gate that counts: at most {@code capacity} spans
 * wait for export; a span ended beyond that is dropped at once (never blocking the request's
 * thread) and counted ({@code reason="queue_full"}), as are the spans of a batch the collector
 * did not take ({@code reason="export_failed"}: down, slow past the timeout, or an error answer).
 * The batch worker is the only thread that talks to the collector.
 */
final class BoundedSpanProcessor implements SpanProcessor {

    private final int capacity;
    private final AtomicInteger pending = new AtomicInteger();
    private final Counter queueFull;
    private final Counter exportFailed;
    private final BatchSpanProcessor batch;

    BoundedSpanProcessor(SpanExporter exporter, int capacity, Duration scheduleDelay, Duration exportTimeout,
                         Counter queueFull, Counter exportFailed) {
        requireNonNull(exporter, "exporter");
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity: " + capacity + " (expected: >= 1)");
        }
        this.capacity = capacity;
        this.queueFull = requireNonNull(queueFull, "queueFull");
        this.exportFailed = requireNonNull(exportFailed, "exportFailed");
        batch = BatchSpanProcessor.builder(new Counting(exporter))
                .setMaxQueueSize(capacity)
                .setMaxExportBatchSize(Math.min(512, capacity))
                .setScheduleDelay(scheduleDelay)
                .setExporterTimeout(exportTimeout)
                .setMeterProvider(MeterProvider::noop)
                .build();
    }

    /** Spans waiting for export now. */
    int pending() {
        return pending.get();
    }

    @Override
    public void onStart(Context parentContext, ReadWriteSpan span) {}

    @Override
    public boolean isStartRequired() {
        return false;
    }

    @Override
    public void onEnd(ReadableSpan span) {
        if (!span.getSpanContext().isSampled()) {
            return;
        }
        if (pending.incrementAndGet() > capacity) {
            pending.decrementAndGet();
            queueFull.inc();
            return;
        }
        batch.onEnd(span);
    }

    @Override
    public boolean isEndRequired() {
        return true;
    }

    @Override
    public CompletableResultCode shutdown() {
        return batch.shutdown();
    }

    @Override
    public CompletableResultCode forceFlush() {
        return batch.forceFlush();
    }

    /** Takes a batch off the count when the worker picks it up; counts a failed batch's spans. */
    private final class Counting implements SpanExporter {
        private final SpanExporter delegate;

        Counting(SpanExporter delegate) {
            this.delegate = delegate;
        }

        @Override
        public CompletableResultCode export(Collection<SpanData> spans) {
            pending.addAndGet(-spans.size());
            CompletableResultCode r;
            try {
                r = delegate.export(spans);
            } catch (RuntimeException e) {
                r = CompletableResultCode.ofFailure();
            }
            CompletableResultCode result = r;
            result.whenComplete(() -> {
                if (!result.isSuccess()) {
                    exportFailed.inc(spans.size());
                }
            });
            return result;
        }

        @Override
        public CompletableResultCode flush() {
            return delegate.flush();
        }

        @Override
        public CompletableResultCode shutdown() {
            return delegate.shutdown();
        }
    }
}
