package dev.ambit.waypoint.http;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.waypoint.config.FilterChain;
import dev.ambit.waypoint.config.WaypointConfig;
import dev.ambit.waypoint.http.jwt.JwtAuthn;
import dev.ambit.waypoint.http.rbac.AuthzMetrics;
import dev.ambit.waypoint.http.rbac.ExtAuthzFilter;
import dev.ambit.waypoint.http.rbac.RbacFilter;
import dev.ambit.waypoint.upstream.Upstreams;
import io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.ExtAuthz;
import io.envoyproxy.envoy.extensions.filters.http.fault.v3.HTTPFault;
import io.envoyproxy.envoy.extensions.filters.http.rbac.v3.RBAC;
import io.netty.channel.Channel;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The HTTP engine (the HttpConnectionManager with its filters, routes and router) for callers
 * outside this package: the gateway ({@code dev.ambit.waypoint.gateway}) hands it each
 * downstream connection once it knows the filter chain (after TLS, if it terminated any), as
 * {@link WaypointServer} hands it each terminated CONNECT stream. One engine per process: it
 * owns the HTTP metrics; {@link #listener} gives each listening port its own drain state.
 */
public final class HttpEngine {

    private final HttpFilters filters;
    private final HttpTelemetry telemetry;
    private final DownstreamRejections rejections;
    private final Upstreams upstreams;
    private final Supplier<WaypointConfig> config;
    private final int maxRequestBytes;
    private final HttpTracing tracing;

    private HttpEngine(Upstreams upstreams, RequestAuthorizer authorizer, ProxyState state, MetricsRegistry metrics,
                       Supplier<WaypointConfig> config, int maxRequestBytes, HttpTracing tracing) {
        this.upstreams = upstreams;
        this.tracing = tracing;
        this.config = config;
        this.maxRequestBytes = maxRequestBytes;
        filters = filters(upstreams, authorizer, metrics);
        telemetry = HttpTelemetry.of(metrics, state);
        rejections = DownstreamRejections.of(metrics);
    }

    /**
     * An engine routing with {@code config}'s current snapshot, sending through {@code upstreams}.
     *
     * @param maxRequestBytes 0 (the default, {@link WaypointServer#DEFAULT_MAX_REQUEST_BYTES}): bodies stream;
     *     above 0, requests are aggregated up to that size and larger ones answered 413
     */
    public static HttpEngine of(Upstreams upstreams, RequestAuthorizer authorizer, ProxyState state,
                                MetricsRegistry metrics, Supplier<WaypointConfig> config, int maxRequestBytes) {
        return of(upstreams, authorizer, state, metrics, config, maxRequestBytes, HttpTracing.NONE);
    }

    /** As above, tracing requests whose HCM has {@code tracing} (issue 19). */
    public static HttpEngine of(Upstreams upstreams, RequestAuthorizer authorizer, ProxyState state,
                                MetricsRegistry metrics, Supplier<WaypointConfig> config, int maxRequestBytes,
                                HttpTracing tracing) {
        if (maxRequestBytes < 0) {
            throw new IllegalArgumentException("maxRequestBytes: " + maxRequestBytes + " (expected: >= 0)");
        }
        return new HttpEngine(requireNonNull(upstreams, "upstreams"), requireNonNull(authorizer, "authorizer"),
                requireNonNull(state, "state"), requireNonNull(metrics, "metrics"), requireNonNull(config, "config"),
                maxRequestBytes, requireNonNull(tracing, "tracing"));
    }

    /** The engine as one listener uses it: {@code draining} says when its HTTP/1.1 answers close their connections. */
    public Listener listener(BooleanSupplier draining) {
        return new Listener(new RequestProcessor(filters, telemetry, requireNonNull(draining, "draining"), config,
                tracing));
    }

    /** One listener's side of the engine. */
    public final class Listener {
        private final RequestProcessor processor;

        private Listener(RequestProcessor processor) {
            this.processor = processor;
        }

        /**
         * Serves HTTP on {@code channel} (its bytes plaintext: after a TLS handler, if any), with
         * {@code codec} (HTTP/1.1, HTTP/2, or AUTO: HTTP/2 if its preface comes first). Call on the
         * channel's event loop; the channel belongs to the engine from now on.
         */
        public void serve(Channel channel, FilterChain.Codec codec, Downstream downstream) {
            requireNonNull(channel, "channel");
            requireNonNull(codec, "codec");
            requireNonNull(downstream, "downstream");
            HttpConnections.serve(channel, codec, downstream, processor, upstreams, maxRequestBytes, rejections);
        }
    }

    /**
     * The HTTP filters each chain's HCM may list (CONTRACT seam 5), by Envoy name; an HCM
     * listing none gets fault, CORS and router. The authorization slot comes first in all.
     */
    static HttpFilters filters(Upstreams upstreams, RequestAuthorizer authorizer, MetricsRegistry metrics) {
        AuthzMetrics authz = AuthzMetrics.of(metrics);
        Map<String, HttpFilters.Factory> factories = new LinkedHashMap<>();
        // jwt: one filter for every chain; it compiles each chain's jwt_authn config from the HCM itself.
        JwtAuthn jwt = JwtAuthn.perChain(metrics);
        factories.put(JwtAuthn.NAME, f -> jwt);
        factories.put(ExtAuthzFilter.NAME, f -> ExtAuthzFilter.of(HttpFilters.config(f, ExtAuthz.class), upstreams,
                authz));
        factories.put(RbacFilter.NAME, f -> RbacFilter.of(HttpFilters.config(f, RBAC.class), authz));
        factories.put(Faults.NAME, f -> new Faults(HttpFilters.config(f, HTTPFault.class)));
        factories.put(Cors.NAME, f -> new Cors());
        factories.put(Router.NAME, f -> new Router(upstreams));
        return HttpFilters.of(new Authorization(authorizer), factories, List.of(Faults.NAME, Cors.NAME, Router.NAME));
    }
}
