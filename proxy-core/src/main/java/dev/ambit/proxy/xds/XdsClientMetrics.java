package dev.ambit.proxy.xds;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.TypeUrls;
import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.Gauge;
import dev.ambit.common.metrics.MetricsRegistry;
import java.util.Collection;

/**
 * The xDS client's metrics. The {@code type} label is the resource's message name, the
 * type URL without {@code type.googleapis.com/} (e.g. {@code istio.workload.Address}), as
 * istiod-lite labels its side.
 */
final class XdsClientMetrics {

    static final String CONNECTED = "ambit_agent_xds_connected";
    static final String UPDATES = "ambit_agent_xds_updates_total";
    static final String NACKS = "ambit_agent_xds_nacks_total";
    static final String STREAMS = "ambit_agent_xds_streams_total";
    static final String LAST_UPDATE = "ambit_agent_xds_last_update_timestamp_seconds";
    static final String RESOURCES = "ambit_agent_xds_resources";

    private final Gauge connected;
    private final Counter.Family updates;
    private final Counter.Family nacks;
    private final Counter streams;
    private final Gauge lastUpdate;
    private final Gauge.Family resources;

    XdsClientMetrics(MetricsRegistry registry, Collection<String> typeUrls) {
        requireNonNull(registry, "registry");
        requireNonNull(typeUrls, "typeUrls");
        connected = registry.gauge(CONNECTED,
                "1 while the delta xDS stream to the control plane is up (a response arrived on it), else 0.")
                .labels();
        updates = registry.counter(UPDATES, "Delta xDS responses received and applied, by resource type.", "type");
        nacks = registry.counter(NACKS, "Delta xDS responses rejected (NACKed), by resource type.", "type");
        streams = registry.counter(STREAMS, "Delta xDS streams opened (the first one and every reconnect).")
                .labels();
        lastUpdate = registry.gauge(LAST_UPDATE,
                "Unix time of the last delta xDS response applied; 0 before the first.").labels();
        resources = registry.gauge(RESOURCES, "Resources held, by resource type.", "type");
        for (String type : typeUrls) {
            resources.labels(typeLabel(type)).set(0);
        }
    }

    static String typeLabel(String typeUrl) {
        return TypeUrls.messageName(typeUrl);
    }

    /** The number of resources of {@code typeUrl} held after a response was applied. */
    void held(String typeUrl, int count) {
        resources.labels(typeLabel(typeUrl)).set(count);
    }

    void connected(boolean up) {
        connected.set(up ? 1 : 0);
    }

    void streamOpened() {
        streams.inc();
    }

    void applied(String typeUrl) {
        updates.labels(typeLabel(typeUrl)).inc();
        lastUpdate.set(System.currentTimeMillis() / 1000.0);
    }

    void nacked(String typeUrl) {
        nacks.labels(typeLabel(typeUrl)).inc();
    }
}
