package dev.ambit.ctl.dashboard;

import static java.util.Objects.requireNonNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Instant queries against Prometheus's HTTP API ({@code GET /api/v1/query}), answers read as
 * vectors. The mesh view's only way to the metrics.
 */
final class PrometheusClient {

    /** One element of an instant vector: its labels and value. */
    record Sample(Map<String, String> labels, double value) {
        String label(String name) {
            return labels.getOrDefault(name, "");
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final URI base;
    private final HttpClient http;
    private final Duration timeout;

    private PrometheusClient(URI base, Duration timeout) {
        this.base = base;
        this.timeout = timeout;
        http = HttpGets.client(timeout);
    }

    /** A client of the Prometheus at {@code base} (such as {@code http://10.250.0.200:9090}). */
    static PrometheusClient of(URI base, Duration timeout) {
        requireNonNull(timeout, "timeout");
        return new PrometheusClient(HttpGets.base("prometheus", base), timeout);
    }

    URI base() {
        return base;
    }

    /**
     * The instant vector {@code query} returns now.
     *
     * @throws IOException if Prometheus cannot be reached, or answers with an error or not a vector
     */
    List<Sample> vector(String query) throws IOException {
        URI uri = URI.create(base + "/api/v1/query?query=" + URLEncoder.encode(query, StandardCharsets.UTF_8));
        HttpResponse<String> r = HttpGets.get(http, uri, timeout);
        JsonNode body;
        try {
            body = JSON.readTree(r.body());
        } catch (IOException e) {
            throw new IOException("prometheus " + base + ": HTTP " + r.statusCode() + ", not JSON: " + e.getMessage());
        }
        if (r.statusCode() != 200 || !"success".equals(body.path("status").asText())) {
            throw new IOException("prometheus " + base + ": HTTP " + r.statusCode() + " for " + query + ": "
                    + body.path("error").asText(r.body()));
        }
        JsonNode data = body.path("data");
        if (!"vector".equals(data.path("resultType").asText())) {
            throw new IOException("prometheus " + base + ": result of " + query + " is "
                    + data.path("resultType").asText() + " (expected: vector)");
        }
        List<Sample> out = new ArrayList<>();
        for (JsonNode e : data.path("result")) {
            Map<String, String> labels = new LinkedHashMap<>();
            e.path("metric").properties().forEach(l -> labels.put(l.getKey(), l.getValue().asText()));
            double v = parse(e.path("value").path(1).asText());
            out.add(new Sample(Map.copyOf(labels), v));
        }
        return out;
    }

    private static double parse(String s) {
        return switch (s) {
            case "NaN" -> Double.NaN;
            case "+Inf" -> Double.POSITIVE_INFINITY;
            case "-Inf" -> Double.NEGATIVE_INFINITY;
            default -> Double.parseDouble(s);
        };
    }
}
