package dev.ambit.waypoint.http;

import io.envoyproxy.envoy.config.route.v3.RouteMatch;
import io.netty.handler.codec.http.FullHttpResponse;
import java.util.function.Predicate;

/**
 * What filters outside this package ({@code http.jwt}, ...) share with the ones inside: the
 * route table's {@link RouteMatch} semantics and the connection manager's local replies.
 */
public final class FilterSupport {

    private FilterSupport() {}

    /**
     * A predicate for {@code match} (jwt_authn's {@code rules[].match}), read as the route table
     * reads a route's; throws {@link IllegalArgumentException} for a match it would refuse too.
     */
    public static Predicate<HttpExchange> routeMatch(RouteMatch match) {
        RouteMatcher m = new RouteMatcher(match);
        return exchange -> m.matches(new RouteMatcher.RequestView(exchange.request().method().name(),
                exchange.authority(), exchange.request().uri(),
                exchange.request().headers().get("x-http2-scheme", "http"), exchange.request().headers()));
    }

    /**
     * A local reply with {@code status} and a {@code text/plain} {@code body}, marked as the
     * connection manager's own (a gRPC request gets it as a gRPC status, as Envoy answers).
     */
    public static FullHttpResponse localReply(int status, String body) {
        return LocalReplies.reply(status, body);
    }
}
