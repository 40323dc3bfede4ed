package dev.ambit.agent.proxy;

import dev.ambit.api.workload.Service;
import dev.ambit.api.workload.TunnelProtocol;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.proxy.telemetry.ConnectionLabels;
import java.net.InetAddress;
import java.util.concurrent.ThreadLocalRandom;

/**
 * What the outbound proxy says about a connection's workloads: telemetry labels with
 * {@code reporter="source"}, SPIFFE identities, Istio's {@code baggage} and a new W3C
 * {@code traceparent} for the HBONE {@code CONNECT}.
 */
final class OutboundLabels {

    private OutboundLabels() {
    }

    static ConnectionLabels labels(Workload source, Workload destination, Service service, String security) {
        return new ConnectionLabels("source",
                source == null ? null : workloadName(source),
                source == null ? null : source.getNamespace(),
                source == null ? null : identity(source).uri(),
                source == null ? null : source.getCanonicalName(),
                source == null ? null : source.getCanonicalRevision(),
                source == null ? null : source.getCanonicalName(),
                source == null ? null : source.getCanonicalRevision(),
                source == null ? null : source.getClusterId(),
                destination == null ? null : workloadName(destination),
                destination == null ? null : destination.getNamespace(),
                destination == null || destination.getTunnelProtocol() != TunnelProtocol.HBONE ? null
                        : identity(destination).uri(),
                destination == null ? null : destination.getCanonicalName(),
                destination == null ? null : destination.getCanonicalRevision(),
                service == null ? null : service.getHostname(),
                service == null ? null : service.getName(),
                service == null ? null : service.getNamespace(),
                destination == null ? null : destination.getCanonicalName(),
                destination == null ? null : destination.getCanonicalRevision(),
                destination == null ? null : destination.getClusterId(),
                security, null);
    }

    static String workloadName(Workload w) {
        return w.getWorkloadName().isEmpty() ? w.getName() : w.getWorkloadName();
    }

    static SpiffeId identity(Workload w) {
        String sa = w.getServiceAccount().isEmpty() ? "default" : w.getServiceAccount();
        String td = w.getTrustDomain().isEmpty() ? "cluster.local" : w.getTrustDomain();
        return SpiffeId.of(td, w.getNamespace(), sa);
    }

    /** The workload's first address; {@code null} if it has none. */
    static InetAddress address(Workload w) {
        if (w == null || w.getAddressesCount() == 0) {
            return null;
        }
        try {
            return InetAddress.getByAddress(w.getAddresses(0).toByteArray()); // raw bytes: no DNS
        } catch (java.net.UnknownHostException e) {
            return null;
        }
    }

    /** Istio's baggage for the source: the peer learns who is calling without asking the control plane. */
    static String baggage(Workload w) {
        StringBuilder b = new StringBuilder();
        append(b, "k8s.cluster.name", w.getClusterId());
        append(b, "k8s.namespace.name", w.getNamespace());
        String kind = switch (w.getWorkloadType()) {
            case DEPLOYMENT -> "deployment";
            case CRONJOB -> "cronjob";
            case JOB -> "job";
            default -> "pod";
        };
        append(b, "k8s." + kind + ".name", workloadName(w));
        append(b, "service.name", w.getCanonicalName());
        append(b, "service.version", w.getCanonicalRevision());
        return b.toString();
    }

    private static void append(StringBuilder b, String key, String value) {
        if (value == null || value.isEmpty()) {
            return;
        }
        if (!b.isEmpty()) {
            b.append(',');
        }
        b.append(key).append('=').append(value);
    }

    /** A new W3C trace context: version 00, random trace and span ids, not sampled. */
    static String traceparent() {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        long hi;
        long lo;
        do {
            hi = r.nextLong();
            lo = r.nextLong();
        } while (hi == 0 && lo == 0); // all-zero ids are invalid
        long span;
        do {
            span = r.nextLong();
        } while (span == 0);
        return "00-" + hex(hi) + hex(lo) + "-" + hex(span) + "-00";
    }

    private static String hex(long v) {
        String s = Long.toHexString(v);
        return "0".repeat(16 - s.length()) + s;
    }
}
