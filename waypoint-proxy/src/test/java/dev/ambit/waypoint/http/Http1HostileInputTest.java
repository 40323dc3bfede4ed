package dev.ambit.waypoint.http;

import static dev.ambit.waypoint.http.Harness.CLUSTER;
import static dev.ambit.waypoint.http.Harness.prefix;
import static dev.ambit.waypoint.http.Harness.routes;
import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.UInt32Value;
import dev.ambit.testing.LeakCheck;
import io.envoyproxy.envoy.config.core.v3.HttpProtocolOptions;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Hostile HTTP/1.1 on a terminated tunnel's bytes: each case refused as Envoy's codec refuses
 * it (status, {@code connection: close}, closed), counted by reason, never sent upstream; a
 * well-behaved connection beside it is served.
 */
class Http1HostileInputTest {

    private Harness h;
    private DownstreamRejections rejections;
    private final java.util.List<EmbeddedChannel> channels = new java.util.ArrayList<>();

    @BeforeEach
    void setUp() {
        LeakCheck.install();
        h = new Harness();
        h.config.route(routes(prefix("all", "/", CLUSTER).build()));
        rejections = DownstreamRejections.of(h.metrics);
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        channels.forEach(EmbeddedChannel::finishAndReleaseAll);
        h.close();
        LeakCheck.assertNoLeaks();
    }

    private EmbeddedChannel connection(Limits limits) {
        EmbeddedChannel ch = new EmbeddedChannel();
        ch.config().setAutoRead(false);
        ch.freezeTime();
        HttpConnections.http1(ch.pipeline(), h.downstream(), h.processor(), h.upstreams, limits, rejections);
        pump(ch);
        channels.add(ch);
        return ch;
    }

    private static void pump(EmbeddedChannel ch) {
        for (int i = 0; i < 10; i++) {
            ch.runPendingTasks();
        }
    }

    private static String exchange(EmbeddedChannel ch, String bytes) {
        ch.writeInbound(Unpooled.copiedBuffer(bytes, ISO_8859_1));
        pump(ch);
        return written(ch);
    }

    private static String written(EmbeddedChannel ch) {
        StringBuilder s = new StringBuilder();
        for (ByteBuf b; (b = ch.readOutbound()) != null; ) {
            s.append(b.toString(ISO_8859_1));
            b.release();
        }
        return s.toString();
    }

    private double rejected(String reason) {
        return h.metrics.value(DownstreamRejections.METRIC, reason);
    }

    /** A well-behaved client on its own connection, asked after each refusal. */
    private void wellBehavedClientIsServed() {
        EmbeddedChannel good = connection(Limits.DEFAULTS);
        int before = h.upstreams.sent.size();
        String out = exchange(good, "GET /fine HTTP/1.1\r\nHost: reviews\r\n\r\n");
        assertThat(out).startsWith("HTTP/1.1 200 OK");
        assertThat(good.isOpen()).isTrue();
        assertThat(h.upstreams.sent).hasSize(before + 1);
    }

