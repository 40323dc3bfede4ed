package dev.ambit.waypoint.http;

import io.netty.handler.codec.http.FullHttpResponse;
import java.util.concurrent.CompletionStage;

/**
 * One HTTP filter of the waypoint's HttpConnectionManager (Envoy's {@code http_filters}):
 * a decorator around the rest of the chain. A filter may answer itself (a local reply:
 * the rest is not run), change the request before calling {@link Chain#proceed}, and
 * change the response that comes back. Runs on the request's event loop; must not block.
 *
 * <p>Ownership: the exchange owns its request until the router hands it upstream; a
 * filter that answers itself leaves the request to the exchange (released when the
 * exchange ends). The response belongs to whoever holds the stage's value.
 */
@FunctionalInterface
public interface HttpFilter {

    /** Filters {@code exchange}; {@code next} runs the rest of the chain. */
    CompletionStage<FullHttpResponse> filter(HttpExchange exchange, Chain next);

    /** The rest of the chain. */
    @FunctionalInterface
    interface Chain {
        CompletionStage<FullHttpResponse> proceed(HttpExchange exchange);
    }
}
