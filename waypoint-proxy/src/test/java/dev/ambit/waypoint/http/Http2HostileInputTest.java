package dev.ambit.waypoint.http;

import static dev.ambit.waypoint.http.Harness.CLUSTER;
import static dev.ambit.waypoint.http.Harness.prefix;
import static dev.ambit.waypoint.http.Harness.routes;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.UInt32Value;
import dev.ambit.testing.LeakCheck;
import io.envoyproxy.envoy.config.core.v3.Http2ProtocolOptions;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersDecoder;
import io.netty.handler.codec.http2.DefaultHttp2HeadersEncoder;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * HTTP/2 abuse on the nested h2c connection, written as raw frames: each refused as Envoy does
 * (GOAWAY and close, or REFUSED_STREAM), counted by reason, and a well-behaved h2c connection
 * beside it served.
 */
class Http2HostileInputTest {

    private static final int HEADERS = 0x1;
    private static final int DATA = 0x0;
    private static final int RST_STREAM = 0x3;
    private static final int SETTINGS = 0x4;
    private static final int PING = 0x6;
    private static final int GOAWAY = 0x7;
    private static final int CONTINUATION = 0x9;
    private static final int END_STREAM = 0x1;
    private static final int END_HEADERS = 0x4;

    private Harness h;
    private DownstreamRejections rejections;
    private final List<EmbeddedChannel> channels = new ArrayList<>();
    // HPACK state is per connection: one encoder and one decoder per channel.
    private final java.util.Map<EmbeddedChannel, DefaultHttp2HeadersEncoder> encoders = new java.util.HashMap<>();
    private final java.util.Map<EmbeddedChannel, DefaultHttp2HeadersDecoder> decoders = new java.util.HashMap<>();
    private EmbeddedChannel current;

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

    /** A server side, and the client's preface and empty SETTINGS already sent. */
    private EmbeddedChannel connection(Limits limits) {
        EmbeddedChannel ch = new EmbeddedChannel();
        ch.config().setAutoRead(false);
        ch.freezeTime();
        HttpConnections.http2(ch, h.downstream(), h.processor(), limits, rejections);
        channels.add(ch);
        current = ch;
        pump(ch);
        ByteBuf out = Unpooled.buffer();
        out.writeCharSequence("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", UTF_8);
        frame(out, SETTINGS, 0, 0, Unpooled.EMPTY_BUFFER);
        ch.writeInbound(out);
        pump(ch);
        return ch;
    }

    private static void pump(EmbeddedChannel ch) {
        for (int i = 0; i < 10; i++) {
            ch.runPendingTasks();
        }
    }

    private static void frame(ByteBuf out, int type, int flags, int stream, ByteBuf payload) {
        out.writeMedium(payload.readableBytes()).writeByte(type).writeByte(flags).writeInt(stream);
        out.writeBytes(payload, payload.readerIndex(), payload.readableBytes());
    }

