package dev.ambit.proxy.hbone;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.testing.LeakCheck;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseDecoder;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class StreamBytesTest {

    private H2Pair h2;
    private Duration linger = Duration.ofSeconds(30);
    /** The server end of the one test tunnel, once accepted. */
    private Http2StreamChannel serverStream;
    private StreamBytes serverBytes;
    private final ByteRecorder serverSeen = new ByteRecorder();
    private final FrameRecorder clientSeen = new FrameRecorder();
    private Http2StreamChannel clientStream;

    @BeforeEach
    void setUp() {
        LeakCheck.install();
        h2 = new H2Pair(new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.pipeline().addLast(Http2FrameCodecBuilder.forServer().build(),
                        new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
                            @Override
                            protected void initChannel(Http2StreamChannel stream) {
                                stream.config().setAutoRead(false);
                                stream.pipeline().addLast(new Accepter());
                            }
                        }));
            }
        });
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        h2.close();
        LeakCheck.assertNoLeaks();
    }

    /** Answers the CONNECT 200, then makes the stream a byte stream. */
    private final class Accepter extends ChannelInboundHandlerAdapter {
        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            ctx.read();
            ctx.fireChannelActive();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ReferenceCountUtil.release(msg);
            serverStream = (Http2StreamChannel) ctx.channel();
            ctx.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")));
            serverBytes = StreamBytes.install(serverStream, linger);
            ctx.pipeline().addLast(serverSeen);
            ctx.pipeline().remove(this);
        }
    }

    /** Records what a byte-stream pipeline receives; releases everything. */
    static final class ByteRecorder extends ChannelInboundHandlerAdapter {
        final List<String> events = new ArrayList<>();

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                events.add(msg instanceof ByteBuf b ? "BYTES " + b.toString(UTF_8) : "OTHER " + msg);
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt == ChannelInputShutdownEvent.INSTANCE) {
                events.add("INPUT_SHUTDOWN");
            } else if (evt == ChannelInputShutdownReadComplete.INSTANCE) {
                events.add("INPUT_SHUTDOWN_READ_COMPLETE");
            } else if (evt instanceof Http2ResetFrame r) {
                events.add("RST " + r.errorCode());
            }
            ReferenceCountUtil.release(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            events.add("CLOSED");
        }
    }

    private void connect() {
        clientStream = h2.openStream(clientSeen);
        clientStream.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers()
                .method("CONNECT").authority("10.0.0.1:80")));
        h2.pump();
        assertThat(clientSeen.status()).isEqualTo("200");
        assertThat(serverStream).isNotNull();
    }

    private static ByteBuf text(String s) {
        return Unpooled.copiedBuffer(s, UTF_8);
    }

    @Test
    void dataFramesArriveAsBytesAndEndStreamAsInputShutdown() {
        connect();
        clientStream.write(new DefaultHttp2DataFrame(text("hello ")));
        clientStream.write(new DefaultHttp2DataFrame(Unpooled.EMPTY_BUFFER));
        clientStream.writeAndFlush(new DefaultHttp2DataFrame(text("world"), true));
        h2.pump();
        assertThat(serverSeen.events).isEmpty(); // AUTO_READ off: nothing before read()

        // With AUTO_READ off each read() delivers one frame (the sender may have merged them).
        for (int i = 0; i < 4; i++) {
            serverStream.read();
            h2.pump();
        }
        assertThat(String.join("", serverSeen.events.stream().filter(e -> e.startsWith("BYTES "))
                .map(e -> e.substring(6)).toList())).isEqualTo("hello world");
        assertThat(serverSeen.events).endsWith("INPUT_SHUTDOWN", "INPUT_SHUTDOWN_READ_COMPLETE");
        assertThat(serverBytes.inputEnded()).isTrue();
        assertThat(serverStream.isActive()).isTrue(); // only half-closed
    }

    @Test
    void trailersWithEndStreamEndTheInput() {
        connect();
        clientStream.write(new DefaultHttp2DataFrame(text("x")));
        clientStream.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().set("grpc-status", "0"), true));
        serverStream.read();
        h2.pump();
        serverStream.read();
        h2.pump();
        assertThat(serverSeen.events).containsExactly("BYTES x", "INPUT_SHUTDOWN", "INPUT_SHUTDOWN_READ_COMPLETE");
    }

    @Test
    void bytesWrittenBecomeDataFramesAndEmptyOnesAreSkipped() {
        connect();
        ChannelFuture empty = serverStream.writeAndFlush(Unpooled.EMPTY_BUFFER);
        serverStream.writeAndFlush(text("abc"));
        serverStream.writeAndFlush(text("def"));
        h2.pump();
        assertThat(empty.isSuccess()).isTrue();
        assertThat(clientSeen.events).containsExactly("HEADERS 200", "DATA abc", "DATA def");
    }

    @Test
    void endStreamHalfClosesAndLaterBytesFail() {
        connect();
        serverStream.writeAndFlush(text("last"));
        StreamBytes.endStream(serverStream);
        ChannelFuture late = serverStream.writeAndFlush(text("late"));
        h2.pump();
        assertThat(clientSeen.events).containsExactly("HEADERS 200", "DATA last", "DATA  END");
        assertThat(late.cause()).isInstanceOf(IllegalStateException.class);
        assertThat(serverStream.isActive()).isTrue();
        // The client still sends; the server still reads.
        clientStream.writeAndFlush(new DefaultHttp2DataFrame(text("more"), true));
        serverStream.read();
        h2.pump();
        // Both ends done: the codec closes the stream by itself.
        assertThat(serverSeen.events).containsExactly("BYTES more", "INPUT_SHUTDOWN", "INPUT_SHUTDOWN_READ_COMPLETE",
                "CLOSED");
        assertThat(h2.serverFrames).noneMatch(f -> f.startsWith("RST_STREAM"));
    }

    @Test
    void gracefulCloseSendsEndStreamAndWaitsForThePeersEnd() {
        connect();
        serverStream.writeAndFlush(text("bye"));
        ChannelFuture closed = serverStream.close();
        h2.pump();
        assertThat(clientSeen.events).containsExactly("HEADERS 200", "DATA bye", "DATA  END");
        assertThat(closed.isDone()).isFalse();
        assertThat(serverStream.isOpen()).isTrue();

        // What the peer sends meanwhile is read (though AUTO_READ is off) and dropped.
        clientStream.writeAndFlush(new DefaultHttp2DataFrame(text("ignored")));
        h2.pump();
        clientStream.writeAndFlush(new DefaultHttp2DataFrame(true));
        h2.pump();
        assertThat(closed.isSuccess()).isTrue();
        assertThat(serverSeen.events).containsExactly("CLOSED");
        assertThat(h2.serverFrames).noneMatch(f -> f.startsWith("RST_STREAM"));
        assertThat(clientSeen.events).doesNotContain("RST " + Http2Error.CANCEL.code());
    }

    @Test
    void closeAfterThePeerEndedClosesAtOnceWithoutReset() {
        connect();
        clientStream.writeAndFlush(new DefaultHttp2DataFrame(text("q"), true));
        serverStream.read();
        h2.pump();
        ChannelFuture closed = serverStream.close();
        h2.pump();
        assertThat(closed.isSuccess()).isTrue();
        assertThat(clientSeen.events).containsExactly("HEADERS 200", "DATA  END", "CLOSED");
        assertThat(h2.serverFrames).noneMatch(f -> f.startsWith("RST_STREAM"));
    }

    @Test
    void gracefulCloseResetsWhenTheLingerRunsOut() throws InterruptedException {
        linger = Duration.ofMillis(300);
        connect();
        ChannelFuture closed = serverStream.close();
        h2.pump();
        assertThat(closed.isDone()).isFalse();
        Thread.sleep(350);
        h2.server.runScheduledPendingTasks();
        h2.pump();
        assertThat(closed.isSuccess()).isTrue();
        assertThat(clientSeen.events).containsExactly("HEADERS 200", "DATA  END",
                "RST " + Http2Error.CANCEL.code(), "CLOSED");
    }

    @Test
    void resetAbortsWithRstStream() {
        connect();
        StreamBytes.reset(serverStream, Http2Error.INTERNAL_ERROR);
        h2.pump();
        assertThat(clientSeen.events).containsExactly("HEADERS 200", "RST " + Http2Error.INTERNAL_ERROR.code(), "CLOSED");
        assertThat(serverStream.isOpen()).isFalse();
    }

    @Test
    void peerResetIsPassedOnAndClosesTheStream() {
        connect();
        clientStream.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.CONNECT_ERROR));
        h2.pump();
        assertThat(serverSeen.events).containsExactly("RST " + Http2Error.CONNECT_ERROR.code(), "CLOSED");
    }

    @Test
    void anHttpDecoderSeesTheEndOfInput() {
        connect();
        serverStream.pipeline().addBefore(serverStream.pipeline().context(serverSeen).name(), "decoder",
                new HttpResponseDecoder());
        List<Object> decoded = new ArrayList<>();
        serverStream.pipeline().replace(serverSeen, "collect", new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                decoded.add(msg instanceof HttpContent c ? (c instanceof LastHttpContent ? "LAST " : "CONTENT ")
                        + c.content().toString(UTF_8) : msg instanceof HttpResponse r ? "RESPONSE " + r.status().code() : msg);
                ReferenceCountUtil.release(msg);
            }
        });
        // No Content-Length: the body runs to the end of the stream, as to a TCP FIN.
        clientStream.writeAndFlush(new DefaultHttp2DataFrame(text("HTTP/1.1 200 OK\r\n\r\nbody")));
        serverStream.read();
        h2.pump();
        clientStream.writeAndFlush(new DefaultHttp2DataFrame(true));
        serverStream.read();
        h2.pump();
        assertThat(decoded).containsExactly("RESPONSE 200", "CONTENT body", "LAST ");
    }

    @Test
    void framesPassThroughForCallersThatStillSpeakHttp2() {
        connect();
        Http2HeadersFrame trailers = new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().set("x", "y"), true);
        serverStream.writeAndFlush(trailers);
        h2.pump();
        assertThat(clientSeen.events).containsExactly("HEADERS 200", "HEADERS null END");
        assertThat(serverBytes.outputEnded()).isTrue();
    }
}
