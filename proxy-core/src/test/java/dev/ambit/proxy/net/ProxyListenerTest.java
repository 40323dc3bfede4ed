package dev.ambit.proxy.net;

import static dev.ambit.testing.Eventually.eventually;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** {@link ProxyListener} over loopback: bind, accept, child setup, close and drain. */
class ProxyListenerTest {

    static final SocketFactory SOCKETS = SocketFactory.host("proxy-listener-test", Transport.EPOLL);

    final EventLoopGroup group = Transport.EPOLL.newEventLoopGroup(1, "proxy-listener-test");
    TestListener listener;

    @AfterEach
    void tearDown() throws Exception {
        if (listener != null) {
            listener.drain(Duration.ZERO).get(10, TimeUnit.SECONDS);
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }

    @Test
    void acceptedConnectionsAreSetUpOnTheirLoopAndCountedUntilTheyClose() throws Exception {
        listener = new TestListener(false, ch -> { });
        assertThat(listener.localAddress()).as("before the bind").isNull();
        assertThat(listener.start().sync().isSuccess()).isTrue();
        assertThat(listener.localAddress().getPort()).isPositive();
        assertThat(listener.serverChannel().isActive()).isTrue();
        assertThat(listener.serverChannel().config().getOption(ChannelOption.SO_REUSEADDR)).isTrue();

        try (Socket client = connect()) {
            Channel accepted = listener.accepted.poll(10, TimeUnit.SECONDS);
            assertThat(accepted).isNotNull();
            assertThat(listener.onLoop).containsExactly(true);
            assertThat(accepted.config().isAutoRead()).as("a plain bootstrap reads").isTrue();
            assertThat(accepted.pipeline().get("early-input")).isNull();
            eventually(() -> listener.activeConnections() == 1);
        }
        eventually(() -> listener.activeConnections() == 0);
    }

    @Test
    void aRelayBootstrapLeavesReadsToTheRelayAndKeepsEarlyInput() throws Exception {
        listener = new TestListener(true, ch -> { });
        listener.start().sync();

        try (Socket client = connect()) {
            Channel accepted = listener.accepted.poll(10, TimeUnit.SECONDS);
            assertThat(accepted.config().isAutoRead()).isFalse();
            assertThat(accepted.config().getOption(ChannelOption.ALLOW_HALF_CLOSURE)).isTrue();
            assertThat(accepted.config().getOption(ChannelOption.SO_LINGER)).isZero();
            assertThat(listener.earlyInputFirst).containsExactly(true);
        }
    }

    @Test
    void closeStopsAcceptingAndLeavesAcceptedConnections() throws Exception {
        listener = new TestListener(false, ch -> { });
        listener.start().sync();
        InetSocketAddress address = listener.localAddress();
        try (Socket client = connect()) {
            Channel accepted = listener.accepted.poll(10, TimeUnit.SECONDS);

            listener.close();

            assertThat(listener.serverChannel().isOpen()).isFalse();
            assertThatThrownBy(() -> new Socket(address.getAddress(), address.getPort()).close())
                    .isInstanceOf(ConnectException.class);
            assertThat(accepted.isActive()).isTrue();
            assertThat(listener.activeConnections()).isEqualTo(1);
            assertThat(listener.isDraining()).isFalse();
        }
    }

    @Test
    void drainAppliesTheDrainStepAndCompletesWhenConnectionsEnd() throws Exception {
        List<Channel> drained = new CopyOnWriteArrayList<>();
        listener = new TestListener(false, drained::add);
        listener.start().sync();
        Socket client = connect();
        Channel accepted = listener.accepted.poll(10, TimeUnit.SECONDS);

        CompletableFuture<Integer> done = listener.drain(Duration.ofSeconds(30));

        assertThat(listener.isDraining()).isTrue();
        assertThat(listener.serverChannel().isOpen()).as("stopped accepting").isFalse();
        eventually(() -> drained.equals(List.of(accepted)));
        assertThat(done).isNotDone();
        assertThat(listener.drain(Duration.ZERO)).as("the same drain").isSameAs(done);
        assertThatThrownBy(listener::start).isInstanceOf(IllegalStateException.class).hasMessageContaining("drained");

        client.close();
        assertThat(done.get(10, TimeUnit.SECONDS)).as("none reset").isZero();
    }

    @Test
    void drainResetsConnectionsStillOpenAtItsDeadline() throws Exception {
        listener = new TestListener(false, ch -> { });
        listener.start().sync();
        try (Socket client = connect()) {
            Channel accepted = listener.accepted.poll(10, TimeUnit.SECONDS);

            assertThat(listener.drain(Duration.ofMillis(100)).get(10, TimeUnit.SECONDS)).isEqualTo(1);

            assertThat(accepted.isOpen()).isFalse();
            assertThatThrownBy(() -> client.getInputStream().read()).as("a reset, not a FIN")
                    .isInstanceOf(IOException.class);
        }
    }

    @Test
    void aListenerIsBoundOnce() throws Exception {
        listener = new TestListener(false, ch -> { });
        listener.start().sync();
        assertThatThrownBy(listener::start).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("already started");
    }

    private Socket connect() throws IOException {
        InetSocketAddress a = listener.localAddress();
        return new Socket(a.getAddress(), a.getPort());
    }

    /** Keeps what it accepted; {@code relayed}: with {@link ProxyListener#relayBootstrap}. */
    final class TestListener extends ProxyListener {
        final BlockingQueue<Channel> accepted = new LinkedBlockingQueue<>();
        final List<Boolean> onLoop = new CopyOnWriteArrayList<>();
        final List<Boolean> earlyInputFirst = new CopyOnWriteArrayList<>();
        private final boolean relayed;

        TestListener(boolean relayed, Consumer<Channel> onDrain) {
            super(onDrain);
            this.relayed = relayed;
        }

        ChannelFuture start() {
            return bind(relayed ? relayBootstrap(group, SOCKETS) : bootstrap(group, SOCKETS),
                    new InetSocketAddress("127.0.0.1", 0));
        }

        @Override
        protected void initConnection(Channel channel) {
            onLoop.add(channel.eventLoop().inEventLoop());
            earlyInputFirst.add(channel.pipeline().get("early-input") instanceof EarlyInput);
            accepted.add(channel);
        }
    }
}
