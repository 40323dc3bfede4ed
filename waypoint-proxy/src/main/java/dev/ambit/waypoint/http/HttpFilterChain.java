package dev.ambit.waypoint.http;

import io.netty.handler.codec.http.FullHttpResponse;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/** Filters in the HttpConnectionManager's {@code http_filters} order; the last one (the router) answers. */
final class HttpFilterChain {

    private final List<HttpFilter> filters;

    HttpFilterChain(List<HttpFilter> filters) {
        if (filters.isEmpty()) {
            throw new IllegalArgumentException("filters: empty (expected: at least the router)");
        }
        this.filters = List.copyOf(filters);
    }

    CompletionStage<FullHttpResponse> run(HttpExchange exchange) {
        return step(0, exchange);
    }

    private CompletionStage<FullHttpResponse> step(int i, HttpExchange exchange) {
        if (i >= filters.size()) {
            return CompletableFuture.failedFuture(new IllegalStateException("the filter chain ended without a response"));
        }
        try {
            return filters.get(i).filter(exchange, ex -> step(i + 1, ex));
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }
}
