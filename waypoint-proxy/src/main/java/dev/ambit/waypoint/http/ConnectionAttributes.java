package dev.ambit.waypoint.http;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.expr.Attributes;
import dev.ambit.proxy.telemetry.ConnectionLabels;
import java.net.InetSocketAddress;

/**
 * The attributes of one relayed TCP connection (a waypoint's or gateway's TCP chain, TLS
 * passthrough), for the expressions of the TCP metrics' {@code tagOverrides} (issue 19): source,
 * destination, upstream, {@code connection.*} and the peers' workload labels. Request and response
 * attributes have no value on a connection (as in Istio's TCP stats), so an expression over them
 * gives its fallback or {@code unknown}. Immutable.
 */
public final class ConnectionAttributes implements Attributes {

    private final ConnectionLabels labels;
    private final InetSocketAddress source;
    private final InetSocketAddress destination;
    private final InetSocketAddress upstream;
    private final boolean mtls;
    private final String serverName;

    /**
     * @param upstream the endpoint connected to, or null when none was
     * @param mtls whether the client connection is the mesh's mutual TLS (a waypoint's tunnel)
     * @param serverName the client's SNI, or null
     */
    public ConnectionAttributes(ConnectionLabels labels, InetSocketAddress source, InetSocketAddress destination,
                                InetSocketAddress upstream, boolean mtls, String serverName) {
        this.labels = requireNonNull(labels, "labels");
        this.source = source;
        this.destination = destination;
        this.upstream = upstream;
        this.mtls = mtls;
        this.serverName = serverName;
    }

    @Override
    public Object get(String name) {
        return switch (name) {
            case "source.address" -> ip(source);
            case "source.port" -> port(source);
            case "source.principal" -> nonEmpty(labels.value("source_principal"));
            case "destination.address" -> ip(destination);
            case "destination.port" -> port(destination);
            case "destination.principal" -> nonEmpty(labels.value("destination_principal"));
            case "connection.mtls" -> mtls;
            case "connection.requested_server_name" -> serverName;
            case "upstream.address" -> ip(upstream);
            case "upstream.port" -> port(upstream);
            default -> peer(labels, name);
        };
    }

    /**
     * {@code upstream_peer.*} from the destination labels, {@code downstream_peer.*} from the
     * source's (also the request attributes' rule, {@link ExchangeAttributes}); null for other names.
     */
    static String peer(ConnectionLabels labels, String name) {
        int dot = name.indexOf('.');
        if (dot < 0) {
            return null;
        }
        String side = switch (name.substring(0, dot)) {
            case "upstream_peer" -> "destination_";
            case "downstream_peer" -> "source_";
            default -> null; // request.*, response.*: not on a connection
        };
        String label = switch (name.substring(dot + 1)) {
            case "app", "version", "workload", "cluster" -> name.substring(dot + 1);
            case "service" -> "canonical_service";
            case "revision" -> "canonical_revision";
            case "namespace" -> "workload_namespace";
            default -> null;
        };
        return side == null || label == null ? null : nonEmpty(labels.value(side + label));
    }

    private static String nonEmpty(String v) {
        return v == null || v.isEmpty() || v.equals(ConnectionLabels.UNKNOWN) ? null : v;
    }

    private static String ip(InetSocketAddress a) {
        return a == null || a.getAddress() == null ? null : a.getAddress().getHostAddress();
    }

    private static Long port(InetSocketAddress a) {
        return a == null ? null : (long) a.getPort();
    }
}
