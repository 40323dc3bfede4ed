package dev.ambit.waypoint.http;

import static java.util.Objects.requireNonNull;

import dev.ambit.waypoint.ResponseFlag;
import dev.ambit.waypoint.upstream.UpstreamException;
import dev.ambit.waypoint.upstream.UpstreamRequest;
import dev.ambit.waypoint.upstream.BodyStream;
import dev.ambit.waypoint.upstream.RequestBody;
import dev.ambit.waypoint.upstream.StreamingRequest;
import dev.ambit.waypoint.upstream.StreamingResponse;
import dev.ambit.waypoint.upstream.UpstreamResponse;
import dev.ambit.waypoint.upstream.Upstreams;
import io.envoyproxy.envoy.config.route.v3.DirectResponseAction;
import io.envoyproxy.envoy.config.route.v3.RetryPolicy;
import io.envoyproxy.envoy.config.route.v3.Route;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.envoyproxy.envoy.config.route.v3.WeightedCluster;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

/**
 * Envoy's router filter ({@code envoy.filters.http.router}), the last of the chain: no
 * route → {@code 404} ({@code NR}); {@code direct_response}; {@code redirect}; or the
 * route's cluster ({@code cluster} or by weight from {@code weighted_clusters}; unknown →
 * {@code 503}, {@code NC}) with the route's rewrites and header mutations, its
 * {@code timeout} (unset: Envoy's 15 s; {@code 0}: none; over it {@code 504 upstream request
 * timeout}, {@code UT}), its retry policy (the route's, else the virtual host's;
 * {@link RetryState}), its hash policy ({@link HashPolicies}: the hash for RING_HASH / MAGLEV
 * clusters, and a generated cookie's {@code Set-Cookie}), mirrors ({@link Mirror}) and
 * Envoy's replies to upstream failures.
 */
final class Router implements HttpFilter {

    static final String NAME = "envoy.filters.http.router";

    /** Envoy's route timeout when the route sets none. */
    static final Duration DEFAULT_ROUTE_TIMEOUT = Duration.ofSeconds(15);

    private final Upstreams upstreams;

    Router(Upstreams upstreams) {
        this.upstreams = requireNonNull(upstreams, "upstreams");
    }

    @Override
    public CompletionStage<FullHttpResponse> filter(HttpExchange exchange, Chain next) {
        RouteTable.Selection sel = exchange.route();
        if (sel == null) {
            exchange.addFlag(ResponseFlag.NR);
            return CompletableFuture.completedFuture(LocalReplies.reply(404, ""));
        }
        Route route = sel.entry().proto();
        return switch (route.getActionCase()) {
            case DIRECT_RESPONSE -> done(sel, direct(route.getDirectResponse()));
            case REDIRECT -> {
                FullHttpResponse r = LocalReplies.reply(Redirects.status(route.getRedirect()), "");
                r.headers().set(HttpHeaderNames.LOCATION, Redirects.location(route.getRedirect(), scheme(exchange),
                        exchange.authority(), exchange.path(), sel.entry().matcher()));
                yield done(sel, r);
            }
            case ROUTE -> new Forward(exchange, sel, route.getRoute()).start();
            default -> {
                exchange.addFlag(ResponseFlag.NR);
                yield CompletableFuture.completedFuture(LocalReplies.reply(404, ""));
            }
        };
    }

    private static CompletionStage<FullHttpResponse> done(RouteTable.Selection sel, FullHttpResponse r) {
        applyResponseHeaders(sel, r.headers());
        return CompletableFuture.completedFuture(r);
    }

    private static FullHttpResponse direct(DirectResponseAction d) {
        String body = d.getBody().hasInlineString() ? d.getBody().getInlineString()
                : d.getBody().hasInlineBytes() ? d.getBody().getInlineBytes().toStringUtf8() : "";
        return LocalReplies.reply(d.getStatus(), body);
    }

    static String scheme(HttpExchange exchange) {
        String s = exchange.request().headers().get("x-http2-scheme");
        if (s == null) {
            s = exchange.request().headers().get("x-forwarded-proto");
        }
        return s == null ? "http" : s;
    }

    /** The cluster a request on {@code action} goes to (by weight for weighted clusters), or null. */
    static String cluster(RouteAction action) {
        return switch (action.getClusterSpecifierCase()) {
            case CLUSTER -> action.getCluster();
            case WEIGHTED_CLUSTERS -> {
                WeightedCluster.ClusterWeight w = RouteTable.pick(action.getWeightedClusters());
                yield w == null ? null : w.getName();
            }
            default -> null;
        };
    }

