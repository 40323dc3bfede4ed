package dev.ambit.proxy.hbone;

/**
 * How many RST_STREAM frames an HBONE connection receives, and how many it sends, in a
 * window before it closes with GOAWAY (ENHANCE_YOUR_CALM), both ends.
 *
 * <p>Netty's defaults (200 in 30 s each way) guard public HTTP/2 servers against the "rapid
 * reset" and "made you reset" attacks. An HBONE connection is pooled between two
 * authenticated agents and carries many applications' connections: every client that aborts
 * its connection (RST) resets its tunnel, and every upstream that does resets one the other
 * way, so a load test or a crash-looping backend can pass 200 within seconds, and the
 * GOAWAY then cut every other tunnel on the connection (the 201st reset did, in tests). Streams are still bounded by SETTINGS_MAX_CONCURRENT_STREAMS,
 * and a connection with more than {@value #MAX_PER_WINDOW} resets either way in
 * {@value #WINDOW_SECONDS} s (a thousand a second, sustained) is still cut off.
 */
final class ResetLimit {

    static final int MAX_PER_WINDOW = 10_000;
    static final int WINDOW_SECONDS = 10;

    private ResetLimit() {}
}
