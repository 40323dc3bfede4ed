package dev.ambit.waypoint.config;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Timestamp;
import com.google.protobuf.util.JsonFormat;
import dev.ambit.api.TypeUrls;
import dev.ambit.common.json.JsonWriter;
import dev.ambit.proxy.admin.AdminServer;
import dev.ambit.waypoint.config.ConfigSnapshot.Held;
import dev.ambit.waypoint.config.WaypointConfigStore.Failure;
import io.envoyproxy.envoy.admin.v3.ClientResourceStatus;
import io.envoyproxy.envoy.admin.v3.ClustersConfigDump;
import io.envoyproxy.envoy.admin.v3.ConfigDump;
import io.envoyproxy.envoy.admin.v3.EndpointsConfigDump;
import io.envoyproxy.envoy.admin.v3.ListenersConfigDump;
import io.envoyproxy.envoy.admin.v3.RoutesConfigDump;
import io.envoyproxy.envoy.admin.v3.SecretsConfigDump;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import io.envoyproxy.envoy.admin.v3.UpdateFailureState;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.config.endpoint.v3.LbEndpoint;
import io.envoyproxy.envoy.config.endpoint.v3.LocalityLbEndpoints;
import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Instant;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Supplier;

/**
 * The waypoint's xDS configuration in Envoy's {@code /config_dump} shape, so that it reads
 * as Envoy's does (and tools written for Envoy's dump read it): {@code configs} holds a
 * {@code ListenersConfigDump}, {@code RoutesConfigDump}, {@code ClustersConfigDump} and
 * {@code EndpointsConfigDump} ({@code envoy.admin.v3}), with {@code dynamic_listeners[]
 * .active_state}, {@code dynamic_route_configs[]}, {@code dynamic_active_clusters[]} and
 * {@code dynamic_endpoint_configs[]}, field names as in the protos (snake_case), defaults
 * omitted, as Envoy prints them.
 *
 * <p>{@code version_info} is the waypoint's config version at which the resource was
 * accepted ({@link WaypointConfig#version()}; Envoy shows the xDS response's version there).
 * A resource whose last update was NACKed carries {@code error_state} ({@code details} =
 * the rejection, {@code last_update_attempt}) and {@code client_status: NACKED}; the config
 * shown is still the last good one, the one in force.
 *
 * <p>An endpoint that outlier detection ejected now is shown with {@code health_status:
 * UNHEALTHY} in the endpoints dump, as Envoy's dump shows a host's current health
 * ({@link EndpointStates}).
 */
public final class EnvoyConfigDump {

    /** Every message an {@code Any} in the dump can hold: the dumps, the resources and their typed configs. */
    public static final JsonFormat.TypeRegistry TYPES = typeRegistry();

    private static final JsonFormat.Printer PRINTER = JsonFormat.printer()
            .usingTypeRegistry(TYPES)
            .preservingProtoFieldNames()
            .omittingInsignificantWhitespace();

    private EnvoyConfigDump() {}

    /** The data path's view of endpoints, overlaid on the endpoints dump. */
    @FunctionalInterface
    public interface EndpointStates {
        /** Nothing ejected (no data path yet). */
        EndpointStates NONE = (cluster, endpoint) -> false;

        /** Whether outlier detection has {@code endpoint} of {@code cluster} ejected now. */
        boolean ejected(String cluster, InetSocketAddress endpoint);
    }

    /** Envoy's {@code ConfigDump} of what {@code store} holds now. */
    public static ConfigDump of(WaypointConfigStore store) {
        return of(store, EndpointStates.NONE);
    }

    /** Envoy's {@code ConfigDump} of what {@code store} holds now, endpoints' health from {@code states}. */
    public static ConfigDump of(WaypointConfigStore store, EndpointStates states) {
        requireNonNull(store, "store");
        requireNonNull(states, "states");
        ConfigSnapshot c = store.snapshot();
        ConfigDump.Builder b = ConfigDump.newBuilder()
                .addConfigs(Any.pack(listeners(c, store.failures(TypeUrls.LISTENER))))
                .addConfigs(Any.pack(routes(c, store.failures(TypeUrls.ROUTE_CONFIGURATION))))
                .addConfigs(Any.pack(clusters(c, store.failures(TypeUrls.CLUSTER))))
                .addConfigs(Any.pack(endpoints(c, store.failures(TypeUrls.CLUSTER_LOAD_ASSIGNMENT), states)));
        if (store.gateway()) {
            b.addConfigs(Any.pack(secrets(c, store.failures(TypeUrls.SECRET))));
        }
        return b.build();
    }

    /** {@link #of} as JSON, as Envoy's admin prints it. */
    public static String json(WaypointConfigStore store) throws InvalidProtocolBufferException {
        return PRINTER.print(of(store));
    }

