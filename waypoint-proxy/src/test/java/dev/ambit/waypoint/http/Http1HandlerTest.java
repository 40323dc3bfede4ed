package dev.ambit.waypoint.http;

import static dev.ambit.waypoint.http.Harness.CLUSTER;
import static dev.ambit.waypoint.http.Harness.prefix;
import static dev.ambit.waypoint.http.Harness.routes;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.testing.LeakCheck;
import dev.ambit.waypoint.upstream.UpstreamResponse;
import dev.ambit.waypoint.upstream.UpstreamTunnel;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The HTTP/1.1 downstream codec on a byte channel (what a terminated tunnel is behind StreamBytes). */
class Http1HandlerTest {

    private Harness h;
    private EmbeddedChannel ch;
    private EmbeddedChannel tunnel;

    @BeforeEach
    void setUp() {
        LeakCheck.install();
        h = new Harness();
        h.config.route(routes(prefix("all", "/", CLUSTER).build()));
        ch = new EmbeddedChannel();
        ch.config().setAutoRead(false);
        HttpConnections.http1(ch.pipeline(), h.downstream(), h.processor(), h.upstreams, 64);
        pump();
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        ch.finishAndReleaseAll();
        if (tunnel != null) {
            tunnel.finishAndReleaseAll();
        }
        h.close();
        LeakCheck.assertNoLeaks();
    }

    private void pump() {
        for (int i = 0; i < 10; i++) {
            ch.runPendingTasks();
            if (tunnel != null) {
                tunnel.runPendingTasks();
            }
        }
    }

    private String written() {
        StringBuilder s = new StringBuilder();
        for (ByteBuf b; (b = ch.readOutbound()) != null; ) {
            s.append(b.toString(UTF_8));
            b.release();
        }
        return s.toString();
    }

    private void send(String text) {
        ch.writeInbound(Unpooled.copiedBuffer(text, UTF_8));
        pump();
    }

    @Test
    void pipelinedRequestsAreAnsweredInOrderEvenWhenTheFirstIsSlower() {
        CompletableFuture<UpstreamResponse> slow = new CompletableFuture<>();
        h.upstreams.then(r -> slow).then(r -> FakeUpstreams.ok(200, "second", FakeUpstreams.HOST_A));
        send("GET /1 HTTP/1.1\r\nHost: reviews\r\n\r\nGET /2 HTTP/1.1\r\nHost: reviews\r\n\r\n");
        assertThat(written()).isEmpty();
        assertThat(h.upstreams.sent).hasSize(1); // the second waits for the first's response
        slow.complete(FakeUpstreams.ok(200, "first", FakeUpstreams.HOST_A).toCompletableFuture().join());
        pump();
        String out = written();
        assertThat(out.indexOf("first")).isPositive().isLessThan(out.indexOf("second"));
        assertThat(h.upstreams.sent).extracting(FakeUpstreams.Sent::uri).containsExactly("/1", "/2");
        assertThat(ch.isOpen()).isTrue();
    }

    @Test
    void oneReadIsMadeAheadWhileARequestIsAnsweredAndNoMoreOnceAPipelinedOneWaits() {
        java.util.concurrent.atomic.AtomicInteger reads = new java.util.concurrent.atomic.AtomicInteger();
        ch.pipeline().addFirst(new io.netty.channel.ChannelOutboundHandlerAdapter() {
            @Override
            public void read(io.netty.channel.ChannelHandlerContext ctx) {
                reads.incrementAndGet();
                ctx.read();
            }
        });
        CompletableFuture<UpstreamResponse> slow = new CompletableFuture<>();
        h.upstreams.then(r -> slow).then(r -> FakeUpstreams.ok(200, "second", FakeUpstreams.HOST_A));
        int before = reads.get();
        send("GET /1 HTTP/1.1\r\nHost: reviews\r\n\r\n");
        // Read interest stays on while /1 is answered: no epoll_ctl off and on per request.
        assertThat(reads.get()).as("the next read is asked for at once").isGreaterThan(before);
        int ahead = reads.get();
        send("GET /2 HTTP/1.1\r\nHost: reviews\r\n\r\n");
        assertThat(reads.get()).as("a pipelined request waits its turn: nothing more is read").isEqualTo(ahead);
        assertThat(h.upstreams.sent).hasSize(1);
        slow.complete(FakeUpstreams.ok(200, "first", FakeUpstreams.HOST_A).toCompletableFuture().join());
        pump();
        String out = written();
        assertThat(out.indexOf("first")).isPositive().isLessThan(out.indexOf("second"));
        assertThat(reads.get()).as("idle again: reading").isGreaterThan(ahead);
        assertThat(ch.isOpen()).isTrue();
    }

