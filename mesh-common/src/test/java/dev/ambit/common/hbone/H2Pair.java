package dev.ambit.common.hbone;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandler;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;

/**
 * An HTTP/2 client and server connection as two {@link EmbeddedChannel}s whose bytes
 * are carried across by {@link #pump()}: the real codecs on both ends, no sockets.
 */
final class H2Pair {

    final EmbeddedChannel client;
    final EmbeddedChannel server;

    H2Pair(ChannelHandler serverHandler) {
        this(serverHandler, true);
    }

    /** {@code settle}: exchange prefaces and SETTINGS now. */
    H2Pair(ChannelHandler serverHandler, boolean settle) {
        server = new EmbeddedChannel(serverHandler);
        client = new EmbeddedChannel(HboneClient.newConnectionHandler());
        if (settle) {
            pump();
        }
    }

    /** Moves bytes both ways until neither side has anything more to send. */
    void pump() {
        boolean moved;
        do {
            moved = false;
            client.runPendingTasks();
            server.runPendingTasks();
            moved |= carry(client, server);
            moved |= carry(server, client);
        } while (moved);
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

    /** A raw client stream, its frames going to {@code handler}. */
    Http2StreamChannel openStream(ChannelHandler handler) {
        var f = new Http2StreamChannelBootstrap(client).handler(handler).open();
        client.runPendingTasks();
        return f.getNow();
    }

    void close() {
        pump();
        client.finishAndReleaseAll();
        server.finishAndReleaseAll();
    }
}
