package dev.ambit.proxy.hbone;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.proxy.net.Linger;
import dev.ambit.proxy.net.Relay;
import dev.ambit.proxy.net.RelayResult;
import dev.ambit.testing.LeakCheck;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class RelayTest {

    private final Gate tcpGate = new Gate();
    private final Gate streamGate = new Gate();
    private TestTcpChannel tcp;
    private EmbeddedChannel stream;
    private final List<RelayResult> results = new ArrayList<>();

    @BeforeEach
    void setUp() {
        LeakCheck.install();
        tcp = new TestTcpChannel(tcpGate);
        stream = new EmbeddedChannel(streamGate);
        // EmbeddedChannel starts with AUTO_READ on and reads once when it becomes active.
        tcpGate.reads = 0;
        streamGate.reads = 0;
        Relay.start(tcp, stream, results::add);
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        tcp.finishAndReleaseAll();
        stream.finishAndReleaseAll();
        LeakCheck.assertNoLeaks();
    }

    @Test
    void startsReadingBothSidesWithAutoReadOff() {
        assertThat(tcp.config().isAutoRead()).isFalse();
        assertThat(stream.config().isAutoRead()).isFalse();
        assertThat(tcpGate.reads).isEqualTo(1);
        assertThat(streamGate.reads).isEqualTo(1);
    }

    @Test
    void relaysBytesBothWaysInOrder() {
        tcp.writeInbound(text("GET / HTTP/1.1\r\n"));
        tcp.writeInbound(text("Host: backend\r\n\r\n"));
        assertThat(readData(stream)).isEqualTo("GET / HTTP/1.1\r\n");
        assertThat(readData(stream)).isEqualTo("Host: backend\r\n\r\n");

        stream.writeInbound(new DefaultHttp2DataFrame(text("HTTP/1.1 200 OK\r\n")));
        stream.writeInbound(new DefaultHttp2DataFrame(text("\r\n")));
        assertThat(readBytes(tcp)).isEqualTo("HTTP/1.1 200 OK\r\n");
        assertThat(readBytes(tcp)).isEqualTo("\r\n");
        assertThat((Object) stream.readOutbound()).isNull();
        assertThat((Object) tcp.readOutbound()).isNull();
        assertThat(results).isEmpty();
    }

    @Test
    void tcpIsReadAheadOfOnePendingStreamWriteButNotOfTwo() {
        streamGate.close();
        tcp.writeInbound(text("one"));
        assertThat(streamGate.heldWrites()).isEqualTo(1);
        assertThat(tcpGate.reads).as("one write pending: read ahead").isEqualTo(2);
        tcp.writeInbound(text("two"));
        assertThat(streamGate.heldWrites()).isEqualTo(2);
        assertThat(tcpGate.reads).as("two writes pending: no read").isEqualTo(2);

        streamGate.open();
        assertThat(tcpGate.reads).isEqualTo(3);
        assertThat(readData(stream)).isEqualTo("one");
        assertThat(readData(stream)).isEqualTo("two");
    }

    /**
     * One full read (64 KiB) waiting for the connection's flush, plus the one read ahead, must
     * not make the stream unwritable: with Netty's default 64 KiB high-water mark the TCP side
     * was never read ahead under a bulk stream, and epoll disarmed and re-armed it per chunk.
     */
    @Test
    void theStreamStaysWritableWithTheRelaysOwnReadAheadUnflushed() {
        stream.write(Unpooled.buffer(64 * 1024).writeZero(64 * 1024));
        stream.write(Unpooled.buffer(64 * 1024).writeZero(64 * 1024));
        assertThat(stream.isWritable()).as("two 64 KiB reads unflushed").isTrue();
        stream.write(Unpooled.buffer(4 * 64 * 1024).writeZero(4 * 64 * 1024));
        assertThat(stream.isWritable()).as("far more than the relay ever queues").isFalse();
    }

    @Test
    void tcpIsNotReadWhileTheStreamIsUnwritable() {
        stream.unsafe().outboundBuffer().setUserDefinedWritability(1, false);
        stream.runPendingTasks();
        tcp.writeInbound(text("one"));
        assertThat(readData(stream)).isEqualTo("one");
        assertThat(tcpGate.reads).as("write done, but the stream is not writable").isEqualTo(1);

        stream.unsafe().outboundBuffer().setUserDefinedWritability(1, true);
        stream.runPendingTasks();
        assertThat(tcpGate.reads).isEqualTo(2);
    }

    @Test
    void streamIsReadAheadOfOnePendingTcpWriteButNotOfTwo() {
        tcpGate.close();
        stream.writeInbound(new DefaultHttp2DataFrame(text("one")));
        assertThat(tcpGate.heldWrites()).isEqualTo(1);
        assertThat(streamGate.reads).as("one write pending: read ahead").isEqualTo(2);
        stream.writeInbound(new DefaultHttp2DataFrame(text("two")));
        assertThat(tcpGate.heldWrites()).isEqualTo(2);
        assertThat(streamGate.reads).as("two writes pending: no read").isEqualTo(2);

        tcpGate.open();
        assertThat(streamGate.reads).isEqualTo(3);
        assertThat(readBytes(tcp)).isEqualTo("one");
        assertThat(readBytes(tcp)).isEqualTo("two");
    }

    @Test
    void streamIsNotReadWhileTcpIsUnwritable() {
        tcp.unsafe().outboundBuffer().setUserDefinedWritability(1, false);
        tcp.runPendingTasks();
        stream.writeInbound(new DefaultHttp2DataFrame(text("one")));
        assertThat(readBytes(tcp)).isEqualTo("one");
        assertThat(streamGate.reads).isEqualTo(1);

        tcp.unsafe().outboundBuffer().setUserDefinedWritability(1, true);
        tcp.runPendingTasks();
        assertThat(streamGate.reads).isEqualTo(2);
    }

    @Test
    void tcpIsArmedToResetWhenTheRelayStarts() {
        // A dying process closes it with a RST, not a FIN (Linger).
        assertThat(tcp.linger()).isZero();
    }

    @Test
    void tcpFinFirstThenEndStreamCompletes() {
        tcp.writeInbound(text("request"));
        tcp.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);

        assertThat(readData(stream)).isEqualTo("request");
        Http2DataFrame end = stream.readOutbound();
        assertThat(end.isEndStream()).isTrue();
        assertThat(end.content().readableBytes()).isZero();
        end.release();
        assertThat(results).as("the other direction is still open").isEmpty();
        assertThat(tcp.isOpen()).isTrue();
        assertThat(tcp.linger()).as("the app's FIN does not disarm: the agent still owes it the response").isZero();

        // The response still flows after the client's FIN.
        stream.writeInbound(new DefaultHttp2DataFrame(text("response")));
        assertThat(readBytes(tcp)).isEqualTo("response");
        assertThat(tcp.isOutputShutdown()).isFalse();
        stream.writeInbound(new DefaultHttp2DataFrame(Unpooled.EMPTY_BUFFER, true));

        assertThat(tcp.isOutputShutdown()).isTrue();
        assertThat(results).singleElement().satisfies(r -> {
            assertThat(r.termination()).isEqualTo(RelayResult.Termination.COMPLETED);
            assertThat(r.tcpToStream()).isEqualTo(7);
            assertThat(r.streamToTcp()).isEqualTo(8);
            assertThat(r.cause()).isNull();
        });
        assertThat(tcp.isOpen()).isFalse();
        assertThat(tcp.lingerAtShutdownOutput()).as("graceful close: normal linger before the FIN")
                .isEqualTo(TestTcpChannel.DEFAULT_LINGER);
        assertThat(tcp.lingerAtClose()).as("a clean end closes without a reset").isEqualTo(TestTcpChannel.DEFAULT_LINGER);
        assertThat(stream.isOpen()).isFalse();
        assertThat((Object) stream.readOutbound()).as("no RST_STREAM after a clean end").isNull();
    }

    @Test
    void endStreamFirstThenTcpFinCompletes() {
        stream.writeInbound(new DefaultHttp2DataFrame(text("last words"), true));
        assertThat(readBytes(tcp)).isEqualTo("last words");
        assertThat(tcp.isOutputShutdown()).isTrue();
        assertThat(tcp.lingerAtShutdownOutput()).as("the graceful close began: disarmed before the FIN")
                .isEqualTo(TestTcpChannel.DEFAULT_LINGER);
        assertThat(results).isEmpty();

        tcp.writeInbound(text("reply"));
        assertThat(readData(stream)).isEqualTo("reply");
        tcp.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        Http2DataFrame end = stream.readOutbound();
        assertThat(end.isEndStream()).isTrue();
        end.release();

        assertThat(results).singleElement().satisfies(r -> {
            assertThat(r.termination()).isEqualTo(RelayResult.Termination.COMPLETED);
            assertThat(r.tcpToStream()).isEqualTo(5);
            assertThat(r.streamToTcp()).isEqualTo(10);
        });
    }

    @Test
    void endStreamWaitsForPendingTcpWritesBeforeShuttingDownOutput() {
        tcpGate.close();
        stream.writeInbound(new DefaultHttp2DataFrame(text("tail"), true));
        assertThat(tcp.isOutputShutdown()).as("shutdownOutput would fail the queued write").isFalse();
        tcpGate.open();
        assertThat(readBytes(tcp)).isEqualTo("tail");
        assertThat(tcp.isOutputShutdown()).isTrue();
    }

    @Test
    void aStreamResetAfterTheGracefulHalfCloseResetsTcpAgain() {
        stream.writeInbound(new DefaultHttp2DataFrame(text("done"), true));
        assertThat(readBytes(tcp)).isEqualTo("done");
        assertThat(tcp.lingerAtShutdownOutput()).isEqualTo(TestTcpChannel.DEFAULT_LINGER);
        // The app is still sending when the stream fails: its socket is reset, not closed.
        stream.pipeline().fireUserEventTriggered(new DefaultHttp2ResetFrame(Http2Error.CANCEL));
        stream.runPendingTasks();
        assertThat(tcp.lingerAtClose()).isZero();
        assertThat(results).singleElement()
                .extracting(RelayResult::termination).isEqualTo(RelayResult.Termination.STREAM_ABORTED);
    }

    @Test
    void trailersWithEndStreamHalfClose() {
        stream.writeInbound(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers(), true));
        assertThat(tcp.isOutputShutdown()).isTrue();
    }

    @Test
    void streamResetResetsTcp() {
        stream.writeInbound(new DefaultHttp2DataFrame(text("partial")));
        assertThat(readBytes(tcp)).isEqualTo("partial");
        stream.pipeline().fireUserEventTriggered(new DefaultHttp2ResetFrame(Http2Error.CANCEL));

        assertThat(tcp.isOpen()).isFalse();
        assertThat(tcp.lingerAtClose()).as("closed with a RST").isZero();
        assertThat(stream.isOpen()).as("closed only after the codec has seen the reset").isTrue();
        stream.runPendingTasks();
        assertThat(stream.isOpen()).isFalse();
        assertThat(results).singleElement().satisfies(r -> {
            assertThat(r.termination()).isEqualTo(RelayResult.Termination.STREAM_ABORTED);
            assertThat(r.streamToTcp()).isEqualTo(7);
            assertThat(r.cause()).hasMessageContaining("CANCEL");
        });
    }

    @Test
    void tcpResetResetsStreamWithConnectError() {
        tcp.writeInbound(text("abc"));
        assertThat(readData(stream)).isEqualTo("abc");
        tcp.pipeline().fireExceptionCaught(new IOException("Connection reset by peer"));

        Http2ResetFrame reset = stream.readOutbound();
        assertThat(reset.errorCode()).isEqualTo(Http2Error.CONNECT_ERROR.code());
        assertThat(stream.isOpen()).isFalse();
        assertThat(tcp.isOpen()).isFalse();
        assertThat(results).singleElement().satisfies(r -> {
            assertThat(r.termination()).isEqualTo(RelayResult.Termination.TCP_ABORTED);
            assertThat(r.tcpToStream()).isEqualTo(3);
            assertThat(r.cause()).hasMessage("Connection reset by peer");
        });
    }

    @Test
    void tcpCloseWithoutFinResetsStream() {
        tcp.close();
        tcp.runPendingTasks();
        Http2ResetFrame reset = stream.readOutbound();
        assertThat(reset.errorCode()).isEqualTo(Http2Error.CONNECT_ERROR.code());
        assertThat(results).singleElement()
                .extracting(RelayResult::termination).isEqualTo(RelayResult.Termination.TCP_ABORTED);
    }

    @Test
    void streamCloseWithoutEndStreamClosesTcp() {
        stream.close();
        stream.runPendingTasks();
        assertThat(tcp.isOpen()).isFalse();
        assertThat(tcp.lingerAtClose()).as("the HBONE side lost without END_STREAM: a RST").isZero();
        assertThat(results).singleElement()
                .extracting(RelayResult::termination).isEqualTo(RelayResult.Termination.STREAM_ABORTED);
    }

    @Test
    void reportsOnce() {
        stream.pipeline().fireUserEventTriggered(new DefaultHttp2ResetFrame(Http2Error.CANCEL));
        tcp.close();
        stream.close();
        tcp.runPendingTasks();
        stream.runPendingTasks();
        assertThat(results).singleElement()
                .extracting(RelayResult::termination).isEqualTo(RelayResult.Termination.STREAM_ABORTED);
    }

    @Test
    void refusesChannelsThatAreNotActive() {
        TestTcpChannel closedTcp = new TestTcpChannel();
        closedTcp.close();
        EmbeddedChannel otherStream = new EmbeddedChannel();
        List<RelayResult> r = new ArrayList<>();
        Relay.start(closedTcp, otherStream, r::add);
        assertThat(r).singleElement()
                .extracting(RelayResult::termination).isEqualTo(RelayResult.Termination.TCP_ABORTED);
        Http2ResetFrame reset = otherStream.readOutbound();
        assertThat(reset.errorCode()).isEqualTo(Http2Error.CONNECT_ERROR.code());
        otherStream.finishAndReleaseAll();
    }

    @Test
    void refusesChannelsOnAnotherEventLoop() throws Exception {
        var group = new io.netty.channel.MultiThreadIoEventLoopGroup(1, io.netty.channel.nio.NioIoHandler.newFactory());
        try {
            var socket = new io.netty.channel.socket.nio.NioSocketChannel();
            group.register(socket).sync();
            EmbeddedChannel otherStream = new EmbeddedChannel();
            // Called from the test thread, not the socket's event loop.
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> Relay.start(socket, otherStream, r -> {}))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageStartingWith("tcp and stream must be registered on the same event loop");
            assertThat(socket.pipeline().last()).as("nothing installed").isNull();
            socket.close().sync();
            otherStream.finishAndReleaseAll();
        } finally {
            group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void aFailingListenerDoesNotBreakTheRelay() {
        TestTcpChannel otherTcp = new TestTcpChannel();
        EmbeddedChannel otherStream = new EmbeddedChannel();
        Relay.start(otherTcp, otherStream, r -> {
            throw new IllegalStateException("telemetry down");
        });
        otherStream.pipeline().fireUserEventTriggered(new DefaultHttp2ResetFrame(Http2Error.CANCEL));
        otherStream.runPendingTasks();
        assertThat(otherTcp.isOpen()).isFalse();
        assertThat(otherStream.isOpen()).isFalse();
        otherTcp.checkException(); // nothing surfaced in the pipelines
        otherStream.checkException();
        otherTcp.finishAndReleaseAll();
        otherStream.finishAndReleaseAll();
    }

    private static ByteBuf text(String s) {
        return Unpooled.copiedBuffer(s, UTF_8);
    }

    private static String readData(EmbeddedChannel ch) {
        Object msg = ch.readOutbound();
        assertThat(msg).isInstanceOf(Http2DataFrame.class);
        Http2DataFrame frame = (Http2DataFrame) msg;
        try {
            assertThat(frame.isEndStream()).isFalse();
            return frame.content().toString(UTF_8);
        } finally {
            frame.release();
        }
    }

    private static String readBytes(EmbeddedChannel ch) {
        Object msg = ch.readOutbound();
        assertThat(msg).isInstanceOf(ByteBuf.class);
        try {
            return ((ByteBuf) msg).toString(UTF_8);
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }
}
