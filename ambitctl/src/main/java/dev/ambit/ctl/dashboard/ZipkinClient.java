package dev.ambit.ctl.dashboard;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.time.Duration;

/**
 * Reads traces from Zipkin's v2 API ({@code /api/v2/traces}, {@code /api/v2/trace/{id}}) for
 * the mesh view's trace panel.
 */
final class ZipkinClient {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final URI base;
    private final HttpClient http;
    private final Duration timeout;

    private ZipkinClient(URI base, Duration timeout) {
        this.base = base;
        this.timeout = timeout;
        http = HttpGets.client(timeout);
    }

    static ZipkinClient of(URI base, Duration timeout) {
        return new ZipkinClient(HttpGets.base("zipkin", base), requireNonNull(timeout, "timeout"));
    }

    /**
     * The latest {@code limit} traces of the last {@code lookback}, one summary each:
     * {@code traceId}, the root span's {@code name} and {@code service}, {@code durationMs},
     * {@code spans}, {@code timestamp} (microseconds), newest first.
     */
    ArrayNode recent(int limit, Duration lookback) throws IOException {
        JsonNode traces = get("/api/v2/traces?limit=" + limit + "&lookback=" + lookback.toMillis());
        ArrayNode out = JSON.createArrayNode();
        if (traces == null) {
            return out;
        }
        for (JsonNode trace : traces) {
            JsonNode root = null;
            for (JsonNode span : trace) {
                if (!span.hasNonNull("parentId") && (root == null
                        || span.path("timestamp").asLong() < root.path("timestamp").asLong())) {
                    root = span;
                }
            }
            if (root == null && !trace.isEmpty()) {
                root = trace.get(0); // its root is not (yet) in Zipkin
            }
            if (root == null) {
                continue;
            }
            ObjectNode o = out.addObject();
            o.put("traceId", root.path("traceId").asText()).put("name", root.path("name").asText())
                    .put("service", root.path("localEndpoint").path("serviceName").asText())
                    .put("durationMs", root.path("duration").asLong() / 1000.0).put("spans", trace.size())
                    .put("timestamp", root.path("timestamp").asLong());
        }
        return out;
    }

    /** The spans of trace {@code id} as Zipkin has them, or null when Zipkin does not know it. */
    JsonNode trace(String id) throws IOException {
        return get("/api/v2/trace/" + id);
    }

    private JsonNode get(String pathAndQuery) throws IOException {
        URI uri = URI.create(base + pathAndQuery);
        HttpResponse<String> r = HttpGets.get(http, uri, timeout);
        if (r.statusCode() == 404) {
            return null;
        }
        if (r.statusCode() != 200) {
            throw new IOException("zipkin " + uri + ": HTTP " + r.statusCode() + ": " + r.body());
        }
        return JSON.readTree(r.body());
    }
}
