package dev.ambit.waypoint.http;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.config.core.v3.HttpProtocolOptions.HeadersWithUnderscoresAction;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import java.time.Duration;

/**
 * What one downstream connection of an HTTP filter chain may send, read from the chain's
 * HttpConnectionManager where it sets a field and Envoy's default where it does not. A
 * {@link Duration#ZERO} timeout is off (Envoy: {@code 0s} disables, and the timeouts that are
 * off by default are off when unset).
 *
 * @param maxRequestHeadersBytes {@code max_request_headers_kb} × 1024 (Envoy: 60 KiB): the request line
 *        and headers of HTTP/1.1, the header list of HTTP/2; over it → 431 (HTTP/1.1), a connection
 *        error (HTTP/2, as Envoy's codec)
 * @param maxHeadersCount {@code common_http_protocol_options.max_headers_count} (Envoy: 100); over it → 431
 * @param underscores {@code common_http_protocol_options.headers_with_underscores_action} (Envoy: ALLOW)
 * @param requestHeadersTimeout {@code request_headers_timeout}: first byte to end of headers (Envoy: off) → 408
 * @param requestTimeout {@code request_timeout}: first byte to end of request (Envoy: off) → 408
 * @param streamIdleTimeout {@code stream_idle_timeout}: no byte of a request being received (Envoy: 5 min) → 408
 * @param idleTimeout {@code common_http_protocol_options.idle_timeout}: no request on the connection (Envoy: 1 h) → closed
 * @param maxConnectionDuration {@code common_http_protocol_options.max_connection_duration} (Envoy: off) → drained
 * @param maxConcurrentStreams {@code http2_protocol_options.max_concurrent_streams} (Envoy: 2^31-1) → REFUSED_STREAM
 * @param initialStreamWindowSize {@code http2_protocol_options.initial_stream_window_size}, 0 when unset
 *        (then Netty's 65,535: Envoy's 256 MiB would let each stream park that much in a whole-message buffer)
 * @param initialConnectionWindowSize {@code http2_protocol_options.initial_connection_window_size}, 0 when unset (idem)
 * @param maxOutboundControlFrames {@code http2_protocol_options.max_outbound_control_frames} (Envoy: 1000):
 *        SETTINGS/PING acknowledgements and resets queued unsent before the connection is closed
 * @param maxConsecutiveEmptyFrames {@code http2_protocol_options.max_consecutive_inbound_frames_with_empty_payload}
 *        (Envoy: 1)
 * @param maxRequestBytes the largest request body, 0 for none (the default): when set, requests are buffered
 *        whole and a larger one is answered 413, as Envoy's buffer filter ({@code max_request_bytes}); when
 *        not, bodies stream and only the first {@code RequestBody#DEFAULT_BUFFER_LIMIT} bytes are kept for retries
 */
