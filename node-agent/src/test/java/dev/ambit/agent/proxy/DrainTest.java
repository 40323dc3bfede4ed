package dev.ambit.agent.proxy;

import static dev.ambit.testing.MeshFixture.put;
import static dev.ambit.testing.MeshFixture.workload;
import static dev.ambit.testing.Eventually.eventually;
import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.api.workload.Address;
import dev.ambit.api.workload.WorkloadStatus;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.hbone.HboneClient;
import dev.ambit.proxy.hbone.HboneRequest;
import dev.ambit.proxy.identity.CertificateManager;
import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.proxy.net.HbonePool;
import dev.ambit.proxy.net.TestServers;
import dev.ambit.proxy.net.Transport;
import dev.ambit.testing.MeshFixture;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.testing.LeakCheck;
import dev.ambit.proxy.identity.TestCa;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
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
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Draining the three listeners on real sockets over loopback (epoll; {@link DrainIoUringTest}:
 * io_uring): the {@code backend-1} pod at 127.0.0.2 with its HBONE and plaintext inbound
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

    static final InetAddress POD_IP = ip("127.0.0.2");
    static final String POD_UID = MeshFixture.uid("backend-1");
    static final String FRONTEND_UID = MeshFixture.uid("frontend");
    /** Longer than any case: a drain that must end by itself would fail its assertions first. */
    static final Duration LONG = Duration.ofSeconds(30);
    static final Duration SHORT = Duration.ofMillis(300);

    @TempDir
    Path dir;
    TestCa ca;
    TlsContexts tls;
    CertificateManager certificates;
    EventLoopGroup group;
    TestServers.Echo app;
    TestServers.Echo outside;
    final ProxyState state = ProxyState.create();
    final MetricsRegistry metrics = MetricsRegistry.create();
    InboundContext inbound;
    Hbone15008Listener hbone;
    Plaintext15006Listener plaintext;
    HbonePool pool;
    Outbound outbound;
    final List<AutoCloseable> closeables = new ArrayList<>();

    /** The transport of every socket here. */
    Transport transport() {
        return Transport.EPOLL;
    }

    @BeforeEach
    void setUp() throws Exception {
        LeakCheck.reset();
        ca = new TestCa(dir, Duration.ofHours(1));
        ca.placeOnNode(TestCa.FRONTEND, TestCa.BACKEND);
        tls = TlsContexts.builder(ca.bundle()).build();
        certificates = CertificateManager.builder(ca.client().trustBundle(ca.bundle()).build())
                .metrics(MetricsRegistry.create()).build();
        group = transport().newEventLoopGroup(2, "drain-test");
        app = new TestServers.Echo(group, transport(), new InetSocketAddress(POD_IP, 0));
        outside = new TestServers.Echo(group, transport(), new InetSocketAddress("127.0.0.5", 0));

        Map<String, Address> addresses = new TreeMap<>();
        put(addresses, workload("backend-1", WorkloadStatus.HEALTHY, new String[] {"127.0.0.2"}, Map.of()));
        put(addresses, workload("frontend", WorkloadStatus.HEALTHY, new String[] {"127.0.0.1"}, Map.of()));
        state.applyAddresses(addresses, List.of());

        inbound = InboundContext.builder(PodNetwork.host(POD_UID, transport()), state)
                .podAddresses(List.of(POD_IP)).eventLoopGroup(group).metrics(metrics).build();
        var backendCert = ca.issue(TestCa.BACKEND);
        hbone = Hbone15008Listener.builder(inbound, tls, () -> backendCert)
                .bindAddress(new InetSocketAddress(POD_IP, 0)).build().start();
        plaintext = Plaintext15006Listener.builder(inbound)
                .bindAddress(new InetSocketAddress(POD_IP, 0))
                .originalDestination(ch -> app.address())
                .build().start();

        pool = HbonePool.builder(tls).metrics(metrics).build();
        outbound = Outbound.builder(PodNetwork.host(FRONTEND_UID, transport()), FRONTEND_UID)
                .state(state)
                .certificates(certificates)
                .pool(pool)
                .originalDestinations(ch -> Optional.of(outside.address())) // outside the mesh: passthrough
                .eventLoopGroup(group)
                .metrics(metrics)
                .bindAddress(new InetSocketAddress("127.0.0.1", 0))
                .build();
        outbound.start().sync();
    }

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : closeables) {
            c.close();
        }
        for (AutoCloseable c : new AutoCloseable[] {outbound, pool, hbone, plaintext, app, outside}) {
            if (c != null) {
                c.close();
            }
        }
        if (group != null) {
            assertThat(group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(10, TimeUnit.SECONDS)).isTrue();
        }
        if (certificates != null) {
            certificates.close();
        }
        if (ca != null) {
            ca.close();
        }
        LeakCheck.assertNoLeaks();
    }

    // ---------------------------------------------------------------- plaintext 15006

    @Test
    void plaintextDrainRefusesNewConnectionsAndEndsWithTheOpenOne() throws Exception {
        InetSocketAddress address = plaintext.localAddress();
        try (Socket client = connect(address)) {
            roundTrip(client, "before");
            eventually(() -> assertThat(plaintext.activeConnections()).isEqualTo(1));

            CompletableFuture<Integer> drained = plaintext.drain(LONG);

            assertThat(plaintext.serverChannel().isOpen()).as("listening socket").isFalse();
            assertRefused(address);
            roundTrip(client, "during the drain");
            assertThat(drained).isNotDone();
            assertThat(plaintext.activeConnections()).isEqualTo(1);
            assertThat(plaintext.drain(Duration.ZERO)).as("the same drain").isSameAs(drained);

            client.shutdownOutput();
            assertThat(client.getInputStream().read()).as("the app's FIN, relayed").isEqualTo(-1);
            assertThat(drained.get(10, TimeUnit.SECONDS)).as("force-closed").isZero();
        }
        assertThat(plaintext.activeConnections()).isZero();
    }

    @Test
    void plaintextDrainResetsAConnectionThatOutlivesTheDeadline() throws Exception {
        try (Socket client = connect(plaintext.localAddress())) {
            roundTrip(client, "before");
            eventually(() -> assertThat(plaintext.activeConnections()).isEqualTo(1));

            assertThat(plaintext.drain(SHORT).get(10, TimeUnit.SECONDS)).as("force-closed").isEqualTo(1);

            assertReset(client);
        }
        assertThat(plaintext.activeConnections()).isZero();
        eventually(() -> assertThat(app.openConnections()).as("the app's side of the relay").isZero());
    }

    // ---------------------------------------------------------------- outbound 15001

    @Test
    void outboundDrainRefusesNewConnectionsAndEndsWithTheOpenOne() throws Exception {
        InetSocketAddress address = outbound.localAddress();
        try (Socket client = connect(address)) {
            roundTrip(client, "before");
            eventually(() -> assertThat(outbound.activeConnections()).isEqualTo(1));

            CompletableFuture<Integer> drained = outbound.drain(LONG);

            assertRefused(address);
            roundTrip(client, "during the drain");
            assertThat(drained).isNotDone();

            client.shutdownOutput();
            assertThat(client.getInputStream().read()).isEqualTo(-1);
            assertThat(drained.get(10, TimeUnit.SECONDS)).isZero();
        }
        assertThat(outbound.activeConnections()).isZero();
        assertThatThrownBy(outbound::start).isInstanceOf(IllegalStateException.class).hasMessageContaining("drained");
    }

    @Test
    void outboundDrainResetsAConnectionThatOutlivesTheDeadline() throws Exception {
        try (Socket client = connect(outbound.localAddress())) {
            roundTrip(client, "before");

            assertThat(outbound.drain(SHORT).get(10, TimeUnit.SECONDS)).isEqualTo(1);

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
        eventually(() -> assertThat(hbone.activeConnections()).isEqualTo(1));

        CompletableFuture<Integer> drained = hbone.drain(LONG);

        GoAway goAway = conn.goAway.get(10, TimeUnit.SECONDS);
        assertThat(goAway.errorCode()).isEqualTo(Http2Error.NO_ERROR.code());
        assertThat(goAway.lastStreamId()).as("the tunnels it carries finish").isEqualTo(tunnel.stream.stream().id());
        assertRefused(hbone.localAddress());
        tunnel.roundTrip("during the drain");
        assertThat(drained).isNotDone();
        assertThat(conn.channel.isActive()).isTrue();

        tunnel.end();
        assertThat(tunnel.ended.get(10, TimeUnit.SECONDS)).as("the app's FIN, as END_STREAM").isTrue();
        assertThat(conn.channel.closeFuture().await(10, TimeUnit.SECONDS)).as("closed by the server").isTrue();
        assertThat(drained.get(10, TimeUnit.SECONDS)).isZero();
        assertThat(hbone.activeConnections()).isZero();
    }

    @Test
    void hboneDrainClosesAnIdleConnectionAtOnce() throws Exception {
        HboneConnection conn = hboneConnection();
        Tunnel tunnel = conn.open();
        tunnel.roundTrip("one tunnel");
        tunnel.end();
        assertThat(tunnel.ended.get(10, TimeUnit.SECONDS)).isTrue();

        assertThat(hbone.drain(LONG).get(10, TimeUnit.SECONDS)).isZero();

        assertThat(conn.goAway.get(10, TimeUnit.SECONDS).errorCode()).isEqualTo(Http2Error.NO_ERROR.code());
        assertThat(conn.channel.closeFuture().await(10, TimeUnit.SECONDS)).isTrue();
    }

    @Test
    void hboneDrainResetsTunnelsThatOutliveTheDeadline() throws Exception {
        HboneConnection conn = hboneConnection();
        Tunnel tunnel = conn.open();
        tunnel.roundTrip("before");

        assertThat(hbone.drain(SHORT).get(10, TimeUnit.SECONDS)).as("force-closed").isEqualTo(1);

        assertThat(conn.channel.closeFuture().await(10, TimeUnit.SECONDS)).isTrue();
        assertThat(tunnel.ended.get(10, TimeUnit.SECONDS)).as("a clean end of the tunnel").isFalse();
        eventually(() -> assertThat(app.openConnections()).as("the app's side of the relay").isZero());
    }

    // ---------------------------------------------------------------- all

    @Test
    void aListenerDrainedBeforeItStartedCompletesAtOnceAndCannotStart() throws Exception {
        Plaintext15006Listener unstarted = Plaintext15006Listener.builder(inbound)
                .bindAddress(new InetSocketAddress(POD_IP, 0)).build();

        assertThat(unstarted.drain(LONG).get(10, TimeUnit.SECONDS)).isZero();

        assertThatThrownBy(unstarted::start).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("drained");
        assertThatThrownBy(() -> hbone.drain(Duration.ofSeconds(-1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("deadline: PT-1S (expected: >= 0)");
    }

    @Test
    void drainWithoutConnectionsCompletesAtOnce() throws Exception {
        assertThat(hbone.drain(LONG).get(10, TimeUnit.SECONDS)).isZero();
        assertThat(plaintext.drain(LONG).get(10, TimeUnit.SECONDS)).isZero();
        assertThat(outbound.drain(LONG).get(10, TimeUnit.SECONDS)).isZero();
        assertThat(pool.drain(LONG).get(10, TimeUnit.SECONDS)).isZero();
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
        SslContext context = tls.client(ca.issue(TestCa.FRONTEND), TestCa.BACKEND);
        HboneConnection conn = new HboneConnection();
        CompletableFuture<Void> ready = new CompletableFuture<>();
        Channel ch = new Bootstrap().group(group).channelFactory(transport()::newChannel)
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
                .connect(hbone.localAddress()).sync().channel();
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
                    HboneRequest.builder(app.address()).forwardedFor(ip("127.0.0.1")).build())
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

    private static InetAddress ip(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (IOException e) {
            throw new IllegalArgumentException(literal, e);
        }
    }
}
