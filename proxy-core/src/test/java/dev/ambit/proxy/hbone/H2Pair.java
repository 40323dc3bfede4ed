package dev.ambit.proxy.hbone;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandler;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import java.util.ArrayList;
import java.util.List;

/**
 * An HTTP/2 client and server connection as two {@link EmbeddedChannel}s whose bytes
 * are carried across by {@link #pump()}: the real codecs on both ends, no sockets.
 */
final class H2Pair {

    final EmbeddedChannel client;
    final EmbeddedChannel server;
    /** Every frame the server sent, as "TYPE stream", e.g. "RST_STREAM 3". */
    final List<String> serverFrames = new ArrayList<>();
    private final ByteBuf fromServer = Unpooled.buffer();

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
            moved |= carry(client, server, null);
            moved |= carry(server, client, fromServer);
            parseServerFrames();
        } while (moved);
    }

    private static boolean carry(EmbeddedChannel from, EmbeddedChannel to, ByteBuf copy) {
        boolean moved = false;
        for (ByteBuf b; (b = from.readOutbound()) != null; moved = true) {
            if (copy != null) {
                copy.writeBytes(b, b.readerIndex(), b.readableBytes());
            }
            if (to.isOpen()) {
                to.writeInbound(b);
            } else {
                b.release(); // what a closed socket would drop
            }
        }
        return moved;
    }

    private static final String[] TYPES = {"DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS",
            "PUSH_PROMISE", "PING", "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"};

    /** RFC 9113 §4.1 frame headers: 24-bit length, type, flags, 31-bit stream id. */
    private void parseServerFrames() {
        while (fromServer.readableBytes() >= 9) {
            int length = fromServer.getUnsignedMedium(fromServer.readerIndex());
            if (fromServer.readableBytes() < 9 + length) {
                break;
            }
            int type = fromServer.getUnsignedByte(fromServer.readerIndex() + 3);
            int streamId = fromServer.getInt(fromServer.readerIndex() + 5) & 0x7fffffff;
            serverFrames.add((type < TYPES.length ? TYPES[type] : "TYPE_" + type) + " " + streamId);
            fromServer.skipBytes(9 + length);
        }
        fromServer.discardReadBytes();
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
        fromServer.release();
    }
}
