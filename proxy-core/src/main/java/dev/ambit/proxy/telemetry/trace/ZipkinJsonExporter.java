package dev.ambit.proxy.telemetry.trace;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.json.JsonWriter;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Collection;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Spans as Zipkin v2 JSON ({@code POST /api/v2/spans}, a list of spans), as Envoy's zipkin tracer
 * sends them with {@code HTTP_JSON}: ids as hex, {@code timestamp} and {@code duration} in
 * microseconds, {@code kind} SERVER/CLIENT, the service as {@code localEndpoint.serviceName},
 * every attribute a string tag. Asynchronous: {@link #export} returns at once; the result
 * completes with the response (2xx: success) or fails at the timeout.
 */
final class ZipkinJsonExporter implements SpanExporter {

    private static final AttributeKey<String> SERVICE_NAME = AttributeKey.stringKey("service.name");

    private final URI uri;
    private final Duration timeout;
    private final HttpClient client;

    ZipkinJsonExporter(URI uri, Duration timeout) {
        this.uri = requireNonNull(uri, "uri");
        this.timeout = requireNonNull(timeout, "timeout");
        client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(timeout).build();
    }

    @Override
    public CompletableResultCode export(Collection<SpanData> spans) {
        CompletableResultCode result = new CompletableResultCode();
        HttpRequest request = HttpRequest.newBuilder(uri).timeout(timeout)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(encode(spans))).build();
        try {
            client.sendAsync(request, HttpResponse.BodyHandlers.discarding()).whenComplete((r, t) -> {
                if (t == null && r.statusCode() / 100 == 2) {
                    result.succeed();
                } else {
                    result.fail();
                }
            });
        } catch (RuntimeException e) {
            result.fail();
        }
        return result;
    }

    /** The Zipkin v2 JSON list of {@code spans}. */
    static String encode(Collection<SpanData> spans) {
        JsonWriter w = new JsonWriter().open('[');
        for (SpanData s : spans) {
            w.open('{')
                    .key("traceId").value(zipkinTraceId(s.getTraceId()))
                    .key("id").value(s.getSpanId());
            if (s.getParentSpanContext().isValid()) {
                w.key("parentId").value(s.getParentSpanId());
            }
            String kind = kind(s.getKind());
            if (kind != null) {
                w.key("kind").value(kind);
            }
            long start = TimeUnit.NANOSECONDS.toMicros(s.getStartEpochNanos());
            w.key("name").value(s.getName())
                    .key("timestamp").value(start)
                    .key("duration").value(Math.max(1, TimeUnit.NANOSECONDS.toMicros(s.getEndEpochNanos()) - start));
            String service = s.getResource().getAttribute(SERVICE_NAME);
            w.key("localEndpoint").open('{').key("serviceName").value(service == null ? "unknown" : service)
                    .close('}');
            Map<String, String> tags = new java.util.LinkedHashMap<>();
            s.getAttributes().forEach((k, v) -> tags.put(k.getKey(), String.valueOf(v)));
            if (s.getStatus().getStatusCode() == io.opentelemetry.api.trace.StatusCode.ERROR) {
                tags.putIfAbsent("error", "true");
            }
            w.key("tags").map(tags);
            w.close('}');
        }
        return w.close(']').toString();
    }

    /** Zipkin's form: a 128-bit id whose high half is zero is the 64-bit id it came from. */
    static String zipkinTraceId(String traceId) {
        return traceId.startsWith("0000000000000000") ? traceId.substring(16) : traceId;
    }

    private static String kind(SpanKind k) {
        return switch (k) {
            case SERVER -> "SERVER";
            case CLIENT -> "CLIENT";
            case PRODUCER -> "PRODUCER";
            case CONSUMER -> "CONSUMER";
            default -> null;
        };
    }

    @Override
    public CompletableResultCode flush() {
        return CompletableResultCode.ofSuccess();
    }

    @Override
    public CompletableResultCode shutdown() {
        client.shutdownNow();
        return CompletableResultCode.ofSuccess();
    }

    @Override
    public String toString() {
        return "zipkin " + uri;
    }
}
