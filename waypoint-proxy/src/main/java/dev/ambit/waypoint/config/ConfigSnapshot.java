package dev.ambit.waypoint.config;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Message;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import java.net.InetAddress;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The {@link WaypointConfig} the engine reads: the four resource types as accepted, each
 * with when and at which version it was accepted (for {@code /config_dump}), plus the
 * listener's filter chains and the clusters' endpoints compiled for lookup. Immutable; a
 * change builds a new one ({@link WaypointConfigStore}).
 *
 * <p>The listener is the one on the waypoint's HBONE port: a listener on another port, or a
 * second one on that port, is rejected when it is applied (the waypoint serves one port,
 * and would otherwise ignore it). In gateway mode ({@link WaypointConfigStore.Builder#gateway})
 * every listener is served on its own port ({@link #gatewayListeners()}), two on one port are
 * rejected, and SDS Secrets are held too ({@link #secrets()}); a waypoint rejects a listener
 * that terminates TLS or matches on SNI (only a gateway implements them).
 */
public final class ConfigSnapshot implements WaypointConfig {

    /** One accepted resource: the validated message, the config version it came with, when. */
    public record Held<T extends Message>(T resource, long version, Instant lastUpdated) {
        public Held {
            requireNonNull(resource, "resource");
            requireNonNull(lastUpdated, "lastUpdated");
        }
    }

    static final ConfigSnapshot EMPTY = new ConfigSnapshot(0, new TreeMap<>(), new TreeMap<>(), new TreeMap<>(),
            new TreeMap<>(), FilterChainTable.EMPTY, Map.of(), new TreeMap<>(), Map.of());

    private final long version;
    private final SortedMap<String, Held<Listener>> listeners;
    private final SortedMap<String, Held<RouteConfiguration>> routes;
    private final SortedMap<String, Held<Cluster>> clusters;
    private final SortedMap<String, Held<ClusterLoadAssignment>> assignments;
    private final FilterChainTable chains;
    private final Map<String, List<LbEndpoint>> endpoints;
    private final SortedMap<String, Held<Secret>> secrets;
    private final Map<Integer, GatewayListener> gatewayListeners;

    private ConfigSnapshot(long version, SortedMap<String, Held<Listener>> listeners,
                           SortedMap<String, Held<RouteConfiguration>> routes, SortedMap<String, Held<Cluster>> clusters,
                           SortedMap<String, Held<ClusterLoadAssignment>> assignments, FilterChainTable chains,
                           Map<String, List<LbEndpoint>> endpoints, SortedMap<String, Held<Secret>> secrets,
                           Map<Integer, GatewayListener> gatewayListeners) {
        this.secrets = java.util.Collections.unmodifiableSortedMap(secrets);
        this.gatewayListeners = gatewayListeners;
        this.version = version;
        this.listeners = java.util.Collections.unmodifiableSortedMap(listeners);
        this.routes = java.util.Collections.unmodifiableSortedMap(routes);
        this.clusters = java.util.Collections.unmodifiableSortedMap(clusters);
        this.assignments = java.util.Collections.unmodifiableSortedMap(assignments);
        this.chains = chains;
        this.endpoints = endpoints;
    }

    /**
     * A snapshot of these (validated) resources.
     *
     * @param listenerPort the port the waypoint serves HBONE on; the listener must be there
     * @param changed the names this update brings (a conflict is blamed on them)
     * @throws InvalidConfigException naming the resource and field when the resources do not fit
     *     together (a listener on another port, two listeners, two chains with the same match)
     */
    static ConfigSnapshot of(long version, int listenerPort, java.util.Set<String> changed,
                             SortedMap<String, Held<Listener>> listeners,
                             SortedMap<String, Held<RouteConfiguration>> routes, SortedMap<String, Held<Cluster>> clusters,
                             SortedMap<String, Held<ClusterLoadAssignment>> assignments) {
        return of(version, listenerPort, false, changed, listeners, routes, clusters, assignments, new TreeMap<>());
    }

    /** As above; {@code gateway}: every listener on its own port (gateway mode), {@code secrets} held. */
    static ConfigSnapshot of(long version, int listenerPort, boolean gateway, java.util.Set<String> changed,
                             SortedMap<String, Held<Listener>> listeners,
                             SortedMap<String, Held<RouteConfiguration>> routes, SortedMap<String, Held<Cluster>> clusters,
                             SortedMap<String, Held<ClusterLoadAssignment>> assignments,
                             SortedMap<String, Held<Secret>> secrets) {
        FilterChainTable chains = FilterChainTable.EMPTY;
        Map<Integer, GatewayListener> byPort = new HashMap<>();
        String served = null;
        for (Held<Listener> h : listeners.values()) {
            Listener l = h.resource();
            if (!l.hasAddress()) {
                throw new InvalidConfigException(l.getName(), "Listener " + l.getName()
                        + ": address: missing (expected: 0.0.0.0:" + (gateway ? "<port>" : listenerPort) + ")");
            }
            int port = l.getAddress().getSocketAddress().getPortValue();
            if (gateway) {
                GatewayListener compiled;
                try {
                    compiled = GatewayListener.compile(l);
                } catch (IllegalArgumentException e) {
                    throw new InvalidConfigException(l.getName(), "Listener " + l.getName() + ": " + e.getMessage());
                }
                GatewayListener other = byPort.putIfAbsent(port, compiled);
                if (other != null) {
                    String culprit = changed.contains(other.name()) && !changed.contains(l.getName())
                            ? other.name() : l.getName();
                    throw new InvalidConfigException(culprit, "Listener " + culprit + ": address.port_value: " + port
                            + " already served by listener " + (culprit.equals(l.getName()) ? other.name()
                            : l.getName()) + " (expected: one listener per port)");
                }
                continue;
            }
            String gatewayOnly = gatewayOnly(l);
            if (gatewayOnly != null) {
                throw new InvalidConfigException(l.getName(), "Listener " + l.getName() + ": " + gatewayOnly
                        + ": not supported by a waypoint (expected: only in gateway mode)");
            }
            if (port != listenerPort) {
                throw new InvalidConfigException(l.getName(), "Listener " + l.getName() + ": address.port_value: "
                        + port + " not served by this waypoint (expected: " + listenerPort + ", its HBONE port)");
            }
            if (served != null) {
                // Blame the listener this update brought, not the one already serving.
                String culprit = changed.contains(served) && !changed.contains(l.getName()) ? served : l.getName();
                String other = culprit.equals(served) ? l.getName() : served;
                throw new InvalidConfigException(culprit, "Listener " + culprit + ": address: port "
                        + port + " already served by listener " + other + " (expected: one listener)");
            }
            served = l.getName();
            try {
                chains = FilterChainTable.compile(l);
            } catch (IllegalArgumentException e) {
                throw new InvalidConfigException(l.getName(), "Listener " + l.getName() + ": " + e.getMessage());
            }
        }
        Map<String, List<LbEndpoint>> endpoints = new HashMap<>();
        for (Map.Entry<String, Held<ClusterLoadAssignment>> e : assignments.entrySet()) {
            List<LbEndpoint> flat = new ArrayList<>();
            for (LocalityLbEndpoints l : e.getValue().resource().getEndpointsList()) {
                flat.addAll(l.getLbEndpointsList());
            }
            endpoints.put(e.getKey(), List.copyOf(flat));
        }
        return new ConfigSnapshot(version, new TreeMap<>(listeners), new TreeMap<>(routes), new TreeMap<>(clusters),
                new TreeMap<>(assignments), chains, Map.copyOf(endpoints), new TreeMap<>(secrets), Map.copyOf(byPort));
    }

    /** The first field of {@code l} only a gateway implements (TLS termination, SNI), or null. */
    private static String gatewayOnly(Listener l) {
        if (l.getListenerFiltersCount() > 0) {
            return "listener_filters";
        }
        for (int i = 0; i < l.getFilterChainsCount(); i++) {
            var fc = l.getFilterChains(i);
            if (fc.hasTransportSocket()) {
                return "filter_chains[" + i + "].transport_socket";
            }
            if (fc.getFilterChainMatch().getServerNamesCount() > 0) {
                return "filter_chains[" + i + "].filter_chain_match.server_names";
            }
        }
        if (l.hasDefaultFilterChain() && l.getDefaultFilterChain().hasTransportSocket()) {
            return "default_filter_chain.transport_socket";
        }
        for (int i = 0; i < l.getFilterChainsCount(); i++) {
            var f = l.getFilterChains(i).getFilters(0).getTypedConfig();
            if (f.is(io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                    .class)) {
                try {
                    var hcm = f.unpack(io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3
                            .HttpConnectionManager.class);
                    if (hcm.hasUseRemoteAddress()) {
                        // The edge's x-forwarded-* handling is the gateway's; a waypoint would ignore it.
                        return "filter_chains[" + i + "].filters[0].typed_config.use_remote_address";
                    }
                } catch (com.google.protobuf.InvalidProtocolBufferException e) {
                    return null; // validated before: unreachable
                }
            }
        }
        return null;
    }

    /** Gateway mode: each listener compiled for its port, by port (empty for a waypoint). */
    public Map<Integer, GatewayListener> gatewayListeners() {
        return gatewayListeners;
    }

    /** Gateway mode: the accepted SDS Secrets by name, sorted (empty for a waypoint). */
    public SortedMap<String, Held<Secret>> secrets() {
        return secrets;
    }

    @Override
    public Optional<FilterChain> filterChain(InetAddress dstIp, int dstPort) {
        requireNonNull(dstIp, "dstIp");
        return chains.lookup(dstIp, dstPort);
    }

    @Override
    public Optional<RouteConfiguration> route(String name) {
        Held<RouteConfiguration> h = routes.get(requireNonNull(name, "name"));
        return h == null ? Optional.empty() : Optional.of(h.resource());
    }

    @Override
    public Optional<Cluster> cluster(String name) {
        Held<Cluster> h = clusters.get(requireNonNull(name, "name"));
        return h == null ? Optional.empty() : Optional.of(h.resource());
    }

    @Override
    public List<LbEndpoint> endpoints(String clusterName) {
        return endpoints.getOrDefault(requireNonNull(clusterName, "clusterName"), List.of());
    }

    @Override
    public long version() {
        return version;
    }

    /** Every compiled filter chain, the default one last. */
    public List<FilterChain> filterChains() {
        return chains.chains();
    }

    /** The accepted Listeners by name, sorted. */
    public SortedMap<String, Held<Listener>> listeners() {
        return listeners;
    }

    /** The accepted RouteConfigurations by name, sorted. */
    public SortedMap<String, Held<RouteConfiguration>> routes() {
        return routes;
    }

    /** The accepted Clusters by name, sorted. */
    public SortedMap<String, Held<Cluster>> clusters() {
        return clusters;
    }

    /** The accepted ClusterLoadAssignments by cluster name, sorted. */
    public SortedMap<String, Held<ClusterLoadAssignment>> loadAssignments() {
        return assignments;
    }

    @Override
    public String toString() {
        return "WaypointConfig{version=" + version + ", listeners=" + listeners.keySet() + ", routes=" + routes.size()
                + ", clusters=" + clusters.size() + ", endpoints=" + assignments.size()
                + (secrets.isEmpty() ? "" : ", secrets=" + secrets.keySet()) + "}";
    }

    /** Resources that are each valid but do not fit together; names the resource to reject. */
    static final class InvalidConfigException extends RuntimeException {
        private final String resource;

        InvalidConfigException(String resource, String message) {
            super(message);
            this.resource = resource;
        }

        String resource() {
            return resource;
        }
    }
}
