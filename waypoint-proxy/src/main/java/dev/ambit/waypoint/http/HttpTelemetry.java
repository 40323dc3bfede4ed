package dev.ambit.waypoint.http;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.workload.Service;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.expr.Attributes;
import dev.ambit.common.json.JsonWriter;
import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.Histogram;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.proxy.state.ProxyState;
import dev.ambit.proxy.telemetry.AccessLog;
import dev.ambit.proxy.telemetry.ConnectionLabels;
import dev.ambit.waypoint.ResponseFlag;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.netty.util.NetUtil;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

/**
 * The waypoint's L7 telemetry: Istio's HTTP metrics ({@code istio_requests_total},
 * {@code istio_request_duration_milliseconds}, {@code istio_request_bytes},
 * {@code istio_response_bytes}, with Istio's buckets) labelled by
 * {@link ConnectionLabels} ({@code reporter="waypoint"}; the source from the tunnel's
 * proven peer and its workload; the destination from the endpoint that answered, looked
 * up in {@link ProxyState}; the service by the tunnel's VIP, else by the cluster name
 * {@code outbound|P|SUBSET|HOST}), and one JSON access-log line per request on the
 * {@code ambit.access} logger. Thread-safe.
 */
public final class HttpTelemetry {

    /** Istio's buckets of {@code istio_request_duration_milliseconds}. */
    static final double[] DURATION_BUCKETS = {0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
        30000, 60000, 300000, 600000, 1800000, 3600000};
    /** Istio's buckets of the byte-size histograms: 1 to 10^9, powers of ten. */
    static final double[] BYTES_BUCKETS = {1, 10, 100, 1000, 10000, 100000, 1e6, 1e7, 1e8, 1e9};

    private final ProxyState state;
    private final Counter.Family requests;
    private final Histogram.Family duration;
    private final Histogram.Family requestBytes;
    private final Histogram.Family responseBytes;
    /**
     * The four request metrics' children per label values, for requests no Telemetry override
     * relabels (nearly all): one lookup per request instead of four (each copies and hashes
     * some twenty values; together 3 % of a waypoint's CPU at c16). Counters and histograms
     * are never removed from their families, so a child found here is always the one scraped.
     */
    private final java.util.concurrent.ConcurrentHashMap<java.util.List<String>, RequestMetrics> byValues =
            new java.util.concurrent.ConcurrentHashMap<>();
    private final java.util.Map<HttpConnectionManager, StatsOverrides> compiled =
            new java.util.concurrent.ConcurrentHashMap<>();

    /** The four request metrics' series of one label set. */
    private record RequestMetrics(Counter requests, Histogram duration, Histogram requestBytes,
                                  Histogram responseBytes) {}

    private HttpTelemetry(MetricsRegistry metrics, ProxyState state) {
        this.state = state;
        String[] names = ConnectionLabels.HTTP_NAMES.toArray(String[]::new);
        requests = metrics.counter("istio_requests_total", "Requests, as Istio counts them.", names);
        duration = metrics.histogram("istio_request_duration_milliseconds",
                "Time from the request's start to its response's end, in milliseconds.", DURATION_BUCKETS, names);
        requestBytes = metrics.histogram("istio_request_bytes", "Request sizes (body), in bytes.", BYTES_BUCKETS, names);
        responseBytes = metrics.histogram("istio_response_bytes", "Response sizes (body), in bytes.", BYTES_BUCKETS,
                names);
    }

    public static HttpTelemetry of(MetricsRegistry metrics, ProxyState state) {
        return new HttpTelemetry(requireNonNull(metrics, "metrics"), requireNonNull(state, "state"));
    }

    /** The four request metrics under a Telemetry override: each relabelled, or dropped, on its own. */
    private void recordOverridden(StatsOverrides o, String[] values, Attributes attributes, long nanos,
                                  long requestBodyBytes, long responseBodyBytes) {
        if (!o.dropped("requests_total")) {
            var l = o.labels("requests_total", values, attributes);
            requests.labels(l.values(), l.extraNames(), l.extraValues()).inc();
        }
        if (!o.dropped("request_duration_milliseconds")) {
            var l = o.labels("request_duration_milliseconds", values, attributes);
            duration.labels(l.values(), l.extraNames(), l.extraValues()).observe(nanos / 1e6);
        }
        if (!o.dropped("request_bytes")) {
            var l = o.labels("request_bytes", values, attributes);
            requestBytes.labels(l.values(), l.extraNames(), l.extraValues()).observe(requestBodyBytes);
        }
        if (!o.dropped("response_bytes")) {
            var l = o.labels("response_bytes", values, attributes);
            responseBytes.labels(l.values(), l.extraNames(), l.extraValues()).observe(responseBodyBytes);
        }
    }

