package dev.ambit.waypoint.http;

import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import java.nio.charset.StandardCharsets;

/**
 * Responses the waypoint makes itself, worded as Envoy words them (so users recognise
 * them): {@code text/plain} bodies, {@code content-length} set.
 */
final class LocalReplies {

    static final String NO_HEALTHY_UPSTREAM = "no healthy upstream";
    static final String UPSTREAM_TIMEOUT = "upstream request timeout";
    static final String RESET_BEFORE_HEADERS = "upstream connect error or disconnect/reset before headers. reset reason: ";
    static final String FAULT_ABORT = "fault filter abort";
    static final String RBAC_DENIED = "RBAC: access denied";
    static final String TOO_LARGE = "Payload Too Large";

    private LocalReplies() {}

    /** A reply with {@code status} and {@code body} (no body when empty). */
    static FullHttpResponse reply(int status, String body) {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(status),
                bytes.length == 0 ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(bytes));
        if (bytes.length > 0) {
            r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain");
        }
        r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, bytes.length);
        return r;
    }

    /** Envoy's wording of an upstream failure before response headers, by its reset reason. */
    static String resetBeforeHeaders(String reason) {
        return RESET_BEFORE_HEADERS + reason;
    }
}
