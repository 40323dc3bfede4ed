package dev.ambit.waypoint.http;

import static java.util.Objects.requireNonNull;

import dev.ambit.proxy.telemetry.trace.CustomTag;
import dev.ambit.proxy.telemetry.trace.TraceSettings;
import dev.ambit.proxy.telemetry.trace.TraceSpan;
import dev.ambit.proxy.telemetry.trace.Tracer;
import dev.ambit.proxy.telemetry.trace.Tracers;
import dev.ambit.proxy.telemetry.trace.TracingConfig;
import dev.ambit.waypoint.upstream.UpstreamResponse;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.NetUtil;
import io.opentelemetry.api.trace.SpanKind;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Spans of the HTTP engine (issue 19), from each filter chain's HCM {@code tracing} (CONTRACT seam
 * T1; none: no span, headers pass untouched): a span per request, kind SERVER on a waypoint and
 * CLIENT on a gateway (Istio's gateways trace as outbound proxies), named {@code <host>:<port>/*};
 * a CLIENT span per upstream attempt named after the cluster (retries are spans of their own,
 * a mirror too), whose context the upstream request carries (B3 and W3C). Tags as Envoy's:
 * {@code http.method}, {@code http.url}, {@code http.protocol}, {@code http.status_code},
 * {@code upstream_cluster}, {@code node_id}, {@code zone}, {@code guid:x-request-id},
 * {@code response_flags}, {@code istio.canonical_service}, {@code istio.canonical_revision},
 * {@code istio.namespace}, {@code istio.mesh_id}, {@code peer.address}, {@code request_size},
 * {@code response_size}, {@code user_agent}, {@code component}, {@code error} on 5xx, and the
 * custom tags.
 */
public final class HttpTracing {

    private static final Logger log = LoggerFactory.getLogger(HttpTracing.class);

    /** An engine that never traces (no tracers: tests, tools). */
    public static final HttpTracing NONE = new HttpTracing(null, null);

    /**
     * Who the proxy is, for the spans' tags and service.
     *
     * @param nodeId Istio's node id ({@code waypoint~...}, {@code router~...})
     * @param zone the proxy's zone, or ""
     * @param canonicalService {@code istio.canonical_service}
     * @param canonicalRevision {@code istio.canonical_revision}
     * @param namespace {@code istio.namespace}
     * @param meshId {@code istio.mesh_id}
     * @param serviceName the spans' service: {@code <name>.<namespace>} (CONTRACT T1)
     * @param gateway whether the proxy is a gateway (its request spans are CLIENT, as Istio's gateways')
     */
    public record Identity(String nodeId, String zone, String canonicalService, String canonicalRevision,
                           String namespace, String meshId, String serviceName, boolean gateway) {
        public Identity {
            requireNonNull(nodeId, "nodeId");
            zone = zone == null ? "" : zone;
            requireNonNull(canonicalService, "canonicalService");
            requireNonNull(canonicalRevision, "canonicalRevision");
            requireNonNull(namespace, "namespace");
            requireNonNull(meshId, "meshId");
            requireNonNull(serviceName, "serviceName");
        }
    }

    private final Tracers tracers;
    private final Identity identity;
    /** HCM tracing → its settings (empty: unusable, logged once); bounded by clearing. */
    private final Map<HttpConnectionManager.Tracing, Optional<TraceSettings>> settings = new ConcurrentHashMap<>();

    private HttpTracing(Tracers tracers, Identity identity) {
        this.tracers = tracers;
        this.identity = identity;
    }

    /** Tracing through {@code tracers} (owned by the caller) as {@code identity}. */
    public static HttpTracing of(Tracers tracers, Identity identity) {
        return new HttpTracing(requireNonNull(tracers, "tracers"), requireNonNull(identity, "identity"));
    }

    /** Starts the span of {@code ex}; null when its HCM has no tracing. */
    TraceSpan server(HttpExchange ex) {
        if (tracers == null) {
            return null;
        }
        HttpConnectionManager hcm = ex.downstream().chain().hcm();
        if (!hcm.hasTracing()) {
            return null;
        }
        TraceSettings s = settings(hcm);
        if (s == null) {
            return null;
        }
        Tracer tracer = tracers.tracer(s);
        return tracer.start(operation(ex), identity.gateway() ? SpanKind.CLIENT : SpanKind.SERVER,
                ex.request().headers());
    }

    private TraceSettings settings(HttpConnectionManager hcm) {
        Optional<TraceSettings> s = settings.get(hcm.getTracing());
        if (s == null) {
            if (settings.size() > 256) {
                settings.clear();
            }
            s = settings.computeIfAbsent(hcm.getTracing(), t -> {
                try {
                    return Optional.of(TracingConfig.settings(hcm, identity.serviceName()));
                } catch (IllegalArgumentException e) {
                    log.warn("tracing of {} not used: {}", hcm.getStatPrefix(), e.getMessage());
                    return Optional.empty();
                }
            });
        }
        return s.orElse(null);
    }

    /** Istio's operation name: {@code <host>:<port>/*} (the port of the downstream's destination when Host has none). */
    static String operation(HttpExchange ex) {
        String authority = ex.authority();
        int colon = authority.lastIndexOf(':');
        boolean hasPort = colon > 0 && authority.indexOf(']') < colon;
        return (hasPort ? authority : authority + ":" + ex.downstream().destination().getPort()) + "/*";
    }

    /** Ends {@code ex}'s span with what was sent. */
    void serverDone(HttpExchange ex, int status, long responseBytes) {
        TraceSpan span = ex.trace;
        if (span == null || !span.recording()) {
            if (span != null) {
                span.end();
            }
            return;
        }
        try {
            HttpHeaders h = ex.request().headers();
            Tracer tracer = span.tracer();
            span.tag("component", "proxy")
                    .tag("node_id", identity.nodeId())
                    .tag("zone", identity.zone())
                    .tag("guid:x-request-id", h.get("x-request-id"))
                    .tag("http.url", tracer.pathTag(Router.scheme(ex) + "://" + ex.authority() + ex.path()))
                    .tag("http.method", ex.method())
                    .tag("http.protocol", ex.protocol())
                    .tag("user_agent", h.get(HttpHeaderNames.USER_AGENT, "-"))
                    .tag("downstream_cluster", h.get("x-envoy-downstream-service-cluster", "-"))
                    .tag("peer.address", address(ex.downstream().source()))
                    .tag("request_size", Long.toString(ex.requestBytes()))
                    .tag("response_size", Long.toString(responseBytes))
                    .tag("http.status_code", Integer.toString(status))
                    .tag("response_flags", ex.flagsString())
                    .tag("upstream_cluster", ex.upstreamCluster() == null ? "-" : ex.upstreamCluster())
                    .tag("upstream_cluster.name", ex.upstreamCluster() == null ? "-" : ex.upstreamCluster())
                    .tag("istio.canonical_service", identity.canonicalService())
                    .tag("istio.canonical_revision", identity.canonicalRevision())
                    .tag("istio.namespace", identity.namespace())
                    .tag("istio.mesh_id", identity.meshId());
            for (CustomTag c : tracer.settings().customTags()) {
                String v = c.value(h);
                if (!v.isEmpty()) {
                    span.tag(c.tag(), v);
                }
            }
            if (status == 0 || status >= 500) {
                span.error();
            }
        } finally {
            span.end();
        }
    }

    /**
     * Starts the span of one upstream attempt (or mirror) to {@code cluster}, child of
     * {@code parent}, and writes its context into {@code upstream}; null without a parent span.
     */
    static TraceSpan attempt(TraceSpan parent, String cluster, HttpExchange ex, HttpHeaders upstream) {
        if (parent == null) {
            return null;
        }
        TraceSpan span = parent.child(cluster, SpanKind.CLIENT);
        span.inject(upstream);
        if (span.recording()) {
            span.tag("component", "proxy")
                    .tag("upstream_cluster", cluster)
                    .tag("upstream_cluster.name", cluster)
                    .tag("http.method", ex.method())
                    .tag("http.url", span.tracer().pathTag(Router.scheme(ex) + "://"
                            + upstream.get(HttpHeaderNames.HOST, ex.authority()) + ex.path()))
                    .tag("http.protocol", ex.protocol())
                    .tag("guid:x-request-id", upstream.get("x-request-id"));
        }
        return span;
    }

    /** Ends an attempt's span with its response or failure. */
    static void attemptDone(TraceSpan span, UpstreamResponse response, Throwable failure) {
        if (span == null) {
            return;
        }
        if (span.recording()) {
            if (response != null) {
                int status = response.response().status().code();
                span.tag("peer.address", address(response.endpoint()))
                        .tag("http.status_code", Integer.toString(status))
                        .tag("response_flags", "-");
                if (status >= 500) {
                    span.error();
                }
            } else {
                var u = Router.upstreamFailure(failure);
                span.tag("peer.address", address(u.endpoint()))
                        .tag("http.status_code", "0")
                        .tag("response_flags", u.flag().code())
                        .error();
            }
        }
        span.end();
    }

    private static String address(InetSocketAddress a) {
        return a == null || a.getAddress() == null ? null : NetUtil.toSocketAddressString(a);
    }
}
