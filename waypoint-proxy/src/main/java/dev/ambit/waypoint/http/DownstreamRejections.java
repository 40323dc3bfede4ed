package dev.ambit.waypoint.http;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.MetricsRegistry;

/**
 * {@code ambit_waypoint_downstream_rejected_total{reason}}: each request, stream or connection
 * the waypoint refused because its client broke HTTP or a {@link Limits limit} (Envoy counts
 * these as codec errors, {@code downstream_rq_*_timeout}, {@code downstream_rq_too_many_premature_resets}...;
 * here one family, the reason as Envoy's response code details name it where it has one).
 * Thread-safe.
 */
public final class DownstreamRejections {

    public static final String METRIC = "ambit_waypoint_downstream_rejected_total";

    // HTTP/1.1 (Envoy's http1.* details)
    public static final String HEADERS_TOO_LARGE = "headers_too_large";
    public static final String TOO_MANY_HEADERS = "too_many_headers";
    public static final String HEADER_UNDERSCORES = "invalid_underscore";
    public static final String INVALID_HEADER = "invalid_header";
    public static final String BARE_LF = "bare_lf";
    public static final String CONTENT_LENGTH_AND_CHUNKED = "content_length_and_chunked";
    public static final String MULTIPLE_CONTENT_LENGTH = "multiple_content_length";
    public static final String INVALID_CONTENT_LENGTH = "invalid_content_length";
    public static final String INVALID_TRANSFER_ENCODING = "invalid_transfer_encoding";
    public static final String INVALID_URL = "invalid_url";
    public static final String INVALID_AUTHORITY = "invalid_authority";
    public static final String INVALID_METHOD = "invalid_method";
    public static final String INVALID_CHUNK = "invalid_chunk";
    public static final String CODEC_ERROR = "codec_error";
    public static final String BODY_TOO_LARGE = "request_payload_too_large";
    // timeouts (both codecs)
    public static final String REQUEST_HEADERS_TIMEOUT = "request_headers_timeout";
    public static final String REQUEST_TIMEOUT = "request_timeout";
    public static final String STREAM_IDLE_TIMEOUT = "stream_idle_timeout";
    public static final String IDLE_TIMEOUT = "idle_timeout";
    // HTTP/2
    public static final String REFUSED_STREAM = "refused_stream";
    public static final String PREMATURE_RESETS = "too_many_premature_resets";
    public static final String CONTINUATION_FLOOD = "continuation_flood";
    public static final String CONTROL_FRAME_FLOOD = "outbound_control_flood";
    public static final String EMPTY_FRAME_FLOOD = "inbound_empty_frames_flood";
    public static final String H2_HEADERS_TOO_LARGE = "h2_headers_too_large";
    public static final String H2_PROTOCOL_ERROR = "h2_protocol_error";

    /** Counts nothing: for code paths built without a registry (tests of other parts). */
    static final DownstreamRejections NONE = new DownstreamRejections(null);

    private final Counter.Family counter;

    private DownstreamRejections(Counter.Family counter) {
        this.counter = counter;
    }

    public static DownstreamRejections of(MetricsRegistry metrics) {
        requireNonNull(metrics, "metrics");
        return new DownstreamRejections(metrics.counter(METRIC,
                "Downstream requests, streams and connections the waypoint refused, by reason.", "reason"));
    }

    /** Counts one refusal. */
    public void reject(String reason) {
        requireNonNull(reason, "reason");
        if (counter != null) {
            counter.labels(reason).inc();
        }
    }
}
