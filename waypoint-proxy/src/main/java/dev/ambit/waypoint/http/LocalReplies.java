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
 * them): {@code text/plain} bodies, {@code content-length} set. Public for the filters of
 * {@code http.rbac} (issue 15: authz), which answer 403 and ext_authz denials.
 */
public final class LocalReplies {

    static final String NO_HEALTHY_UPSTREAM = "no healthy upstream";
    static final String UPSTREAM_TIMEOUT = "upstream request timeout";
    static final String RESET_BEFORE_HEADERS = "upstream connect error or disconnect/reset before headers. reset reason: ";
    static final String FAULT_ABORT = "fault filter abort";
    public static final String RBAC_DENIED = "RBAC: access denied";
    static final String TOO_LARGE = "Payload Too Large";

    /**
     * Marks a local reply until the connection manager sees it (and removes it): a gRPC
     * request's local reply is turned into a gRPC answer there ({@link #toGrpc}).
     */
    static final String MARKER = "x-ambit-local-reply";

    private LocalReplies() {}

    /**
     * Envoy's local reply to a gRPC request: HTTP 200, {@code content-type: application/grpc},
     * no body, {@code grpc-status} from the HTTP status as Envoy maps it (400 INTERNAL, 401
     * UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE,
     * else UNKNOWN) and the reply's text as {@code grpc-message}. A reply that already is a
     * gRPC answer is left alone. Releases {@code reply}.
     */
    static FullHttpResponse toGrpc(FullHttpResponse reply) {
        if (reply.headers().contains("grpc-status")) {
            return reply;
        }
        int grpc = switch (reply.status().code()) {
            case 400 -> 13;
            case 401 -> 16;
            case 403 -> 7;
            case 404 -> 12;
            case 429, 502, 503, 504 -> 14;
            default -> 2;
        };
        String message = reply.content().toString(StandardCharsets.UTF_8);
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
                Unpooled.EMPTY_BUFFER);
        r.headers().set(reply.headers());
        r.headers().remove(HttpHeaderNames.CONTENT_TYPE);
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/grpc");
        r.headers().set("grpc-status", Integer.toString(grpc));
        if (!message.isEmpty()) {
            r.headers().set("grpc-message", message);
        }
        r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, 0);
        reply.release();
        return r;
    }

    /** A reply with {@code status} and {@code body} (no body when empty). */
    public static FullHttpResponse reply(int status, String body) {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(status),
                bytes.length == 0 ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(bytes));
        if (bytes.length > 0) {
            r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain");
        }
        r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, bytes.length);
        r.headers().set(MARKER, "1");
        return r;
    }

    /** Envoy's wording of an upstream failure before response headers, by its reset reason. */
    static String resetBeforeHeaders(String reason) {
        return RESET_BEFORE_HEADERS + reason;
    }
}
