package dev.ambit.waypoint.http;

import static java.util.Objects.requireNonNull;

import dev.ambit.waypoint.ResponseFlag;
import io.netty.handler.codec.http.FullHttpResponse;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/** The authorization slot: first in every chain, asks the {@link RequestAuthorizer}. */
final class Authorization implements HttpFilter {

    private final RequestAuthorizer authorizer;

    Authorization(RequestAuthorizer authorizer) {
        this.authorizer = requireNonNull(authorizer, "authorizer");
    }

    @Override
    public CompletionStage<FullHttpResponse> filter(HttpExchange exchange, Chain next) {
        CompletionStage<String> decision = authorizer.authorize(exchange);
        if (decision == null) {
            return next.proceed(exchange);
        }
        return decision.thenComposeAsync(denial -> {
            if (denial == null) {
                return next.proceed(exchange);
            }
            exchange.addFlag(ResponseFlag.RBAC_DENIED);
            return CompletableFuture.completedFuture(LocalReplies.reply(403, LocalReplies.RBAC_DENIED));
        }, exchange.eventLoop());
    }
}
