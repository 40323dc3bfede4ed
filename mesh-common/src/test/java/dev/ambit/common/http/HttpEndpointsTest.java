package dev.ambit.common.http;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

class HttpEndpointsTest {

    @Test
    void routesByPathAndMethod() throws Exception {
        try (HttpEndpoints http = HttpEndpoints.builder("test")
                .get("/hello", req -> HttpEndpoints.Response.text("hi " + req.param("who", "nobody")))
                .get("/boom", req -> { throw new IllegalStateException("boom"); })
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
            HttpClient client = HttpClient.newHttpClient();
            String base = "http://127.0.0.1:" + http.localAddress().getPort();
            assertThat(client.send(HttpRequest.newBuilder(URI.create(base + "/hello?who=ambit")).build(),
                    HttpResponse.BodyHandlers.ofString()).body()).isEqualTo("hi ambit");
            HttpResponse<String> missing = client.send(HttpRequest.newBuilder(URI.create(base + "/nope")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(missing.statusCode()).isEqualTo(404);
            assertThat(missing.body()).contains("/hello");
            HttpResponse<String> post = client.send(HttpRequest.newBuilder(URI.create(base + "/hello"))
                    .POST(HttpRequest.BodyPublishers.ofString("x")).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(post.statusCode()).isEqualTo(405);
            HttpResponse<String> boom = client.send(HttpRequest.newBuilder(URI.create(base + "/boom")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(boom.statusCode()).isEqualTo(500);
            assertThat(boom.body()).contains("boom");
        }
    }
}