    static Stream<Arguments> refused() {
        String big = "x".repeat(61 * 1024);
        StringBuilder many = new StringBuilder();
        for (int i = 0; i < 101; i++) {
            many.append("x-h").append(i).append(": v\r\n");
        }
        return Stream.of(
                // Envoy: http1.content_length_and_chunked_not_allowed (allow_chunked_length off)
                Arguments.of("CL with TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                        + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "content_length_and_chunked"),
                // balsa: MULTIPLE_CONTENT_LENGTH_KEYS, differing or not
                Arguments.of("two Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                        + "Content-Length: 4\r\n\r\nabcd", 400, "multiple_content_length"),
                Arguments.of("same Content-Length twice", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                        + "Content-Length: 3\r\n\r\nabc", 400, "multiple_content_length"),
                Arguments.of("Content-Length list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc",
                        400, "multiple_content_length"),
                Arguments.of("signed Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc",
                        400, "invalid_content_length"),
                // Envoy: http1.invalid_transfer_encoding → 501 for anything but chunked
                Arguments.of("TE gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
                        "invalid_transfer_encoding"),
                Arguments.of("TE gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                        + "0\r\n\r\n", 501, "invalid_transfer_encoding"),
                Arguments.of("TE twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                        + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501, "invalid_transfer_encoding"),
                Arguments.of("bare LF", "GET / HTTP/1.1\nHost: a\n\n", 400, "bare_lf"),
                Arguments.of("bare LF in headers", "GET / HTTP/1.1\r\nHost: a\nX-Smuggle: y\r\n\r\n", 400, "bare_lf"),
                Arguments.of("bare CR", "GET / HTTP/1.1\r\nHost: a\rX-Smuggle: y\r\n\r\n", 400, "invalid_header"),
                Arguments.of("space in name", "GET / HTTP/1.1\r\nHost: a\r\nX Y: z\r\n\r\n", 400, "invalid_header"),
                Arguments.of("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "invalid_header"),
                Arguments.of("control char in value", "GET / HTTP/1.1\r\nHost: a\u0001b\r\n\r\n", 400,
                        "invalid_header"),
                Arguments.of("bad chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + "zz\r\nabc\r\n0\r\n\r\n", 400, "invalid_chunk"),
                Arguments.of("unknown method", "FROB / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid_method"),
                Arguments.of("relative target", "GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid_url"),
                Arguments.of("non-HTTP absolute target", "GET ftp://a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400,
                        "invalid_url"),
                Arguments.of("@@ in authority", "GET http://a@@b/c HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid_url"),
                // found by HttpFuzzTest: Envoy's authority check (nghttp2_check_authority)
                Arguments.of("space in Host", "GET / HTTP/1.1\r\nHost: GE\\ / HTTews\r\n\r\n", 400,
                        "invalid_authority"),
                Arguments.of("empty Host", "GET / HTTP/1.1\r\nHost: \r\n\r\n", 400, "invalid_authority"),
                Arguments.of("asterisk with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid_url"),
                // Envoy: http1.headers_too_large / too_many_headers → 431
                Arguments.of("61 KiB header", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + big + "\r\n\r\n", 431,
                        "headers_too_large"),
                Arguments.of("61 KiB request line", "GET /" + big + " HTTP/1.1\r\nHost: a\r\n\r\n", 431,
                        "headers_too_large"),
                Arguments.of("101 headers", "GET / HTTP/1.1\r\nHost: a\r\n" + many + "\r\n", 431, "too_many_headers"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("refused")
    void refusedAsEnvoyDoesCountedAndOthersServed(String name, String bytes, int status, String reason) {
        EmbeddedChannel bad = connection(Limits.DEFAULTS);
        String out = exchange(bad, bytes + "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n");
        assertThat(out).startsWith("HTTP/1.1 " + status + " ");
        assertThat(out).containsIgnoringCase("connection: close");
        assertThat(bad.isOpen()).isFalse();
        assertThat(h.upstreams.sent).isEmpty(); // neither the request nor what followed it
        assertThat(rejected(reason)).isEqualTo(1);
        wellBehavedClientIsServed();
    }

    @Test
    void obsFoldIsUnfoldedAsEnvoyDoesNeverForwardedFolded() {
        EmbeddedChannel ch = connection(Limits.DEFAULTS);
        String out = exchange(ch, "GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n");
        assertThat(out).startsWith("HTTP/1.1 200 OK");
        // balsa keeps continuation lines and Envoy strips their CR LF: one line, never a fold.
        assertThat(h.upstreams.sent.get(0).headers().get("x-folded")).isEqualTo("one two");
    }

    @Test
    void absoluteFormTakesItsHostFromTheTargetAsRfc9112Requires() {
        EmbeddedChannel ch = connection(Limits.DEFAULTS);
        String out = exchange(ch, "GET http://reviews:9080/a?b=1 HTTP/1.1\r\nHost: evil\r\n\r\n");
        assertThat(out).startsWith("HTTP/1.1 200 OK");
        assertThat(h.upstreams.sent.get(0).uri()).isEqualTo("/a?b=1");
        assertThat(h.upstreams.sent.get(0).headers().get("host")).isEqualTo("reviews:9080");
    }

    @Test
    void headerLimitsFromTheHttpConnectionManager() {
        HttpConnectionManager hcm = HttpConnectionManager.newBuilder().setMaxRequestHeadersKb(UInt32Value.of(1))
                .setCommonHttpProtocolOptions(HttpProtocolOptions.newBuilder().setMaxHeadersCount(UInt32Value.of(3)))
                .build();
        Limits limits = Limits.of(hcm, 64);
        String out = exchange(connection(limits), "GET / HTTP/1.1\r\nHost: a\r\nX: " + "y".repeat(1100) + "\r\n\r\n");
        assertThat(out).startsWith("HTTP/1.1 431 Request Header Fields Too Large");
        out = exchange(connection(limits), "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
        assertThat(out).startsWith("HTTP/1.1 431 ");
        out = exchange(connection(limits), "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\n\r\n");
        assertThat(out).startsWith("HTTP/1.1 200 OK");
        assertThat(rejected("headers_too_large")).isEqualTo(1);
        assertThat(rejected("too_many_headers")).isEqualTo(1);
    }

    @Test
    void headersWithUnderscoresRejectedOrDroppedWhenAsked() {
        var reject = Limits.of(HttpConnectionManager.newBuilder().setCommonHttpProtocolOptions(
                HttpProtocolOptions.newBuilder().setHeadersWithUnderscoresAction(
                        HttpProtocolOptions.HeadersWithUnderscoresAction.REJECT_REQUEST)).build(), 64);
        assertThat(exchange(connection(reject), "GET / HTTP/1.1\r\nHost: a\r\nX_Y: z\r\n\r\n"))
                .startsWith("HTTP/1.1 400 Bad Request");
        assertThat(rejected("invalid_underscore")).isEqualTo(1);
        var drop = Limits.of(HttpConnectionManager.newBuilder().setCommonHttpProtocolOptions(
                HttpProtocolOptions.newBuilder().setHeadersWithUnderscoresAction(
                        HttpProtocolOptions.HeadersWithUnderscoresAction.DROP_HEADER)).build(), 64);
        assertThat(exchange(connection(drop), "GET / HTTP/1.1\r\nHost: a\r\nX_Y: z\r\nX-Z: y\r\n\r\n"))
                .startsWith("HTTP/1.1 200 OK");
        assertThat(h.upstreams.sent.get(0).headers().contains("x_y")).isFalse();
        assertThat(h.upstreams.sent.get(0).headers().get("x-z")).isEqualTo("y");
    }

    @Test
    void aBodyOverTheBufferLimitIs413PayloadTooLarge() {
        Limits limits = Limits.of(HttpConnectionManager.getDefaultInstance(), 64);
        EmbeddedChannel declared = connection(limits);
        assertThat(exchange(declared, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65\r\n\r\n"))
                .startsWith("HTTP/1.1 413 Payload Too Large");
        assertThat(declared.isOpen()).isFalse();
        EmbeddedChannel chunked = connection(limits);
        assertThat(exchange(chunked, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "40\r\n" + "a".repeat(64) + "\r\n1\r\nb\r\n0\r\n\r\n")).startsWith("HTTP/1.1 413 Payload Too Large");
        assertThat(chunked.isOpen()).isFalse();
        assertThat(h.upstreams.sent).isEmpty();
        assertThat(rejected("request_payload_too_large")).isEqualTo(2);
        wellBehavedClientIsServed();
    }

    @Test
    void aRefusalAfterAPipelinedRequestWaitsForItsResponse() {
        EmbeddedChannel ch = connection(Limits.DEFAULTS);
        String out = exchange(ch, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\nHost: a\n\n");
        assertThat(out).startsWith("HTTP/1.1 200 OK");
        assertThat(out.indexOf("HTTP/1.1 400 Bad Request")).isGreaterThan(0);
        assertThat(ch.isOpen()).isFalse();
        assertThat(h.upstreams.sent).extracting(FakeUpstreams.Sent::uri).containsExactly("/1");
    }

    @Test
    void slowClientsTimeOutAsEnvoysTimeoutsSay() {
        HttpConnectionManager hcm = HttpConnectionManager.newBuilder()
                .setRequestHeadersTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(2))
                .setRequestTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(10))
                .setStreamIdleTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(3))
                .setCommonHttpProtocolOptions(HttpProtocolOptions.newBuilder()
                        .setIdleTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(30)))
                .build();
        Limits limits = Limits.of(hcm, 1024);
        // Headers that never end: request_headers_timeout → 408.
        EmbeddedChannel slowloris = connection(limits);
        exchange(slowloris, "GET / HTTP/1.1\r\nHost: a\r\n");
        slowloris.advanceTimeBy(1, TimeUnit.SECONDS);
        slowloris.runScheduledPendingTasks();
        exchange(slowloris, "X-Drip: 1\r\n");
        slowloris.advanceTimeBy(1100, TimeUnit.MILLISECONDS);
        slowloris.runScheduledPendingTasks();
        assertThat(written(slowloris)).startsWith("HTTP/1.1 408 Request Timeout").endsWith("request header timeout");
        assertThat(slowloris.isOpen()).isFalse();
        // A body that stalls: stream_idle_timeout → 408 "stream timeout".
        EmbeddedChannel stall = connection(limits);
        exchange(stall, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
        stall.advanceTimeBy(3100, TimeUnit.MILLISECONDS);
        stall.runScheduledPendingTasks();
        assertThat(written(stall)).startsWith("HTTP/1.1 408 ").endsWith("stream timeout");
        // A body that drips forever: request_timeout → 408 "request timeout".
        EmbeddedChannel drip = connection(limits);
        exchange(drip, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n");
        StringBuilder dripped = new StringBuilder();
        for (int i = 0; i < 6 && drip.isOpen(); i++) {
            dripped.append(exchange(drip, "a"));
            drip.advanceTimeBy(2, TimeUnit.SECONDS);
            drip.runScheduledPendingTasks();
        }
        assertThat(dripped.append(written(drip)).toString()).startsWith("HTTP/1.1 408 ").endsWith("request timeout");
        // A connection that sends nothing: idle_timeout closes it without a response.
        EmbeddedChannel idle = connection(limits);
        assertThat(exchange(idle, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")).startsWith("HTTP/1.1 200 OK");
        idle.advanceTimeBy(29, TimeUnit.SECONDS);
        idle.runScheduledPendingTasks();
        assertThat(idle.isOpen()).isTrue();
        idle.advanceTimeBy(2, TimeUnit.SECONDS);
        idle.runScheduledPendingTasks();
        assertThat(idle.isOpen()).isFalse();
        assertThat(rejected("request_headers_timeout")).isEqualTo(1);
        assertThat(rejected("stream_idle_timeout")).isEqualTo(1);
        assertThat(rejected("request_timeout")).isEqualTo(1);
        assertThat(rejected("idle_timeout")).isEqualTo(1);
        assertThat(h.upstreams.sent).hasSize(1);
        wellBehavedClientIsServed();
    }

    @Test
    void maxConnectionDurationDrainsAfterTheCurrentResponse() {
        Limits limits = Limits.of(HttpConnectionManager.newBuilder().setCommonHttpProtocolOptions(
                HttpProtocolOptions.newBuilder().setMaxConnectionDuration(
                        com.google.protobuf.Duration.newBuilder().setSeconds(5))).build(), 1024);
        EmbeddedChannel ch = connection(limits);
        assertThat(exchange(ch, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n")).doesNotContainIgnoringCase("connection: close");
        exchange(ch, "GET /2 HTTP/1.1\r\nHost: a\r\n");
        ch.advanceTimeBy(6, TimeUnit.SECONDS);
        ch.runScheduledPendingTasks();
        assertThat(ch.isOpen()).isTrue(); // a request is on its way: it is answered first
        assertThat(exchange(ch, "\r\n")).startsWith("HTTP/1.1 200 OK").containsIgnoringCase("connection: close");
        assertThat(ch.isOpen()).isFalse();
    }
}
