package dev.ambit.waypoint.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.hbone.StreamBytes;
import dev.ambit.proxy.net.SocketFactory;
import dev.ambit.proxy.net.Transport;
import dev.ambit.testing.LeakCheck;
import dev.ambit.waypoint.ResponseFlag;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.HttpConversionUtil;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The HTTP/1.1 client codec over an HBONE stream's bytes ({@link StreamBytes} on an
 * {@link EmbeddedChannel} standing in for the CONNECT stream): requests leave as DATA frames,
 * responses arrive as DATA frames, END_STREAM and RST_STREAM become UC and UR.
 */
class Http1OverStreamTest {

    static final UpstreamEndpoint EP = new UpstreamEndpoint(new InetSocketAddress("10.0.0.7", 9080), true,
            HealthStatus.HEALTHY);

    final MetricsRegistry metrics = MetricsRegistry.create();
    final Http1Pool pool = new Http1Pool(EP, new Connector(SocketFactory.host("t", Transport.EPOLL), null, 15008,
            () -> null, ip -> null), new UpstreamMetrics(metrics), 4, Duration.ofSeconds(30), 1 << 16);
    EmbeddedChannel stream;

    @BeforeEach
    void setUp() {
        LeakCheck.reset();
        stream = new EmbeddedChannel();
        StreamBytes.install(stream);
    }

    @AfterEach
    void tearDown() throws Exception {
        stream.finishAndReleaseAll();
        LeakCheck.assertNoLeaks();
    }

    static FullHttpRequest get(String path) {
        FullHttpRequest r = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, path);
        r.headers().set(HttpHeaderNames.HOST, "reviews:9080");
        return r;
    }

    String outboundBytes() {
        StringBuilder sb = new StringBuilder();
        for (Object o; (o = stream.readOutbound()) != null; ) {
            if (o instanceof Http2DataFrame d) {
                sb.append(d.content().toString(StandardCharsets.UTF_8));
            }
            ReferenceCountUtil.release(o);
        }
        return sb.toString();
    }

    void respond(String bytes, boolean endStream) {
        stream.writeInbound(new DefaultHttp2DataFrame(Unpooled.copiedBuffer(bytes, StandardCharsets.UTF_8), endStream));
        stream.runPendingTasks();
    }

    static UpstreamException failure(Exchange ex) {
        assertThat(ex.result).isCompletedExceptionally();
        try {
            ex.result.get();
            throw new AssertionError("not failed");
        } catch (ExecutionException e) {
            return (UpstreamException) e.getCause();
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void requestsAndResponsesTravelAsDataFramesAndTheConnectionIsReused() throws Exception {
        Http1Connection conn = pool.attach(stream);
        Exchange first = new Exchange("c", EP, get("/a"));
        conn.start(first, null);
        assertThat(outboundBytes()).startsWith("GET /a HTTP/1.1\r\n").contains("host: reviews:9080");
        respond("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok", false);
        UpstreamResponse r = first.result.getNow(null);
        assertThat(r.response().content().toString(StandardCharsets.UTF_8)).isEqualTo("ok");
        assertThat(r.response().headers().contains(HttpHeaderNames.CONNECTION)).isFalse();
        r.response().release();
        assertThat(pool.idleConnections()).isEqualTo(1);

        Exchange second = new Exchange("c", EP, get("/b"));
        pool.send(second, Duration.ofSeconds(1), null);
        stream.runPendingTasks();
        assertThat(outboundBytes()).startsWith("GET /b HTTP/1.1\r\n");
        assertThat(pool.idleConnections()).isZero();
        respond("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\ngrpc-status: 0\r\n\r\n", false);
        UpstreamResponse chunked = second.result.getNow(null);
        assertThat(chunked.response().content().toString(StandardCharsets.UTF_8)).isEqualTo("abc");
        assertThat(chunked.response().trailingHeaders().get("grpc-status")).isEqualTo("0");
        chunked.response().release();
        assertThat(pool.openConnections()).isEqualTo(1);
    }

    @Test
    void endStreamBeforeAWholeResponseIsUc() {
        Exchange ex = new Exchange("c", EP, get("/"));
        pool.attach(stream).start(ex, null);
        outboundBytes();
        respond("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", true);
        UpstreamException e = failure(ex);
        assertThat(e.flag()).isEqualTo(ResponseFlag.UC);
        assertThat(e.endpoint()).isEqualTo(EP.address());
        assertThat(pool.idleConnections()).isZero();
    }

    @Test
    void streamResetIsUr() {
        Exchange ex = new Exchange("c", EP, get("/"));
        pool.attach(stream).start(ex, null);
        outboundBytes();
        stream.pipeline().fireUserEventTriggered(new DefaultHttp2ResetFrame(Http2Error.INTERNAL_ERROR));
        assertThat(failure(ex).flag()).isEqualTo(ResponseFlag.UR);
    }

    @Test
    void aTimedOutExchangeResetsItsStream() {
        Exchange ex = new Exchange("c", EP, get("/"));
        pool.attach(stream).start(ex, null);
        outboundBytes();
        ex.fail(Failures.timeout(EP.address(), Duration.ofMillis(5)));
        stream.runPendingTasks();
        List<Object> out = new ArrayList<>();
        for (Object o; (o = stream.readOutbound()) != null; ) {
            out.add(o);
        }
        assertThat(out).anyMatch(o -> o instanceof Http2ResetFrame r && r.errorCode() == Http2Error.CANCEL.code());
        out.forEach(ReferenceCountUtil::release);
        assertThat(stream.isOpen()).isFalse();
        assertThat(failure(ex).flag()).isEqualTo(ResponseFlag.UT);
        assertThat(pool.openConnections()).isZero();
    }

    @Test
    void requestsAreMadeHttp11WithoutConnectionOrConversionHeaders() {
        FullHttpRequest r = new DefaultFullHttpRequest(HttpVersion.HTTP_1_0, HttpMethod.POST, "/p",
                Unpooled.copiedBuffer("body", StandardCharsets.UTF_8));
        r.headers().set(HttpHeaderNames.CONNECTION, "close, x-hop");
        r.headers().set("x-hop", "1");
        r.headers().set(HttpHeaderNames.KEEP_ALIVE, "timeout=5");
        r.headers().set(HttpConversionUtil.ExtensionHeaderNames.SCHEME.text(), "http");
        r.headers().set(HttpConversionUtil.ExtensionHeaderNames.STREAM_ID.text(), "3");
        try {
            Http1Messages.toHttp1(r);
            assertThat(r.protocolVersion()).isEqualTo(HttpVersion.HTTP_1_1);
            assertThat(r.headers().names()).containsExactly("content-length");
            assertThat(r.headers().getInt(HttpHeaderNames.CONTENT_LENGTH)).isEqualTo(4);
        } finally {
            r.release();
        }
    }
}
