package dev.ambit.proxy.hbone;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.proxy.net.RelayResult;
import dev.ambit.testing.LeakCheck;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class HboneServerTest {

    private static final InetSocketAddress BACKEND = new InetSocketAddress(ip("10.0.2.5"), 8080);

    /** What the test's decider answers; by default accepts into {@link #upstream}. */
    private CompletionStage<HboneTarget> decision;
    private final List<HboneRequest> decided = new ArrayList<>();
    private final List<RelayResult> relayed = new ArrayList<>();
    private TestTcpChannel upstream;
    private ChannelPromise upstreamConnect;
    private H2Pair h2;

    @BeforeEach
    void setUp() {
        LeakCheck.install();
        upstream = new TestTcpChannel();
        upstreamConnect = upstream.newPromise().setSuccess();
        decision = CompletableFuture.completedFuture(HboneTarget.accept((req, loop) -> upstreamConnect, relayed::add));
        HboneServer server = HboneServer.builder(this::decide).maxHeaderListSize(1024).build();
        h2 = new H2Pair(server.newConnectionHandler());
    }

    private CompletionStage<HboneTarget> decide(HboneRequest request, Channel stream) {
        assertThat(stream).isInstanceOf(Http2StreamChannel.class);
        decided.add(request);
        return decision;
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        h2.close();
        upstream.finishAndReleaseAll();
        LeakCheck.assertNoLeaks();
    }

    @Test
    void validConnectReachesTheDeciderAndIsAnswered200() {
        HboneRequest request = HboneRequest.builder(BACKEND)
                .forwardedFor(ip("10.0.1.7"))
                .baggage("k8s.namespace.name=default,k8s.pod.name=frontend")
                .traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
                .build();
        Future<Http2StreamChannel> tunnel = HboneClient.connect(h2.client, request);
        h2.pump();

        assertThat(decided).singleElement().satisfies(r -> {
            assertThat(r.destination()).isEqualTo(BACKEND);
            assertThat(r.authority()).isEqualTo("10.0.2.5:8080");
            assertThat(r.forwarded()).isEqualTo("for=10.0.1.7");
            assertThat(r.forwardedFor()).isEqualTo("10.0.1.7");
            assertThat(r.baggage()).isEqualTo("k8s.namespace.name=default,k8s.pod.name=frontend");
            assertThat(r.traceparent()).isEqualTo("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        });
        assertThat(tunnel.isSuccess()).isTrue();

        // And the tunnel carries bytes: client stream → upstream and back.
        Http2StreamChannel stream = tunnel.getNow();
        FrameRecorder recorder = new FrameRecorder();
        stream.pipeline().addLast(recorder);
        stream.config().setAutoRead(true);
        stream.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.copiedBuffer("ping", UTF_8)));
        h2.pump();
        assertThat(readText(upstream)).isEqualTo("ping");
        upstream.writeInbound(Unpooled.copiedBuffer("pong", UTF_8));
        h2.pump();
        assertThat(recorder.events).containsExactly("DATA pong");
    }

    @Test
    void handoffGivesTheStreamAfterThe200WithEarlyDataStillQueued() {
        List<Http2StreamChannel> handed = new ArrayList<>();
        decision = CompletableFuture.completedFuture(HboneTarget.handOff(handed::add));
        Future<Http2StreamChannel> tunnel = HboneClient.connect(h2.client, HboneRequest.of(BACKEND));
        h2.pump();
        assertThat(tunnel.isSuccess()).isTrue();
        Http2StreamChannel client = tunnel.getNow();
        client.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.copiedBuffer("early", UTF_8)));
        h2.pump();

        assertThat(handed).singleElement().satisfies(s -> {
            assertThat(s.isActive()).isTrue();
            assertThat(s.config().isAutoRead()).isFalse();
            assertThat(s.pipeline().get(HboneServerStreamHandler.class)).isNull();
        });
        Http2StreamChannel server = handed.get(0);
        StreamBytesTest.ByteRecorder seen = new StreamBytesTest.ByteRecorder();
        StreamBytes.install(server);
        server.pipeline().addLast(seen);
        server.read();
        h2.pump();
        assertThat(seen.events).containsExactly("BYTES early");
        assertThat(upstream.isOpen()).as("no connector involved").isTrue();
        assertThat(relayed).isEmpty();
    }

    @Test
    void handoffIsAbandonedWhenTheClientResetsWhileDeciding() {
        CompletableFuture<HboneTarget> later = new CompletableFuture<>();
        decision = later;
        List<Throwable> abandoned = new ArrayList<>();
        List<Http2StreamChannel> handed = new ArrayList<>();
        Http2StreamChannel stream = h2.openStream(new FrameRecorder());
        stream.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().method("CONNECT").authority("10.0.2.5:8080")));
        stream.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.CANCEL));
        h2.pump();
        later.complete(HboneTarget.handOff(new HboneTarget.StreamHandoff() {
            @Override
            public void accepted(Http2StreamChannel s) {
                handed.add(s);
            }

            @Override
            public void abandoned(Throwable cause) {
                abandoned.add(cause);
            }
        }));
        h2.pump();
        assertThat(handed).isEmpty();
        assertThat(abandoned).hasSize(1);
    }

    @Test
    void clientResetOfATunnelResetsTheUpstreamWithoutAnsweringReset() {
        Future<Http2StreamChannel> tunnel = HboneClient.connect(h2.client, HboneRequest.of(BACKEND));
        h2.pump();
        Http2StreamChannel stream = tunnel.getNow();
        stream.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.CANCEL));
        h2.pump();

        assertThat(upstream.isOpen()).isFalse();
        assertThat(relayed).singleElement()
                .extracting(RelayResult::termination).isEqualTo(RelayResult.Termination.STREAM_ABORTED);
        assertThat(h2.serverFrames).as("RFC 9113 §5.4.2: no RST_STREAM in response to RST_STREAM")
                .doesNotContain("RST_STREAM " + stream.stream().id());
        assertThat(h2.server.isActive()).isTrue();
    }

    @Test
    void clientsResettingManyTunnelsDoNotCloseTheConnection() {
        // Clients that abort (RST) their connections reset their tunnels: on a pooled HBONE
        // connection a few hundred a minute is churn, not an attack; Netty's HTTP/2 server
        // default (200 RST_STREAM in 30 s, then GOAWAY) would cut every other tunnel on it.
        decision = new CompletableFuture<>(); // undecided: the reset arrives first
        int tunnels = 500; // Netty closes at 201
        for (int i = 0; i < tunnels; i++) {
            Http2StreamChannel stream = h2.openStream(new FrameRecorder());
            stream.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().method("CONNECT").authority("10.0.2.5:8080")));
            stream.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.CANCEL));
            h2.pump();
        }

        assertThat(decided).hasSize(tunnels);
        assertThat(h2.serverFrames).noneMatch(f -> f.startsWith("GOAWAY"));
        assertThat(h2.server.isActive()).isTrue();
        assertThat(h2.client.isActive()).isTrue();
    }

    @Test
    void upstreamsResettingManyTunnelsDoNotCloseTheClientsConnection() {
        // The other way: each upstream reset becomes a RST_STREAM(CONNECT_ERROR) to the client
        // end, which must not give up the pooled connection either.
        List<TestTcpChannel> upstreams = new ArrayList<>();
        decision = CompletableFuture.completedFuture(HboneTarget.accept((req, loop) -> {
            TestTcpChannel u = new TestTcpChannel();
            upstreams.add(u);
            return u.newPromise().setSuccess();
        }, relayed::add));
        int tunnels = 500; // Netty closes at 201
        for (int i = 0; i < tunnels; i++) {
            Future<Http2StreamChannel> tunnel = HboneClient.connect(h2.client, HboneRequest.of(BACKEND));
            h2.pump();
            assertThat(tunnel.isSuccess()).as("tunnel %d", i).isTrue();
            upstreams.getLast().pipeline().fireExceptionCaught(new java.io.IOException("Connection reset by peer"));
            h2.pump();
        }

        assertThat(h2.serverFrames).filteredOn(f -> f.startsWith("RST_STREAM")).hasSize(tunnels);
        assertThat(h2.client.isActive()).isTrue();
        assertThat(h2.server.isActive()).isTrue();
        upstreams.forEach(TestTcpChannel::finishAndReleaseAll);
    }

    @Test
    void upstreamCloseResetsTheTunnelWithConnectError() {
        FrameRecorder recorder = new FrameRecorder();
        Future<Http2StreamChannel> tunnel = HboneClient.connect(h2.client, HboneRequest.of(BACKEND));
        h2.pump();
        tunnel.getNow().pipeline().addLast(recorder);
        tunnel.getNow().config().setAutoRead(true);
        upstream.pipeline().fireExceptionCaught(new java.io.IOException("Connection reset by peer"));
        h2.pump();

        assertThat(recorder.events).contains("RST " + Http2Error.CONNECT_ERROR.code());
        assertThat(h2.serverFrames).contains("RST_STREAM " + tunnel.getNow().stream().id());
        assertThat(relayed).singleElement()
                .extracting(RelayResult::termination).isEqualTo(RelayResult.Termination.TCP_ABORTED);
    }

    @Test
    void ipv6AuthorityAndForwarded() {
        InetSocketAddress v6 = new InetSocketAddress(ip("fd00::5"), 8080);
        HboneClient.connect(h2.client, HboneRequest.builder(v6).forwardedFor(ip("fd00::7")).build());
        h2.pump();
        assertThat(decided).singleElement().satisfies(r -> {
            assertThat(r.destination()).isEqualTo(v6);
            assertThat(r.authority()).isEqualTo("[fd00::5]:8080");
            assertThat(r.forwarded()).isEqualTo("for=\"[fd00::7]\"");
            assertThat(r.forwardedFor()).isEqualTo("fd00::7");
        });
    }

    @Test
    void getIsAnswered400() {
        FrameRecorder response = send(new DefaultHttp2Headers().method("GET").scheme("https").path("/")
                .authority("10.0.2.5:8080"));
        assertThat(response.status()).isEqualTo("400");
        assertThat(response.error()).contains("GET").contains("expected: CONNECT");
        assertThat(response.events).first().isEqualTo("HEADERS 400 END");
        assertThat(decided).isEmpty();
    }

    @Test
    void connectWithoutAuthorityIsAnswered400() {
        FrameRecorder response = send(new DefaultHttp2Headers().method("CONNECT"));
        assertThat(response.status()).isEqualTo("400");
        assertThat(response.error()).isEqualTo("missing :authority");
        assertThat(decided).isEmpty();
    }

    @Test
    void connectWithSchemeOrPathIsAnswered400() {
        FrameRecorder response = send(new DefaultHttp2Headers().method("CONNECT").authority("10.0.2.5:8080")
                .scheme("https").path("/"));
        assertThat(response.status()).isEqualTo("400");
        assertThat(decided).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(strings = {"backend:8080", "backend.default.svc.cluster.local:80", "10.0.2.5", "10.0.2.5:",
            "10.0.2.5:0", "10.0.2.5:65536", "10.0.2.5:80a", "10.0.2.5:+80", "10.0.2.256:80", "fd00::5:8080",
            "[fd00::5]", "[fd00::5:8080", "[backend]:80", ":8080", "10.0.2.5:123456"})
    void malformedAuthorityIsAnswered400(String authority) {
        FrameRecorder response = send(new DefaultHttp2Headers().method("CONNECT").authority(authority));
        assertThat(response.status()).isEqualTo("400");
        assertThat(response.error()).contains("invalid :authority").contains("expected: ip:port");
        assertThat(decided).isEmpty();
    }

    @Test
    void rejectionByTheDeciderSendsItsStatusAndReason() {
        decision = CompletableFuture.completedFuture(HboneTarget.reject(403, "denied by policy ns/deny-all"));
        Future<Http2StreamChannel> tunnel = HboneClient.connect(h2.client, HboneRequest.of(BACKEND));
        h2.pump();

        assertThat(tunnel.cause()).isInstanceOf(HboneConnectException.class)
                .hasMessage("HBONE CONNECT to 10.0.2.5:8080 refused with 403: denied by policy ns/deny-all");
        assertThat(((HboneConnectException) tunnel.cause()).status()).isEqualTo(403);
        assertThat(upstream.isOpen()).isTrue(); // never connected, never relayed
        assertThat(relayed).isEmpty();
    }

    @Test
    void failedDecisionIsAnswered500() {
        decision = CompletableFuture.failedFuture(new IllegalStateException("policy store down"));
        Future<Http2StreamChannel> tunnel = HboneClient.connect(h2.client, HboneRequest.of(BACKEND));
        h2.pump();
        assertThat(((HboneConnectException) tunnel.cause()).status()).isEqualTo(500);
    }

    @Test
    void upstreamConnectFailureIsAnswered503() {
        upstreamConnect = upstream.newPromise().setFailure(new java.net.ConnectException("Connection refused"));
        Future<Http2StreamChannel> tunnel = HboneClient.connect(h2.client, HboneRequest.of(BACKEND));
        h2.pump();
        assertThat(tunnel.cause()).hasMessageStartingWith("HBONE CONNECT to 10.0.2.5:8080 refused with 503: ")
                .hasMessageContaining("Connection refused");
    }

    @Test
    void dataBeforeThe200IsNotRelayedUntilTheTunnelIsUp() {
        CompletableFuture<HboneTarget> pending = new CompletableFuture<>();
        decision = pending;
        upstreamConnect = upstream.newPromise();
        FrameRecorder response = new FrameRecorder();
        Http2StreamChannel stream = h2.openStream(response);
        stream.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().method("CONNECT").authority("10.0.2.5:8080")));
        stream.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.copiedBuffer("early", UTF_8)));
        h2.pump();

        assertThat(decided).hasSize(1);
        assertThat(response.events).isEmpty();
        assertThat((Object) upstream.readOutbound()).isNull();

        pending.complete(HboneTarget.accept((req, loop) -> upstreamConnect, relayed::add));
        h2.pump();
        assertThat(response.events).as("still connecting").isEmpty();
        assertThat((Object) upstream.readOutbound()).isNull();

        upstreamConnect.setSuccess();
        h2.pump();
        assertThat(response.events).containsExactly("HEADERS 200");
        assertThat(readText(upstream)).isEqualTo("early");
    }

    @Test
    void dataBeforeARejectionIsDiscarded() {
        CompletableFuture<HboneTarget> pending = new CompletableFuture<>();
        decision = pending;
        FrameRecorder response = new FrameRecorder();
        Http2StreamChannel stream = h2.openStream(response);
        stream.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().method("CONNECT").authority("10.0.2.5:8080")));
        stream.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.copiedBuffer("early", UTF_8)));
        h2.pump();

        pending.complete(HboneTarget.reject(503, "no such workload"));
        h2.pump();
        assertThat(response.events).startsWith("HEADERS 503 END");
        assertThat(response.error()).isEqualTo("no such workload");
        assertThat((Object) upstream.readOutbound()).isNull();
    }

    @Test
    void clientResetWhileDecidingClosesTheUpstreamIfItConnects() {
        CompletableFuture<HboneTarget> pending = new CompletableFuture<>();
        decision = pending;
        upstreamConnect = upstream.newPromise();
        Future<Http2StreamChannel> tunnel = HboneClient.connect(h2.client, HboneRequest.of(BACKEND));
        h2.pump();
        pending.complete(HboneTarget.accept((req, loop) -> upstreamConnect, relayed::add));
        h2.pump();
        tunnel.cancel(false);
        h2.pump();
        assertThat(upstream.isOpen()).as("pending upstream connect closed with the stream").isFalse();
    }

    @Test
    void oversizedHeaderListIsRefusedBeforeTheDecider() {
        // Sent before the client knows the server's SETTINGS, as a client ignoring them would.
        // Above the limit but below Netty's GOAWAY threshold (limit + 25%): a stream error.
        H2Pair raw = new H2Pair(HboneServer.builder(this::decide).maxHeaderListSize(1024).build()
                .newConnectionHandler(), false);
        try {
            FrameRecorder response = new FrameRecorder();
            Http2StreamChannel stream = raw.openStream(response);
            stream.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().method("CONNECT")
                    .authority("10.0.2.5:8080").set("baggage", "x".repeat(1100))));
            raw.pump();
            assertThat(response.status()).isEqualTo("431");
            assertThat(decided).isEmpty();
        } finally {
            raw.close();
        }
    }

    @Test
    void concurrentStreamsLimitIsAdvertised() {
        H2Pair limited = new H2Pair(HboneServer.builder(this::decide).maxConcurrentStreams(1).build()
                .newConnectionHandler());
        try {
            decision = new CompletableFuture<>(); // keep the first stream open
            Future<Http2StreamChannel> first = HboneClient.connect(limited.client, HboneRequest.of(BACKEND));
            limited.pump();
            Future<Http2StreamChannel> second = HboneClient.connect(limited.client, HboneRequest.of(BACKEND));
            limited.pump();
            assertThat(first.isDone()).isFalse();
            // The client learnt the limit from the server's SETTINGS and refuses locally.
            assertThat(second.cause()).isInstanceOf(HboneConnectException.class)
                    .hasStackTraceContaining("Maximum active streams");
            assertThat(decided).hasSize(1);
        } finally {
            limited.close();
        }
    }

    @Test
    void concurrentStreamsAboveTheLimitAreRefusedByTheServer() {
        // Both requests leave before the client has seen SETTINGS, as from a client ignoring them.
        H2Pair limited = new H2Pair(HboneServer.builder(this::decide).maxConcurrentStreams(1).build()
                .newConnectionHandler(), false);
        try {
            decision = new CompletableFuture<>();
            FrameRecorder first = new FrameRecorder();
            FrameRecorder second = new FrameRecorder();
            for (FrameRecorder r : List.of(first, second)) {
                limited.openStream(r).writeAndFlush(new DefaultHttp2HeadersFrame(
                        new DefaultHttp2Headers().method("CONNECT").authority("10.0.2.5:8080")));
            }
            limited.pump();
            assertThat(first.events).isEmpty();
            assertThat(second.events).startsWith("RST " + Http2Error.REFUSED_STREAM.code());
            assertThat(decided).hasSize(1);
        } finally {
            limited.close();
        }
    }

    @Test
    void clientReportsAResetBeforeTheResponse() {
        H2Pair limited = new H2Pair(HboneServer.builder(this::decide).maxConcurrentStreams(1).build()
                .newConnectionHandler(), false);
        try {
            decision = new CompletableFuture<>();
            Future<Http2StreamChannel> first = HboneClient.connect(limited.client, HboneRequest.of(BACKEND));
            Future<Http2StreamChannel> second = HboneClient.connect(limited.client, HboneRequest.of(BACKEND));
            limited.pump();
            assertThat(first.isDone()).isFalse();
            assertThat(second.cause()).isInstanceOf(HboneConnectException.class)
                    .hasMessage("HBONE CONNECT to 10.0.2.5:8080 failed: stream reset by the server: REFUSED_STREAM (7)");
            assertThat(((HboneConnectException) second.cause()).status()).isZero();
        } finally {
            limited.close();
        }
    }

    @Test
    void builderValidatesLimits() {
        assertThatThrownBy(() -> HboneServer.builder(this::decide).maxHeaderListSize(0))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("maxHeaderListSize: 0 (expected: > 0)");
        assertThatThrownBy(() -> HboneServer.builder(this::decide).maxConcurrentStreams(-1))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("maxConcurrentStreams: -1 (expected: > 0)");
        assertThatThrownBy(() -> HboneTarget.reject(200, "ok"))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("status: 200 (expected: 400-599)");
    }

    private FrameRecorder send(Http2Headers headers) {
        FrameRecorder recorder = new FrameRecorder();
        Http2StreamChannel stream = h2.openStream(recorder);
        stream.writeAndFlush(new DefaultHttp2HeadersFrame(headers));
        h2.pump();
        return recorder;
    }

    private static String readText(TestTcpChannel ch) {
        ByteBuf buf = ch.readOutbound();
        assertThat(buf).isNotNull();
        try {
            return buf.toString(UTF_8);
        } finally {
            ReferenceCountUtil.release(buf);
        }
    }

    private static InetAddress ip(String literal) {
        try {
            return InetAddress.getByName(literal); // literals only: no lookup
        } catch (java.net.UnknownHostException e) {
            throw new AssertionError(e);
        }
    }
}
