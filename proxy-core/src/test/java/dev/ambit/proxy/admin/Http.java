package dev.ambit.proxy.admin;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/** A real HTTP client for the admin tests: requests go over loopback sockets. */
final class Http {

    private static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private Http() {}

    static HttpResponse<String> get(InetSocketAddress at, String pathAndQuery) throws IOException, InterruptedException {
        return send(at, pathAndQuery, HttpRequest.newBuilder().GET());
    }

    static HttpResponse<String> post(InetSocketAddress at, String pathAndQuery)
            throws IOException, InterruptedException {
        return send(at, pathAndQuery, HttpRequest.newBuilder().POST(HttpRequest.BodyPublishers.noBody()));
    }

    private static HttpResponse<String> send(InetSocketAddress at, String pathAndQuery, HttpRequest.Builder b)
            throws IOException, InterruptedException {
        URI uri = URI.create("http://127.0.0.1:" + at.getPort() + pathAndQuery);
        return CLIENT.send(b.uri(uri).timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
