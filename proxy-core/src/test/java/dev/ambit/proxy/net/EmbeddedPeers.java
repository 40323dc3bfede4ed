package dev.ambit.proxy.net;

import dev.ambit.common.metrics.MetricsRegistry;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http2.DefaultHttp2GoAwayFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A {@link PoolContext.Dialer} whose connections are {@link EmbeddedChannel}s, each paired with
 * an HTTP/2 server {@link EmbeddedChannel} that answers every {@code CONNECT} with 200: the real
 * codecs on both ends, no sockets and no TLS. {@link #pump()} carries the bytes; time only moves
 * with {@link #advance}.
 */
final class EmbeddedPeers implements PoolContext.Dialer {

    /** One pooled connection's two ends. */
    record Link(PooledConnection connection, EmbeddedChannel client, EmbeddedChannel server, List<String> accepted) {
        /** The server sends GOAWAY (NO_ERROR), as a draining HBONE server does. */
        void goAway() {
            server.writeAndFlush(new DefaultHttp2GoAwayFrame(Http2Error.NO_ERROR));
        }
    }

    /** The pool's event loop; its clock is frozen. */
    final EmbeddedChannel anchor = new EmbeddedChannel();
    final MetricsRegistry metrics = MetricsRegistry.create();
    final List<Link> links = new ArrayList<>();
    final PoolContext context;
    final LoopPool pool;
    /** The SETTINGS_MAX_CONCURRENT_STREAMS of servers dialled from now on. */
    long maxStreams = 100;

    /** No TLS context: the dialer makes no TLS connection. */
    EmbeddedPeers(Duration idleTimeout) {
        anchor.freezeTime();
        context = new PoolContext(null, idleTimeout, Duration.ofSeconds(1), metrics,
                this);
        pool = new LoopPool(context, anchor.eventLoop());
    }

    @Override
    public void dial(PooledConnection connection, Waiter first) {
        List<String> accepted = new ArrayList<>();
        EmbeddedChannel server = new EmbeddedChannel(
                Http2FrameCodecBuilder.forServer().initialSettings(new Http2Settings().maxConcurrentStreams(maxStreams))
                        .build(),
                new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
                    @Override
                    protected void initChannel(Http2StreamChannel ch) {
                        ch.pipeline().addLast(new ConnectAnswerer(accepted));
                    }
                }));
        EmbeddedChannel client = new EmbeddedChannel();
        connection.attach(client);
        links.add(new Link(connection, client, server, accepted));
    }

    /** Moves bytes both ways, and runs every loop's tasks, until nothing moves. */
    void pump() {
        boolean moved;
        do {
            moved = false;
            anchor.runPendingTasks();
            for (Link l : List.copyOf(links)) {
                l.client.runPendingTasks();
                l.server.runPendingTasks();
                moved |= carry(l.client, l.server);
                moved |= carry(l.server, l.client);
            }
        } while (moved);
    }

    /** Moves the pool's clock, runs what became due, and pumps. */
    void advance(Duration d) {
        anchor.advanceTimeBy(d.toNanos(), TimeUnit.NANOSECONDS);
        anchor.runScheduledPendingTasks();
        pump();
    }

    Link link(int i) {
        return links.get(i);
    }

    void close() {
        for (Link l : links) {
            l.client.finishAndReleaseAll();
            l.server.finishAndReleaseAll();
        }
        anchor.finishAndReleaseAll();
    }

    private static boolean carry(EmbeddedChannel from, EmbeddedChannel to) {
        boolean moved = false;
        for (ByteBuf b; (b = from.readOutbound()) != null; moved = true) {
            if (to.isOpen()) {
                to.writeInbound(b);
            } else {
                b.release(); // what a closed socket would drop
            }
        }
        return moved;
    }

    /** Answers a CONNECT with 200 and keeps the stream open; records its :authority. */
    @ChannelHandler.Sharable
    private static final class ConnectAnswerer extends ChannelInboundHandlerAdapter {
        private final List<String> accepted;

        ConnectAnswerer(List<String> accepted) {
            this.accepted = accepted;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof Http2HeadersFrame h) {
                    accepted.add(String.valueOf(h.headers().authority()));
                    ctx.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")));
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }
    }
}
