package dev.ambit.proxy.telemetry.trace;

import static java.util.Objects.requireNonNull;

import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporter;
import io.opentelemetry.exporter.otlp.trace.OtlpGrpcSpanExporter;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;

/**
 * Where spans go: a trace collector behind an xDS cluster (Istio's {@code outbound|PORT||HOST}),
 * reached in plaintext at one of the cluster's endpoints, whatever their tunnel metadata says.
 */
public sealed interface Collector {

    /** The collector's cluster. */
    String cluster();

    /** An exporter sending to {@code endpoint}, each export bounded by {@code timeout}. */
    SpanExporter exporter(InetSocketAddress endpoint, Duration timeout);

    /** Zipkin v2 JSON over HTTP/1.1 POST to {@code path} (Envoy's {@code ZipkinConfig}, {@code HTTP_JSON}). */
    record Zipkin(String cluster, String path) implements Collector {
        public Zipkin {
            requireNonNull(cluster, "cluster");
            path = path == null || path.isEmpty() ? "/api/v2/spans" : path;
            if (!path.startsWith("/")) {
                throw new IllegalArgumentException("collector_endpoint: " + path + " (expected: a path starting with /)");
            }
        }

        @Override
        public SpanExporter exporter(InetSocketAddress endpoint, Duration timeout) {
            return new ZipkinJsonExporter(URI.create("http://" + hostPort(endpoint) + path), timeout);
        }
    }

    /** OTLP over gRPC (Envoy's {@code OpenTelemetryConfig.grpc_service}). */
    record OtlpGrpc(String cluster) implements Collector {
        public OtlpGrpc {
            requireNonNull(cluster, "cluster");
        }

        @Override
        public SpanExporter exporter(InetSocketAddress endpoint, Duration timeout) {
            return OtlpGrpcSpanExporter.builder().setEndpoint("http://" + hostPort(endpoint)).setTimeout(timeout)
                    .setMeterProvider(io.opentelemetry.api.metrics.MeterProvider::noop).build();
        }
    }

    /** OTLP over HTTP, protobuf body POSTed to {@code path} (Envoy's {@code OpenTelemetryConfig.http_service}). */
    record OtlpHttp(String cluster, String path) implements Collector {
        public OtlpHttp {
            requireNonNull(cluster, "cluster");
            path = path == null || path.isEmpty() ? "/v1/traces" : path;
            if (!path.startsWith("/")) {
                throw new IllegalArgumentException("http_uri path: " + path + " (expected: a path starting with /)");
            }
        }

        @Override
        public SpanExporter exporter(InetSocketAddress endpoint, Duration timeout) {
            return OtlpHttpSpanExporter.builder().setEndpoint("http://" + hostPort(endpoint) + path)
                    .setTimeout(timeout).setMeterProvider(io.opentelemetry.api.metrics.MeterProvider::noop).build();
        }
    }

    private static String hostPort(InetSocketAddress a) {
        String host = a.getAddress() != null ? a.getAddress().getHostAddress() : a.getHostString();
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + a.getPort();
    }
}
