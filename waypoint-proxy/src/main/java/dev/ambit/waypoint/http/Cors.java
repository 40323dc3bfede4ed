package dev.ambit.waypoint.http;

import io.envoyproxy.envoy.extensions.filters.http.cors.v3.CorsPolicy;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Envoy's CORS filter ({@code envoy.filters.http.cors}) with the route's (else virtual
 * host's) {@code typed_per_filter_config} {@link CorsPolicy}: a request whose {@code Origin}
 * matches {@code allow_origin_string_match} is a CORS request; its preflight
 * ({@code OPTIONS} with {@code Access-Control-Request-Method}) is answered {@code 200} here
 * with the allowed methods, headers, max age and credentials; other CORS requests go on and
 * get {@code Access-Control-Allow-Origin} (and credentials, exposed headers) on the response.
 * Anything else passes untouched (a non-matching preflight is forwarded, Envoy's default).
 */
final class Cors implements HttpFilter {

    static final String NAME = "envoy.filters.http.cors";

    @Override
    public CompletionStage<FullHttpResponse> filter(HttpExchange exchange, Chain next) {
        CorsPolicy policy = exchange.route() == null ? null : exchange.route().perFilterConfig(NAME, CorsPolicy.class);
        HttpHeaders headers = exchange.request().headers();
        String origin = headers.get(HttpHeaderNames.ORIGIN);
        if (policy == null || origin == null || origin.isEmpty()
                || (policy.hasFilterEnabled() && !Faults.selected(policy.getFilterEnabled().getDefaultValue()))
                || !allowed(policy, origin)) {
            return next.proceed(exchange);
        }
        boolean credentials = policy.hasAllowCredentials() && policy.getAllowCredentials().getValue();
        if (exchange.request().method().equals(HttpMethod.OPTIONS)
                && headers.contains(HttpHeaderNames.ACCESS_CONTROL_REQUEST_METHOD)) {
            FullHttpResponse r = LocalReplies.reply(200, "");
            HttpHeaders h = r.headers();
            h.set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            if (credentials) {
                h.set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
            }
            if (!policy.getAllowMethods().isEmpty()) {
                h.set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_METHODS, policy.getAllowMethods());
            }
            if (!policy.getAllowHeaders().isEmpty()) {
                h.set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_HEADERS, policy.getAllowHeaders());
            }
            if (!policy.getMaxAge().isEmpty()) {
                h.set(HttpHeaderNames.ACCESS_CONTROL_MAX_AGE, policy.getMaxAge());
            }
            return CompletableFuture.completedFuture(r);
        }
        return next.proceed(exchange).thenApply(r -> {
            HttpHeaders h = r.headers();
            h.set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            if (credentials) {
                h.set(HttpHeaderNames.ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
            }
            if (!policy.getExposeHeaders().isEmpty()) {
                h.set(HttpHeaderNames.ACCESS_CONTROL_EXPOSE_HEADERS, policy.getExposeHeaders());
            }
            return r;
        });
    }

    private static boolean allowed(CorsPolicy policy, String origin) {
        for (StringMatcher m : policy.getAllowOriginStringMatchList()) {
            if (StringMatch.of(m).test(origin)) {
                return true;
            }
        }
        return false;
    }
}