    /** The labels of {@code exchange}'s metrics (the destination as far as it is known). */
    ConnectionLabels labels(HttpExchange exchange) {
        Downstream d = exchange.downstream();
        InetSocketAddress upstream = exchange.upstreamHost();
        Workload destination = upstream == null ? null : state.workloadByAddress(upstream.getAddress());
        Service service = state.serviceByVip(d.destination().getAddress(), d.destination().getPort());
        ConnectionLabels.Builder b;
        if (d.ingress() != null) {
            // A gateway reports as the client's proxy does (Istio's gateways: reporter="source"),
            // itself as the source; the destination's principal is proven when reached over HBONE.
            b = ConnectionLabels.builder(ConnectionLabels.Reporter.SOURCE)
                    .source(d.ingress().gateway())
                    .destination(destination, null)
                    .requestProtocol(exchange.grpc() ? "grpc" : "http")
                    .security(destination != null && destination.getTunnelProtocol()
                            == dev.ambit.api.workload.TunnelProtocol.HBONE
                            ? ConnectionLabels.SecurityPolicy.MUTUAL_TLS : ConnectionLabels.SecurityPolicy.UNKNOWN);
            service = null;
        } else {
            b = ConnectionLabels.builder(ConnectionLabels.Reporter.WAYPOINT)
                    .source(d.sourceWorkload())
                    .peer(d.peer())
                    .destination(destination, service)
                    .requestProtocol(exchange.grpc() ? "grpc" : "http")
                    .security(ConnectionLabels.SecurityPolicy.MUTUAL_TLS);
        }
        if (service == null) {
            String host = hostOfCluster(exchange.upstreamCluster());
            if (host != null) {
                String[] parts = host.split("\\.");
                b.destinationService(host, parts[0], parts.length > 1 ? parts[1] : null);
            }
        }
        return b.build();
    }

    /**
     * Records one finished request.
     *
     * @param status the response status sent (0 if none was)
     * @param grpcStatus the {@code grpc-status} sent (gRPC only), or null
     * @param responseBodyBytes bytes of the response body sent
     */
    public void record(HttpExchange exchange, int status, String grpcStatus, long responseBodyBytes,
                       String requestId, String traceparent) {
        long nanos = System.nanoTime() - exchange.startNanos();
        ConnectionLabels labels = labels(exchange);
        String flags = exchange.flagsString();
        String[] values = labels.httpValues(status, exchange.grpc() ? (grpcStatus == null ? "" : grpcStatus) : "",
                flags);
        StatsOverrides o = overrides(exchange.downstream().chain().hcm());
        Attributes attributes = o == StatsOverrides.NONE ? null
                : new ExchangeAttributes(exchange, labels, status, grpcStatus, flags, nanos, responseBodyBytes);
        if (o == StatsOverrides.NONE) {
            // values is this request's own array, never written again: it can be the key.
            RequestMetrics m = byValues.computeIfAbsent(java.util.Arrays.asList(values), k -> new RequestMetrics(
                    requests.labels(values), duration.labels(values), requestBytes.labels(values),
                    responseBytes.labels(values)));
            m.requests().inc();
            m.duration().observe(nanos / 1e6);
            m.requestBytes().observe(exchange.requestBytes());
            m.responseBytes().observe(responseBodyBytes);
        } else {
            recordOverridden(o, values, attributes, nanos, exchange.requestBytes(), responseBodyBytes);
        }
        // Access log (Istio: on only where a Telemetry or MeshConfig accessLogFile selects a provider):
        // one line per HCM access_log entry whose filter passes.
        if (o.logs() && AccessLog.enabled()) {
            String json = null; // the proxy's own line, for entries without log_format
            AccessLogData data = null;
            for (StatsOverrides.LogEntry e : o.accessLogsPassing(attributes)) {
                if (e.format() == null) {
                    if (json == null) {
                        json = accessLine(exchange, labels, status, flags, nanos, responseBodyBytes, requestId,
                                traceparent);
                    }
                    AccessLog.log(json);
                } else {
                    if (data == null) {
                        data = accessLogData(exchange, labels, status, flags, nanos, responseBodyBytes, traceparent);
                    }
                    AccessLog.log(e.format().render(data));
                }
            }
        }
    }