    /**
     * Rewrites {@code request} for the upstream as the route says: {@code prefix_rewrite} or
     * {@code regex_rewrite} of the path, {@code host_rewrite_literal}, then the request header
     * mutations (route, virtual host, route configuration: the most general last, Envoy's
     * default), and drops hop-by-hop headers.
     */
    static void prepareRequest(RouteTable.Selection sel, RouteAction action, FullHttpRequest request) {
        String uri = request.uri();
        if (!action.getPrefixRewrite().isEmpty()) {
            RouteMatcher m = sel.entry().matcher();
            if (!m.prefix().isEmpty()) {
                request.setUri(Redirects.rewritePrefix(uri, m.prefix(), action.getPrefixRewrite()));
            } else {
                int q = uri.indexOf('?');
                request.setUri(action.getPrefixRewrite() + (q < 0 ? "" : uri.substring(q)));
            }
        } else if (action.hasRegexRewrite()) {
            request.setUri(Redirects.rewriteRegex(uri, action.getRegexRewrite()));
        }
        if (!action.getHostRewriteLiteral().isEmpty()) {
            request.headers().set(HttpHeaderNames.HOST, action.getHostRewriteLiteral());
        }
        HttpHeaders h = request.headers();
        sel.entry().requestHeaders().apply(h);
        sel.host().requestHeaders().apply(h);
        sel.table().requestHeaders().apply(h);
        HopByHop.strip(h);
        h.remove("x-http2-stream-id");
        if (!h.contains("x-forwarded-proto")) {
            h.set("x-forwarded-proto", "http");
        }
    }

    static void applyResponseHeaders(RouteTable.Selection sel, HttpHeaders h) {
        sel.entry().responseHeaders().apply(h);
        sel.host().responseHeaders().apply(h);
        sel.table().responseHeaders().apply(h);
    }

    /** Envoy's local reply for a failed upstream attempt. */
    static FullHttpResponse failureReply(ResponseFlag flag) {
        return switch (flag) {
            case UH -> LocalReplies.reply(503, LocalReplies.NO_HEALTHY_UPSTREAM);
            case UT -> LocalReplies.reply(504, LocalReplies.UPSTREAM_TIMEOUT);
            case UF -> LocalReplies.reply(503, LocalReplies.resetBeforeHeaders("connection failure"));
            case UR -> LocalReplies.reply(503, LocalReplies.resetBeforeHeaders("remote reset"));
            case UO -> overloaded(LocalReplies.reply(503, LocalReplies.resetBeforeHeaders("overflow")));
            case NC -> LocalReplies.reply(503, "");
            default -> LocalReplies.reply(503, LocalReplies.resetBeforeHeaders("connection termination"));
        };
    }

    /**
     * Envoy's answer when the route's (chosen weighted) cluster is unknown: the route's
     * {@code cluster_not_found_response_code}, 503 by default (Gateway API's invalid backends: 500).
     */
    static FullHttpResponse clusterNotFound(RouteAction action) {
        return switch (action.getClusterNotFoundResponseCode()) {
            case INTERNAL_SERVER_ERROR -> LocalReplies.reply(500, "");
            case NOT_FOUND -> LocalReplies.reply(404, "");
            default -> failureReply(ResponseFlag.NC);
        };
    }

    /**
     * Envoy's router marks a circuit breaker's refusal with {@code x-envoy-overloaded: true}
     * (Istio does not suppress Envoy's headers), so a client can tell it from a backend's 503.
     */
    private static FullHttpResponse overloaded(FullHttpResponse reply) {
        reply.headers().set("x-envoy-overloaded", "true");
        return reply;
    }

    static UpstreamException upstreamFailure(Throwable t) {
        Throwable c = t;
        while (c instanceof CompletionException && c.getCause() != null) {
            c = c.getCause();
        }
        if (c instanceof UpstreamException u) {
            return u;
        }
        return new UpstreamException(ResponseFlag.UC, null, String.valueOf(c), false, c);
    }

    /** One forwarded request: attempts, retries and the route timeout. Event-loop confined. */
    private final class Forward {
        private final HttpExchange exchange;
        private final RouteTable.Selection sel;
        private final RouteAction action;
        private final CompletableFuture<FullHttpResponse> result = new CompletableFuture<>();
        private final boolean attemptCountHeader;
        private String cluster;
        private RetryState retry;
        private long deadlineNanos; // 0: none
        private ScheduledFuture<?> timer;
        private boolean done;
        private HashPolicies.Result hash = HashPolicies.Result.NONE; // lb: route's hash_policy
        /** A retry counted by the cluster's max_retries is in flight (released when its attempt ends). */
        private boolean retryHeld;
        private boolean retryOverflowed;
        /** The body of the response sent on, while it streams (the route timeout still applies). */
        private BodyStream body;

