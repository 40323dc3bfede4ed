package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import io.netty.handler.codec.http.FullHttpRequest;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.OptionalLong;
import java.util.Set;

/**
 * One attempt of a request to a cluster.
 *
 * @param cluster the Envoy cluster name
 * @param request the whole request (HTTP/1.x shaped; HTTP/2 pseudo headers as Netty's
 *        {@code HttpConversionUtil} extension headers); ownership passes to {@link Upstreams#send}
 * @param excludedHosts endpoints not to pick if another is available (retries' previous hosts)
 * @param timeout the attempt's deadline ({@link Duration#ZERO}: none); over it the stage fails with UT
 * @param hash the request's hash for RING_HASH / MAGLEV clusters, computed from the route's
 *        {@code hash_policy} ({@code http.HashPolicies}); empty when none applied (a random host)
 */
public record UpstreamRequest(String cluster, FullHttpRequest request, Set<InetSocketAddress> excludedHosts,
                              Duration timeout, OptionalLong hash) {
    public UpstreamRequest {
        requireNonNull(cluster, "cluster");
        requireNonNull(request, "request");
        requireNonNull(excludedHosts, "excludedHosts");
        requireNonNull(timeout, "timeout");
        requireNonNull(hash, "hash");
    }

    /** A request without a hash. */
    public UpstreamRequest(String cluster, FullHttpRequest request, Set<InetSocketAddress> excludedHosts,
                           Duration timeout) {
        this(cluster, request, excludedHosts, timeout, OptionalLong.empty());
    }
}
