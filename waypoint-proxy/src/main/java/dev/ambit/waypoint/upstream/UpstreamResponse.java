package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import io.netty.handler.codec.http.FullHttpResponse;
import java.net.InetSocketAddress;

/**
 * An upstream's whole response (trailers in {@link FullHttpResponse#trailingHeaders()})
 * and the endpoint that answered. The receiver owns (releases) the response.
 */
public record UpstreamResponse(FullHttpResponse response, InetSocketAddress endpoint) {
    public UpstreamResponse {
        requireNonNull(response, "response");
        requireNonNull(endpoint, "endpoint");
    }
}
