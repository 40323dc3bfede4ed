package dev.ambit.proxy.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.socket.SocketChannel;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link TcpRelay} with {@link EarlyInput} in front, on real epoll sockets over loopback
 * ({@link TcpRelayIoUringTest}: the same on io_uring), as
 * the outbound and plaintext inbound proxies use them: a client connects to the "proxy", which
 * connects to a destination and relays. The destination is a blocking {@link ServerSocket},
 * so a test controls exactly when it reads, writes and closes.
 */
@Timeout(30)
class TcpRelayTest {

    private EventLoopGroup loop;
    private ServerSocket destination;
    private Channel proxy;
    /** The relay's result; completed on the event loop. */
    private final CompletableFuture<TcpRelay.Result> result = new CompletableFuture<>();
    /** How long the proxy waits, after accepting and again after connecting, before the relay starts. */
    private long startDelayMillis;
    /** SO_SNDBUF of the proxy's connection to the destination; 0 for the default. */
    private int upstreamSendBuffer;

    /** The transport of the proxy's sockets. */
    Transport transport() {
        return Transport.EPOLL;
    }

    @BeforeEach
    void setUp() throws IOException {
        loop = transport().newEventLoopGroup(1, "relay-test");
        destination = new ServerSocket();
        destination.setReceiveBufferSize(4096); // inherited by accepted sockets: a slow reader fills fast
        destination.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    }

