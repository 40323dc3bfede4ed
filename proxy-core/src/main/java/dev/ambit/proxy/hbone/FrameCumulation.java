package dev.ambit.proxy.hbone;

import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.http2.Http2FrameCodec;

/**
 * How an HBONE connection's HTTP/2 codec gathers a frame that arrives in pieces. A DATA frame
 * (up to {@value FlowControl#MAX_FRAME} bytes) usually spans several decrypted TLS records;
 * Netty's default cumulator copies each piece into one growing buffer, copying the
 * gathered bytes again each time it grows (about 3 % of a receiving agent's CPU under one
 * iperf3 stream, L4 bench profile). Gathering the pieces as components of one composite
 * buffer copies nothing: the frame's payload is a slice of them, which the relay's TCP write
 * hands to {@code writev} as it is.
 */
final class FrameCumulation {

    private FrameCumulation() {}

    /** {@code codec}, set to gather frames without copying. */
    static <T extends Http2FrameCodec> T withoutCopies(T codec) {
        codec.setCumulator(ByteToMessageDecoder.COMPOSITE_CUMULATOR);
        return codec;
    }
}
