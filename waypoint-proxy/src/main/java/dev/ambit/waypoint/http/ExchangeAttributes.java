package dev.ambit.waypoint.http;

import dev.ambit.common.expr.Attributes;
import dev.ambit.proxy.telemetry.ConnectionLabels;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Map.Entry;

/**
 * One finished request's attributes for the Telemetry API's expressions (metrics label values,
 * access log filters), as Envoy names them; the peers' ({@code upstream_peer},
 * {@code downstream_peer}) from the request's metric labels. Values are computed when asked.
 */
final class ExchangeAttributes implements Attributes {

    private final HttpExchange exchange;
    private final ConnectionLabels labels;
    private final int status;
    private final String grpcStatus;
    private final String flags;
    private final long nanos;
    private final long responseBodyBytes;
    private Map<String, String> headers;

    ExchangeAttributes(HttpExchange exchange, ConnectionLabels labels, int status, String grpcStatus, String flags,
                       long nanos, long responseBodyBytes) {
        this.exchange = exchange;
        this.labels = labels;
        this.status = status;
        this.grpcStatus = grpcStatus;
        this.flags = flags;
        this.nanos = nanos;
        this.responseBodyBytes = responseBodyBytes;
    }

    @Override
    public Object get(String name) {
        Downstream d = exchange.downstream();
        String path = exchange.path();
        int q = path == null ? -1 : path.indexOf('?');
        return switch (name) {
            case "request.headers" -> headers();
            case "request.method" -> exchange.method();
            case "request.path" -> path;
            case "request.url_path" -> q < 0 ? path : path.substring(0, q);
            case "request.query" -> q < 0 ? "" : path.substring(q + 1);
            case "request.host" -> exchange.authority();
            case "request.scheme" -> d.ingress() != null && d.secure() ? "https" : "http";
            case "request.protocol" -> exchange.protocol();
            case "request.id" -> headers().get("x-request-id");
            case "request.useragent" -> headers().get("user-agent");
            case "request.referer" -> headers().get("referer");
            case "request.size", "request.total_size" -> exchange.requestBytes();
            case "request.duration" -> nanos / 1_000_000L;
            case "response.code" -> (long) status;
            case "response.code_details" -> exchange.responseCodeDetails();
            case "response.flags" -> flags;
            case "response.grpc_status" -> grpcStatus == null || grpcStatus.isEmpty() ? null : parse(grpcStatus);
            case "response.size", "response.total_size" -> responseBodyBytes;
            case "source.address" -> ip(d.source());
            case "source.port" -> port(d.source());
            case "source.principal" -> nonEmpty(labels.value("source_principal"));
            case "destination.address" -> ip(d.destination());
            case "destination.port" -> port(d.destination());
            case "destination.principal" -> nonEmpty(labels.value("destination_principal"));
            case "connection.mtls" -> d.ingress() == null;
            case "upstream.address" -> ip(exchange.upstreamHost());
            case "upstream.port" -> port(exchange.upstreamHost());
            default -> ConnectionAttributes.peer(labels, name);
        };
    }

    private Map<String, String> headers() {
        if (headers == null) {
            Map<String, String> h = new HashMap<>();
            for (Entry<String, String> e : exchange.request().headers()) {
                h.putIfAbsent(e.getKey().toLowerCase(Locale.ROOT), e.getValue());
            }
            headers = h;
        }
        return headers;
    }

    private static Object parse(String number) {
        try {
            return Long.parseLong(number);
        } catch (NumberFormatException e) {
            return number;
        }
    }

    private static String nonEmpty(String v) {
        return v == null || v.isEmpty() || v.equals("unknown") ? null : v;
    }

    private static String ip(InetSocketAddress a) {
        return a == null || a.getAddress() == null ? null : a.getAddress().getHostAddress();
    }

    private static Long port(InetSocketAddress a) {
        return a == null ? null : (long) a.getPort();
    }
}
