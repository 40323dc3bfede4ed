package dev.ambit.agent.proxy;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.workload.GatewayAddress;
import dev.ambit.api.workload.NamespacedHostname;
import dev.ambit.api.workload.Service;
import dev.ambit.api.workload.Workload;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.proxy.state.ProxyState;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;

/**
 * The waypoint a captured connection must go through, resolved from the {@code waypoint}
 * ({@link GatewayAddress}) that xDS sets on a {@link Service} (waypoint-for {@code service}
 * or {@code all}) or on a {@link Workload} (waypoint-for {@code workload} or {@code all}), as
 * ztunnel does: the gateway names the waypoint's own Service, by VIP ({@code address}) or by
 * {@code hostname} in a namespace; one of that Service's pods is dialled on the gateway's
 * {@code hbone_mtls_port} (15008), whatever port the Service lists and whatever tunnel
 * protocol the waypoint's workload has (waypoints are not captured, they terminate HBONE
 * themselves).
 *
 * <p>A connection whose destination has a waypoint goes to it or nowhere: a waypoint that
 * cannot be resolved is a failure of that connection ({@link Unresolved}), never a reason to
 * reach the destination directly, so that the L7 policies and routes configured on the
 * waypoint cannot be bypassed (Istio's fail-closed behaviour).
 */
final class WaypointRoute {

    /** What the waypoint of a destination resolved to. */
    sealed interface Resolution permits Resolved, Unresolved {}

    /**
     * A waypoint whose Service is known.
     *
     * @param name {@code <namespace>/<name>} of the waypoint's Service, for logs
     * @param service the waypoint's Service, whose backends are the waypoint's pods
     * @param hbonePort the port the waypoint's pods terminate HBONE on
     */
    record Resolved(String name, Service service, int hbonePort) implements Resolution {
        Resolved {
            requireNonNull(name, "name");
            requireNonNull(service, "service");
        }

        /** The address to dial on {@code waypoint}, one of this Service's backends; {@code null} if it has none. */
        InetSocketAddress target(Workload waypoint) {
            InetAddress ip = EndpointPicker.address(waypoint);
            return ip == null ? null : new InetSocketAddress(ip, hbonePort);
        }
    }

    /**
     * A waypoint that cannot be used.
     *
     * @param name how xDS named it ({@code <namespace>/<name>} or its address)
     * @param why the log message, e.g. {@code waypoint shop/waypoint: not found}
     */
    record Unresolved(String name, String why) implements Resolution {}

    private WaypointRoute() {
    }

    /**
     * The waypoint of a captured destination, in ztunnel's order: the Service's for a VIP
     * ({@code service} non-null); the workload's only for traffic addressed to the pod itself
     * (a VIP's endpoints are not sent to their workload's waypoint). {@code null}: none, go
     * directly. xDS sets them only when the waypoint serves that kind of traffic
     * ({@code istio.io/waypoint-for}).
     */
    static GatewayAddress gatewayOf(ProxyState state, Service service, InetAddress dst) {
        if (service != null) {
            return service.hasWaypoint() ? service.getWaypoint() : null;
        }
        Workload destination = state.workloadByAddress(dst);
        return destination != null && destination.hasWaypoint() ? destination.getWaypoint() : null;
    }

    /**
     * Resolves {@code gateway} in {@code state}: its {@code address} as a Service VIP on the
     * address's network (the local one when unset), or its {@code hostname} as the Service
     * {@code <namespace>/<hostname>}.
     */
    static Resolution resolve(ProxyState state, GatewayAddress gateway) {
        int port = gateway.getHboneMtlsPort() != 0 ? gateway.getHboneMtlsPort() : IstioPorts.HBONE;
        switch (gateway.getDestinationCase()) {
            case ADDRESS -> {
                InetAddress vip;
                try {
                    vip = InetAddress.getByAddress(gateway.getAddress().getAddress().toByteArray()); // no DNS
                } catch (UnknownHostException e) {
                    return new Unresolved("?", "waypoint address " + gateway.getAddress().getAddress()
                            + ": not an IP address (expected: 4 or 16 bytes)");
                }
                String network = gateway.getAddress().getNetwork().isEmpty() ? state.localNetwork()
                        : gateway.getAddress().getNetwork();
                Service service = state.serviceByAddress(network, vip);
                if (service == null) {
                    return new Unresolved(vip.getHostAddress(),
                            "waypoint " + vip.getHostAddress() + ": not found (no Service with that VIP)");
                }
                return new Resolved(name(service), service, port);
            }
            case HOSTNAME -> {
                NamespacedHostname host = gateway.getHostname();
                Service service = state.service(host.getNamespace() + "/" + host.getHostname());
                String name = host.getNamespace() + "/" + shortName(host.getHostname());
                if (service == null) {
                    return new Unresolved(name, "waypoint " + name + ": not found");
                }
                return new Resolved(name, service, port);
            }
            default -> {
                return new Unresolved("?", "waypoint: neither address nor hostname set");
            }
        }
    }

    /** {@code <namespace>/<name>} of a waypoint's Service. */
    static String name(Service service) {
        String name = service.getName().isEmpty() ? shortName(service.getHostname()) : service.getName();
        return service.getNamespace() + "/" + name;
    }

    /** The first label of a Service's host name ({@code waypoint} of {@code waypoint.ns.svc.cluster.local}). */
    private static String shortName(String hostname) {
        int dot = hostname.indexOf('.');
        return dot < 0 ? hostname : hostname.substring(0, dot);
    }
}