    @AfterEach
    void tearDown() throws IOException {
        if (proxy != null) {
            proxy.close().syncUninterruptibly();
        }
        destination.close();
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    private InetSocketAddress startProxy() {
        proxy = new ServerBootstrap().group(loop).channelFactory(transport()::newServerChannel)
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new EarlyInput());
                        ch.eventLoop().schedule(() -> connect((DuplexChannel) ch), startDelayMillis,
                                TimeUnit.MILLISECONDS);
                    }
                })
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).syncUninterruptibly().channel();
        return (InetSocketAddress) proxy.localAddress();
    }

    private void connect(DuplexChannel client) {
        Bootstrap b = new Bootstrap().group(client.eventLoop()).channelFactory(transport()::newChannel)
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .handler(new EarlyInput());
        if (upstreamSendBuffer > 0) {
            b.option(ChannelOption.SO_SNDBUF, upstreamSendBuffer);
        }
        b.connect(destination.getLocalSocketAddress()).addListener((ChannelFuture f) -> {
            if (!f.isSuccess()) {
                result.completeExceptionally(f.cause());
                client.close();
                return;
            }
            client.eventLoop().schedule(() -> TcpRelay.start(client, (DuplexChannel) f.channel(), result::complete),
                    startDelayMillis, TimeUnit.MILLISECONDS);
        });
    }

    @Test
    void relaysBothWaysHalfClosesAndCountsBytes() throws Exception {
        InetSocketAddress address = startProxy();
        try (Socket client = new Socket(address.getAddress(), address.getPort());
             Socket server = destination.accept()) {
            client.getOutputStream().write(ascii("hello"));
            client.shutdownOutput();
            assertThat(readToEnd(server.getInputStream())).isEqualTo(ascii("hello"));
            server.getOutputStream().write(ascii("world!"));
            server.shutdownOutput();
            assertThat(readToEnd(client.getInputStream())).isEqualTo(ascii("world!"));
        }
        TcpRelay.Result r = result.get(10, TimeUnit.SECONDS);
        assertThat(r.completed()).isTrue();
        assertThat(r.cause()).isNull();
        assertThat(r.clientToServer()).isEqualTo(5);
        assertThat(r.serverToClient()).isEqualTo(6);
        assertThat(r.duration()).isPositive();
    }

    @Test
    void bytesAndFinSentBeforeTheRelayStartsAreNotLost() throws Exception {
        startDelayMillis = 200; // both peers write and half-close before the relay is in place
        InetSocketAddress address = startProxy();
        try (Socket client = new Socket(address.getAddress(), address.getPort())) {
            client.getOutputStream().write(ascii("request"));
            client.shutdownOutput();
            try (Socket server = destination.accept()) {
                server.getOutputStream().write(ascii("banner"));
                server.shutdownOutput();
                assertThat(readToEnd(server.getInputStream())).isEqualTo(ascii("request"));
                assertThat(readToEnd(client.getInputStream())).isEqualTo(ascii("banner"));
            }
        }
        TcpRelay.Result r = result.get(10, TimeUnit.SECONDS);
        assertThat(r.completed()).isTrue();
        assertThat(r.clientToServer()).isEqualTo(7);
        assertThat(r.serverToClient()).isEqualTo(6);
    }

    @Test
    void aResetOfOneSideResetsTheOther() throws Exception {
        InetSocketAddress address = startProxy();
        try (Socket client = new Socket(address.getAddress(), address.getPort());
             Socket server = destination.accept()) {
            client.getOutputStream().write(ascii("x"));
            assertThat(server.getInputStream().read()).isEqualTo('x');
            server.setSoLinger(true, 0);
            server.close();
            assertThatThrownBy(() -> readToEnd(client.getInputStream())).isInstanceOf(SocketException.class)
                    .hasMessageContaining("Connection reset");
        }
        TcpRelay.Result r = result.get(10, TimeUnit.SECONDS);
        assertThat(r.completed()).isFalse();
        assertThat(r.cause()).isNotNull();
        assertThat(r.clientToServer()).isEqualTo(1);
    }

    /** The destination answers and closes (not a half-close): the client gets every byte, then a clean EOF. */
    @Test
    void aGracefulCloseOfTheDestinationReachesTheClientAsEveryByteThenEof() throws Exception {
        InetSocketAddress address = startProxy();
        byte[] reply = pattern(1024 * 1024);
        try (Socket client = new Socket(address.getAddress(), address.getPort())) {
            client.setSoTimeout(20_000);
            try (Socket server = destination.accept()) {
                CompletableFuture<byte[]> received = receiveToEnd(client);
                server.getOutputStream().write(reply);
                server.close();
                assertThat(received.get(20, TimeUnit.SECONDS)).as("every byte, then EOF").isEqualTo(reply);
            }
        }
        TcpRelay.Result r = result.get(10, TimeUnit.SECONDS);
        assertThat(r.serverToClient()).isEqualTo(reply.length);
    }

    /** The client goes away with a reset mid-transfer: the destination's read fails too, it does not end. */
    @Test
    void aClientResetReachesTheDestinationAsAReset() throws Exception {
        InetSocketAddress address = startProxy();
        try (Socket client = new Socket(address.getAddress(), address.getPort());
             Socket server = destination.accept()) {
            server.setSoTimeout(20_000);
            client.getOutputStream().write(ascii("partial upload"));
            assertThat(server.getInputStream().readNBytes(7)).isEqualTo(ascii("partial"));
            client.setSoLinger(true, 0);
            client.close();
            assertThatThrownBy(() -> readToEnd(server.getInputStream())).isInstanceOf(SocketException.class)
                    .hasMessageContaining("Connection reset");
        }
        TcpRelay.Result r = result.get(10, TimeUnit.SECONDS);
        assertThat(r.completed()).isFalse();
    }

    /**
     * The FIN-while-paused case: the destination does not read, so the relay stops reading
     * the client (backpressure) with no read pending; the client then finishes writing and
     * half-closes. Every byte and the FIN must still arrive once the destination reads, and
     * the half-closed client must still receive a reply larger than the socket buffers
     * (the relay then needs {@code EPOLLOUT} on the client's socket).
     */
    @Test
    void dataAndFinArrivingWhileReadingIsPausedForBackpressureAllArrive() throws Exception {
        upstreamSendBuffer = 4096;
        InetSocketAddress address = startProxy();
        byte[] request = pattern(512 * 1024);
        byte[] reply = pattern(4 * 1024 * 1024);
        try (Socket client = new Socket()) {
            client.setSendBufferSize(1024 * 1024);
            client.setReceiveBufferSize(4096);
            client.connect(address);
            try (Socket server = destination.accept()) {
                // More than the path to the slow destination holds, less than the client side
                // buffers: the write and the FIN complete while the relay is paused.
                sendAndHalfClose(client, request).get(10, TimeUnit.SECONDS);
                Thread.sleep(200); // the FIN reaches the proxy's socket while nothing reads it
                assertThat(result).isNotDone();

                assertThat(readToEnd(server.getInputStream())).isEqualTo(request);
                CompletableFuture<byte[]> received = receiveToEnd(client);
                sendAndHalfClose(server, reply).get(20, TimeUnit.SECONDS);
                assertThat(received.get(20, TimeUnit.SECONDS)).isEqualTo(reply);
            }
        }
        TcpRelay.Result r = result.get(10, TimeUnit.SECONDS);
        assertThat(r.completed()).isTrue();
        assertThat(r.cause()).isNull();
        assertThat(r.clientToServer()).isEqualTo(request.length);
        assertThat(r.serverToClient()).isEqualTo(reply.length);
    }

    /** Not paused at all: the client half-closes at once, then gets a reply larger than the buffers. */
    @Test
    void aHalfClosedClientReceivesALargeReply() throws Exception {
        InetSocketAddress address = startProxy();
        byte[] reply = pattern(4 * 1024 * 1024);
        try (Socket client = new Socket()) {
            client.setReceiveBufferSize(4096);
            client.connect(address);
            try (Socket server = destination.accept()) {
                client.getOutputStream().write(ascii("get"));
                client.shutdownOutput();
                assertThat(readToEnd(server.getInputStream())).isEqualTo(ascii("get"));
                Thread.sleep(100);
                CompletableFuture<byte[]> received = receiveToEnd(client);
                sendAndHalfClose(server, reply).get(20, TimeUnit.SECONDS);
                assertThat(received.get(20, TimeUnit.SECONDS)).isEqualTo(reply);
            }
        }
        TcpRelay.Result r = result.get(10, TimeUnit.SECONDS);
        assertThat(r.completed()).isTrue();
        assertThat(r.serverToClient()).isEqualTo(reply.length);
    }

    /** The same the other way: the client does not read while the destination sends and closes. */
    @Test
    void destinationFinWhileTheClientDirectionIsPausedAllArrives() throws Exception {
        InetSocketAddress address = startProxy();
        byte[] response = pattern(512 * 1024);
        try (Socket client = new Socket()) {
            client.setReceiveBufferSize(4096);
            client.connect(address);
            try (Socket server = destination.accept()) {
                server.setSendBufferSize(1024 * 1024);
                sendAndHalfClose(server, response).get(10, TimeUnit.SECONDS);
                Thread.sleep(200);
                assertThat(readToEnd(client.getInputStream())).isEqualTo(response);
                client.shutdownOutput();
                assertThat(readToEnd(server.getInputStream())).isEmpty();
            }
        }
        TcpRelay.Result r = result.get(10, TimeUnit.SECONDS);
        assertThat(r.completed()).isTrue();
        assertThat(r.serverToClient()).isEqualTo(response.length);
    }

    @Test
    void startRefusesChannelsOffTheirEventLoop() {
        SocketChannel a = transport().newChannel();
        SocketChannel b = transport().newChannel();
        try {
            loop.register(a).syncUninterruptibly();
            loop.register(b).syncUninterruptibly();
            assertThatThrownBy(() -> TcpRelay.start(a, b, r -> { }))
                    .isInstanceOf(IllegalStateException.class);
        } finally {
            a.close().syncUninterruptibly();
            b.close().syncUninterruptibly();
        }
    }

    /** Writes {@code data} and half-closes, on another thread (the write may wait for the reader). */
    private static CompletableFuture<Void> sendAndHalfClose(Socket socket, byte[] data) {
        return CompletableFuture.runAsync(() -> {
            try {
                socket.getOutputStream().write(data);
                socket.shutdownOutput();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }, TcpRelayTest::ownThread);
    }

    /** Reads until the peer's FIN, on another thread. */
    private static CompletableFuture<byte[]> receiveToEnd(Socket socket) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return readToEnd(socket.getInputStream());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }, TcpRelayTest::ownThread);
    }

    /** Each blocking peer on a thread of its own: a shared pool could run them one after the other. */
    private static void ownThread(Runnable task) {
        Thread.ofVirtual().start(task);
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    private static byte[] pattern(int length) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (i * 31 + (i >>> 11));
        }
        return b;
    }

    private static byte[] readToEnd(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        in.transferTo(out);
        return out.toByteArray();
    }
}
