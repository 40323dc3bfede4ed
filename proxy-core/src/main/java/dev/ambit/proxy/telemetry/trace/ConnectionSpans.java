package dev.ambit.proxy.telemetry.trace;

import static java.util.Objects.requireNonNull;

import dev.ambit.proxy.telemetry.ConnectionLabels;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanBuilder;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Spans of L4 tunnels (issue 19): where a trace crosses a proxy that sees only bytes, such as the
 * node agent's HBONE inbound, one span per tunnel whose CONNECT carried a <em>sampled</em> W3C
 * {@code traceparent}, a child of that context, recorded when the tunnel closes (its bytes are
 * known then). Such a proxy never starts a trace: no {@code traceparent}, a malformed or an
 * unsampled one, or no tracer configured, and nothing is recorded.
 *
 * <p>Span: kind SERVER, named after Istio's inbound cluster of the destination port,
 * {@code inbound|<port>||}; started when the tunnel was accepted and ended when it closed, so its
 * duration is the tunnel's. Attributes in ztunnel's access-log vocabulary, which users of ambient
 * already read: {@code direction}, {@code src.addr}, {@code src.identity}, {@code src.workload},
 * {@code src.namespace}, {@code dst.addr}, {@code dst.identity}, {@code dst.workload},
 * {@code dst.namespace}, {@code bytes_recv} (from the source), {@code bytes_sent} (to the source),
 * plus Istio's {@code connection_security_policy} and {@code response_flags}, {@code node_id}, the
 * refusal as {@code close_reason} with {@code error}, and the tracer's literal and environment
 * custom tags (request headers: an L4 proxy has none). Unknown identities are left out.
 *
 * <p>Recording never blocks: the span goes to the tracer's bounded export queue
 * ({@link BoundedSpanProcessor}; full: dropped and counted). Thread-safe.
 */
public final class ConnectionSpans {

    private static final Logger log = LoggerFactory.getLogger(ConnectionSpans.class);

    /** Records nothing (no tracing: tests, tools). */
    public static final ConnectionSpans NONE = new ConnectionSpans(() -> null, "");

    private final Supplier<Tracer> tracer;
    private final String nodeId;

    private ConnectionSpans(Supplier<Tracer> tracer, String nodeId) {
        this.tracer = tracer;
        this.nodeId = nodeId;
    }

    /**
     * Spans through the tracer {@code tracer} supplies at each close (null: tracing off now; the
     * configuration may change while tunnels are open), tagged {@code node_id = nodeId}.
     */
    public static ConnectionSpans of(Supplier<Tracer> tracer, String nodeId) {
        return new ConnectionSpans(requireNonNull(tracer, "tracer"), requireNonNull(nodeId, "nodeId"));
    }

    /**
     * An inbound tunnel closed (or was refused: {@code closeReason} not null, or response flags
     * set in {@code labels}). Records its span when {@code traceparent} is a sampled context and a
     * tracer is configured; else does nothing.
     *
     * @param traceparent the CONNECT's {@code traceparent}, or null
     * @param labels the connection's Istio labels as the destination reports them
     * @param source the client (port 0 when only its address is known)
     * @param destination the address the CONNECT named
     * @param receivedBytes bytes from the client
     * @param sentBytes bytes to the client
     * @param start when the tunnel was accepted
     * @param duration how long it was open
     * @param closeReason why it was refused (a denial), or null
     */
    public void inbound(String traceparent, ConnectionLabels labels, InetSocketAddress source,
                        InetSocketAddress destination, long receivedBytes, long sentBytes, Instant start,
                        Duration duration, String closeReason) {
        if (traceparent == null) {
            return;
        }
        Tracer t = tracer.get();
        if (t == null) {
            return;
        }
        TraceContext parent = TraceContext.fromTraceparent(traceparent);
        if (parent == null || !Boolean.TRUE.equals(parent.sampled())) {
            return; // the caller's decision: an L4 proxy never samples on its own
        }
        try {
            long startNanos = TimeUnit.SECONDS.toNanos(start.getEpochSecond()) + start.getNano();
            SpanBuilder b = t.sdk().spanBuilder("inbound|" + destination.getPort() + "||")
                    .setSpanKind(SpanKind.SERVER)
                    .setParent(TraceSpan.remoteParent(parent))
                    .setStartTimestamp(startNanos, TimeUnit.NANOSECONDS)
                    .setAttribute("direction", "inbound")
                    .setAttribute("src.addr", address(source))
                    .setAttribute("dst.addr", address(destination))
                    .setAttribute("bytes_recv", receivedBytes)
                    .setAttribute("bytes_sent", sentBytes);
            known(b, "src.identity", labels.value("source_principal"));
            known(b, "src.workload", labels.value("source_workload"));
            known(b, "src.namespace", labels.value("source_workload_namespace"));
            known(b, "dst.identity", labels.value("destination_principal"));
            known(b, "dst.workload", labels.value("destination_workload"));
            known(b, "dst.namespace", labels.value("destination_workload_namespace"));
            known(b, "connection_security_policy", labels.value("connection_security_policy"));
            String flags = labels.value("response_flags");
            b.setAttribute("response_flags", flags == null ? "-" : flags);
            if (!nodeId.isEmpty()) {
                b.setAttribute("node_id", nodeId);
            }
            for (CustomTag tag : t.settings().customTags()) {
                if (tag.kind() == CustomTag.Kind.LITERAL && !tag.source().isEmpty()) {
                    b.setAttribute(tag.tag(), tag.source());
                }
            }
            boolean failed = closeReason != null || (flags != null && !flags.equals("-"));
            if (closeReason != null) {
                b.setAttribute("close_reason", closeReason);
            }
            Span span = b.startSpan();
            if (failed) {
                span.setStatus(StatusCode.ERROR);
                span.setAttribute("error", "true");
            }
            span.end(startNanos + Math.max(0, duration.toNanos()), TimeUnit.NANOSECONDS);
        } catch (RuntimeException e) {
            // A span is worth less than the tunnel's own bookkeeping, which the caller still does.
            log.debug("span of the tunnel to {} not recorded", destination, e);
        }
    }

    private static void known(SpanBuilder b, String key, String value) {
        if (value != null && !value.isEmpty() && !value.equals(ConnectionLabels.UNKNOWN)) {
            b.setAttribute(key, value);
        }
    }

    private static String address(InetSocketAddress a) {
        String host = a.getAddress() != null ? a.getAddress().getHostAddress() : a.getHostString();
        String h = host.indexOf(':') >= 0 ? "[" + host + "]" : host;
        return a.getPort() == 0 ? h : h + ":" + a.getPort();
    }
}
