package dev.ambit.waypoint.http;

import dev.ambit.waypoint.upstream.BodyStream;
import dev.ambit.waypoint.upstream.RequestBody;
import dev.ambit.waypoint.upstream.StreamingResponse;
import dev.ambit.waypoint.upstream.UpstreamRequest;
import io.netty.util.concurrent.ImmediateEventExecutor;
import dev.ambit.waypoint.upstream.Upstreams;
import io.envoyproxy.envoy.config.route.v3.RouteAction;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.util.ReferenceCountUtil;
import java.time.Duration;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Envoy's {@code request_mirror_policies}: a copy of the request, on the policy's
 * {@code runtime_fraction} of requests (all when unset), goes to the mirror cluster with
 * {@code -shadow} appended to the host part of {@code Host} / {@code :authority}
 * ({@code reviews:9080} → {@code reviews-shadow:9080}); fire and forget: its response is
 * dropped and its failure only logged.
 */
final class Mirror {

    private static final Logger log = LoggerFactory.getLogger(Mirror.class);

    /** Takes a mirror's response body and drops it. */
    private static final BodyStream.Subscriber DISCARD = new BodyStream.Subscriber() {
        @Override
        public void onData(io.netty.buffer.ByteBuf data) {
            data.release();
        }

        @Override
        public void onEnd(io.netty.handler.codec.http.HttpHeaders trailers) {
        }

        @Override
        public void onError(Throwable cause) {
        }
    };

    private Mirror() {}

    /**
     * Sends the mirrors of {@code request} (not consumed) that {@code action} asks for. A
     * request whose body streams ({@code body} not null) is mirrored once its body ended
     * within the retry buffer, with the whole body; one whose body outgrew the buffer is not
     * mirrored (Envoy's shadow, like its retries, needs the buffered body).
     */
    static void mirror(RouteAction action, FullHttpRequest request, RequestBody body, Upstreams upstreams,
                       Duration timeout) {
        mirror(action, request, body, upstreams, timeout, null);
    }

    /** As above; with {@code exchange}'s span (tracing), each mirror is a client span of its own. */
    static void mirror(RouteAction action, FullHttpRequest request, RequestBody body, Upstreams upstreams,
                       Duration timeout, HttpExchange exchange) {
        for (RouteAction.RequestMirrorPolicy p : action.getRequestMirrorPoliciesList()) {
            if (p.hasRuntimeFraction() && !Faults.selected(p.getRuntimeFraction().getDefaultValue())) {
                continue;
            }
            // Its own headers (copied), the body shared.
            FullHttpRequest shadow = request.replace(request.content().retainedDuplicate());
            String host = shadow.headers().get(HttpHeaderNames.HOST);
            if (host != null && !p.getDisableShadowHostSuffixAppend()) {
                shadow.headers().set(HttpHeaderNames.HOST, shadowHost(host));
            }
            var span = exchange == null ? null : HttpTracing.attempt(exchange.trace, p.getCluster(), exchange,
                    shadow.headers());
            if (body == null) {
                send(p.getCluster(), shadow, upstreams, timeout, span);
                continue;
            }
            body.whole().whenComplete((whole, t) -> {
                if (whole == null) {
                    log.debug("mirror of {} to {} not sent: its body outgrew the buffer or broke off", request.uri(),
                            p.getCluster());
                    shadow.release();
                    HttpTracing.attemptDone(span, null, new IllegalStateException("mirror not sent"));
                    return;
                }
                FullHttpRequest full = shadow.replace(whole);
                shadow.release();
                io.netty.handler.codec.http.HttpUtil.setContentLength(full, whole.readableBytes());
                full.headers().remove(HttpHeaderNames.TRANSFER_ENCODING);
                send(p.getCluster(), full, upstreams, timeout, span);
            });
        }
    }

    private static void send(String cluster, FullHttpRequest shadow, Upstreams upstreams, Duration timeout,
                             dev.ambit.proxy.telemetry.trace.TraceSpan span) {
        try {
            upstreams.stream(new UpstreamRequest(cluster, shadow, Set.of(), timeout)).whenComplete((r, t) -> {
                HttpTracing.attemptDone(span, r, t);
                if (r != null && r.response() instanceof StreamingResponse s) {
                    // Read and dropped (as Envoy does), so the connection stays usable.
                    s.body().subscribe(DISCARD, ImmediateEventExecutor.INSTANCE);
                    s.release();
                } else if (r != null) {
                    ReferenceCountUtil.release(r.response());
                } else {
                    log.debug("mirror of {} to {} failed: {}", shadow.uri(), cluster, t.toString());
                }
            });
        } catch (RuntimeException e) {
            HttpTracing.attemptDone(span, null, e);
            log.debug("mirror to {} failed", cluster, e);
        }
    }

    /** {@code host[:port]} with {@code -shadow} after the host. */
    static String shadowHost(String host) {
        int colon = host.lastIndexOf(':');
        if (colon > 0 && host.indexOf(']') < colon) {
            return host.substring(0, colon) + "-shadow" + host.substring(colon);
        }
        return host + "-shadow";
    }
}
