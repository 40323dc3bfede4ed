package dev.ambit.waypoint.http.rbac;

import static java.util.Objects.requireNonNull;

import dev.ambit.waypoint.ResponseFlag;
import dev.ambit.waypoint.http.HttpExchange;
import dev.ambit.waypoint.http.HttpFilter;
import dev.ambit.waypoint.http.LocalReplies;
import dev.ambit.waypoint.upstream.UpstreamRequest;
import dev.ambit.waypoint.upstream.UpstreamResponse;
import dev.ambit.waypoint.upstream.Upstreams;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.ExtAuthz;
import io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.HttpService;
import io.envoyproxy.envoy.type.matcher.v3.ListStringMatcher;
import io.envoyproxy.envoy.type.matcher.v3.StringMatcher;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpVersion;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Envoy's external authorization filter ({@code envoy.filters.http.ext_authz}) with an HTTP
 * service, as Istio configures it for a CUSTOM policy's {@code envoyExtAuthzHttp} provider:
 * <ul>
 *   <li>Runs only when {@code filter_enabled_metadata} matches (Istio: a CUSTOM rule matched,
 *       recorded by the shadow RBAC filter before this one), else passes.</li>
 *   <li>The check is a request to {@code server_uri.cluster} through the waypoint's
 *       {@link Upstreams}: the original method, {@code path_prefix} + the original path, no
 *       body ({@code content-length: 0}), the headers {@code Host}, {@code :method},
 *       {@code :path}, {@code Content-Length} plus those {@code allowed_headers} match,
 *       then {@code headers_to_add}; it must answer within {@code server_uri.timeout}.</li>
 *   <li>200: allowed; the response's headers matching {@code allowed_upstream_headers} are
 *       set on the request. Any other status: denied with that status, its body and the
 *       headers {@code allowed_client_headers} match (all but hop-by-hop when unset), flag
 *       {@code UAEX}. No answer (connection failure, timeout): allowed if
 *       {@code failure_mode_allow}, else {@code status_on_error} (Envoy's default 403), flag {@code UAEX}.</li>
 * </ul>
 */
public final class ExtAuthzFilter implements HttpFilter {

    public static final String NAME = "envoy.filters.http.ext_authz";

    private static final Logger log = LoggerFactory.getLogger(ExtAuthzFilter.class);
    /** Headers never copied from the authorizer's response onto the client's or the upstream request. */
    private static final Set<String> NOT_COPIED = Set.of("content-length", "transfer-encoding", "connection",
            "keep-alive", "host", ":status", "date", "server");

    private final Upstreams upstreams;
    private final AuthzMetrics metrics;
    private final String cluster;
    private final String pathPrefix;
    private final Duration timeout;
    private final boolean failOpen;
    private final int statusOnError;
    private final Predicate<String> allowedHeaders;
    private final List<HeaderValue> headersToAdd;
    private final Predicate<String> upstreamHeaders;
    private final Predicate<String> clientHeaders;
    private final Predicate<RequestAttributes> enabled;

    private ExtAuthzFilter(ExtAuthz config, Upstreams upstreams, AuthzMetrics metrics) {
        this.upstreams = requireNonNull(upstreams, "upstreams");
        this.metrics = requireNonNull(metrics, "metrics");
        if (!config.hasHttpService()) {
            throw new IllegalArgumentException("ext_authz: no http_service (expected: an HTTP authorization service)");
        }
        HttpService http = config.getHttpService();
        cluster = http.getServerUri().getCluster();
        if (cluster.isEmpty()) {
            throw new IllegalArgumentException("ext_authz: http_service.server_uri.cluster is empty (expected: the "
                    + "authorizer's cluster)");
        }
        pathPrefix = http.getPathPrefix();
        timeout = http.getServerUri().hasTimeout() ? Duration.ofSeconds(http.getServerUri().getTimeout().getSeconds(),
                http.getServerUri().getTimeout().getNanos()) : Duration.ofMillis(200);
        failOpen = config.getFailureModeAllow();
        statusOnError = config.hasStatusOnError() && config.getStatusOnError().getCodeValue() > 0
                ? config.getStatusOnError().getCodeValue() : 403;
        allowedHeaders = list(http.getAuthorizationRequest().getAllowedHeaders(), false);
        headersToAdd = List.copyOf(http.getAuthorizationRequest().getHeadersToAddList());
        upstreamHeaders = list(http.getAuthorizationResponse().getAllowedUpstreamHeaders(), false);
        clientHeaders = http.getAuthorizationResponse().hasAllowedClientHeaders()
                ? list(http.getAuthorizationResponse().getAllowedClientHeaders(), false) : h -> true;
        enabled = config.hasFilterEnabledMetadata() ? Matchers.metadata(config.getFilterEnabledMetadata()) : r -> true;
    }

    /**
     * The filter for {@code config}, checking through {@code upstreams}.
     *
     * @throws IllegalArgumentException if {@code config} has no HTTP service with a cluster
     */
    public static ExtAuthzFilter of(ExtAuthz config, Upstreams upstreams, AuthzMetrics metrics) {
        return new ExtAuthzFilter(requireNonNull(config, "config"), upstreams, metrics);
    }

    private static Predicate<String> list(ListStringMatcher m, boolean whenEmpty) {
        if (m.getPatternsCount() == 0) {
            return h -> whenEmpty;
        }
        List<Predicate<String>> ps = new ArrayList<>();
        for (StringMatcher s : m.getPatternsList()) {
            ps.add(Matchers.string(s));
        }
        return h -> ps.stream().anyMatch(p -> p.test(h));
    }

    @Override
    public CompletionStage<FullHttpResponse> filter(HttpExchange exchange, Chain next) {
        if (!enabled.test(RequestAttributes.of(exchange))) {
            return next.proceed(exchange);
        }
        FullHttpRequest check = checkRequest(exchange.request());
        CompletionStage<UpstreamResponse> sent;
        try {
            sent = upstreams.send(new UpstreamRequest(cluster, check, Set.of(), timeout));
        } catch (RuntimeException e) {
            if (check.refCnt() > 0) {
                check.release(); // refused before taking ownership
            }
            sent = CompletableFuture.failedFuture(e);
        }
        CompletableFuture<FullHttpResponse> out = new CompletableFuture<>();
        sent.whenCompleteAsync((response, failure) -> {
            CompletionStage<FullHttpResponse> answer;
            try {
                answer = failure != null ? error(exchange, next, failure) : decide(exchange, next, response.response());
            } catch (RuntimeException e) {
                answer = CompletableFuture.failedFuture(e);
            }
            answer.whenComplete((r, t) -> {
                if (t != null) {
                    out.completeExceptionally(t);
                } else {
                    out.complete(r);
                }
            });
        }, exchange.eventLoop());
        return out;
    }

    /** The authorizer answered: 200 allows (with its upstream headers), anything else denies. Releases {@code r}. */
    private CompletionStage<FullHttpResponse> decide(HttpExchange exchange, Chain next, FullHttpResponse r) {
        try {
            if (r.status().code() == 200) {
                for (Map.Entry<String, String> h : r.headers()) {
                    String name = h.getKey().toLowerCase(Locale.ROOT);
                    if (!NOT_COPIED.contains(name) && upstreamHeaders.test(name)) {
                        exchange.request().headers().set(name, h.getValue());
                    }
                }
                return next.proceed(exchange);
            }
            return CompletableFuture.completedFuture(denied(exchange, r));
        } finally {
            r.release();
        }
    }

    private FullHttpRequest checkRequest(FullHttpRequest original) {
        FullHttpRequest check = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, original.method(),
                pathPrefix + original.uri(), Unpooled.EMPTY_BUFFER);
        HttpHeaders in = original.headers();
        HttpHeaders out = check.headers();
        String host = in.get(HttpHeaderNames.HOST);
        if (host != null) {
            out.set(HttpHeaderNames.HOST, host);
        }
        for (Map.Entry<String, String> h : in) {
            String name = h.getKey().toLowerCase(Locale.ROOT);
            if (!name.equals("host") && !name.equals("content-length") && !name.startsWith("x-http2-")
                    && allowedHeaders.test(name)) {
                out.add(name, h.getValue());
            }
        }
        for (HeaderValue h : headersToAdd) {
            out.set(h.getKey(), h.getValue());
        }
        out.setInt(HttpHeaderNames.CONTENT_LENGTH, 0);
        return check;
    }

    private FullHttpResponse denied(HttpExchange exchange, FullHttpResponse authz) {
        int status = authz.status().code();
        FullHttpResponse reply = LocalReplies.reply(status, "");
        if (authz.content().isReadable()) {
            reply.release();
            reply = LocalReplies.reply(status, authz.content().toString(java.nio.charset.StandardCharsets.UTF_8));
            reply.headers().remove(HttpHeaderNames.CONTENT_TYPE);
        }
        for (Map.Entry<String, String> h : authz.headers()) {
            String name = h.getKey().toLowerCase(Locale.ROOT);
            if (!NOT_COPIED.contains(name) && clientHeaders.test(name)) {
                reply.headers().add(name, h.getValue());
            }
        }
        exchange.addFlag(ResponseFlag.UAEX);
        exchange.responseCodeDetails("ext_authz_denied");
        metrics.denied("ext_authz", Integer.toString(status));
        log.debug("ext_authz denied {} {} with {}", exchange.method(), exchange.request().uri(), status);
        return reply;
    }

    private CompletionStage<FullHttpResponse> error(HttpExchange exchange, Chain next, Throwable failure) {
        if (failOpen) {
            log.debug("ext_authz check of {} {} failed, failing open: {}", exchange.method(),
                    exchange.request().uri(), failure.toString());
            return next.proceed(exchange);
        }
        log.debug("ext_authz check of {} {} failed, failing closed: {}", exchange.method(),
                exchange.request().uri(), failure.toString());
        exchange.addFlag(ResponseFlag.UAEX);
        exchange.responseCodeDetails("ext_authz_error");
        metrics.denied("ext_authz", "error");
        return CompletableFuture.completedFuture(LocalReplies.reply(statusOnError, ""));
    }
}