public record Limits(int maxRequestHeadersBytes, int maxHeadersCount, HeadersWithUnderscoresAction underscores,
                     Duration requestHeadersTimeout, Duration requestTimeout, Duration streamIdleTimeout,
                     Duration idleTimeout, Duration maxConnectionDuration, long maxConcurrentStreams,
                     int initialStreamWindowSize, int initialConnectionWindowSize, int maxOutboundControlFrames,
                     int maxConsecutiveEmptyFrames, int maxRequestBytes) {

    /** Envoy's {@code max_request_headers_kb} default. */
    public static final int DEFAULT_MAX_REQUEST_HEADERS_KB = 60;
    /** Envoy's {@code max_headers_count} default. */
    public static final int DEFAULT_MAX_HEADERS_COUNT = 100;
    public static final Duration DEFAULT_STREAM_IDLE_TIMEOUT = Duration.ofMinutes(5);
    public static final Duration DEFAULT_IDLE_TIMEOUT = Duration.ofHours(1);
    public static final long DEFAULT_MAX_CONCURRENT_STREAMS = Integer.MAX_VALUE;
    public static final int DEFAULT_MAX_OUTBOUND_CONTROL_FRAMES = 1000;
    public static final int DEFAULT_MAX_CONSECUTIVE_EMPTY_FRAMES = 1;
    /** Envoy's {@code premature_reset_total_stream_count}: streams closed before the premature-reset ratio is judged. */
    public static final int PREMATURE_RESET_MIN_STREAMS = 500;
    /** Envoy's {@code premature_reset_min_stream_lifetime_seconds}: a reset stream younger than this was premature. */
    public static final Duration PREMATURE_RESET_MIN_LIFETIME = Duration.ofSeconds(1);
    /** nghttp2's default limit of CONTINUATION frames in one header block (CVE-2024-27316 class floods). */
    public static final int MAX_CONTINUATION_FRAMES = 8;

    /** Envoy's defaults, with the given body limit. */
    public static final Limits DEFAULTS = of(HttpConnectionManager.getDefaultInstance(),
            WaypointServer.DEFAULT_MAX_REQUEST_BYTES);

    public Limits {
        requireNonNull(underscores, "underscores");
        requireNonNull(requestHeadersTimeout, "requestHeadersTimeout");
        requireNonNull(requestTimeout, "requestTimeout");
        requireNonNull(streamIdleTimeout, "streamIdleTimeout");
        requireNonNull(idleTimeout, "idleTimeout");
        requireNonNull(maxConnectionDuration, "maxConnectionDuration");
        if (maxRequestHeadersBytes <= 0 || maxHeadersCount <= 0 || maxRequestBytes < 0 || maxConcurrentStreams < 0) {
            throw new IllegalArgumentException("limits: " + maxRequestHeadersBytes + " header bytes, " + maxHeadersCount
                    + " headers, " + maxRequestBytes + " body bytes, " + maxConcurrentStreams
                    + " streams (expected: positive, body bytes and streams >= 0)");
        }
    }

    /** The limits {@code hcm} sets, Envoy's defaults for the rest. */
    public static Limits of(HttpConnectionManager hcm, int maxRequestBytes) {
        requireNonNull(hcm, "hcm");
        var common = hcm.getCommonHttpProtocolOptions();
        var h2 = hcm.getHttp2ProtocolOptions();
        int headersKb = hcm.hasMaxRequestHeadersKb() ? hcm.getMaxRequestHeadersKb().getValue()
                : DEFAULT_MAX_REQUEST_HEADERS_KB;
        HeadersWithUnderscoresAction underscores = common.getHeadersWithUnderscoresAction();
        if (underscores == HeadersWithUnderscoresAction.UNRECOGNIZED) {
            underscores = HeadersWithUnderscoresAction.ALLOW;
        }
        return new Limits(
                Math.max(1, headersKb) * 1024,
                common.hasMaxHeadersCount() ? Math.max(1, common.getMaxHeadersCount().getValue())
                        : DEFAULT_MAX_HEADERS_COUNT,
                underscores,
                hcm.hasRequestHeadersTimeout() ? duration(hcm.getRequestHeadersTimeout()) : Duration.ZERO,
                hcm.hasRequestTimeout() ? duration(hcm.getRequestTimeout()) : Duration.ZERO,
                hcm.hasStreamIdleTimeout() ? duration(hcm.getStreamIdleTimeout()) : DEFAULT_STREAM_IDLE_TIMEOUT,
                common.hasIdleTimeout() ? duration(common.getIdleTimeout()) : DEFAULT_IDLE_TIMEOUT,
                common.hasMaxConnectionDuration() ? duration(common.getMaxConnectionDuration()) : Duration.ZERO,
                h2.hasMaxConcurrentStreams() ? Integer.toUnsignedLong(h2.getMaxConcurrentStreams().getValue())
                        : DEFAULT_MAX_CONCURRENT_STREAMS,
                h2.hasInitialStreamWindowSize() ? window(h2.getInitialStreamWindowSize().getValue()) : 0,
                h2.hasInitialConnectionWindowSize() ? window(h2.getInitialConnectionWindowSize().getValue()) : 0,
                h2.hasMaxOutboundControlFrames() ? Math.max(1, h2.getMaxOutboundControlFrames().getValue())
                        : DEFAULT_MAX_OUTBOUND_CONTROL_FRAMES,
                h2.hasMaxConsecutiveInboundFramesWithEmptyPayload()
                        ? h2.getMaxConsecutiveInboundFramesWithEmptyPayload().getValue()
                        : DEFAULT_MAX_CONSECUTIVE_EMPTY_FRAMES,
                maxRequestBytes);
    }

    private static Duration duration(com.google.protobuf.Duration d) {
        Duration v = Duration.ofSeconds(d.getSeconds(), d.getNanos());
        return v.isNegative() ? Duration.ZERO : v;
    }

    /** Envoy's range for both windows: 65,535 to 2^31-1. */
    private static int window(int v) {
        return (int) Math.min(Integer.MAX_VALUE, Math.max(65_535L, Integer.toUnsignedLong(v)));
    }

    static boolean on(Duration d) {
        return !d.isZero();
    }
}
