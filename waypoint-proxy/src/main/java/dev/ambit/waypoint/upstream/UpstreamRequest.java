package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import io.netty.handler.codec.http.FullHttpRequest;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Set;

/**
 * One attempt of a request to a cluster.
 *
 * @param cluster the Envoy cluster name
 * @param request the whole request (HTTP/1.x shaped; HTTP/2 pseudo headers as Netty's
 *        {@code HttpConversionUtil} extension headers); ownership passes to {@link Upstreams#send}
 * @param excludedHosts endpoints not to pick if another is available (retries' previous hosts)
 * @param timeout the attempt's deadline ({@link Duration#ZERO}: none); over it the stage fails with UT
 */
public record UpstreamRequest(String cluster, FullHttpRequest request, Set<InetSocketAddress> excludedHosts,
                              Duration timeout) {
    public UpstreamRequest {
        requireNonNull(cluster, "cluster");
        requireNonNull(request, "request");
        requireNonNull(excludedHosts, "excludedHosts");
        requireNonNull(timeout, "timeout");
    }
}