    private ByteBuf headerBlock(int stream, Http2Headers headers) {
        ByteBuf block = Unpooled.buffer();
        try {
            encoders.computeIfAbsent(current, c -> new DefaultHttp2HeadersEncoder()).encodeHeaders(stream, headers,
                    block);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
        return block;
    }

    private static Http2Headers get(String path) {
        return new DefaultHttp2Headers().method("GET").path(path).scheme("http").authority("reviews:9080");
    }

    private void send(EmbeddedChannel ch, ByteBuf bytes) {
        if (ch.isOpen()) {
            ch.writeInbound(bytes);
            pump(ch);
        } else {
            bytes.release();
        }
    }

    /** What the server wrote, frame by frame: "TYPE stream detail". */
    private List<String> frames(EmbeddedChannel ch) {
        ByteBuf all = Unpooled.buffer();
        for (ByteBuf b; (b = ch.readOutbound()) != null; ) {
            all.writeBytes(b);
            b.release();
        }
        DefaultHttp2HeadersDecoder decoder = decoders.computeIfAbsent(ch, c -> new DefaultHttp2HeadersDecoder(false));
        List<String> frames = new ArrayList<>();
        while (all.readableBytes() >= 9) {
            int len = all.readUnsignedMedium();
            int type = all.readByte();
            int flags = all.readByte();
            int stream = all.readInt() & 0x7fffffff;
            ByteBuf payload = all.readSlice(len);
            switch (type) {
                case HEADERS -> {
                    try {
                        frames.add("HEADERS " + stream + " " + decoder.decodeHeaders(stream, payload).status());
                    } catch (Exception e) {
                        throw new AssertionError(e);
                    }
                }
                case DATA -> frames.add("DATA " + stream + " " + payload.toString(UTF_8)
                        + ((flags & END_STREAM) != 0 ? " END" : ""));
                case RST_STREAM -> frames.add("RST_STREAM " + stream + " "
                        + Http2Error.valueOf(payload.readUnsignedInt()));
                case GOAWAY -> {
                    payload.skipBytes(4);
                    frames.add("GOAWAY " + Http2Error.valueOf(payload.readUnsignedInt()) + " "
                            + payload.toString(UTF_8));
                }
                default -> { }
            }
        }
        all.release();
        return frames;
    }

    private double rejected(String reason) {
        return h.metrics.value(DownstreamRejections.METRIC, reason);
    }

    private void wellBehavedClientIsServed() {
        EmbeddedChannel good = connection(Limits.DEFAULTS);
        frames(good);
        ByteBuf out = Unpooled.buffer();
        ByteBuf block = headerBlock(1, get("/fine"));
        frame(out, HEADERS, END_HEADERS | END_STREAM, 1, block);
        block.release();
        send(good, out);
        assertThat(frames(good)).contains("HEADERS 1 200", "DATA 1 ok END");
        assertThat(good.isOpen()).isTrue();
    }

    @Test
    void rapidResetClosesTheConnectionAsEnvoysPrematureResetProtection() {
        EmbeddedChannel ch = connection(Limits.DEFAULTS);
        ByteBuf cancel = Unpooled.buffer().writeInt((int) Http2Error.CANCEL.code());
        // 499 streams opened and cancelled at once: under Envoy's 500-stream floor, still served.
        for (int i = 0; i < 499; i++) {
            int stream = 1 + 2 * i;
            ByteBuf out = Unpooled.buffer();
            ByteBuf block = headerBlock(stream, get("/r"));
            frame(out, HEADERS, END_HEADERS, stream, block);
            block.release();
            frame(out, RST_STREAM, 0, stream, cancel);
            send(ch, out);
        }
        assertThat(ch.isOpen()).isTrue();
        assertThat(frames(ch)).noneMatch(f -> f.startsWith("GOAWAY"));
        ByteBuf out = Unpooled.buffer();
        ByteBuf block = headerBlock(999, get("/r"));
        frame(out, HEADERS, END_HEADERS, 999, block);
        block.release();
        frame(out, RST_STREAM, 0, 999, cancel);
        send(ch, out);
        cancel.release();
        assertThat(frames(ch)).contains("GOAWAY NO_ERROR too_many_premature_resets");
        assertThat(ch.isOpen()).isFalse();
        assertThat(rejected("too_many_premature_resets")).isEqualTo(1);
        assertThat(h.upstreams.sent).isEmpty();
        wellBehavedClientIsServed();
    }

    @Test
    void continuationFloodIsAConnectionError() {
        EmbeddedChannel ch = connection(Limits.DEFAULTS);
        ByteBuf out = Unpooled.buffer();
        ByteBuf block = headerBlock(1, get("/c"));
        frame(out, HEADERS, 0, 1, block);
        block.release();
        for (int i = 0; i < 1000; i++) {
            frame(out, CONTINUATION, 0, 1, Unpooled.EMPTY_BUFFER);
        }
        send(ch, out);
        assertThat(frames(ch)).anyMatch(f -> f.startsWith("GOAWAY") && !f.startsWith("GOAWAY NO_ERROR"));
        assertThat(ch.isOpen()).isFalse();
        assertThat(rejected("continuation_flood")).isEqualTo(1);
        wellBehavedClientIsServed();
    }

    @Test
    void aHeaderListOverTheLimitIsRefused() {
        EmbeddedChannel ch = connection(Limits.DEFAULTS);
        ByteBuf out = Unpooled.buffer();
        Http2Headers big = get("/b");
        for (int i = 0; i < 8; i++) {
            big.add("x-big-" + i, "v".repeat(10_000));
        }
        ByteBuf block = headerBlock(1, big);
        // In frames of 16 KiB, the default SETTINGS_MAX_FRAME_SIZE.
        boolean first = true;
        while (block.isReadable()) {
            ByteBuf part = block.readSlice(Math.min(16_384, block.readableBytes()));
            int flags = block.isReadable() ? 0 : END_HEADERS;
            frame(out, first ? HEADERS : CONTINUATION, first ? flags | END_STREAM : flags, 1, part);
            first = false;
        }
        block.release();
        send(ch, out);
        List<String> frames = frames(ch);
        assertThat(frames).anyMatch(f -> f.startsWith("GOAWAY") || f.startsWith("RST_STREAM 1"));
        assertThat(rejected("h2_headers_too_large")).as(frames + " " + h.metrics.scrape()).isEqualTo(1);
        assertThat(h.upstreams.sent).isEmpty();
        wellBehavedClientIsServed();
    }

    @Test
    void streamsOverMaxConcurrentStreamsAreRefused() {
        Limits limits = Limits.of(HttpConnectionManager.newBuilder().setHttp2ProtocolOptions(
                Http2ProtocolOptions.newBuilder().setMaxConcurrentStreams(UInt32Value.of(2))).build(), 1 << 20);
        EmbeddedChannel ch = connection(limits);
        ByteBuf out = Unpooled.buffer();
        for (int stream : new int[] {1, 3, 5}) {
            ByteBuf block = headerBlock(stream, get("/s" + stream));
            frame(out, HEADERS, END_HEADERS, stream, block); // bodies to follow: the streams stay open
            block.release();
        }
        send(ch, out);
        assertThat(frames(ch)).contains("RST_STREAM 5 REFUSED_STREAM");
        assertThat(rejected("refused_stream")).isEqualTo(1);
        out = Unpooled.buffer();
        frame(out, DATA, END_STREAM, 1, Unpooled.EMPTY_BUFFER);
        frame(out, DATA, END_STREAM, 3, Unpooled.EMPTY_BUFFER);
        send(ch, out);
        assertThat(frames(ch)).contains("HEADERS 1 200", "HEADERS 3 200");
        assertThat(ch.isOpen()).isTrue();
    }

    @Test
    void pingAndSettingsFloodsCloseTheConnection() {
        for (int type : new int[] {PING, SETTINGS}) {
            EmbeddedChannel ch = connection(Limits.DEFAULTS);
            frames(ch);
            // A client that never reads: the server's writes never complete, as behind a full socket.
            List<io.netty.channel.ChannelPromise> held = new ArrayList<>();
            ch.pipeline().addFirst(new io.netty.channel.ChannelOutboundHandlerAdapter() {
                @Override
                public void write(io.netty.channel.ChannelHandlerContext ctx, Object msg,
                                  io.netty.channel.ChannelPromise promise) {
                    held.add(promise);
                    ctx.write(msg);
                }
            });
            // Writes fail when the connection closes, as a socket's do (their listeners release debug data).
            ch.closeFuture().addListener(f -> held.forEach(p -> p.tryFailure(
                    new java.nio.channels.ClosedChannelException())));
            ByteBuf out = Unpooled.buffer();
            for (int i = 0; i < 1100; i++) {
                ByteBuf payload = type == PING ? Unpooled.buffer(8).writeLong(i) : Unpooled.EMPTY_BUFFER;
                frame(out, type, 0, 0, payload);
                payload.release();
            }
            // Acknowledgements queue until the read ends; a flood never lets them out, and the
            // connection is closed at once (its GOAWAY is queued behind them).
            send(ch, out);
            assertThat(ch.isOpen()).isFalse();
        }
        assertThat(rejected("outbound_control_flood")).isEqualTo(2);
        wellBehavedClientIsServed();
    }

    @Test
    void emptyDataFramesFloodClosesTheConnection() {
        EmbeddedChannel ch = connection(Limits.DEFAULTS);
        ByteBuf out = Unpooled.buffer();
        ByteBuf block = headerBlock(1, new DefaultHttp2Headers().method("POST").path("/e").scheme("http")
                .authority("reviews:9080"));
        frame(out, HEADERS, END_HEADERS, 1, block);
        block.release();
        for (int i = 0; i < 3; i++) {
            frame(out, DATA, 0, 1, Unpooled.EMPTY_BUFFER);
        }
        send(ch, out);
        assertThat(frames(ch)).anyMatch(f -> f.startsWith("GOAWAY ENHANCE_YOUR_CALM"));
        assertThat(rejected("inbound_empty_frames_flood")).isEqualTo(1);
        wellBehavedClientIsServed();
    }

    @Test
    void aBodyOverTheBufferLimitIs413AndTheStreamReset() {
        EmbeddedChannel ch = connection(Limits.of(HttpConnectionManager.getDefaultInstance(), 64));
        ByteBuf out = Unpooled.buffer();
        ByteBuf block = headerBlock(1, new DefaultHttp2Headers().method("POST").path("/big").scheme("http")
                .authority("reviews:9080"));
        frame(out, HEADERS, END_HEADERS, 1, block);
        block.release();
        ByteBuf body = Unpooled.buffer().writeBytes(new byte[100]);
        frame(out, DATA, 0, 1, body);
        body.release();
        send(ch, out);
        List<String> frames = frames(ch);
        assertThat(frames).contains("HEADERS 1 413", "DATA 1 Payload Too Large END");
        assertThat(rejected("request_payload_too_large")).isEqualTo(1);
        assertThat(h.upstreams.sent).isEmpty();
        assertThat(ch.isOpen()).isTrue(); // one stream refused, the connection goes on
        wellBehavedClientIsServed();
    }

    @Test
    void aStalledStreamTimesOutWith408AndItsConnectionGoesOn() {
        EmbeddedChannel ch = connection(Limits.DEFAULTS);
        ByteBuf out = Unpooled.buffer();
        ByteBuf block = headerBlock(1, new DefaultHttp2Headers().method("POST").path("/slow").scheme("http")
                .authority("reviews:9080"));
        frame(out, HEADERS, END_HEADERS, 1, block);
        block.release();
        send(ch, out);
        ch.advanceTimeBy(Limits.DEFAULT_STREAM_IDLE_TIMEOUT.toSeconds() + 1, TimeUnit.SECONDS);
        ch.runScheduledPendingTasks();
        pump(ch);
        assertThat(frames(ch)).contains("HEADERS 1 408", "DATA 1 stream timeout END");
        assertThat(rejected("stream_idle_timeout")).isEqualTo(1);
        assertThat(ch.isOpen()).isTrue();
    }

    @Test
    void tooManyHeadersAndUnderscoresAreRefusedPerStream() {
        Limits limits = Limits.of(HttpConnectionManager.newBuilder().setCommonHttpProtocolOptions(
                io.envoyproxy.envoy.config.core.v3.HttpProtocolOptions.newBuilder()
                        .setMaxHeadersCount(UInt32Value.of(10))
                        .setHeadersWithUnderscoresAction(io.envoyproxy.envoy.config.core.v3.HttpProtocolOptions
                                .HeadersWithUnderscoresAction.REJECT_REQUEST)).build(), 1 << 20);
        EmbeddedChannel ch = connection(limits);
        ByteBuf out = Unpooled.buffer();
        Http2Headers many = get("/many");
        for (int i = 0; i < 10; i++) {
            many.add("x-h" + i, "v");
        }
        ByteBuf block = headerBlock(1, many);
        frame(out, HEADERS, END_HEADERS | END_STREAM, 1, block);
        block.release();
        block = headerBlock(3, get("/u").add("x_under", "v"));
        frame(out, HEADERS, END_HEADERS | END_STREAM, 3, block);
        block.release();
        block = headerBlock(5, get("/fine"));
        frame(out, HEADERS, END_HEADERS | END_STREAM, 5, block);
        block.release();
        send(ch, out);
        assertThat(frames(ch)).contains("HEADERS 1 431", "HEADERS 3 400", "HEADERS 5 200");
        assertThat(rejected("too_many_headers")).isEqualTo(1);
        assertThat(rejected("invalid_underscore")).isEqualTo(1);
        assertThat(h.upstreams.sent).extracting(FakeUpstreams.Sent::uri).containsExactly("/fine");
    }
}
