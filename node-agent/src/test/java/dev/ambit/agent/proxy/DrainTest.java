package dev.ambit.agent.proxy;

import static dev.ambit.testing.Eventually.eventually;
import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.proxy.hbone.HboneClient;
import dev.ambit.proxy.hbone.HboneRequest;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.net.TestServers;
import dev.ambit.proxy.net.Transport;
import dev.ambit.proxy.identity.TestCa;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Draining the three listeners on real sockets over loopback (epoll; {@link DrainIoUringTest}:
 * io_uring), set up by {@link TwoAgents}: the {@code backend-1} pod at 127.0.0.2 with its HBONE and plaintext inbound
 * listeners in front of an echo app, and the {@code frontend} pod's outbound listener at
 * 127.0.0.1, passing through to an echo server outside the mesh (127.0.0.5).
 *
 * <p>The cases hold a connection open across the drain's start and check that its bytes
 * keep flowing, that the listener refuses new connections as soon as {@code drain} returned,
 * and that the drain ends with the connection: when it ends by itself (0 forced), or at a
 * short deadline, with a reset (1 forced).
 */
@Timeout(60)
class DrainTest {

    static final InetAddress POD_IP = TwoAgents.ip("127.0.0.2");
    /** Longer than any case: a drain that must end by itself would fail its assertions first. */
    static final Duration LONG = Duration.ofSeconds(30);
    static final Duration SHORT = Duration.ofMillis(300);

    TestServers.Echo outside;

    /** Backend at 127.0.0.2 before a plain echo app; the frontend (127.0.0.1) passes through to {@link #outside}. */
    @RegisterExtension
    final TwoAgents agents = TwoAgents.builder()
            .transport(transport()) // a subclass's override: it reads no field of the subclass
            .podAddresses("127.0.0.1", "127.0.0.2")
            .app(TestServers.EchoHandler::new)
            .originalDestinations(ch -> Optional.of(outside.address())) // outside the mesh: passthrough
            .build();
    final List<AutoCloseable> closeables = new ArrayList<>();

    /** The transport of every socket here. */
    Transport transport() {
        return Transport.EPOLL;
    }

    @BeforeEach
    void startOutside() {
        outside = new TestServers.Echo(agents.appLoops(), agents.transport(), new InetSocketAddress("127.0.0.5", 0));
    }

    @AfterEach
    void closeClientsAndOutside() throws Exception {
        for (AutoCloseable c : closeables) {
            c.close();
        }
        if (outside != null) {
            outside.close();
        }
    }

    // ---------------------------------------------------------------- plaintext 15006

    @Test
    void plaintextDrainRefusesNewConnectionsAndEndsWithTheOpenOne() throws Exception {
        InetSocketAddress address = agents.plaintextB().localAddress();
        try (Socket client = connect(address)) {
            roundTrip(client, "before");
            eventually(() -> assertThat(agents.plaintextB().activeConnections()).isEqualTo(1));

            CompletableFuture<Integer> drained = agents.plaintextB().drain(LONG);

            assertThat(agents.plaintextB().serverChannel().isOpen()).as("listening socket").isFalse();
            assertRefused(address);
            roundTrip(client, "during the drain");
            assertThat(drained).isNotDone();
            assertThat(agents.plaintextB().activeConnections()).isEqualTo(1);
            assertThat(agents.plaintextB().drain(Duration.ZERO)).as("the same drain").isSameAs(drained);

            client.shutdownOutput();
            assertThat(client.getInputStream().read()).as("the app's FIN, relayed").isEqualTo(-1);
            assertThat(drained.get(10, TimeUnit.SECONDS)).as("force-closed").isZero();
        }
        assertThat(agents.plaintextB().activeConnections()).isZero();
    }

    @Test
    void plaintextDrainResetsAConnectionThatOutlivesTheDeadline() throws Exception {
        try (Socket client = connect(agents.plaintextB().localAddress())) {
            roundTrip(client, "before");
            eventually(() -> assertThat(agents.plaintextB().activeConnections()).isEqualTo(1));

            assertThat(agents.plaintextB().drain(SHORT).get(10, TimeUnit.SECONDS)).as("force-closed").isEqualTo(1);

            assertReset(client);
        }
        assertThat(agents.plaintextB().activeConnections()).isZero();
        eventually(() -> assertThat(agents.openAppConnections()).as("the app's side of the relay").isZero());
    }

    // ---------------------------------------------------------------- outbound 15001

    @Test
    void outboundDrainRefusesNewConnectionsAndEndsWithTheOpenOne() throws Exception {
        InetSocketAddress address = agents.outboundA().localAddress();
        try (Socket client = connect(address)) {
            roundTrip(client, "before");
            eventually(() -> assertThat(agents.outboundA().activeConnections()).isEqualTo(1));

            CompletableFuture<Integer> drained = agents.outboundA().drain(LONG);

            assertRefused(address);
            roundTrip(client, "during the drain");
            assertThat(drained).isNotDone();

            client.shutdownOutput();
            assertThat(client.getInputStream().read()).isEqualTo(-1);
            assertThat(drained.get(10, TimeUnit.SECONDS)).isZero();
        }
        assertThat(agents.outboundA().activeConnections()).isZero();
        assertThatThrownBy(agents.outboundA()::start).isInstanceOf(IllegalStateException.class).hasMessageContaining("drained");
    }

