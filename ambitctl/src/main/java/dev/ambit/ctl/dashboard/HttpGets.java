package dev.ambit.ctl.dashboard;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/** The mesh view's reads of its HTTP sources (Prometheus, Zipkin): the base URL checked once, GETs with a timeout. */
final class HttpGets {

    private HttpGets() {
    }

    /**
     * {@code base} without a trailing slash, so paths can be appended.
     *
     * @param what the source, for the message ({@code prometheus})
     * @throws IllegalArgumentException unless it is an http:// or https:// URL
     */
    static URI base(String what, URI base) {
        requireNonNull(base, "base");
        if (!"http".equals(base.getScheme()) && !"https".equals(base.getScheme())) {
            throw new IllegalArgumentException(what + ": " + base + " (expected: an http:// or https:// URL)");
        }
        String s = base.toString();
        return URI.create(s.endsWith("/") ? s.substring(0, s.length() - 1) : s);
    }

    /** A client whose connections give up after {@code timeout}. */
    static HttpClient client(Duration timeout) {
        return HttpClient.newBuilder().connectTimeout(timeout).build();
    }

    /**
     * {@code GET uri}, the body as text, whatever the status.
     *
     * @throws IOException if it cannot be sent or answered in {@code timeout}, or the thread is interrupted
     */
    static HttpResponse<String> get(HttpClient http, URI uri, Duration timeout) throws IOException {
        try {
            return http.send(HttpRequest.newBuilder(uri).timeout(timeout).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }
}
