package dev.ambit.agent.proxy;

import dev.ambit.common.json.JsonWriter;
import dev.ambit.proxy.telemetry.AccessLog;
import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.MetricsRegistry;
import java.net.InetSocketAddress;
import java.time.Instant;

/**
 * Counts and logs inbound connections and tunnels refused before they reached the app:
 * {@code ambit_agent_inbound_refused_total{reason}} plus one JSON line on the
 * {@code ambit.access} logger (the logger {@link dev.ambit.proxy.telemetry.TcpTelemetry}
 * writes accepted connections to), so every refusal shows up in the access log even when
 * it happened before anything about the connection was known (no TLS, no identity).
 *
 * <p>Reasons are stable codes, usable in alerts. Thread-safe.
 */
final class InboundRefusals {

    // Connection level (15008): refused before any HTTP/2 stream existed.
    static final String NOT_TLS = "not_tls";
    static final String NO_CLIENT_CERTIFICATE = "no_client_certificate";
    static final String TLS_HANDSHAKE = "tls_handshake_failed";
    static final String TLS_PARAMETERS = "tls_parameters";
    static final String NO_PEER_IDENTITY = "no_peer_identity";
    static final String NO_CERTIFICATE = "no_certificate";
    // Stream level (15008), answered by the HBONE server itself.
    static final String BAD_REQUEST = "bad_request";
    static final String HEADERS_TOO_LARGE = "headers_too_large";
    static final String INTERNAL_ERROR = "internal_error";
    // Decided by the inbound proxy (15008 and 15006); policy denials use Decision.Reason codes.
    static final String NOT_LOCAL = "not_local_workload";
    static final String UNKNOWN_WORKLOAD = "unknown_workload";
    static final String INVALID_IDENTITY = "invalid_identity";
    static final String UPSTREAM_CONNECT_FAILED = "upstream_connect_failed";

    static final String METRIC = "ambit_agent_inbound_refused_total";


    private final Counter.Family refused;

    InboundRefusals(MetricsRegistry metrics) {
        refused = metrics.counter(METRIC, "Inbound connections and HBONE tunnels refused before reaching the app.",
                "reason");
    }

    /** Counts a refusal whose access-log line is written elsewhere (policy denials). */
    void count(String reason) {
        refused.labels(reason).inc();
    }

    /**
     * Counts a refusal and writes its access-log line.
     *
     * @param listener "hbone" or "plaintext"
     * @param source the client's address, if known
     * @param destination what it asked for (the listener's address when nothing more is known)
     * @param identity the client's SPIFFE ID, or {@code null} before TLS identified it
     * @param detail what exactly was wrong, for humans
     */
    void refuse(String reason, String listener, InetSocketAddress source, InetSocketAddress destination,
                String identity, String detail) {
        count(reason);
        if (AccessLog.enabled()) {
            AccessLog.log(new JsonWriter().open('{')
                    .key("start").value(Instant.now().toString())
                    .key("reporter").value("destination")
                    .key("listener").value(listener)
                    .key("src.addr").value(address(source))
                    .key("src.identity").value(identity)
                    .key("dst.addr").value(address(destination))
                    .key("refused").value(reason)
                    .key("detail").value(detail)
                    .close('}').toString());
        }
    }

    private static String address(InetSocketAddress a) {
        if (a == null) {
            return null;
        }
        String host = a.getAddress() == null ? a.getHostString() : a.getAddress().getHostAddress();
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort();
    }
}
