package dev.ambit.proxy.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.proxy.net.Relay;
import dev.ambit.proxy.net.RelayResult;
import dev.ambit.testing.EchoHandler;
import dev.ambit.testing.LeakCheck;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The whole HBONE path over loopback sockets, plaintext HTTP/2 with prior knowledge:
 *
 * <pre>
 * app socket → [outbound listener → Relay → HboneClient stream] ══ one HTTP/2 connection ══>
 *     [HboneServer → decider → connector → Relay] → echo server
 * </pre>
 *
 * The client side runs on one event loop thread (listener, its accepted sockets and the
 * HTTP/2 connection), as {@link Relay} requires; the server side on two.
 */
@Timeout(60)
class HboneEndToEndTest {

    private static final int SIZE = 1024 * 1024;
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    private EventLoopGroup serverGroup;
    private EventLoopGroup clientLoop;
    private final List<Channel> channels = new ArrayList<>();
    private final Queue<RelayResult> serverRelays = new ConcurrentLinkedQueue<>();
    private final Queue<RelayResult> clientRelays = new ConcurrentLinkedQueue<>();
    private final Queue<HboneRequest> decided = new ConcurrentLinkedQueue<>();
    private final AtomicInteger hboneConnections = new AtomicInteger();
    private final Queue<Channel> serverConnections = new ConcurrentLinkedQueue<>();
    private volatile InetSocketAddress echo; // read on the client loop
    private InetSocketAddress deadPort;
    private Channel h2;
    private InetSocketAddress outboundListener;

    @BeforeEach
    void setUp() throws Exception {
        LeakCheck.install();
        serverGroup = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
        clientLoop = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());

        echo = bind(new ServerBootstrap().group(serverGroup).channel(NioServerSocketChannel.class)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childHandler(EchoHandler.INSTANCE));
        try (ServerSocket s = new ServerSocket(0, 1, LOOPBACK)) {
            deadPort = new InetSocketAddress(LOOPBACK, s.getLocalPort()); // closed again: refuses
        }

