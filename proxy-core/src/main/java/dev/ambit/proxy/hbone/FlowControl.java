package dev.ambit.proxy.hbone;

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
 *
 * <p>Frames may be up to {@value #MAX_FRAME} bytes instead of HTTP/2's 16 KiB, so a relay
 * read of up to 64 KiB is one DATA frame rather than four, each with its own header, flow
 * control pass and trailing TLS record fragment: one iperf3 stream through two agents went
 * from 3.56 to 4.03 Gbit/s in the same L4 bench run, request/response figures unchanged.
 */
final class FlowControl {

    /** SETTINGS_INITIAL_WINDOW_SIZE: bytes a peer may send on one stream before a WINDOW_UPDATE. */
    static final int STREAM_WINDOW = 1024 * 1024;
    /** The connection window Netty's codec sets from the stream window: its default plus twice the increase. */
    static final int CONNECTION_WINDOW = Http2CodecUtil.DEFAULT_WINDOW_SIZE
            + 2 * (STREAM_WINDOW - Http2CodecUtil.DEFAULT_WINDOW_SIZE);

    private FlowControl() {}

    /** SETTINGS_MAX_FRAME_SIZE: one relay read (at most 64 KiB) fits one DATA frame. */
    static final int MAX_FRAME = 64 * 1024;

    /** Adds the stream window and frame size to {@code settings}. */
    static Http2Settings withStreamWindow(Http2Settings settings) {
        return settings.initialWindowSize(STREAM_WINDOW).maxFrameSize(MAX_FRAME);
    }
}
