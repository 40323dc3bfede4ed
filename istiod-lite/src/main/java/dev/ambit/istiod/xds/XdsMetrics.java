package dev.ambit.istiod.xds;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.TypeUrls;
import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.Gauge;
import dev.ambit.common.metrics.Histogram;
import dev.ambit.common.metrics.MetricsRegistry;

/**
 * The xDS server's metrics. The {@code type} label is the resource's message name, the
 * type URL without {@code type.googleapis.com/} (e.g. {@code istio.workload.Address}).
 */
final class XdsMetrics {

    static final String PUSHES = "ambit_istiod_xds_pushes_total";
    static final String PUSH_SECONDS = "ambit_istiod_xds_push_seconds";
    static final String CONNECTED_CLIENTS = "ambit_istiod_xds_connected_clients";
    static final String NACKS = "ambit_istiod_xds_nacks_total";
    static final String RESOURCES_SENT = "ambit_istiod_xds_resources_sent_total";

    private final Counter.Family pushes;
    private final Histogram.Family pushSeconds;
    private final Gauge connectedClients;
    private final Counter.Family nacks;
    private final Counter.Family resourcesSent;

    XdsMetrics(MetricsRegistry registry) {
        requireNonNull(registry, "registry");
        pushes = registry.counter(PUSHES, "xDS responses sent (delta and state of the world), by resource type.", "type");
        pushSeconds = registry.histogram(PUSH_SECONDS,
                "Time from the model update to the response being written to the client, by resource type.",
                Histogram.LATENCY_SECONDS, "type");
        connectedClients = registry.gauge(CONNECTED_CLIENTS, "Open xDS streams (delta and state of the world).").labels();
        nacks = registry.counter(NACKS, "xDS responses rejected by clients (NACKs), by resource type.", "type");
        resourcesSent = registry.counter(RESOURCES_SENT,
                "Resources sent in xDS responses, by resource type.", "type");
    }

    /** The label value for a type URL. */
    static String typeLabel(String typeUrl) {
        return TypeUrls.messageName(typeUrl);
    }

    void responseSent(String typeUrl, int resources) {
        String type = typeLabel(typeUrl);
        pushes.labels(type).inc();
        resourcesSent.labels(type).inc(resources);
    }

    void pushLatency(String typeUrl, long nanos) {
        pushSeconds.labels(typeLabel(typeUrl)).observe(nanos / 1e9);
    }

    void nack(String typeUrl) {
        nacks.labels(typeLabel(typeUrl)).inc();
    }

    void clientConnected() {
        connectedClients.inc();
    }

    void clientDisconnected() {
        connectedClients.dec();
    }
}