    /**
     * The admin section {@code configs}: the array of the four dumps, each with its
     * {@code @type}, so {@code /config_dump} is {@code {"configs":[...], <Ambit's sections>}}.
     */
    public static AdminServer.Section section(WaypointConfigStore store) {
        return section(store, () -> EndpointStates.NONE);
    }

    /** {@link #section(WaypointConfigStore)} with the endpoints' current health from {@code states}. */
    public static AdminServer.Section section(WaypointConfigStore store, Supplier<EndpointStates> states) {
        requireNonNull(store, "store");
        requireNonNull(states, "states");
        return json -> {
            json.open('[');
            EndpointStates now = states.get();
            for (Any a : of(store, now == null ? EndpointStates.NONE : now).getConfigsList()) {
                json.raw(PRINTER.print(a));
            }
            json.close(']');
        };
    }

    /** Writes one message as the dump prints it (for other sections that show xDS resources). */
    public static JsonWriter write(JsonWriter json, Message message) throws InvalidProtocolBufferException {
        return json.raw(PRINTER.print(message));
    }

    static ListenersConfigDump listeners(ConfigSnapshot c, Map<String, Failure> failures) {
        ListenersConfigDump.Builder b = ListenersConfigDump.newBuilder().setVersionInfo(Long.toString(c.version()));
        for (String name : names(c.listeners(), failures)) {
            ListenersConfigDump.DynamicListener.Builder d = ListenersConfigDump.DynamicListener.newBuilder().setName(name);
            Held<Listener> h = c.listeners().get(name);
            if (h != null) {
                d.setActiveState(ListenersConfigDump.DynamicListenerState.newBuilder()
                        .setVersionInfo(Long.toString(h.version()))
                        .setListener(Any.pack(h.resource()))
                        .setLastUpdated(timestamp(h.lastUpdated())));
            }
            Failure f = failures.get(name);
            d.setClientStatus(f == null ? ClientResourceStatus.ACKED : ClientResourceStatus.NACKED);
            if (f != null) {
                d.setErrorState(failure(f));
            }
            b.addDynamicListeners(d);
        }
        return b.build();
    }

    static RoutesConfigDump routes(ConfigSnapshot c, Map<String, Failure> failures) {
        RoutesConfigDump.Builder b = RoutesConfigDump.newBuilder();
        for (String name : names(c.routes(), failures)) {
            RoutesConfigDump.DynamicRouteConfig.Builder d = RoutesConfigDump.DynamicRouteConfig.newBuilder();
            Held<RouteConfiguration> h = c.routes().get(name);
            if (h != null) {
                d.setVersionInfo(Long.toString(h.version())).setRouteConfig(Any.pack(h.resource()))
                        .setLastUpdated(timestamp(h.lastUpdated()));
            }
            Failure f = failures.get(name);
            d.setClientStatus(f == null ? ClientResourceStatus.ACKED : ClientResourceStatus.NACKED);
            if (f != null) {
                d.setErrorState(failure(f));
            }
            b.addDynamicRouteConfigs(d);
        }
        return b.build();
    }

    static ClustersConfigDump clusters(ConfigSnapshot c, Map<String, Failure> failures) {
        ClustersConfigDump.Builder b = ClustersConfigDump.newBuilder().setVersionInfo(Long.toString(c.version()));
        for (String name : names(c.clusters(), failures)) {
            ClustersConfigDump.DynamicCluster.Builder d = ClustersConfigDump.DynamicCluster.newBuilder();
            Held<Cluster> h = c.clusters().get(name);
            if (h != null) {
                d.setVersionInfo(Long.toString(h.version())).setCluster(Any.pack(h.resource()))
                        .setLastUpdated(timestamp(h.lastUpdated()));
            }
            Failure f = failures.get(name);
            d.setClientStatus(f == null ? ClientResourceStatus.ACKED : ClientResourceStatus.NACKED);
            if (f != null) {
                d.setErrorState(failure(f));
            }
            b.addDynamicActiveClusters(d);
        }
        return b.build();
    }

    /**
     * Envoy's {@code SecretsConfigDump} ({@code dynamic_active_secrets}), private keys replaced by
     * {@code [redacted]} as Envoy's admin does: the dump is readable by whoever reaches admin.
     */
    static SecretsConfigDump secrets(ConfigSnapshot c, Map<String, Failure> failures) {
        SecretsConfigDump.Builder b = SecretsConfigDump.newBuilder();
        for (String name : names(c.secrets(), failures)) {
            SecretsConfigDump.DynamicSecret.Builder d = SecretsConfigDump.DynamicSecret.newBuilder().setName(name);
            Held<Secret> h = c.secrets().get(name);
            if (h != null) {
                d.setVersionInfo(Long.toString(h.version())).setSecret(Any.pack(redacted(h.resource())))
                        .setLastUpdated(timestamp(h.lastUpdated()));
            }
            Failure f = failures.get(name);
            d.setClientStatus(f == null ? ClientResourceStatus.ACKED : ClientResourceStatus.NACKED);
            if (f != null) {
                d.setErrorState(failure(f));
            }
            b.addDynamicActiveSecrets(d);
        }
        return b.build();
    }