        HboneServer hbone = HboneServer.builder((request, stream) -> {
            decided.add(request);
            int port = request.destination().getPort();
            if (port == echo.getPort() || port == deadPort.getPort()) {
                // Decided on another thread, later, as a policy lookup would: the server hops back to its loop.
                return java.util.concurrent.CompletableFuture.supplyAsync(() -> HboneTarget.accept(
                        (req, loop) -> new Bootstrap().group(loop).channel(NioSocketChannel.class)
                                .option(ChannelOption.AUTO_READ, false)
                                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                                .handler(new ChannelInboundHandlerAdapter())
                                .connect(req.destination()),
                        serverRelays::add),
                        java.util.concurrent.CompletableFuture.delayedExecutor(20, TimeUnit.MILLISECONDS));
            }
            return java.util.concurrent.CompletableFuture.completedFuture(
                    HboneTarget.reject(403, "not a local workload"));
        }).build();
        InetSocketAddress hboneAddress = bind(new ServerBootstrap().group(serverGroup)
                .channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        hboneConnections.incrementAndGet();
                        serverConnections.add(ch);
                        ch.pipeline().addLast(hbone.newConnectionHandler());
                    }
                }));

        h2 = new Bootstrap().group(clientLoop).channel(NioSocketChannel.class)
                .handler(HboneClient.newConnectionHandler())
                .connect(hboneAddress).sync().channel();
        channels.add(h2);

        // The node agent's outbound side in miniature: every accepted socket becomes a tunnel to echo.
        outboundListener = bind(new ServerBootstrap().group(clientLoop).channel(NioServerSocketChannel.class)
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        DuplexChannel tcp = (DuplexChannel) ctx.channel();
                        InetSocketAddress app = (InetSocketAddress) tcp.remoteAddress();
                        HboneRequest request = HboneRequest.builder(echo).forwardedFor(app.getAddress())
                                .baggage("k8s.pod.name=app").traceparent(
                                        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
                                .build();
                        HboneClient.connect(h2, request).addListener((Future<Http2StreamChannel> f) -> {
                            if (f.isSuccess()) {
                                ctx.pipeline().remove(this);
                                Relay.start(tcp, f.getNow(), clientRelays::add);
                            } else {
                                tcp.close();
                            }
                        });
                    }

                    @Override
                    public boolean isSharable() {
                        return true;
                    }
                }));
    }

    @AfterEach
    void tearDown() throws Exception {
        for (Channel ch : channels) {
            ch.close().sync();
        }
        clientLoop.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        serverGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        LeakCheck.assertNoLeaks();
    }

    @Test
    void threeConcurrentTunnelsOverOneConnectionEchoOneMebibyteEach() throws Exception {
        int tunnels = 3;
        List<byte[]> sent = new ArrayList<>();
        List<java.util.concurrent.Future<byte[]>> received = new ArrayList<>();
        try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < tunnels; i++) {
                byte[] payload = new byte[SIZE];
                new Random(i).nextBytes(payload);
                sent.add(payload);
                received.add(threads.submit(() -> roundTrip(threads, payload)));
            }
            for (int i = 0; i < tunnels; i++) {
                assertThat(received.get(i).get(30, TimeUnit.SECONDS)).as("tunnel %d echo", i).isEqualTo(sent.get(i));
            }
        }

        awaitSize(clientRelays, tunnels);
        awaitSize(serverRelays, tunnels);
        assertThat(hboneConnections).hasValue(1);
        for (Queue<RelayResult> relays : List.of(clientRelays, serverRelays)) {
            assertThat(relays).hasSize(tunnels).allSatisfy(r -> {
                assertThat(r.termination()).isEqualTo(RelayResult.Termination.COMPLETED);
                assertThat(r.tcpToStream()).isEqualTo(SIZE);
                assertThat(r.streamToTcp()).isEqualTo(SIZE);
                assertThat(r.cause()).isNull();
            });
        }
        assertThat(decided).hasSize(tunnels).allSatisfy(r -> {
            assertThat(r.destination()).isEqualTo(echo);
            assertThat(r.forwardedFor()).isEqualTo(LOOPBACK.getHostAddress());
            assertThat(r.baggage()).isEqualTo("k8s.pod.name=app");
            assertThat(r.traceparent()).startsWith("00-4bf92f3577b34da6a3ce929d0e0e4736-");
        });
    }

    @Test
    void rejectedAuthorityFailsWithItsStatus() throws Exception {
        InetSocketAddress elsewhere = new InetSocketAddress(InetAddress.getByName("10.0.2.5"), 8080);
        Future<Http2StreamChannel> tunnel = HboneClient.connect(h2, HboneRequest.of(elsewhere)).await();
        assertThat(tunnel.cause()).isInstanceOf(HboneConnectException.class)
                .hasMessage("HBONE CONNECT to 10.0.2.5:8080 refused with 403: not a local workload");
        HboneConnectException e = (HboneConnectException) tunnel.cause();
        assertThat(e.status()).isEqualTo(403);
        assertThat(e.authority()).isEqualTo("10.0.2.5:8080");
        assertThat(h2.isActive()).as("a refused tunnel leaves the connection up").isTrue();
    }

    @Test
    void upstreamRefusalFailsWith503() throws Exception {
        Future<Http2StreamChannel> tunnel = HboneClient.connect(h2, HboneRequest.of(deadPort)).await();
        assertThat(tunnel.cause()).isInstanceOf(HboneConnectException.class)
                .hasMessageStartingWith("HBONE CONNECT to " + HboneRequest.of(deadPort).authority()
                        + " refused with 503: upstream connect to");
    }

    @Test
    void upstreamResetReachesTheAppAsReset() throws Exception {
        // The echo server's connection is reset as soon as data arrives: the app must see a reset, not an EOF.
        InetSocketAddress resetter = bind(new ServerBootstrap().group(serverGroup).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        ReferenceCountUtil.release(msg);
                        ctx.channel().config().setOption(ChannelOption.SO_LINGER, 0);
                        ctx.close();
                    }

                    @Override
                    public boolean isSharable() {
                        return true;
                    }
                }));
        echo = resetter; // the outbound listener tunnels to whatever echo names
        try (Socket app = new Socket(LOOPBACK, outboundListener.getPort())) {
            app.getOutputStream().write("hello".getBytes());
            app.setSoTimeout(10_000);
            InputStream in = app.getInputStream();
            assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> {
                while (in.read() >= 0) {
                    // drain until the reset
                }
            })).isInstanceOf(java.net.SocketException.class).hasMessageContaining("reset");
        }
        awaitSize(serverRelays, 1);
        awaitSize(clientRelays, 1);
        assertThat(serverRelays.peek().termination()).isEqualTo(RelayResult.Termination.TCP_ABORTED);
        assertThat(clientRelays.peek().termination()).isEqualTo(RelayResult.Termination.STREAM_ABORTED);
    }

    @Test
    void anHboneConnectionLostWithoutEndStreamReachesTheAppAsReset() throws Exception {
        try (Socket app = new Socket(LOOPBACK, outboundListener.getPort())) {
            app.setSoTimeout(10_000);
            app.getOutputStream().write("hello".getBytes());
            InputStream in = app.getInputStream();
            assertThat(in.readNBytes(5)).isEqualTo("hello".getBytes()); // the tunnel is up and relaying
            // The server's end of the HBONE connection goes away mid-stream: a TCP FIN without
            // GOAWAY or END_STREAM, as when the peer agent dies. The app must not see a clean end.
            Channel connection = serverConnections.peek();
            connection.eventLoop().submit(() -> connection.unsafe().close(connection.unsafe().voidPromise())).sync();
            assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> {
                while (in.read() >= 0) {
                    // drain until the reset
                }
            })).isInstanceOf(java.net.SocketException.class).hasMessageContaining("Connection reset");
        }
        awaitSize(clientRelays, 1);
        assertThat(clientRelays.peek().termination()).isEqualTo(RelayResult.Termination.STREAM_ABORTED);
    }

    @Test
    void anUpstreamsGracefulEndReachesTheAppAsEveryByteThenEof() throws Exception {
        // The upstream sends its answer and closes at once, before the app even half-closed.
        byte[] answer = new byte[256 * 1024];
        new Random(7).nextBytes(answer);
        echo = bind(new ServerBootstrap().group(serverGroup).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        ctx.writeAndFlush(io.netty.buffer.Unpooled.wrappedBuffer(answer))
                                .addListener(io.netty.channel.ChannelFutureListener.CLOSE);
                    }

                    @Override
                    public boolean isSharable() {
                        return true;
                    }
                }));
        try (Socket app = new Socket(LOOPBACK, outboundListener.getPort())) {
            app.setSoTimeout(10_000);
            InputStream in = app.getInputStream();
            assertThat(in.readNBytes(answer.length)).isEqualTo(answer);
            assertThat(in.read()).as("the upstream's FIN, relayed as a FIN").isEqualTo(-1);
            app.shutdownOutput();
        }
        awaitSize(clientRelays, 1);
        assertThat(clientRelays.peek().termination()).isEqualTo(RelayResult.Termination.COMPLETED);
    }

    private byte[] roundTrip(ExecutorService threads, byte[] payload) throws Exception {
        try (Socket app = new Socket(LOOPBACK, outboundListener.getPort())) {
            app.setSoTimeout(30_000);
            var writer = threads.submit(() -> {
                OutputStream out = app.getOutputStream();
                for (int off = 0; off < payload.length; off += 8192) {
                    out.write(payload, off, Math.min(8192, payload.length - off));
                }
                out.flush();
                app.shutdownOutput(); // FIN → END_STREAM → upstream FIN → echo's FIN comes back
                return null;
            });
            ByteArrayOutputStream echoed = new ByteArrayOutputStream(payload.length);
            app.getInputStream().transferTo(echoed);
            writer.get();
            return echoed.toByteArray();
        }
    }

    private InetSocketAddress bind(ServerBootstrap b) throws InterruptedException {
        Channel ch = b.bind(LOOPBACK, 0).sync().channel();
        channels.add(ch);
        return (InetSocketAddress) ch.localAddress();
    }

    private static void awaitSize(Queue<?> q, int size) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (q.size() < size && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(q).hasSize(size);
    }

}
