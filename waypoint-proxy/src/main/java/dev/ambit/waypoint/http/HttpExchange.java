package dev.ambit.waypoint.http;

import static java.util.Objects.requireNonNull;

import dev.ambit.waypoint.ResponseFlag;
import dev.ambit.waypoint.config.WaypointConfig;
import dev.ambit.waypoint.upstream.RequestBody;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.time.Instant;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.StringJoiner;

/**
 * One request going through the waypoint, with what Envoy calls its stream info (route,
 * response flags, upstream host and cluster, timings). Confined to its event loop: the
 * filters and the router touch it only there.
 */
public final class HttpExchange {

    private final FullHttpRequest request;
    private final Downstream downstream;
    private final WaypointConfig config;
    private final EventLoop eventLoop;
    private final String protocol;
    private final Instant start = Instant.now();
    private final long startNanos = System.nanoTime();
    private final Set<ResponseFlag> flags = EnumSet.noneOf(ResponseFlag.class);
    private final String method;
    private final String path;
    private final String authority;
    private final boolean grpc;
    private final long requestBytes;

    private RouteTable.Selection route;
    private InetSocketAddress upstreamHost;
    private String upstreamCluster;
    private long upstreamServiceNanos = -1;
    private int attempts;
    private boolean released;
    private RequestBody body;
    private final Map<String, Map<String, Object>> metadata = new HashMap<>();
    private io.netty.handler.codec.http.HttpHeaders responseHeaders;
    private String responseCodeDetails; // authz (issue 15): why a filter answered, for the access log
    /** authz (issue 15): the filter chain's filters (RequestProcessor sets them per chain). */
    HttpFilterChain filters;
    /** tracing (issue 19): the request's span (HttpTracing), null when its HCM has no tracing. */
    dev.ambit.proxy.telemetry.trace.TraceSpan trace;
    /** authz (issue 15): the path normalization's decision when not FORWARD (answered without filters). */
    dev.ambit.waypoint.http.rbac.PathNormalizer.Action normalization;

    /**
     * @param request the whole request; the exchange owns it (see {@link #release})
     * @param protocol {@code HTTP/1.1} or {@code HTTP/2}, for the access log
     */
    HttpExchange(FullHttpRequest request, Downstream downstream, WaypointConfig config, EventLoop eventLoop,
                 String protocol) {
        this.request = requireNonNull(request, "request");
        this.downstream = requireNonNull(downstream, "downstream");
        this.config = requireNonNull(config, "config");
        this.eventLoop = requireNonNull(eventLoop, "eventLoop");
        this.protocol = requireNonNull(protocol, "protocol");
        method = request.method().name();
        path = request.uri();
        String host = request.headers().get(HttpHeaderNames.HOST);
        authority = host == null ? "" : host;
        String ct = request.headers().get(HttpHeaderNames.CONTENT_TYPE);
        grpc = ct != null && ct.startsWith("application/grpc");
        requestBytes = request.content().readableBytes();
    }

    /** The request (headers may be changed by filters until it is sent). */
    public FullHttpRequest request() {
        return request;
    }

    public Downstream downstream() {
        return downstream;
    }

    /** The configuration snapshot this request is routed with (current when it arrived). */
    public WaypointConfig config() {
        return config;
    }

    public EventLoop eventLoop() {
        return eventLoop;
    }

    /** {@code HTTP/1.1} or {@code HTTP/2}. */
    public String protocol() {
        return protocol;
    }

    public Instant start() {
        return start;
    }

    public long startNanos() {
        return startNanos;
    }

    /** The method as received. */
    public String method() {
        return method;
    }

    /** The path (with query) as received, normalized as the chain's HCM says (authz, issue 15), before rewrites. */
    public String path() {
        return path;
    }

    /** The {@code Host} / {@code :authority} as received. */
    public String authority() {
        return authority;
    }

    /** Whether the request is gRPC ({@code content-type: application/grpc*}). */
    public boolean grpc() {
        return grpc;
    }

    /** Bytes of the request body as received (so far, while it streams). */
    public long requestBytes() {
        return body != null ? body.bytes() : requestBytes;
    }

    /** The request's body when it streams (then {@link #request()}'s content is empty), else null. */
    public RequestBody body() {
        return body;
    }

    void body(RequestBody body) {
        this.body = body;
    }

    /** The matched route, or null (none matched yet, or none matches). */
    RouteTable.Selection route() {
        return route;
    }

    void route(RouteTable.Selection route) {
        this.route = route;
    }

    /** The matched route's name, or empty. */
    public String routeName() {
        return route == null ? "" : route.entry().name();
    }

    public void addFlag(ResponseFlag flag) {
        flags.add(requireNonNull(flag, "flag"));
    }

    public Set<ResponseFlag> flags() {
        return flags;
    }

    /** Envoy's short form: codes joined by {@code ,}, {@code -} when none. */
    public String flagsString() {
        if (flags.isEmpty()) {
            return "-";
        }
        StringJoiner j = new StringJoiner(",");
        for (ResponseFlag f : flags) {
            j.add(f.code());
        }
        return j.toString();
    }

    public InetSocketAddress upstreamHost() {
        return upstreamHost;
    }

    void upstreamHost(InetSocketAddress host) {
        this.upstreamHost = host;
    }

    public String upstreamCluster() {
        return upstreamCluster;
    }

    void upstreamCluster(String cluster) {
        this.upstreamCluster = cluster;
    }

    /** Time from sending the last attempt to its response, nanoseconds; -1 if none. */
    public long upstreamServiceNanos() {
        return upstreamServiceNanos;
    }

    void upstreamServiceNanos(long nanos) {
        this.upstreamServiceNanos = nanos;
    }

    /** Upstream attempts made (first try and retries). */
    public int attempts() {
        return attempts;
    }

    void attempted() {
        attempts++;
    }

    /**
     * Envoy's dynamic metadata of this request: per filter namespace (e.g. {@code istio_authn},
     * {@code envoy.filters.http.jwt_authn}) a map of keys to values (String, Number, Boolean,
     * List or Map, as a protobuf {@code Struct} would hold them). Filters earlier in the chain
     * write here; later ones (RBAC's metadata matchers, the access log) read it. Confined to
     * the event loop, like the rest of the exchange.
     */
    public Map<String, Map<String, Object>> metadata() {
        return metadata;
    }

    /** The namespace {@code filter} of {@link #metadata()}, created empty on first use. */
    public Map<String, Object> metadata(String filter) {
        return metadata.computeIfAbsent(requireNonNull(filter, "filter"), f -> new HashMap<>());
    }

    /**
     * Envoy's {@code %RESPONSE_CODE_DETAILS%} when a filter answered itself (e.g.
     * {@code rbac_access_denied_matched_policy[ns[foo]-policy[bar]-rule[0]]}), else null.
     */
    public String responseCodeDetails() {
        return responseCodeDetails;
    }

    public void responseCodeDetails(String details) {
        this.responseCodeDetails = details;
    }

    /** The response's headers as sent (access log: {@code %RESP(X)%}), or null before a response. */
    public io.netty.handler.codec.http.HttpHeaders responseHeaders() {
        return responseHeaders;
    }

    void responseHeaders(io.netty.handler.codec.http.HttpHeaders headers) {
        this.responseHeaders = headers;
    }

    /** Releases the request once; later calls do nothing. */
    void release() {
        if (!released) {
            released = true;
            ReferenceCountUtil.safeRelease(request);
        }
    }
}