    @Test
    void outboundDrainResetsAConnectionThatOutlivesTheDeadline() throws Exception {
        try (Socket client = connect(agents.outboundA().localAddress())) {
            roundTrip(client, "before");

            assertThat(agents.outboundA().drain(SHORT).get(10, TimeUnit.SECONDS)).isEqualTo(1);

            assertReset(client);
        }
        eventually(() -> assertThat(outside.openConnections()).as("the upstream of the relay").isZero());
    }

    // ---------------------------------------------------------------- HBONE 15008

    @Test
    void hboneDrainSendsGoAwayAndClosesTheConnectionAfterItsLastTunnel() throws Exception {
        HboneConnection conn = hboneConnection();
        Tunnel tunnel = conn.open();
        tunnel.roundTrip("before");
        eventually(() -> assertThat(agents.hboneB().activeConnections()).isEqualTo(1));

        CompletableFuture<Integer> drained = agents.hboneB().drain(LONG);

        GoAway goAway = conn.goAway.get(10, TimeUnit.SECONDS);
        assertThat(goAway.errorCode()).isEqualTo(Http2Error.NO_ERROR.code());
        assertThat(goAway.lastStreamId()).as("the tunnels it carries finish").isEqualTo(tunnel.stream.stream().id());
        assertRefused(agents.hboneB().localAddress());
        tunnel.roundTrip("during the drain");
        assertThat(drained).isNotDone();
        assertThat(conn.channel.isActive()).isTrue();

        tunnel.end();
        assertThat(tunnel.ended.get(10, TimeUnit.SECONDS)).as("the app's FIN, as END_STREAM").isTrue();
        assertThat(conn.channel.closeFuture().await(10, TimeUnit.SECONDS)).as("closed by the server").isTrue();
        assertThat(drained.get(10, TimeUnit.SECONDS)).isZero();
        assertThat(agents.hboneB().activeConnections()).isZero();
    }

    @Test
    void hboneDrainClosesAnIdleConnectionAtOnce() throws Exception {
        HboneConnection conn = hboneConnection();
        Tunnel tunnel = conn.open();
        tunnel.roundTrip("one tunnel");
        tunnel.end();
        assertThat(tunnel.ended.get(10, TimeUnit.SECONDS)).isTrue();

        assertThat(agents.hboneB().drain(LONG).get(10, TimeUnit.SECONDS)).isZero();

        assertThat(conn.goAway.get(10, TimeUnit.SECONDS).errorCode()).isEqualTo(Http2Error.NO_ERROR.code());
        assertThat(conn.channel.closeFuture().await(10, TimeUnit.SECONDS)).isTrue();
    }

    @Test
    void hboneDrainResetsTunnelsThatOutliveTheDeadline() throws Exception {
        HboneConnection conn = hboneConnection();
        Tunnel tunnel = conn.open();
        tunnel.roundTrip("before");

        assertThat(agents.hboneB().drain(SHORT).get(10, TimeUnit.SECONDS)).as("force-closed").isEqualTo(1);

        assertThat(conn.channel.closeFuture().await(10, TimeUnit.SECONDS)).isTrue();
        assertThat(tunnel.ended.get(10, TimeUnit.SECONDS)).as("a clean end of the tunnel").isFalse();
        eventually(() -> assertThat(agents.openAppConnections()).as("the app's side of the relay").isZero());
    }

    // ---------------------------------------------------------------- all

