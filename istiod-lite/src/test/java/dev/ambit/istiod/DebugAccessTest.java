package dev.ambit.istiod;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.common.http.HttpEndpoints;
import dev.ambit.common.http.HttpEndpoints.Request;
import dev.ambit.common.http.HttpEndpoints.Response;
import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewStatusBuilder;
import io.fabric8.kubernetes.api.model.authentication.UserInfoBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code /debug/*} answers loopback callers and token holders only; {@code /metrics} and
 * {@code /ready} stay open. The non-loopback caller is real: istiod-lite listens on every
 * address and the test connects to this host's own non-loopback address, so the peer
 * address istiod-lite sees is not 127.0.0.1.
 */
class DebugAccessTest {

    private static final String TOKEN = "d3bug-t0ken-0123456789abcdef";

    @TempDir
    Path tmp;

    @Test
    void folderModeAnswersLoopbackAndTheTokenOnly() throws Exception {
        InetAddress external = nonLoopbackAddress();
        Assumptions.assumeTrue(external != null, "this host has no non-loopback IPv4 address to call from");
        Path config = Files.createDirectories(tmp.resolve("config"));
        Path tokenFile = tmp.resolve("debug-token");
        Files.writeString(tokenFile, TOKEN + "\n");
        try (IstiodLite istiod = IstiodLite.start(IstiodConfig.parse(
                "--config-dir", config.toString(), "--listen-address", "0.0.0.0",
                "--xds-port", "0", "--secure-port", "0", "--monitoring-port", "0",
                "--ca-dir", tmp.resolve("ca").toString(), "--debug-token-file", tokenFile.toString()))) {
            int port = istiod.monitoringPort();
            String remote = "http://" + external.getHostAddress() + ":" + port;
            for (String path : List.of("/debug/config", "/debug/model", "/debug/clients", "/debug/trust-bundle")) {
                HttpResponse<String> anonymous = get(remote + path, null);
                assertThat(anonymous.statusCode()).as(path).isEqualTo(401);
                assertThat(anonymous.body()).contains("loopback").contains("debug-token");
                assertThat(get(remote + path, "wrong-token-0123456789").statusCode()).as(path).isEqualTo(401);
                assertThat(get(remote + path, TOKEN).statusCode()).as(path).isEqualTo(200);
                assertThat(get("http://127.0.0.1:" + port + path, null).statusCode()).as(path).isEqualTo(200);
            }
            assertThat(get(remote + "/metrics", null).statusCode()).isEqualTo(200);
            assertThat(get(remote + "/ready", null).statusCode()).isEqualTo(200);
            assertThat(get(remote + "/healthz", null).statusCode()).isEqualTo(200);
        }
    }

    @Test
    void withoutATokenFileOnlyLoopbackIsServed() {
        DebugAccess access = DebugAccess.loopbackOnly();
        assertThat(refusalOf(access, request("10.1.2.3", TOKEN)).status()).isEqualTo(401);
        assertThat(refusalOf(access, request("127.0.0.1", null))).isNull();
        assertThat(refusalOf(access, request("::1", null))).isNull();
    }

    @Test
    void kubernetesModeReviewsTheTokenAndAcceptsItsOwnNamespacesServiceAccounts() {
        Map<ServerRequest, Queue<ServerResponse>> expectations = new HashMap<>();
        KubernetesMockServer apiServer = new KubernetesMockServer(new Context(), new MockWebServer(), expectations,
                new KubernetesMixedDispatcher(expectations), false);
        apiServer.init();
        AtomicInteger reviews = new AtomicInteger();
        try (KubernetesClient client = apiServer.createClient()) {
            Map<String, String> users = Map.of("operator", "system:serviceaccount:istio-system:debugger",
                    "outsider", "system:serviceaccount:shop:frontend");
            apiServer.expect().post().withPath("/apis/authentication.k8s.io/v1/tokenreviews").andReply(201, req -> {
                reviews.incrementAndGet();
                TokenReview review = client.getKubernetesSerialization().unmarshal(req.getUtf8Body(), TokenReview.class);
                String user = review.getSpec().getAudiences().contains("istio-ca")
                        ? users.get(review.getSpec().getToken()) : null;
                review.setStatus(user == null
                        ? new TokenReviewStatusBuilder().withAuthenticated(false).build()
                        : new TokenReviewStatusBuilder().withAuthenticated(true)
                                .withUser(new UserInfoBuilder().withUsername(user).build()).build());
                return review;
            }).always();
            DebugAccess access = DebugAccess.tokenReview(client, "istio-system");

            assertThat(refusalOf(access, request("10.1.2.3", "operator"))).isNull();
            assertThat(refusalOf(access, request("10.1.2.3", "operator"))).isNull();
            assertThat(reviews).as("an accepted token is remembered").hasValue(1);
            Response outsider = refusalOf(access, request("10.1.2.3", "outsider"));
            assertThat(outsider.status()).isEqualTo(403);
            assertThat(outsider.body()).contains("system:serviceaccount:shop:frontend").contains("istio-system");
            assertThat(refusalOf(access, request("10.1.2.3", "forged")).status()).isEqualTo(401);
            assertThat(refusalOf(access, request("10.1.2.3", null)).status()).isEqualTo(401);
        } finally {
            apiServer.destroy();
        }
    }