        Forward(HttpExchange exchange, RouteTable.Selection sel, RouteAction action) {
            this.exchange = exchange;
            this.sel = sel;
            this.action = action;
            this.attemptCountHeader = sel.host().proto().getIncludeRequestAttemptCount();
        }

        CompletionStage<FullHttpResponse> start() {
            cluster = cluster(action);
            if (cluster == null || exchange.config().cluster(cluster).isEmpty()) {
                exchange.addFlag(ResponseFlag.NC);
                exchange.upstreamCluster(cluster);
                return done(sel, clusterNotFound(action));
            }
            exchange.upstreamCluster(cluster);
            // lb: as Envoy, only a hashing balancer asks for the hash (and so generates a cookie);
            // on the request as received, before rewrites.
            var lbPolicy = exchange.config().cluster(cluster).get().getLbPolicy();
            if (lbPolicy == io.envoyproxy.envoy.config.cluster.v3.Cluster.LbPolicy.RING_HASH
                    || lbPolicy == io.envoyproxy.envoy.config.cluster.v3.Cluster.LbPolicy.MAGLEV) {
                hash = HashPolicies.compute(action, exchange);
            }
            prepareRequest(sel, action, exchange.request());
            RetryPolicy rp = action.hasRetryPolicy() ? action.getRetryPolicy()
                    : sel.host().proto().hasRetryPolicy() ? sel.host().proto().getRetryPolicy() : null;
            retry = new RetryState(rp == null ? RetryState.Policy.NONE
                    : (RetryState.Policy) sel.entry().parsed().computeIfAbsent("retry", k -> RetryState.Policy.of(rp)));
            Duration timeout = action.hasTimeout() ? RetryState.duration(action.getTimeout()) : DEFAULT_ROUTE_TIMEOUT;
            if (!timeout.isZero()) {
                // Envoy: the route timeout runs from the end of the downstream request to the end of
                // the response; a request body still streaming in arms it when it ends.
                Runnable arm = () -> {
                    if (done && body == null) {
                        return;
                    }
                    deadlineNanos = System.nanoTime() + timeout.toNanos();
                    timer = exchange.eventLoop().schedule(this::onRouteTimeout, timeout.toNanos(),
                            TimeUnit.NANOSECONDS);
                    if (body != null) {
                        ScheduledFuture<?> t = timer;
                        body.terminated().whenComplete((v, x) -> t.cancel(false));
                    }
                };
                if (exchange.body() == null) {
                    arm.run();
                } else {
                    exchange.body().ended().thenRunAsync(arm, exchange.eventLoop());
                }
            }
            Mirror.mirror(action, exchange.request(), exchange.body(), upstreams, timeout, exchange);
            attempt();
            return result;
        }

        private void attempt() {
            if (done) {
                return;
            }
            FullHttpRequest copy;
            RequestBody body = exchange.body();
            if (body != null) {
                // The body streams: this attempt replays what is kept, then follows the rest.
                BodyStream reader = body.open();
                if (reader == null) {
                    finishFailed(new UpstreamException(ResponseFlag.UC, null,
                            "request body no longer available (the client went away)", false, null));
                    return;
                }
                FullHttpRequest r = exchange.request();
                copy = new StreamingRequest(r.protocolVersion(), r.method(), r.uri(), r.headers().copy(), reader);
            } else {
                copy = exchange.request().replace(exchange.request().content().retainedDuplicate());
            }
            exchange.attempted();
            if (attemptCountHeader) {
                copy.headers().set("x-envoy-attempt-count", Integer.toString(exchange.attempts()));
            }
            Duration perTry = retry.policy().perTryTimeout();
            Duration timeout = perTry;
            if (deadlineNanos != 0) {
                Duration left = Duration.ofNanos(Math.max(1, deadlineNanos - System.nanoTime()));
                timeout = perTry.isZero() || left.compareTo(perTry) < 0 ? left : perTry;
            }
            // tracing (issue 19): a client span per attempt; the upstream request carries its context.
            var span = HttpTracing.attempt(exchange.trace, cluster, exchange, copy.headers());
            long sent = System.nanoTime();
            CompletionStage<UpstreamResponse> stage;
            try {
                stage = upstreams.stream(new UpstreamRequest(cluster, copy, retry.excludedHosts(), timeout,
                        hash.hash()));
            } catch (RuntimeException e) {
                stage = CompletableFuture.failedFuture(e);
            }
            stage.whenCompleteAsync((r, t) -> {
                HttpTracing.attemptDone(span, r, t);
                onAttempt(r, t, sent);
            }, exchange.eventLoop());
        }