    /** What the command operators of a {@code log_format} read of this request. */
    AccessLogData accessLogData(HttpExchange ex, ConnectionLabels labels, int status, String flags,
                                long nanos, long responseBodyBytes, String traceparent) {
        Downstream d = ex.downstream();
        String details = ex.responseCodeDetails();
        if (details == null) {
            details = details(ex, status);
        }
        String upstreamPeer = labels.value("destination_principal");
        String peer = d.peer() != null ? d.peer().uri() : null;
        return AccessLogData.builder()
                .start(ex.start())
                .request(ex.method(), ex.path(), ex.authority(), d.ingress() != null ? d.ingress().scheme()
                        : "http")
                .requestHeaders(ex.request().headers())
                .responseHeaders(ex.responseHeaders())
                .protocol(ex.protocol())
                .response(status, flags, details)
                .bytes(ex.requestBytes(), responseBodyBytes)
                .durationNanos(nanos)
                .upstream(ex.upstreamHost(), ex.upstreamCluster(), ex.attempts())
                .routeName(ex.routeName())
                .downstream(d.source(), d.destination())
                .uriSans(peer, upstreamPeer == null || upstreamPeer.isEmpty()
                        || upstreamPeer.equals(ConnectionLabels.UNKNOWN) ? null : upstreamPeer)
                .requestedServerName(d.ingress() != null ? d.ingress().serverName() : null)
                .traceparent(traceparent);
    }

    /**
     * Envoy's {@code %RESPONSE_CODE_DETAILS%} when no filter set one: {@code via_upstream} for a
     * response that came from upstream, else the detail Envoy gives the failure a flag records.
     */
    private static String details(HttpExchange ex, int status) {
        for (ResponseFlag f : ex.flags()) {
            String d = switch (f) {
                case UH -> "no_healthy_upstream";
                case NR -> "route_not_found";
                case NC -> "cluster_not_found";
                case UT -> "response_timeout";
                case FI -> "fault_filter_abort";
                case UF -> "upstream_reset_before_response_started{connection_failure}";
                case UO -> "upstream_reset_before_response_started{overflow}";
                case UR -> "upstream_reset_before_response_started{remote_reset}";
                case UC -> "upstream_reset_before_response_started{connection_termination}";
                case DC -> "downstream_remote_disconnect";
                default -> null; // DI (delayed, then answered), URX, and the filters' own
            };
            if (d != null) {
                return d;
            }
        }
        return status > 0 && ex.upstreamServiceNanos() >= 0 ? "via_upstream" : null;
    }

    /** The compiled telemetry settings of {@code hcm}, cached per HCM (a new config brings new ones). */
    StatsOverrides overrides(HttpConnectionManager hcm) {
        if (hcm.getAccessLogCount() == 0 && hcm.getHttpFiltersList().stream()
                .noneMatch(f -> f.getName().equals(StatsOverrides.FILTER))) {
            return StatsOverrides.NONE;
        }
        StatsOverrides o = compiled.get(hcm);
        if (o == null) {
            if (compiled.size() > 1024) {
                compiled.clear(); // old configs' entries; the live ones compile again
            }
            o = StatsOverrides.of(hcm);
            compiled.put(hcm, o);
        }
        return o;
    }

    static String accessLine(HttpExchange ex, ConnectionLabels labels, int status, String flags, long nanos,
                             long responseBodyBytes, String requestId, String traceparent) {
        long upstreamMs = ex.upstreamServiceNanos() < 0 ? -1 : TimeUnit.NANOSECONDS.toMillis(ex.upstreamServiceNanos());
        JsonWriter w = new JsonWriter().open('{')
                .key("start_time").value(ex.start().toString())
                .key("reporter").value(labels.reporter().label())
                .key("method").value(ex.method())
                .key("authority").value(ex.authority())
                .key("path").value(ex.path())
                .key("protocol").value(ex.protocol())
                .key("response_code").value(status)
                .key("response_flags").value(flags)
                .key("response_code_details").value(ex.responseCodeDetails())
                .key("duration_ms").value(TimeUnit.NANOSECONDS.toMillis(nanos))
                .key("upstream_service_time_ms");
        if (upstreamMs < 0) {
            w.value((String) null);
        } else {
            w.value(upstreamMs);
        }
        return w.key("bytes_received").value(ex.requestBytes())
                .key("bytes_sent").value(responseBodyBytes)
                .key("upstream_host").value(address(ex.upstreamHost()))
                .key("upstream_cluster").value(ex.upstreamCluster())
                .key("route_name").value(ex.routeName())
                .key("downstream_remote_address").value(address(ex.downstream().source()))
                .key("source_principal").value(labels.value("source_principal"))
                .key("destination_principal").value(labels.value("destination_principal"))
                .key("destination_service").value(labels.value("destination_service"))
                .key("x_request_id").value(requestId)
                .key("traceparent").value(traceparent)
                .close('}').toString();
    }

    /** HOST of an Istio cluster name {@code outbound|P|SUBSET|HOST}, or null. */
    static String hostOfCluster(String cluster) {
        if (cluster == null) {
            return null;
        }
        String[] parts = cluster.split("\\|", -1);
        return parts.length == 4 && !parts[3].isEmpty() ? parts[3] : null;
    }

    private static String address(InetSocketAddress a) {
        if (a == null || a.getAddress() == null) {
            return null;
        }
        return NetUtil.toSocketAddressString(a);
    }
}
