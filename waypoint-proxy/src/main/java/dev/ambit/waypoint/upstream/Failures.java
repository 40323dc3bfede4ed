package dev.ambit.waypoint.upstream;

import dev.ambit.proxy.hbone.HboneConnectException;
import dev.ambit.proxy.net.HbonePool;
import dev.ambit.waypoint.ResponseFlag;
import io.netty.channel.ConnectTimeoutException;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.util.NetUtil;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Locale;
import javax.net.ssl.SSLException;

/**
 * Turns what went wrong with an upstream attempt into Envoy's response flags, with messages
 * in Envoy's words ("upstream connect error or disconnect/reset before headers. reset
 * reason: ...") that always name the endpoint.
 */
final class Failures {

    static final String BEFORE_HEADERS = "upstream connect error or disconnect/reset before headers. ";

    private Failures() {}

    /** The endpoint could not be reached: TCP connect, TLS, the HBONE pool or CONNECT's refusal ({@code UF}). */
    static UpstreamException connect(InetSocketAddress endpoint, Throwable cause) {
        String detail;
        if (cause instanceof HboneConnectException h) {
            detail = h.status() > 0 ? "HBONE CONNECT refused with " + h.status() + ": " + h.getMessage()
                    : h.getMessage();
        } else if (cause instanceof HbonePool.ConnectionFailedException f) {
            detail = "HBONE " + f.reason() + " failure: " + f.getMessage();
        } else if (cause instanceof ConnectTimeoutException || cause instanceof ConnectException
                || cause instanceof SSLException) {
            detail = cause.getMessage();
        } else {
            detail = String.valueOf(cause);
        }
        return new UpstreamException(ResponseFlag.UF, endpoint, BEFORE_HEADERS + "reset reason: connection failure, "
                + "transport failure reason: " + detail + " (endpoint " + name(endpoint) + ")", false, cause);
    }

    /** The connect (TCP, or the HBONE tunnel's set-up) did not finish within the cluster's connect timeout. */
    static UpstreamException connectTimeout(InetSocketAddress endpoint, Duration timeout) {
        return new UpstreamException(ResponseFlag.UF, endpoint, BEFORE_HEADERS + "reset reason: connection timeout ("
                + "endpoint " + name(endpoint) + ", connect_timeout " + timeout.toMillis() + " ms)", false, null);
    }

    /** The connection closed (FIN) before a whole response ({@code UC}). */
    static UpstreamException closed(InetSocketAddress endpoint, String detail, Throwable cause) {
        return new UpstreamException(ResponseFlag.UC, endpoint, BEFORE_HEADERS + "reset reason: connection termination"
                + " (endpoint " + name(endpoint) + (detail == null ? "" : ": " + detail) + ")", false, cause);
    }

    /** The connection or stream was reset before a whole response ({@code UR}). */
    static UpstreamException reset(InetSocketAddress endpoint, String detail, Throwable cause) {
        return new UpstreamException(ResponseFlag.UR, endpoint, BEFORE_HEADERS + "reset reason: remote reset"
                + " (endpoint " + name(endpoint) + (detail == null ? "" : ": " + detail) + ")", false, cause);
    }

    /** An HTTP/2 stream reset by the server: {@code UR}; REFUSED_STREAM is retriable as {@code refused-stream}. */
    static UpstreamException streamReset(InetSocketAddress endpoint, long errorCode) {
        Http2Error error = Http2Error.valueOf(errorCode);
        boolean refused = error == Http2Error.REFUSED_STREAM;
        return new UpstreamException(ResponseFlag.UR, endpoint, BEFORE_HEADERS + "reset reason: "
                + (refused ? "remote refused stream reset" : "remote reset") + " (endpoint " + name(endpoint)
                + ": RST_STREAM " + (error == null ? errorCode : error) + ")", refused, null);
    }

    /** The attempt's timeout elapsed ({@code UT}; Envoy answers 504 "upstream request timeout"). */
    static UpstreamException timeout(InetSocketAddress endpoint, Duration timeout) {
        return new UpstreamException(ResponseFlag.UT, endpoint, "upstream request timeout (endpoint "
                + (endpoint == null ? "none yet" : name(endpoint)) + ", timeout " + timeout.toMillis() + " ms)",
                false, null);
    }

    /** An I/O failure on an established connection: a TCP reset is {@code UR}, anything else {@code UC}. */
    static UpstreamException io(InetSocketAddress endpoint, Throwable cause) {
        if (isReset(cause)) {
            return reset(endpoint, "connection reset by peer", cause);
        }
        return closed(endpoint, String.valueOf(cause), cause);
    }

    /** A TCP RST as Netty's transports report it. */
    static boolean isReset(Throwable cause) {
        for (Throwable t = cause; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof IOException && t.getMessage() != null
                    && t.getMessage().toLowerCase(Locale.ROOT).contains("connection reset")) {
                return true;
            }
        }
        return false;
    }

    static String name(InetSocketAddress endpoint) {
        return NetUtil.toSocketAddressString(endpoint);
    }
}
