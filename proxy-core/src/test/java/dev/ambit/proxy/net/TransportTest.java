package dev.ambit.proxy.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ambit.proxy.identity.TlsContexts;
import dev.ambit.testing.LeakCheck;
import dev.ambit.proxy.identity.TestCa;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.unix.UnixChannel;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/** {@link Transport}: names, event loops, channels, and the checks that loops match channels. */
@Timeout(30)
class TransportTest {

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"epoll", "EPOLL", " epoll "})
    void parsesEpoll(String name) {
        assertThat(Transport.parse(name)).isEqualTo(Transport.EPOLL);
    }

    @ParameterizedTest
    @ValueSource(strings = {"io_uring", "io-uring", "iouring", "IO_URING"})
    void parsesIoUring(String name) {
        assertThat(Transport.parse(name)).isEqualTo(Transport.IO_URING);
    }

    @Test
    void anUnknownNameIsRefusedNamingTheAcceptedOnes() {
        assertThatThrownBy(() -> Transport.parse("nio"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("transport: \"nio\" (expected: epoll or io_uring)");
        assertThat(Transport.EPOLL.configName()).isEqualTo("epoll");
        assertThat(Transport.IO_URING).hasToString("io_uring");
        assertThat(Transport.parse(Transport.IO_URING.configName())).isEqualTo(Transport.IO_URING);
    }

    @Test
    void epollIsAvailable() {
        assertThat(Transport.EPOLL.isAvailable()).isTrue();
        assertThat(Transport.EPOLL.unavailabilityCause()).isNull();
    }

    @Test
    void channelsAreUnregisteredNativeChannelsOfTheTransport() {
        assertChannels(Transport.EPOLL, EpollServerSocketChannel.class, EpollSocketChannel.class);
        assumeIoUring();
        assertChannels(Transport.IO_URING, IoUringServerSocketChannel.class, IoUringSocketChannel.class);
    }

    private static void assertChannels(Transport t, Class<?> serverType, Class<?> channelType) {
        ServerSocketChannel server = t.newServerChannel();
        SocketChannel channel = t.newChannel();
        try {
            assertThat(server).isInstanceOf(serverType).isInstanceOf(UnixChannel.class);
            assertThat(channel).isInstanceOf(channelType).isInstanceOf(UnixChannel.class);
            assertThat(server.isRegistered()).isFalse();
            assertThat(channel.isRegistered()).isFalse();
        } finally {
            server.unsafe().closeForcibly();
            channel.unsafe().closeForcibly();
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void eventLoopGroupsRunTheirTransportWithNamedThreads(Transport t) throws Exception {
        assumeTrue(t.isAvailable(), () -> t + ": " + t.unavailabilityCause());
        Transport other = t == Transport.EPOLL ? Transport.IO_URING : Transport.EPOLL;
        MultiThreadIoEventLoopGroup group = t.newEventLoopGroup(2, "ambit-" + t);
        try {
            assertThat(group.executorCount()).isEqualTo(2);
            assertThat(t.isCompatible(group)).isTrue();
            assertThat(other.isCompatible(group)).isFalse();
            assertThat(group.submit(() -> Thread.currentThread().getName()).get(10, TimeUnit.SECONDS))
                    .matches("ambit-" + t + "-[12]");
            SocketChannel ch = t.newChannel();
            assertThat(group.register(ch).await(10, TimeUnit.SECONDS)).isTrue();
            assertThat(ch.isRegistered()).isTrue();
            ch.close().sync();
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void nonPositiveThreadCountsAreRefused() {
        assertThatThrownBy(() -> Transport.EPOLL.newEventLoopGroup(0, "x"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("threads: 0 (expected: > 0)");
    }

    /**
     * A channel can only be registered with a loop of its transport: the pool says so when
     * asked to connect rather than failing every connection later. (The node agent's
     * listener builders check the same: its ListenerBuildersTransportTest.)
     */
    @Test
    void poolRefusesALoopOfTheOtherTransport() throws Exception {
        assumeIoUring();
        EventLoopGroup uring = Transport.IO_URING.newEventLoopGroup(1, "uring");
        try (TestCa ca = new TestCa(dir, Duration.ofHours(1))) {
            SocketFactory epoll = SocketFactory.host("pod", Transport.EPOLL);
            HbonePool pool = HbonePool.builder(TlsContexts.builder(ca.bundle()).build()).build();
            assertThatThrownBy(() -> pool.connect(epoll, ca.issue(TestCa.FRONTEND), TestCa.BACKEND,
                    new InetSocketAddress("127.0.0.2", 15008),
                    dev.ambit.proxy.hbone.HboneRequest.of(new InetSocketAddress("127.0.0.2", 80)), uring.next()))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("expected: a loop of the epoll transport");
            pool.close();
        } finally {
            uring.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    /**
     * What {@link EarlyInput} and {@code EpollHalfClose} are about, on io_uring: with
     * {@code AUTO_READ} off and no read asked for, a peer's data and FIN are delivered anyway
     * (so a handler must keep them until the relay is there), and unlike epoll the socket
     * then stays usable: another read does nothing, and a reply larger than the socket
     * buffers reaches the half-closed peer.
     */
    @Test
    void ioUringDeliversAPeersFinUnaskedAndKeepsTheHalfClosedSocketWritable() throws Exception {
        assumeIoUring();
        LeakCheck.reset();
        EventLoopGroup group = Transport.IO_URING.newEventLoopGroup(1, "uring");
        BlockingQueue<Object> events = new LinkedBlockingQueue<>();
        CompletableFuture<DuplexChannel> accepted = new CompletableFuture<>();
        Channel server = new ServerBootstrap().group(group).channelFactory(Transport.IO_URING::newServerChannel)
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        accepted.complete((DuplexChannel) ctx.channel());
                    }

                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        events.add(((ByteBuf) msg).readableBytes());
                        ReferenceCountUtil.release(msg);
                    }

                    @Override
                    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                        if (evt instanceof ChannelInputShutdownEvent) {
                            events.add("FIN");
                        }
                    }

                    @Override
                    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                        events.add(cause);
                    }
                })
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
        try (Socket peer = new Socket(InetAddress.getLoopbackAddress(),
                ((InetSocketAddress) server.localAddress()).getPort())) {
            peer.setSoTimeout(10_000);
            DuplexChannel ch = accepted.get(10, TimeUnit.SECONDS);
            peer.getOutputStream().write(new byte[] {1, 2, 3, 4, 5});
            peer.shutdownOutput();
            assertThat(events.poll(10, TimeUnit.SECONDS)).as("data, no read asked for").isEqualTo(5);
            assertThat(events.poll(10, TimeUnit.SECONDS)).isEqualTo("FIN");

            ch.eventLoop().submit(() -> ch.read()).sync(); // on epoll: epoll_ctl(MOD) fails with ENOENT
            byte[] reply = new byte[4 * 1024 * 1024];
            Future<Void> write = ch.eventLoop().submit(() -> {
                ch.writeAndFlush(Unpooled.wrappedBuffer(reply));
                return null;
            });
            write.sync();
            InputStream in = peer.getInputStream();
            assertThat(in.readNBytes(reply.length)).hasSize(reply.length);
            ChannelFuture shut = ch.shutdownOutput().sync();
            assertThat(shut.isSuccess()).isTrue();
            assertThat(in.read()).isEqualTo(-1);
            assertThat(events).as("nothing else: no error").isEmpty();
            ch.close().sync();
        } finally {
            server.close().sync();
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
        LeakCheck.assertNoLeaks();
    }

    private static void assumeIoUring() {
        assumeTrue(Transport.IO_URING.isAvailable(), () -> "io_uring: " + Transport.IO_URING.unavailabilityCause());
    }
}
