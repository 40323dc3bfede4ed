package dev.ambit.testing;

import dev.ambit.ffi.NetNs;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.unix.UnixChannel;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * A TCP server whose listening socket lives in a given network namespace: how the node
 * agent opens its in-pod listeners, in miniature. Each accepted connection gets one
 * line from {@code responder} and is closed. With {@code batch} above 1 it holds the
 * connections until that many are open, then answers all of them, so their clients
 * are alive at the same time.
 */
public final class NetnsServer implements AutoCloseable {

    private static final EventLoopGroup GROUP = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());

    private static final io.netty.util.AttributeKey<Function<Channel, String>> RESPONDER =
            io.netty.util.AttributeKey.valueOf("responder");

    private final Channel channel;
    private final AtomicInteger accepted = new AtomicInteger();

    /**
     * Connections held until {@code size} are open across every server sharing it. All
     * servers run on one event loop thread, so no locking is needed.
     */
    public static final class Batch {
        private final int size;
        private final List<Channel> held = new ArrayList<>();

        public Batch(int size) {
            this.size = size;
        }
    }

    private NetnsServer(Path netns, InetSocketAddress bind, Batch batch, Function<Channel, String> responder)
            throws Exception {
        List<Channel> held = batch.held;
        ServerBootstrap b = new ServerBootstrap().group(GROUP).channel(EpollServerSocketChannel.class)
                // As the agent's listeners: a client's FIN does not close our side, so a batch
                // still holds (and looks up) a connection whose client has already gone.
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public boolean isSharable() {
                        return true; // state lives in the Batch, touched only on the one event loop
                    }

                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        accepted.incrementAndGet();
                        ctx.channel().attr(RESPONDER).set(responder);
                        held.add(ctx.channel()); // event loop thread only
                        if (held.size() >= batch.size) {
                            for (Channel c : held) {
                                String line;
                                try {
                                    line = c.attr(RESPONDER).get().apply(c) + "\n";
                                } catch (RuntimeException e) {
                                    line = "ERROR " + e + "\n"; // shows up in the test's assertion
                                }
                                c.writeAndFlush(Unpooled.copiedBuffer(line, StandardCharsets.UTF_8))
                                        .addListener(ChannelFutureListener.CLOSE);
                            }
                            held.clear();
                        }
                    }
                });
        // The socket is created by the calling thread, so inside the namespace.
        channel = NetNs.callIn(netns, () -> b.bind(bind).sync().channel());
    }

    public static NetnsServer start(Path netns, InetSocketAddress bind, Function<Channel, String> responder)
            throws Exception {
        return new NetnsServer(netns, bind, new Batch(1), responder);
    }

    public static NetnsServer startBatched(Path netns, InetSocketAddress bind, Batch batch,
                                           Function<Channel, String> responder) throws Exception {
        return new NetnsServer(netns, bind, batch, responder);
    }

    /** The listening socket's descriptor. */
    public int fd() {
        return ((UnixChannel) channel).fd().intValue();
    }

    public int accepted() {
        return accepted.get();
    }

    @Override
    public void close() {
        channel.close().syncUninterruptibly();
    }
}
