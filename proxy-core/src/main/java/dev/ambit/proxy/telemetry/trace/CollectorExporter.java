package dev.ambit.proxy.telemetry.trace;

import static java.util.Objects.requireNonNull;

import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Collection;
import java.util.function.Function;

/**
 * The exporter of one {@link Collector}: each batch goes to the endpoint its cluster has now
 * (endpoints come and go with EDS); the exporter of an endpoint is built on first use and
 * replaced when the endpoint changes. No endpoint: the batch fails (and is counted as dropped).
 * Called only by the batch processor's worker thread.
 */
final class CollectorExporter implements SpanExporter {

    private final Collector collector;
    private final Function<String, InetSocketAddress> endpoints;
    private final Duration timeout;
    private InetSocketAddress current;
    private SpanExporter delegate;

    CollectorExporter(Collector collector, Function<String, InetSocketAddress> endpoints, Duration timeout) {
        this.collector = requireNonNull(collector, "collector");
        this.endpoints = requireNonNull(endpoints, "endpoints");
        this.timeout = requireNonNull(timeout, "timeout");
    }

    @Override
    public synchronized CompletableResultCode export(Collection<SpanData> spans) {
        InetSocketAddress endpoint;
        try {
            endpoint = endpoints.apply(collector.cluster());
        } catch (RuntimeException e) {
            endpoint = null;
        }
        if (endpoint == null) {
            return CompletableResultCode.ofFailure();
        }
        if (!endpoint.equals(current)) {
            if (delegate != null) {
                delegate.shutdown();
            }
            delegate = collector.exporter(endpoint, timeout);
            current = endpoint;
        }
        return delegate.export(spans);
    }

    @Override
    public synchronized CompletableResultCode flush() {
        return delegate == null ? CompletableResultCode.ofSuccess() : delegate.flush();
    }

    @Override
    public synchronized CompletableResultCode shutdown() {
        return delegate == null ? CompletableResultCode.ofSuccess() : delegate.shutdown();
    }
}
