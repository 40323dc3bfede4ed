package dev.ambit.waypoint.http;

import static java.util.Objects.requireNonNull;

import dev.ambit.waypoint.config.WaypointConfig;
import dev.ambit.waypoint.http.rbac.PathNormalizer;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import dev.ambit.waypoint.upstream.StreamingResponse;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpUtil;
import java.util.Optional;
import java.util.UUID;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HttpConnectionManager's per-request work, shared by the HTTP/1.1 and HTTP/2 codecs:
 * {@code x-request-id} (a random UUID when absent, as Envoy generates it), the route
 * (from the filter chain's {@code RouteConfiguration}, compiled once per instance), the
 * filter chain, and the request's telemetry once its response was written.
 */
final class RequestProcessor {

    private static final Logger log = LoggerFactory.getLogger(RequestProcessor.class);

    /** What was sent for one request, captured before the response is written (and released). */
    record Sent(int status, String grpcStatus, long bodyBytes) {
        /** With the body bytes streamed. */
        Sent withBytes(long bytes) {
            return new Sent(status, grpcStatus, bytes);
        }

        /**
         * With the body bytes streamed and, unless the headers said it (trailers-only), gRPC's
         * status from the trailers the streamed body ended with ({@code null}: it did not end).
         */
        Sent withBody(long bytes, io.netty.handler.codec.http.HttpHeaders trailers) {
            String grpc = grpcStatus;
            if (grpc == null && trailers != null && trailers.contains("grpc-status")) {
                grpc = trailers.get("grpc-status").strip();
            }
            return new Sent(status, grpc, bytes);
        }

        static Sent of(FullHttpResponse r) {
            Integer grpc = RetryState.grpcStatus(r);
            return new Sent(r.status().code(), grpc == null ? null : grpc.toString(), r.content().readableBytes());
        }
    }

    private final HttpFilters filters;
    private final HttpTelemetry telemetry;
    private final BooleanSupplier draining;
    private final Supplier<WaypointConfig> configs;
    private final HttpTracing tracing;

    RequestProcessor(HttpFilterChain chain, HttpTelemetry telemetry) {
        this(chain, telemetry, () -> false, () -> null);
    }

    /**
     * @param draining whether the listener drains (HTTP/1.1 answers then say {@code Connection: close})
     * @param configs the current configuration: each request is routed with the snapshot current
     *        when it arrives (as Envoy applies a new RDS version to the next request of an open
     *        connection); null from it means the tunnel's own snapshot
     */
    RequestProcessor(HttpFilterChain chain, HttpTelemetry telemetry, BooleanSupplier draining,
                     Supplier<WaypointConfig> configs) {
        this(HttpFilters.fixed(chain), telemetry, draining, configs);
    }

    /** As above, with spans where the chain's HCM has {@code tracing} (issue 19). */
    RequestProcessor(HttpFilterChain chain, HttpTelemetry telemetry, BooleanSupplier draining,
                     Supplier<WaypointConfig> configs, HttpTracing tracing) {
        this(HttpFilters.fixed(chain), telemetry, draining, configs, tracing);
    }

    /** As above, each filter chain's HTTP filters and path normalization from its HCM ({@link HttpFilters}). */
    RequestProcessor(HttpFilters filters, HttpTelemetry telemetry, BooleanSupplier draining,
                     Supplier<WaypointConfig> configs) {
        this(filters, telemetry, draining, configs, HttpTracing.NONE);
    }

    /** As above, with spans per request and upstream attempt where the chain's HCM has {@code tracing}. */
    RequestProcessor(HttpFilters filters, HttpTelemetry telemetry, BooleanSupplier draining,
                     Supplier<WaypointConfig> configs, HttpTracing tracing) {
        this.tracing = requireNonNull(tracing, "tracing");
        this.filters = requireNonNull(filters, "filters");
        this.telemetry = requireNonNull(telemetry, "telemetry");
        this.draining = requireNonNull(draining, "draining");
        this.configs = requireNonNull(configs, "configs");
    }

    /** Whether the listener is draining: keep-alive connections are closed after their current response. */
    boolean draining() {
        return draining.getAsBoolean();
    }

    /**
     * A new exchange for {@code request} (owned by it from now on): its path normalized as the
     * chain's HCM says (once, before any filter and the route: every filter, the router and
     * the access log see the normalized path), its route selected.
     */
    HttpExchange exchange(FullHttpRequest request, Downstream downstream, EventLoop loop, String protocol) {
        if (downstream.ingress() != null) {
            IngressHeaders.apply(request.headers(), downstream);
        }
        var hcm = downstream.chain().hcm();
        boolean generateId = !hcm.hasGenerateRequestId() || hcm.getGenerateRequestId().getValue();
        if (generateId && !request.headers().contains("x-request-id")) {
            request.headers().set("x-request-id", UUID.randomUUID().toString());
        }
        HttpFilters.Built built = filters.forChain(downstream.chain());
        PathNormalizer.Result normalized = built.normalizer().normalize(request.uri());
        if (normalized.uri() != null) {
            request.setUri(normalized.uri());
        }
        WaypointConfig current = configs.get();
        HttpExchange exchange = new HttpExchange(request, downstream, current != null ? current : downstream.config(),
                loop, protocol);
        exchange.filters = built.chain();
        exchange.trace = tracing.server(exchange);
        if (normalized.action() != PathNormalizer.Action.FORWARD) {
            exchange.normalization = normalized.action();
            return exchange; // answered by process(): no route
        }
        Optional<RouteConfiguration> rc = exchange.config().route(downstream.chain().routeName());
        if (rc.isPresent() && IngressHeaders.mustRedirect(downstream, rc.get(), exchange.authority())) {
            return exchange; // answered by process(): 301 to https, no route (Envoy checks require_tls first)
        }
        if (rc.isPresent()) {
            String scheme = request.headers().get("x-http2-scheme", "http");
            exchange.route(RouteTable.of(rc.get()).select(new RouteMatcher.RequestView(request.method().name(),
                    exchange.authority(), request.uri(), scheme, request.headers())));
        }
        return exchange;
    }

    /**
     * Runs the filter chain; the stage completes on the exchange's event loop with the
     * response to send (never exceptionally: an internal failure is a 500). The request is
     * released when it completes.
     */
    CompletionStage<FullHttpResponse> process(HttpExchange exchange) {
        CompletableFuture<FullHttpResponse> out = new CompletableFuture<>();
        CompletionStage<FullHttpResponse> answer;
        if (exchange.normalization == PathNormalizer.Action.REJECT) {
            exchange.responseCodeDetails("path_normalization_failed");
            answer = CompletableFuture.completedFuture(LocalReplies.reply(400, ""));
        } else if (exchange.normalization == PathNormalizer.Action.REDIRECT) {
            // UNESCAPE_AND_REDIRECT: Envoy sends the client to the unescaped path.
            FullHttpResponse redirect = LocalReplies.reply(307, "");
            redirect.headers().set(HttpHeaderNames.LOCATION, exchange.request().uri());
            exchange.responseCodeDetails("path_normalization_redirect");
            answer = CompletableFuture.completedFuture(redirect);
        } else if (httpsRedirect(exchange)) {
            exchange.responseCodeDetails("ssl_redirect");
            answer = CompletableFuture.completedFuture(IngressHeaders.redirect(exchange.authority(),
                    exchange.request().uri()));
        } else {
            answer = exchange.filters.run(exchange);
        }
        answer.whenCompleteAsync((r, t) -> {
            exchange.release();
            if (t != null || r == null) {
                log.warn("request {} {} failed in the filter chain", exchange.method(), exchange.path(), t);
                FullHttpResponse error = LocalReplies.reply(500, "internal error");
                error.headers().remove(LocalReplies.MARKER);
                out.complete(exchange.grpc() ? LocalReplies.toGrpc(error) : error);
            } else {
                if (r.headers().contains(LocalReplies.MARKER)) {
                    r.headers().remove(LocalReplies.MARKER);
                    if (exchange.grpc()) {
                        r = LocalReplies.toGrpc(r);
                    }
                }
                if (!(r instanceof StreamingResponse) && !r.headers().contains(HttpHeaderNames.CONTENT_LENGTH)
                        && !HttpUtil.isTransferEncodingChunked(r)) {
                    HttpUtil.setContentLength(r, r.content().readableBytes());
                }
                out.complete(r);
            }
        }, exchange.eventLoop());
        return out;
    }

    /** Whether the exchange's virtual host requires TLS its plaintext connection lacks ({@code require_tls}). */
    private static boolean httpsRedirect(HttpExchange exchange) {
        Downstream d = exchange.downstream();
        if (d.secure()) {
            return false;
        }
        Optional<RouteConfiguration> rc = exchange.config().route(d.chain().routeName());
        return rc.isPresent() && IngressHeaders.mustRedirect(d, rc.get(), exchange.authority());
    }

    /** Records the finished request; frees what its body kept for retries. */
    void completed(HttpExchange exchange, Sent sent) {
        if (exchange.body() != null) {
            exchange.body().release();
        }
        try {
            tracing.serverDone(exchange, sent.status(), sent.bodyBytes());
        } catch (RuntimeException e) {
            log.warn("span of {} {} failed", exchange.method(), exchange.path(), e);
        }
        try {
            // The request's trace context, else the tunnel's (the CONNECT's traceparent).
            String traceparent = exchange.request().headers().get("traceparent");
            telemetry.record(exchange, sent.status(), sent.grpcStatus(), sent.bodyBytes(),
                    exchange.request().headers().get("x-request-id"),
                    traceparent != null || exchange.downstream().hbone() == null ? traceparent
                            : exchange.downstream().hbone().traceparent());
        } catch (RuntimeException e) {
            log.warn("telemetry of {} {} failed", exchange.method(), exchange.path(), e);
        }
    }
}
