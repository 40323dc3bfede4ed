package dev.ambit.waypoint.upstream;

import java.net.InetSocketAddress;
import java.util.Set;
import java.util.concurrent.CompletionStage;

/**
 * The cluster manager: the one place where an endpoint of a cluster is picked and a
 * connection to it is opened or reused (HBONE through proxy-core's HbonePool when the
 * endpoint's {@code envoy.transport_socket_match} metadata has {@code tunnel: http},
 * plaintext otherwise). Failures complete exceptionally with {@link UpstreamException}.
 */
public interface Upstreams {

    /**
     * Sends one buffered request to an endpoint of {@code request.cluster()} and completes
     * with the whole response. Takes ownership of the request message (releases it).
     */
    CompletionStage<UpstreamResponse> send(UpstreamRequest request);

    /**
     * As {@link #send}, but completes as soon as the response's headers arrived: the
     * response is then a {@link StreamingResponse} whose body follows with flow control
     * (or, from an implementation that only has whole responses, a whole one). Whoever
     * receives it subscribes to the body or releases the response (which aborts the rest).
     */
    default CompletionStage<UpstreamResponse> stream(UpstreamRequest request) {
        return send(request);
    }

    /**
     * Opens a byte tunnel (TCP proxy, an upgraded WebSocket) to an endpoint of
     * {@code cluster}, or to {@code originalDestination} for an ORIGINAL_DST cluster.
     */
    CompletionStage<UpstreamTunnel> open(String cluster, InetSocketAddress originalDestination,
                                        Set<InetSocketAddress> excludedHosts);

    /**
     * Asks {@code cluster}'s circuit breakers whether a retry may be made now
     * ({@code max_retries}: retries in flight); true: the retry is counted until
     * {@link #retryDone}. False: the retry is not made (Envoy's {@code upstream_rq_retry_overflow}).
     */
    default boolean tryRetry(String cluster) {
        return true;
    }

    /** A retry {@link #tryRetry} allowed has finished (its attempt completed or was not made). */
    default void retryDone(String cluster) {
    }
}