    @Test
    void connectionCloseClosesAfterTheResponse() {
        send("GET / HTTP/1.1\r\nHost: reviews\r\nConnection: close\r\n\r\n");
        assertThat(written()).startsWith("HTTP/1.1 200 OK").contains("connection: close");
        assertThat(ch.isOpen()).isFalse();
    }

    @Test
    void http10WithoutKeepAliveIsClosedAndCountedOnce() {
        send("GET / HTTP/1.0\r\nHost: reviews\r\n\r\n");
        assertThat(written()).startsWith("HTTP/1.1 200 OK");
        assertThat(ch.isOpen()).isFalse();
        assertThat(h.metrics.scrape()).contains("response_code=\"200\"");
    }

    @Test
    void whileDrainingKeepAliveConnectionsCloseAfterTheirResponse() {
        ch.finishAndReleaseAll();
        java.util.concurrent.atomic.AtomicBoolean draining = new java.util.concurrent.atomic.AtomicBoolean();
        ch = new EmbeddedChannel();
        ch.config().setAutoRead(false);
        HttpConnections.http1(ch.pipeline(), h.downstream(), h.processor(draining::get), h.upstreams, 64);
        pump();
        send("GET /1 HTTP/1.1\r\nHost: reviews\r\n\r\n");
        assertThat(written()).doesNotContain("connection: close");
        assertThat(ch.isOpen()).isTrue();
        draining.set(true);
        send("GET /2 HTTP/1.1\r\nHost: reviews\r\n\r\n");
        assertThat(written()).startsWith("HTTP/1.1 200 OK").contains("connection: close");
        assertThat(ch.isOpen()).isFalse();
    }

    @Test
    void requestsOnAnOpenConnectionFollowTheCurrentConfiguration() {
        ch.finishAndReleaseAll();
        var current = new java.util.concurrent.atomic.AtomicReference<dev.ambit.waypoint.config.WaypointConfig>(h.config);
        ch = new EmbeddedChannel();
        ch.config().setAutoRead(false);
        HttpConnections.http1(ch.pipeline(), h.downstream(), h.processor(() -> false, current::get), h.upstreams, 64);
        pump();
        send("GET /x HTTP/1.1\r\nHost: reviews\r\n\r\n");
        assertThat(written()).startsWith("HTTP/1.1 200 OK");
        // A new snapshot whose route matches only /api: the same connection's next request gets 404.
        current.set(new TestConfig().clusters(CLUSTER).route(routes(prefix("api", "/api", CLUSTER).build())));
        send("GET /x HTTP/1.1\r\nHost: reviews\r\n\r\n");
        assertThat(written()).startsWith("HTTP/1.1 404");
        assertThat(h.upstreams.sent).hasSize(1);
    }

    @Test
    void oversizedRequestIsAnswered413() {
        send("POST / HTTP/1.1\r\nHost: reviews\r\nContent-Length: 100\r\n\r\n" + "x".repeat(100));
        assertThat(written()).startsWith("HTTP/1.1 413");
        assertThat(h.upstreams.sent).isEmpty();
    }

    @Test
    void webSocketUpgradeIsPassedThroughAsRawBytes() {
        tunnel = new EmbeddedChannel();
        tunnel.config().setAutoRead(false);
        h.upstreams.tunnels = c -> CompletableFuture.completedFuture(new UpstreamTunnel(tunnel, FakeUpstreams.HOST_A));
        send("GET /chat HTTP/1.1\r\nHost: reviews\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        StringBuilder upstream = new StringBuilder();
        for (ByteBuf b; (b = tunnel.readOutbound()) != null; ) {
            upstream.append(b.toString(UTF_8));
            b.release();
        }
        assertThat(upstream.toString()).startsWith("GET /chat HTTP/1.1").containsIgnoringCase("upgrade: websocket")
                .containsIgnoringCase("connection: upgrade").contains("x-request-id");

        tunnel.writeInbound(Unpooled.copiedBuffer("HTTP/1.1 101 Switching Protocols\r\n\r\nserver-frame", UTF_8));
        pump();
        assertThat(written()).isEqualTo("HTTP/1.1 101 Switching Protocols\r\n\r\nserver-frame");
        send("client-frame");
        ByteBuf b = tunnel.readOutbound();
        assertThat(b.toString(UTF_8)).isEqualTo("client-frame");
        b.release();
    }
}
