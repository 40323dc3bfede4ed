package dev.ambit.waypoint.http;

import static dev.ambit.waypoint.http.Harness.CLUSTER;
import static dev.ambit.waypoint.http.Harness.prefix;
import static dev.ambit.waypoint.http.Harness.routes;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.testing.LeakCheck;
import dev.ambit.waypoint.upstream.UpstreamResponse;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** h2c (prior knowledge) on a terminated tunnel's bytes: gRPC with trailers, several streams. */
class Http2DownstreamTest {

    private Harness h;
    private EmbeddedChannel server;
    private EmbeddedChannel client;

    @BeforeEach
    void setUp() {
        LeakCheck.install();
        h = new Harness();
        h.config.route(routes(prefix("all", "/", CLUSTER).build()));
        server = new EmbeddedChannel();
        server.config().setAutoRead(false);
        HttpConnections.http2(server, h.downstream(), h.processor(), 1 << 20);
        client = new EmbeddedChannel(Http2FrameCodecBuilder.forClient().build(),
                new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
        pump();
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        pump();
        client.finishAndReleaseAll();
        server.finishAndReleaseAll();
        h.close();
        LeakCheck.assertNoLeaks();
    }

    private void pump() {
        boolean moved;
        int rounds = 0;
        do {
            moved = false;
            client.runPendingTasks();
            server.runPendingTasks();
            for (ByteBuf b; (b = client.readOutbound()) != null; moved = true) {
                server.writeInbound(b);
            }
            for (ByteBuf b; (b = server.readOutbound()) != null; moved = true) {
                client.writeInbound(b);
            }
        } while (moved || rounds++ < 3);
    }

    /** Records a client stream's frames as text. */
    static final class Recorder extends ChannelInboundHandlerAdapter {
        final List<String> events = new ArrayList<>();

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Http2HeadersFrame f) {
                events.add("HEADERS " + (f.headers().status() != null ? f.headers().status() + " " : "")
                        + (f.headers().get("grpc-status") != null ? "grpc-status=" + f.headers().get("grpc-status") : "")
                        + (f.isEndStream() ? " END" : ""));
            } else if (msg instanceof Http2DataFrame d) {
                if (d.content().isReadable() || d.isEndStream()) {
                    events.add("DATA " + d.content().toString(UTF_8) + (d.isEndStream() ? " END" : ""));
                }
            }
            ReferenceCountUtil.release(msg);
        }
    }

    private Recorder call(String path, String body) {
        Recorder recorder = new Recorder();
        var f = new Http2StreamChannelBootstrap(client).handler(recorder).open();
        client.runPendingTasks();
        Http2StreamChannel stream = f.getNow();
        stream.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().method("POST").path(path).scheme("http")
                .authority("reviews:9080").set("content-type", "application/grpc").set("te", "trailers")));
        stream.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.copiedBuffer(body, UTF_8), true));
        pump();
        return recorder;
    }

    private static CompletableFuture<UpstreamResponse> grpcAnswer(String body, String status) {
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
                Unpooled.copiedBuffer(body, UTF_8));
        r.headers().set("content-type", "application/grpc");
        r.trailingHeaders().set("grpc-status", status);
        return CompletableFuture.completedFuture(new UpstreamResponse(r, FakeUpstreams.HOST_A));
    }

    @Test
    void grpcCallGetsItsTrailersAndIsCountedAsGrpc() {
        h.upstreams.then(r -> grpcAnswer("reply", "0"));
        Recorder r = call("/shop.Reviews/Get", "request");
        assertThat(r.events).containsExactly("HEADERS 200 ", "DATA reply", "HEADERS grpc-status=0 END");
        FakeUpstreams.Sent sent = h.upstreams.sent.get(0);
        assertThat(sent.uri()).isEqualTo("/shop.Reviews/Get");
        assertThat(sent.body()).isEqualTo("request");
        assertThat(sent.headers().get("host")).isEqualTo("reviews:9080");
        assertThat(sent.headers().get("te")).isEqualTo("trailers");
        assertThat(h.metrics.scrape()).contains("request_protocol=\"grpc\"").contains("grpc_response_status=\"0\"");
    }

    @Test
    void streamsAreIndependent() {
        CompletableFuture<UpstreamResponse> slow = new CompletableFuture<>();
        h.upstreams.then(r -> slow).then(r -> grpcAnswer("fast", "0"));
        Recorder first = call("/a", "1");
        Recorder second = call("/b", "2");
        assertThat(first.events).isEmpty();
        assertThat(second.events).contains("DATA fast");
        slow.complete(grpcAnswer("slow", "14").join());
        pump();
        assertThat(first.events).containsExactly("HEADERS 200 ", "DATA slow", "HEADERS grpc-status=14 END");
    }

    @Test
    void aGrpcCallsLocalReplyIsAGrpcAnswerAsEnvoyMakesIt() {
        h.config.route(routes(prefix("api", "/api", CLUSTER).build()));
        Recorder r = call("/other", "");
        // No route: 404 → UNIMPLEMENTED, trailers-only.
        assertThat(r.events).containsExactly("HEADERS 200 grpc-status=12 END");
        assertThat(h.metrics.scrape()).contains("response_flags=\"NR\"").contains("grpc_response_status=\"12\"");
    }

    @Test
    void aClientsGoAwayClosesTheConnectionOnceItsStreamsEnded() {
        // Node's session.close() sends GOAWAY and waits for the server to close, as Envoy does.
        CompletableFuture<UpstreamResponse> slow = new CompletableFuture<>();
        h.upstreams.then(r -> slow);
        Recorder open = call("/a", "1");
        client.writeAndFlush(new io.netty.handler.codec.http2.DefaultHttp2GoAwayFrame(
                io.netty.handler.codec.http2.Http2Error.NO_ERROR));
        pump();
        assertThat(server.isOpen()).as("a stream is still open").isTrue();
        slow.complete(grpcAnswer("done", "0").join());
        pump();
        assertThat(open.events).contains("DATA done");
        assertThat(server.isOpen()).as("closed after the last stream").isFalse();
    }
}