        private void onAttempt(UpstreamResponse response, Throwable failure, long sentNanos) {
            releaseRetry();
            if (done) {
                if (response != null) {
                    ReferenceCountUtil.release(response.response());
                }
                return;
            }
            exchange.upstreamServiceNanos(System.nanoTime() - sentNanos);
            if (response != null) {
                exchange.upstreamHost(response.endpoint());
                retry.tried(response.endpoint());
                if (retry.retriable(response.response())) {
                    if (canRetry() && admitRetry()) {
                        ReferenceCountUtil.release(response.response());
                        scheduleRetry();
                        return;
                    }
                    if (retry.policy().numRetries() > 0 && !retryOverflowed) {
                        exchange.addFlag(ResponseFlag.URX);
                    }
                }
                // lb: a generated hash cookie goes with the upstream's response (Envoy: not on local replies)
                hash.setCookies().forEach(c -> response.response().headers().add(HttpHeaderNames.SET_COOKIE, c));
                finish(response.response());
                return;
            }
            UpstreamException e = upstreamFailure(failure);
            if (e.endpoint() != null) {
                exchange.upstreamHost(e.endpoint());
            }
            retry.tried(e.endpoint());
            if (retry.retriable(e)) {
                if (canRetry() && admitRetry()) {
                    scheduleRetry();
                    return;
                }
                if (retry.policy().numRetries() > 0 && !retryOverflowed) {
                    exchange.addFlag(ResponseFlag.URX);
                }
            }
            exchange.addFlag(e.flag());
            finish(failureReply(e.flag()));
        }

        /**
         * Whether a retry may be made: retries left, the route's deadline not passed, and the
         * request's body still whole in the retry buffer (Envoy does not retry a request whose
         * body outgrew its buffer limit).
         */
        private boolean canRetry() {
            return retry.retriesLeft() && (deadlineNanos == 0 || System.nanoTime() < deadlineNanos)
                    && (exchange.body() == null || exchange.body().replayable());
        }

        private void finishFailed(UpstreamException e) {
            exchange.addFlag(e.flag());
            finish(failureReply(e.flag()));
        }

        /**
         * The cluster's circuit breaker on retries in flight ({@code max_retries}): over it the
         * retry is not made and the last response (or failure) goes back, flagged {@code UO}, as
         * Envoy's router does on a retry overflow.
         */
        private boolean admitRetry() {
            if (upstreams.tryRetry(cluster)) {
                retryHeld = true;
                return true;
            }
            exchange.addFlag(ResponseFlag.UO);
            retryOverflowed = true;
            return false;
        }

        private void releaseRetry() {
            if (retryHeld) {
                retryHeld = false;
                upstreams.retryDone(cluster);
            }
        }

        private void scheduleRetry() {
            long backoff = retry.nextBackoffMillis();
            exchange.eventLoop().schedule(this::attempt, backoff, TimeUnit.MILLISECONDS);
        }

        private void onRouteTimeout() {
            if (done) {
                if (body != null) {
                    // Envoy's route timeout runs to the end of the response: past the headers the
                    // stream is reset (the client sees it broken off), flagged UT.
                    exchange.addFlag(ResponseFlag.UT);
                    body.abort(new UpstreamException(ResponseFlag.UT, exchange.upstreamHost(),
                            "upstream request timeout (route timeout, response streaming)", false, null));
                }
                return;
            }
            exchange.addFlag(ResponseFlag.UT);
            finish(failureReply(ResponseFlag.UT));
        }

        private void finish(FullHttpResponse response) {
            done = true;
            releaseRetry(); // a route timeout during a retry's backoff or attempt
            if (response instanceof StreamingResponse streaming) {
                body = streaming.body();
                ScheduledFuture<?> t = timer;
                if (t != null) {
                    // The route timeout covers the whole response (Envoy): cancelled at its end.
                    body.terminated().whenComplete((v, x) -> t.cancel(false));
                }
            } else if (timer != null) {
                timer.cancel(false);
            }
            HopByHop.strip(response.headers());
            if (exchange.upstreamServiceNanos() >= 0 && !exchange.flags().contains(ResponseFlag.UT)) {
                response.headers().set("x-envoy-upstream-service-time",
                        Long.toString(TimeUnit.NANOSECONDS.toMillis(exchange.upstreamServiceNanos())));
            }
            applyResponseHeaders(sel, response.headers());
            result.complete(response);
        }
    }
}
