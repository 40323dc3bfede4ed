package dev.ambit.waypoint.http;

import dev.ambit.waypoint.ResponseFlag;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault;
import io.envoyproxy.envoy.type.v3.FractionalPercent;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Envoy's fault filter ({@code envoy.filters.http.fault}): the route's
 * {@code typed_per_filter_config} {@link HTTPFault} (else the filter's own) may delay the
 * request ({@code delay.fixed_delay}, flag {@code DI}) and then abort it
 * ({@code abort.http_status} with body {@code fault filter abort}, or {@code abort.grpc_status}
 * as a trailers-only gRPC answer; flag {@code FI}), each on its {@code percentage} of
 * requests (an unset percentage is 0%, as in Envoy).
 */
final class Faults implements HttpFilter {

    static final String NAME = "envoy.filters.http.fault";

    private final HTTPFault defaults;

    Faults(HTTPFault defaults) {
        this.defaults = defaults == null ? HTTPFault.getDefaultInstance() : defaults;
    }

    @Override
    public CompletionStage<FullHttpResponse> filter(HttpExchange exchange, Chain next) {
        HTTPFault fault = exchange.route() == null ? null : exchange.route().perFilterConfig(NAME, HTTPFault.class);
        if (fault == null) {
            fault = defaults;
        }
        if (fault.hasDelay() && fault.getDelay().hasFixedDelay() && selected(fault.getDelay().getPercentage())) {
            long millis = fault.getDelay().getFixedDelay().getSeconds() * 1000
                    + fault.getDelay().getFixedDelay().getNanos() / 1_000_000;
            exchange.addFlag(ResponseFlag.DI);
            HTTPFault f = fault;
            CompletableFuture<FullHttpResponse> delayed = new CompletableFuture<>();
            exchange.eventLoop().schedule(() -> {
                abortOrProceed(f, exchange, next).whenComplete((r, t) -> {
                    if (t != null) {
                        delayed.completeExceptionally(t);
                    } else {
                        delayed.complete(r);
                    }
                });
            }, millis, TimeUnit.MILLISECONDS);
            return delayed;
        }
        return abortOrProceed(fault, exchange, next);
    }

    private static CompletionStage<FullHttpResponse> abortOrProceed(HTTPFault fault, HttpExchange exchange, Chain next) {
        if (fault.hasAbort() && selected(fault.getAbort().getPercentage())) {
            exchange.addFlag(ResponseFlag.FI);
            if (fault.getAbort().getErrorTypeCase() == io.envoyproxy.envoy.extensions.filters.http.fault.v3.FaultAbort
                    .ErrorTypeCase.GRPC_STATUS) {
                FullHttpResponse r = LocalReplies.reply(200, "");
                r.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/grpc");
                r.headers().set("grpc-status", Integer.toString(fault.getAbort().getGrpcStatus()));
                r.headers().set("grpc-message", LocalReplies.FAULT_ABORT);
                return CompletableFuture.completedFuture(r);
            }
            return CompletableFuture.completedFuture(
                    LocalReplies.reply(fault.getAbort().getHttpStatus(), LocalReplies.FAULT_ABORT));
        }
        return next.proceed(exchange);
    }

    /** Whether this request falls in {@code p} (numerator over HUNDRED, TEN_THOUSAND or MILLION). */
    static boolean selected(FractionalPercent p) {
        long denominator = switch (p.getDenominator()) {
            case TEN_THOUSAND -> 10_000;
            case MILLION -> 1_000_000;
            default -> 100;
        };
        long numerator = Math.min(p.getNumerator(), denominator);
        return numerator > 0 && ThreadLocalRandom.current().nextLong(denominator) < numerator;
    }
}
