package dev.ambit.common.hbone;

import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2Settings;

/**
 * HTTP/2 flow-control windows of HBONE connections, both ends. HTTP/2's defaults (64 KiB
 * per stream and per connection) let one tunnel have 64 KiB in flight: a bulk transfer
 * stalls on every WINDOW_UPDATE round trip through the peer agent, and one iperf3 stream
 * through two agents reached about half of a TLS proxy pair's rate (L4 bench). Ambit
 * advertises {@value #STREAM_WINDOW} bytes per stream; Netty's frame codec then widens the
 * connection window to {@link #CONNECTION_WINDOW} (twice the stream window's increase),
 * which bounds what a peer may have sent but the relays not yet written, per HBONE
 * connection. (ztunnel uses 4 MiB and 16 MiB.) The relay still reads a stream only when its
 * TCP side is writable, so a slow application holds back its sender, as before.
 */
final class FlowControl {

    /** SETTINGS_INITIAL_WINDOW_SIZE: bytes a peer may send on one stream before a WINDOW_UPDATE. */
    static final int STREAM_WINDOW = 1024 * 1024;
    /** The connection window Netty's codec sets from the stream window: its default plus twice the increase. */
    static final int CONNECTION_WINDOW = Http2CodecUtil.DEFAULT_WINDOW_SIZE
            + 2 * (STREAM_WINDOW - Http2CodecUtil.DEFAULT_WINDOW_SIZE);

    private FlowControl() {}

    /** Adds the stream window to {@code settings}. */
    static Http2Settings withStreamWindow(Http2Settings settings) {
        return settings.initialWindowSize(STREAM_WINDOW);
    }
}