    @Test
    void aSlowTokenReviewDoesNotHoldTheMonitoringEventLoop() throws Exception {
        InetAddress external = nonLoopbackAddress();
        Assumptions.assumeTrue(external != null, "this host has no non-loopback IPv4 address to call from");
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger checks = new AtomicInteger();
        DebugAccess access = DebugAccess.tokenCheck(token -> {
            checks.incrementAndGet();
            try {
                release.await(30, TimeUnit.SECONDS); // an API server that takes its time
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return new DebugAccess.Verdict(401, "token rejected");
        }, "with a token", System::nanoTime);
        try (HttpEndpoints http = HttpEndpoints.builder("test-monitoring")
                .get("/ready", req -> Response.text("ready\n"))
                .get("/metrics", req -> Response.prometheus("up 1\n"))
                .getAsync("/debug/config", IstiodLite.guarded(access, req -> Response.json("{}")))
                .bind(new InetSocketAddress("0.0.0.0", 0))) {
            String remote = "http://" + external.getHostAddress() + ":" + http.localAddress().getPort();
            HttpClient client = HttpClient.newHttpClient();
            List<CompletableFuture<HttpResponse<String>>> debug = new ArrayList<>();
            for (int i = 0; i < DebugAccess.MAX_CONCURRENT_CHECKS + 3; i++) {
                debug.add(client.sendAsync(HttpRequest.newBuilder(URI.create(remote + "/debug/config"))
                        .header("Authorization", "Bearer bogus-" + i).build(), HttpResponse.BodyHandlers.ofString()));
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (checks.get() < DebugAccess.MAX_CONCURRENT_CHECKS && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertThat(checks).as("reviews in flight").hasValue(DebugAccess.MAX_CONCURRENT_CHECKS);

            long start = System.nanoTime();
            assertThat(get(remote + "/ready", null).statusCode()).isEqualTo(200);
            assertThat(get(remote + "/metrics", null).statusCode()).isEqualTo(200);
            assertThat(Duration.ofNanos(System.nanoTime() - start)).as("/ready and /metrics while reviews hang")
                    .isLessThan(Duration.ofSeconds(5));
            long refusedAtOnce = debug.stream().filter(CompletableFuture::isDone).count();
            // the requests over the bound were answered 503 without waiting for a review
            deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (debug.stream().filter(CompletableFuture::isDone).count() < 3 && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertThat(debug.stream().filter(CompletableFuture::isDone).map(f -> f.join().statusCode()))
                    .as("answered before any review finished (%d at the first look)", refusedAtOnce)
                    .containsExactly(503, 503, 503);

            release.countDown();
            int reviewed = -1; // which request's token was reviewed (and rejected): the send order is not the arrival order
            for (int i = 0; i < debug.size(); i++) {
                int status = debug.get(i).get(10, TimeUnit.SECONDS).statusCode();
                assertThat(status).isIn(401, 503);
                if (status == 401) {
                    reviewed = i;
                }
            }
            assertThat(reviewed).as("one token reviewed and rejected").isNotNegative();
            int before = checks.get();
            HttpResponse<String> again = get(remote + "/debug/config", "bogus-" + reviewed);
            assertThat(again.statusCode()).isEqualTo(401);
            assertThat(checks).as("a rejected token is remembered, not reviewed again").hasValue(before);
        }
    }

    private static Response refusalOf(DebugAccess access, Request request) {
        return access.refusal(request).toCompletableFuture().join();
    }

    private static Request request(String peer, String token) {
        return new Request("GET", "/debug/config", Map.of(), "", new InetSocketAddress(peer, 40000),
                token == null ? Map.of() : Map.of("authorization", "Bearer " + token));
    }

    private static HttpResponse<String> get(String url, String token) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url));
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return HttpClient.newHttpClient().send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static InetAddress nonLoopbackAddress() throws Exception {
        for (NetworkInterface nif : NetworkInterface.networkInterfaces().toList()) {
            if (!nif.isUp() || nif.isLoopback()) {
                continue;
            }
            for (InetAddress a : nif.inetAddresses().toList()) {
                if (a instanceof Inet4Address && !a.isLoopbackAddress() && !a.isLinkLocalAddress()) {
                    return a;
                }
            }
        }
        return null;
    }
}