    @Test
    void aListenerDrainedBeforeItStartedCompletesAtOnceAndCannotStart() throws Exception {
        Plaintext15006Listener unstarted = Plaintext15006Listener.builder(agents.inboundB())
                .bindAddress(new InetSocketAddress(POD_IP, 0)).build();

        assertThat(unstarted.drain(LONG).get(10, TimeUnit.SECONDS)).isZero();

        assertThatThrownBy(unstarted::start).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("drained");
        assertThatThrownBy(() -> agents.hboneB().drain(Duration.ofSeconds(-1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("deadline: PT-1S (expected: >= 0)");
    }

    @Test
    void drainWithoutConnectionsCompletesAtOnce() throws Exception {
        assertThat(agents.hboneB().drain(LONG).get(10, TimeUnit.SECONDS)).isZero();
        assertThat(agents.plaintextB().drain(LONG).get(10, TimeUnit.SECONDS)).isZero();
        assertThat(agents.outboundA().drain(LONG).get(10, TimeUnit.SECONDS)).isZero();
        assertThat(agents.poolA().drain(LONG).get(10, TimeUnit.SECONDS)).isZero();
    }

    // ---------------------------------------------------------------- helpers

    private Socket connect(InetSocketAddress address) throws IOException {
        Socket s = new Socket();
        s.setSoTimeout(10_000);
        s.connect(address, 10_000);
        return s;
    }

    private static void roundTrip(Socket s, String text) throws IOException {
        s.getOutputStream().write(text.getBytes(US_ASCII));
        assertThat(new String(s.getInputStream().readNBytes(text.length()), US_ASCII)).isEqualTo(text);
    }

    private static void assertRefused(InetSocketAddress address) {
        assertThatThrownBy(() -> {
            try (Socket s = new Socket()) {
                s.connect(address, 10_000);
            }
        }).isInstanceOf(ConnectException.class);
    }

    /** The peer reset the connection: reading fails rather than ending. */
    private static void assertReset(Socket s) {
        assertThatThrownBy(() -> {
            InputStream in = s.getInputStream();
            while (in.read() >= 0) {
                // whatever was in flight
            }
        }).isInstanceOf(SocketException.class);
    }

    /** A frontend's HTTP/2 connection to the HBONE listener over mutual TLS. */
    private HboneConnection hboneConnection() throws Exception {
        SslContext context = TlsContexts.builder(agents.ca().bundle()).build()
                .client(agents.ca().issue(TestCa.FRONTEND), TestCa.BACKEND);
        HboneConnection conn = new HboneConnection();
        CompletableFuture<Void> ready = new CompletableFuture<>();
        Channel ch = new Bootstrap().group(agents.loopsA()).channelFactory(agents.transport()::newChannel)
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel c) {
                        SslHandler ssl = context.newHandler(c.alloc());
                        c.pipeline().addLast(ssl);
                        ssl.handshakeFuture().addListener(f -> {
                            if (!f.isSuccess()) {
                                ready.completeExceptionally(f.cause());
                                return;
                            }
                            c.pipeline().addLast(HboneClient.newConnectionHandler(), conn.new Watcher());
                            ready.complete(null);
                        });
                    }
                })
                .connect(agents.hboneB().localAddress()).sync().channel();
        closeables.add(() -> ch.close().sync());
        ready.get(10, TimeUnit.SECONDS);
        conn.channel = ch;
        return conn;
    }

    final class HboneConnection {
        Channel channel;
        final CompletableFuture<GoAway> goAway = new CompletableFuture<>();

        Tunnel open() throws Exception {
            Http2StreamChannel stream = HboneClient.connect(channel,
                    HboneRequest.builder(agents.appAddress()).forwardedFor(TwoAgents.ip("127.0.0.1")).build())
                    .get(10, TimeUnit.SECONDS);
            Tunnel t = new Tunnel(stream);
            stream.eventLoop().submit(() -> {
                stream.pipeline().addLast(t.new Reader());
                stream.config().setAutoRead(true);
            }).sync();
            return t;
        }

        /** Connection-level frames the multiplexer passes on; notes the GOAWAY. */
        final class Watcher extends ChannelInboundHandlerAdapter {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                if (msg instanceof Http2GoAwayFrame g) {
                    goAway.complete(new GoAway(g.lastStreamId(), g.errorCode()));
                }
                ReferenceCountUtil.release(msg);
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                ctx.close(); // the server's reset at the deadline
            }
        }
    }

    record GoAway(int lastStreamId, long errorCode) {}

    /** One CONNECT tunnel to the app. */
    static final class Tunnel {
        final Http2StreamChannel stream;
        final BlockingQueue<String> received = new LinkedBlockingQueue<>();
        /** {@code true} on END_STREAM, {@code false} on a reset or close without it. */
        final CompletableFuture<Boolean> ended = new CompletableFuture<>();

        Tunnel(Http2StreamChannel stream) {
            this.stream = stream;
        }

        void roundTrip(String text) throws Exception {
            stream.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.copiedBuffer(text, US_ASCII), false)).sync();
            StringBuilder got = new StringBuilder();
            while (got.length() < text.length()) {
                String chunk = received.poll(10, TimeUnit.SECONDS);
                assertThat(chunk).as("echo of " + text + " after " + got).isNotNull();
                got.append(chunk);
            }
            assertThat(got.toString()).isEqualTo(text);
        }

        void end() throws Exception {
            stream.writeAndFlush(new DefaultHttp2DataFrame(true)).sync();
        }

        final class Reader extends ChannelInboundHandlerAdapter {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                try {
                    if (msg instanceof Http2DataFrame data) {
                        if (data.content().isReadable()) {
                            received.add(data.content().toString(US_ASCII));
                        }
                        if (data.isEndStream()) {
                            ended.complete(true);
                        }
                    }
                } finally {
                    ReferenceCountUtil.release(msg);
                }
            }

            @Override
            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                ReferenceCountUtil.release(evt); // a reset: channelInactive follows
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) {
                ended.complete(false);
            }
        }
    }
}
