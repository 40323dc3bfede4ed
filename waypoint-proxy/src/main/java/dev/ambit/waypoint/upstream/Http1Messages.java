package dev.ambit.waypoint.upstream;

import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http2.HttpConversionUtil;

/** What an HTTP/1.1 upstream connection changes in the messages it carries ({@link Http1Pool}). */
final class Http1Messages {

    private Http1Messages() {}

    /**
     * Prepares a request for an HTTP/1.1 upstream, as Envoy's codec does: HTTP/1.1, no
     * connection-specific headers (the waypoint manages its upstream connections), no
     * HTTP/2 conversion headers, and framing by Content-Length unless it is chunked.
     */
    static void toHttp1(FullHttpRequest request) {
        request.setProtocolVersion(HttpVersion.HTTP_1_1);
        HttpHeaders h = request.headers();
        for (HttpConversionUtil.ExtensionHeaderNames name : HttpConversionUtil.ExtensionHeaderNames.values()) {
            h.remove(name.text());
        }
        for (String token : h.getAll(HttpHeaderNames.CONNECTION)) {
            for (String t : token.split(",")) {
                String n = t.strip();
                if (!n.isEmpty() && !n.equalsIgnoreCase("close") && !n.equalsIgnoreCase("keep-alive")) {
                    h.remove(n);
                }
            }
        }
        h.remove(HttpHeaderNames.CONNECTION);
        h.remove(HttpHeaderNames.KEEP_ALIVE);
        h.remove(HttpHeaderNames.PROXY_CONNECTION);
        if (request instanceof StreamingRequest) {
            if (!h.contains(HttpHeaderNames.CONTENT_LENGTH)) {
                HttpUtil.setTransferEncodingChunked(request, true); // its length is not known yet
            }
        } else if (!HttpUtil.isTransferEncodingChunked(request)) {
            int length = request.content().readableBytes();
            if (length > 0 || h.contains(HttpHeaderNames.CONTENT_LENGTH) || expectsBody(request.method())) {
                HttpUtil.setContentLength(request, length);
            }
        }
    }

    private static boolean expectsBody(HttpMethod method) {
        return method.equals(HttpMethod.POST) || method.equals(HttpMethod.PUT) || method.equals(HttpMethod.PATCH);
    }

    /** Removes the hop-by-hop headers of an upstream HTTP/1.1 response. */
    static void stripHopByHop(HttpHeaders h) {
        for (String token : h.getAll(HttpHeaderNames.CONNECTION)) {
            for (String t : token.split(",")) {
                String n = t.strip();
                if (!n.isEmpty()) {
                    h.remove(n);
                }
            }
        }
        h.remove(HttpHeaderNames.CONNECTION);
        h.remove(HttpHeaderNames.KEEP_ALIVE);
        h.remove(HttpHeaderNames.PROXY_CONNECTION);
    }
}
