package dev.ambit.proxy.telemetry;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.json.JsonWriter;
import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.MetricsRegistry;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;

/**
 * Per-connection telemetry of the node agent: Istio's TCP metrics with Istio's names and
 * labels, and one structured access-log line per connection on the {@code ambit.access}
 * logger (JSON: identities, addresses, bytes, duration, and the reason of a denial).
 *
 * <p>{@link #opened} when the connection is accepted by policy or refused;
 * {@link #closed} exactly once when it ends, with the byte counts of both directions.
 * Thread-safe; the counters are lock-free adders.
 *
 * <p>A proxy whose configuration changes Istio's metrics (a waypoint's or gateway's
 * {@code istio.stats} filter: the Telemetry API's {@code overrides}) passes its {@link Overrides}
 * per connection; the node agent passes none.
 */
public final class TcpTelemetry {

    /** The metric names {@link Overrides} sees, as Istio's stats filter names them (no {@code istio_}). */
    public static final String OPENED = "tcp_connections_opened_total";
    public static final String CLOSED = "tcp_connections_closed_total";
    public static final String SENT = "tcp_sent_bytes_total";
    public static final String RECEIVED = "tcp_received_bytes_total";

    /**
     * How one connection's metrics are reported: per metric, dropped ({@code null}) or with these
     * label values. Called once per metric update; must be cheap and thread-safe.
     */
    @FunctionalInterface
    public interface Overrides {
        /** Istio's metrics unchanged. */
        Overrides NONE = (metric, values) -> new Labels(values, new String[0], new String[0]);

        /**
         * The labels of {@code metric} ({@link #OPENED}, {@link #CLOSED}, {@link #SENT},
         * {@link #RECEIVED}) for a connection whose standard label values are {@code values}
         * (in the order of {@link ConnectionLabels#HTTP_NAMES}' first names; not to be modified),
         * or {@code null} when the metric is not reported.
         */
        Labels labels(String metric, String[] values);
    }

    /** A metric's label values: Istio's standard ones, then added labels (names and values, same order). */
    public record Labels(String[] values, String[] extraNames, String[] extraValues) {
    }

    private final Counter.Family opened;
    private final Counter.Family closed;
    private final Counter.Family sent;
    private final Counter.Family received;

    private TcpTelemetry(MetricsRegistry metrics) {
        opened = metrics.counter("istio_tcp_connections_opened_total",
                "TCP connections opened, as Istio counts them.", ConnectionLabels.NAMES);
        closed = metrics.counter("istio_tcp_connections_closed_total",
                "TCP connections closed, as Istio counts them.", ConnectionLabels.NAMES);
        sent = metrics.counter("istio_tcp_sent_bytes_total",
                "Bytes sent to the client during the connection (destination to source).", ConnectionLabels.NAMES);
        received = metrics.counter("istio_tcp_received_bytes_total",
                "Bytes received from the client during the connection (source to destination).",
                ConnectionLabels.NAMES);
    }

    public static TcpTelemetry of(MetricsRegistry metrics) {
        return new TcpTelemetry(requireNonNull(metrics, "metrics"));
    }

    /** A connection passed policy (or was refused: then {@link #closed} follows at once). */
    public void opened(ConnectionLabels labels) {
        opened.labels(labels.values()).inc();
    }

    /** As {@link #opened(ConnectionLabels)}, with a proxy's metric overrides. */
    public void opened(ConnectionLabels labels, Overrides overrides) {
        count(opened, OPENED, labels.values(), overrides, 1);
    }

    /**
     * A connection ended: counts it and writes its access-log line.
     *
     * @param receivedBytes bytes from the client (source → destination)
     * @param sentBytes     bytes to the client (destination → source)
     * @param denial        why it was refused, or {@code null}
     */
    public void closed(ConnectionLabels labels, InetSocketAddress source, InetSocketAddress destination,
                       long receivedBytes, long sentBytes, Instant start, Duration duration, String denial) {
        closed(labels, source, destination, receivedBytes, sentBytes, start, duration, denial, null);
    }

    /**
     * As above, for a connection tunnelled over HBONE: {@code traceId} is the trace id of the
     * CONNECT's {@code traceparent} (the one this proxy sent, or received), logged as
     * {@code trace_id} so both ends' lines and the waypoint's spans of that tunnel join up
     * (ztunnel logs it as its connection span's {@code id}); {@code null} when there is none.
     */
    public void closed(ConnectionLabels labels, InetSocketAddress source, InetSocketAddress destination,
                       long receivedBytes, long sentBytes, Instant start, Duration duration, String denial,
                       String traceId) {
        closed(labels, source, destination, receivedBytes, sentBytes, start, duration, denial, traceId,
                Overrides.NONE);
    }

    /** As above, with a proxy's metric overrides ({@link Overrides#NONE}: Istio's metrics unchanged). */
    public void closed(ConnectionLabels labels, InetSocketAddress source, InetSocketAddress destination,
                       long receivedBytes, long sentBytes, Instant start, Duration duration, String denial,
                       String traceId, Overrides overrides) {
        String[] values = labels.values();
        // Bytes before the close count: whoever sees the connection closed (a scrape, a test
        // polling for it) also sees all of its bytes.
        if (receivedBytes > 0) {
            count(received, RECEIVED, values, overrides, receivedBytes);
        }
        if (sentBytes > 0) {
            count(sent, SENT, values, overrides, sentBytes);
        }
        count(closed, CLOSED, values, overrides, 1);
        if (AccessLog.enabled()) {
            AccessLog.log(accessLine(labels, source, destination, receivedBytes, sentBytes, start, duration, denial,
                    traceId));
        }
    }

    private static void count(Counter.Family family, String metric, String[] values, Overrides overrides, long n) {
        if (overrides == Overrides.NONE) {
            family.labels(values).inc(n);
            return;
        }
        Labels l = overrides.labels(metric, values);
        if (l != null) {
            family.labels(l.values(), l.extraNames(), l.extraValues()).inc(n);
        }
    }

    static String accessLine(ConnectionLabels labels, InetSocketAddress source, InetSocketAddress destination,
                             long receivedBytes, long sentBytes, Instant start, Duration duration, String denial) {
        return accessLine(labels, source, destination, receivedBytes, sentBytes, start, duration, denial, null);
    }

    static String accessLine(ConnectionLabels labels, InetSocketAddress source, InetSocketAddress destination,
                             long receivedBytes, long sentBytes, Instant start, Duration duration, String denial,
                             String traceId) {
        String[] v = labels.values();
        JsonWriter w = new JsonWriter().open('{')
                .key("start").value(start.toString())
                .key("reporter").value(v[0])
                .key("src.addr").value(address(source))
                .key("src.workload").value(v[1])
                .key("src.namespace").value(v[2])
                .key("src.identity").value(v[3])
                .key("dst.addr").value(address(destination))
                .key("dst.workload").value(v[9])
                .key("dst.namespace").value(v[10])
                .key("dst.identity").value(v[11])
                .key("dst.service").value(v[14])
                .key("security").value(v[21])
                .key("bytes_recv").value(receivedBytes)
                .key("bytes_sent").value(sentBytes)
                .key("duration_ms").value(duration.toMillis())
                .key("response_flags").value(v[22])
                .key("denied").value(denial);
        if (traceId != null) { // plaintext connections have no CONNECT, so no trace: no key
            w.key("trace_id").value(traceId);
        }
        return w.close('}').toString();
    }

    private static String address(InetSocketAddress a) {
        if (a == null) {
            return null;
        }
        String host = a.getAddress() == null ? a.getHostString() : a.getAddress().getHostAddress();
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort();
    }
}
