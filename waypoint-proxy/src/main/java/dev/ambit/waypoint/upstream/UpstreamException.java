package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import dev.ambit.waypoint.ResponseFlag;
import java.net.InetSocketAddress;

/**
 * Why an upstream attempt failed, as Envoy's response flag ({@code UF}, {@code UH},
 * {@code UT}, {@code UR}, {@code UC}, {@code UO}, {@code NC}), with the endpoint tried
 * (null when none was picked) and whether a retry policy's {@code refused-stream} applies.
 */
public final class UpstreamException extends RuntimeException {

    private final ResponseFlag flag;
    private final InetSocketAddress endpoint;
    private final boolean refusedStream;

    public UpstreamException(ResponseFlag flag, InetSocketAddress endpoint, String message, boolean refusedStream,
                             Throwable cause) {
        super(message, cause);
        this.flag = requireNonNull(flag, "flag");
        this.endpoint = endpoint;
        this.refusedStream = refusedStream;
    }

    public ResponseFlag flag() {
        return flag;
    }

    public InetSocketAddress endpoint() {
        return endpoint;
    }

    public boolean refusedStream() {
        return refusedStream;
    }
}