    /** {@code s} with its private key replaced by {@code [redacted]}. */
    static Secret redacted(Secret s) {
        if (!s.hasTlsCertificate() || !s.getTlsCertificate().hasPrivateKey()) {
            return s;
        }
        Secret.Builder b = s.toBuilder();
        b.getTlsCertificateBuilder().setPrivateKey(
                io.envoyproxy.envoy.config.core.v3.DataSource.newBuilder().setInlineString("[redacted]"));
        return b.build();
    }

    static EndpointsConfigDump endpoints(ConfigSnapshot c, Map<String, Failure> failures) {
        return endpoints(c, failures, EndpointStates.NONE);
    }

    static EndpointsConfigDump endpoints(ConfigSnapshot c, Map<String, Failure> failures, EndpointStates states) {
        EndpointsConfigDump.Builder b = EndpointsConfigDump.newBuilder();
        for (String name : names(c.loadAssignments(), failures)) {
            EndpointsConfigDump.DynamicEndpointConfig.Builder d = EndpointsConfigDump.DynamicEndpointConfig.newBuilder();
            Held<ClusterLoadAssignment> h = c.loadAssignments().get(name);
            if (h != null) {
                d.setVersionInfo(Long.toString(h.version())).setEndpointConfig(Any.pack(withHealth(name,
                                h.resource(), states)))
                        .setLastUpdated(timestamp(h.lastUpdated()));
            }
            Failure f = failures.get(name);
            d.setClientStatus(f == null ? ClientResourceStatus.ACKED : ClientResourceStatus.NACKED);
            if (f != null) {
                d.setErrorState(failure(f));
            }
            b.addDynamicEndpointConfigs(d);
        }
        return b.build();
    }

    /** {@code cla} with its ejected endpoints' health_status UNHEALTHY (the same message when none is). */
    static ClusterLoadAssignment withHealth(String cluster, ClusterLoadAssignment cla, EndpointStates states) {
        if (states == EndpointStates.NONE) {
            return cla;
        }
        ClusterLoadAssignment.Builder b = null;
        for (int i = 0; i < cla.getEndpointsCount(); i++) {
            LocalityLbEndpoints locality = cla.getEndpoints(i);
            for (int j = 0; j < locality.getLbEndpointsCount(); j++) {
                LbEndpoint lb = locality.getLbEndpoints(j);
                SocketAddress sa = lb.getEndpoint().getAddress().getSocketAddress();
                InetAddress ip = NetUtil.createInetAddressFromIpAddressString(sa.getAddress());
                if (ip != null && states.ejected(cluster, new InetSocketAddress(ip, sa.getPortValue()))) {
                    if (b == null) {
                        b = cla.toBuilder();
                    }
                    b.getEndpointsBuilder(i).getLbEndpointsBuilder(j).setHealthStatus(HealthStatus.UNHEALTHY);
                }
            }
        }
        return b == null ? cla : b.build();
    }

    /** Held names and rejected ones, sorted: a resource rejected on first sight has only its error state. */
    private static Set<String> names(Map<String, ?> held, Map<String, Failure> failures) {
        Set<String> names = new TreeSet<>(held.keySet());
        names.addAll(failures.keySet());
        return names;
    }

    private static UpdateFailureState failure(Failure f) {
        // No failed_configuration: it may hold a @type the dump's registry cannot print.
        return UpdateFailureState.newBuilder().setDetails(f.details())
                .setLastUpdateAttempt(timestamp(f.lastUpdateAttempt())).build();
    }

    private static Timestamp timestamp(Instant i) {
        return Timestamp.newBuilder().setSeconds(i.getEpochSecond()).setNanos(i.getNano()).build();
    }

    private static JsonFormat.TypeRegistry typeRegistry() {
        JsonFormat.TypeRegistry.Builder b = JsonFormat.TypeRegistry.newBuilder()
                .add(ListenersConfigDump.getDescriptor())
                .add(RoutesConfigDump.getDescriptor())
                .add(ClustersConfigDump.getDescriptor())
                .add(EndpointsConfigDump.getDescriptor())
                .add(SecretsConfigDump.getDescriptor())
                .add(Secret.getDescriptor())
                .add(Listener.getDescriptor())
                .add(RouteConfiguration.getDescriptor())
                .add(Cluster.getDescriptor())
                .add(ClusterLoadAssignment.getDescriptor());
        FieldTable.anyTypes().forEach(b::add);
        return b.build();
    }
}
