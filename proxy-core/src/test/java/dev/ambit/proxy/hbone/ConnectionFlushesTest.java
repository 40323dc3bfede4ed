package dev.ambit.proxy.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.testing.LeakCheck;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.local.LocalAddress;
import io.netty.channel.local.LocalChannel;
import io.netty.channel.local.LocalIoHandler;
import io.netty.channel.local.LocalServerChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.flush.FlushConsolidationHandler;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * HBONE connections flush once per event-loop pass: the DATA frames many tunnels write in
 * one pass reach TLS (here: a counter at the head of the pipeline) with one flush at the
 * end of the pass, not one flush each.
 */
@Timeout(30)
class ConnectionFlushesTest {

    private static final int TUNNELS = 8;

    private EventLoopGroup group;
    private Channel server;
    private Channel client;
    private final AtomicInteger flushes = new AtomicInteger();

    /** Counts the flushes that reach the head, i.e. what TLS would turn into records and syscalls. */
    @ChannelHandler.Sharable
    final class FlushCounter extends ChannelOutboundHandlerAdapter {
        @Override
        public void flush(ChannelHandlerContext ctx) {
            flushes.incrementAndGet();
            ctx.flush();
        }
    }

    @BeforeEach
    void connect() throws Exception {
        LeakCheck.install();
        group = new MultiThreadIoEventLoopGroup(1, LocalIoHandler.newFactory());
        LocalAddress address = new LocalAddress("hbone-flushes-" + System.nanoTime());
        server = new ServerBootstrap().group(group).channel(LocalServerChannel.class)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        ReferenceCountUtil.release(msg); // the peer only needs to swallow bytes
                    }

                    @Override
                    public boolean isSharable() {
                        return true;
                    }
                })
                .bind(address).sync().channel();
        client = new Bootstrap().group(group).channel(LocalChannel.class)
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new FlushCounter(), HboneClient.newConnectionHandler());
                    }
                })
                .connect(address).sync().channel();
    }

    @AfterEach
    void close() throws Exception {
        client.close().sync();
        server.close().sync();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        LeakCheck.assertNoLeaks();
    }

    @Test
    void writesOfManyTunnelsInOnePassLeaveWithOneFlush() throws Exception {
        List<Http2StreamChannel> streams = new ArrayList<>();
        for (int i = 0; i < TUNNELS; i++) {
            Http2StreamChannel s = new Http2StreamChannelBootstrap(client).open().sync().getNow();
            s.writeAndFlush(new DefaultHttp2HeadersFrame(
                    new DefaultHttp2Headers().method("CONNECT").authority("10.0.0.1:8080"))).sync();
            streams.add(s);
        }
        // One pass of the event loop: every tunnel forwards a chunk and flushes.
        int[] duringPass = new int[1];
        client.eventLoop().submit(() -> {
            flushes.set(0);
            for (Http2StreamChannel s : streams) {
                ByteBuf chunk = Unpooled.copiedBuffer("GET / HTTP/1.1\r\n\r\n", StandardCharsets.US_ASCII);
                s.writeAndFlush(new DefaultHttp2DataFrame(chunk));
            }
            duringPass[0] = flushes.get();
        }).sync();
        // Tasks run in order: the consolidated flush was queued by the pass, before this one.
        int afterPass = client.eventLoop().submit(flushes::get).sync().getNow();
        assertThat(duringPass[0]).as("flushes during the pass").isZero();
        assertThat(afterPass).as("flushes once the pass is over").isEqualTo(1);
        for (Http2StreamChannel s : streams) {
            s.close().sync();
        }
    }

    @Test
    void theServerPipelineConsolidatesBeforeTheCodec() {
        EmbeddedChannel ch = new EmbeddedChannel(HboneServer.builder((request, stream) -> {
            throw new AssertionError("no request expected");
        }).build().newConnectionHandler());
        List<String> names = ch.pipeline().names();
        int consolidation = names.indexOf(ch.pipeline().context(FlushConsolidationHandler.class).name());
        int codec = names.indexOf(ch.pipeline().context(Http2FrameCodec.class).name());
        assertThat(consolidation).isNotNegative().isLessThan(codec);
        ch.finishAndReleaseAll();
    }
}
