package dev.ambit.waypoint.config;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.Message;
import dev.ambit.api.TypeUrls;
import dev.ambit.common.config.IstioPorts;
import dev.ambit.proxy.xds.ResourceHandler;
import dev.ambit.proxy.xds.ResourceHandler.Rejection;
import dev.ambit.waypoint.config.ConfigSnapshot.Held;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.envoyproxy.envoy.extensions.transport_sockets.tls.v3.Secret;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The waypoint's current {@link WaypointConfig}, fed by one {@link ResourceHandler} per
 * Envoy type (Listener, RouteConfiguration, Cluster, ClusterLoadAssignment) registered on
 * proxy-core's {@code XdsClient}.
 *
 * <p>Each response is applied whole or not at all (the handler contract): every resource in
 * it is validated ({@link ResourceValidator}: the fields the waypoint honours, Envoy's
 * constraints), then the new set must fit together ({@link ConfigSnapshot#of}); any problem
 * rejects the response, the client NACKs it naming resource and field, and the last good
 * config stays in force. The rejection is kept per resource for {@code /config_dump}
 * ({@link #failures}) until that resource is accepted or removed.
 *
 * <p>Names a resource refers to need not be present (Envoy's semantics: a listener may name a
 * route configuration not received yet, a route a cluster not received yet). Requests meet
 * them as they are at that moment: see {@link WaypointConfig}.
 *
 * <p>Readers ({@link #current()}, any thread) never lock; the handlers have one caller, the
 * xDS client's thread, which also runs the {@link #onChange} listeners after each change.
 */
public final class WaypointConfigStore {

    private static final Logger log = LoggerFactory.getLogger(WaypointConfigStore.class);

    /** A rejected update of one resource, as Envoy's {@code UpdateFailureState} shows it. */
    public record Failure(String details, Instant lastUpdateAttempt) {}

    private final int listenerPort;
    private final boolean gateway;
    private final Clock clock;
    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();
    private final Object lock = new Object();
    private volatile ConfigSnapshot current = ConfigSnapshot.EMPTY;
    /** Type URL → resource name → its last rejection; replaced whole on change. */
    private volatile Map<String, Map<String, Failure>> failures = Map.of();

    private WaypointConfigStore(Builder b) {
        this.listenerPort = b.listenerPort;
        this.gateway = b.gateway;
        this.clock = b.clock;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The config in force: the empty config (version 0) until the first accepted update. */
    public WaypointConfig current() {
        return current;
    }

    /** {@link #current()} with what {@code /config_dump} shows (versions, times of acceptance). */
    public ConfigSnapshot snapshot() {
        return current;
    }

    /** The resources of {@code typeUrl} whose last update was rejected, by name. */
    public Map<String, Failure> failures(String typeUrl) {
        return failures.getOrDefault(requireNonNull(typeUrl, "typeUrl"), Map.of());
    }

    /** Runs {@code listener} after every accepted change, on the xDS client's thread. */
    public void onChange(Runnable listener) {
        listeners.add(requireNonNull(listener, "listener"));
    }

    /**
     * The handlers, to register on the xDS client: LISTENER, ROUTE, CLUSTER, ENDPOINT, and in
     * gateway mode SECRET (SDS over the same ADS stream: the certificates of TLS chains).
     */
    public List<ResourceHandler<?>> handlers() {
        List<ResourceHandler<?>> h = new ArrayList<>(List.of(
                new Handler<>(TypeUrls.LISTENER, Listener.class),
                new Handler<>(TypeUrls.ROUTE_CONFIGURATION, RouteConfiguration.class),
                new Handler<>(TypeUrls.CLUSTER, Cluster.class),
                new Handler<>(TypeUrls.CLUSTER_LOAD_ASSIGNMENT, ClusterLoadAssignment.class)));
        if (gateway) {
            h.add(new Handler<>(TypeUrls.SECRET, Secret.class));
        }
        return List.copyOf(h);
    }

    /** Whether this store serves a gateway (listeners on their own ports, SDS Secrets). */
    public boolean gateway() {
        return gateway;
    }

    // ---------------------------------------------------------------- applying

    private List<Rejection> apply(String type, Map<String, ? extends Message> updates, List<String> removes) {
        synchronized (lock) {
            List<Rejection> rejected = new ArrayList<>();
            for (Map.Entry<String, ? extends Message> e : updates.entrySet()) {
                List<String> problems = ResourceValidator.validate(e.getKey(), e.getValue());
                if (!problems.isEmpty()) {
                    rejected.add(new Rejection(e.getKey(), String.join("; ", problems)));
                }
            }
            ConfigSnapshot next = null;
            if (rejected.isEmpty()) {
                try {
                    next = next(type, updates, removes);
                } catch (ConfigSnapshot.InvalidConfigException e) {
                    rejected.add(new Rejection(e.resource(), e.getMessage()));
                }
            }
            if (!rejected.isEmpty()) {
                remember(type, rejected, List.of());
                for (Rejection r : rejected) {
                    log.warn("config: rejected {}", r.reason());
                }
                return rejected;
            }
            List<String> settled = new ArrayList<>(updates.keySet());
            settled.addAll(removes);
            remember(type, List.of(), settled);
            current = next;
            log.debug("config: {} {} applied, {} removed: {}", updates.size(), TypeUrls.messageName(type),
                    removes.size(), next);
        }
        for (Runnable l : listeners) {
            try {
                l.run();
            } catch (RuntimeException e) {
                log.warn("config: a change listener failed", e);
            }
        }
        return List.of();
    }

    @SuppressWarnings("unchecked")
    private ConfigSnapshot next(String type, Map<String, ? extends Message> updates, List<String> removes) {
        ConfigSnapshot c = current;
        long version = c.version() + 1;
        Instant now = clock.instant();
        SortedMap<String, Held<Listener>> l = c.listeners();
        SortedMap<String, Held<RouteConfiguration>> r = c.routes();
        SortedMap<String, Held<Cluster>> cl = c.clusters();
        SortedMap<String, Held<ClusterLoadAssignment>> e = c.loadAssignments();
        SortedMap<String, Held<Secret>> sec = c.secrets();
        switch (type) {
            case TypeUrls.LISTENER -> l = merged(l, (Map<String, Listener>) updates, removes, version, now);
            case TypeUrls.ROUTE_CONFIGURATION -> r = merged(r, (Map<String, RouteConfiguration>) updates, removes, version, now);
            case TypeUrls.CLUSTER -> cl = merged(cl, (Map<String, Cluster>) updates, removes, version, now);
            case TypeUrls.CLUSTER_LOAD_ASSIGNMENT ->
                    e = merged(e, (Map<String, ClusterLoadAssignment>) updates, removes, version, now);
            case TypeUrls.SECRET -> sec = merged(sec, (Map<String, Secret>) updates, removes, version, now);
            default -> throw new IllegalArgumentException("type URL: " + type + " (expected: one of the four Envoy types)");
        }
        return ConfigSnapshot.of(version, listenerPort, gateway, updates.keySet(), l, r, cl, e, sec);
    }

    private static <T extends Message> SortedMap<String, Held<T>> merged(SortedMap<String, Held<T>> held,
            Map<String, T> updates, List<String> removes, long version, Instant now) {
        SortedMap<String, Held<T>> next = new TreeMap<>(held);
        removes.forEach(next::remove);
        updates.forEach((name, resource) -> next.put(name, new Held<>(resource, version, now)));
        return next;
    }

    private void remember(String type, List<Rejection> rejected, List<String> settled) {
        Map<String, Failure> byName = new TreeMap<>(failures.getOrDefault(type, Map.of()));
        settled.forEach(byName::remove);
        Instant now = clock.instant();
        rejected.forEach(r -> byName.put(r.name(), new Failure(r.reason(), now)));
        Map<String, Map<String, Failure>> all = new TreeMap<>(failures);
        all.put(type, Map.copyOf(byName));
        failures = Map.copyOf(all);
    }

    /** One type's handler: everything goes through the store's {@link #apply}. */
    private final class Handler<T extends Message> implements ResourceHandler<T> {
        private final String typeUrl;
        private final Class<T> type;

        Handler(String typeUrl, Class<T> type) {
            this.typeUrl = typeUrl;
            this.type = type;
        }

        @Override
        public String typeUrl() {
            return typeUrl;
        }

        @Override
        public Class<T> messageType() {
            return type;
        }

        @Override
        public List<Rejection> apply(Map<String, T> updates, List<String> removes) {
            requireNonNull(updates, "updates");
            requireNonNull(removes, "removes");
            return WaypointConfigStore.this.apply(typeUrl, updates, removes);
        }

        @Override
        public String toString() {
            return "WaypointConfigStore(" + TypeUrls.messageName(typeUrl) + ")";
        }
    }

    /** Configures a {@link WaypointConfigStore}. */
    public static final class Builder {
        private int listenerPort = IstioPorts.HBONE;
        private boolean gateway;
        private Clock clock = Clock.systemUTC();

        private Builder() {}

        /** The port the waypoint serves HBONE on ({@value IstioPorts#HBONE}); its Listener must be there. */
        public Builder listenerPort(int listenerPort) {
            if (listenerPort < 1 || listenerPort > 65535) {
                throw new IllegalArgumentException("listenerPort: " + listenerPort + " (expected: 1-65535)");
            }
            this.listenerPort = listenerPort;
            return this;
        }

        /**
         * Gateway mode: every Listener is served on its own port (not only the HBONE port) and
         * SDS Secrets are subscribed to and held.
         */
        public Builder gateway(boolean gateway) {
            this.gateway = gateway;
            return this;
        }

        /** The clock of {@code last_updated} in the dump (tests). */
        public Builder clock(Clock clock) {
            this.clock = requireNonNull(clock, "clock");
            return this;
        }

        public WaypointConfigStore build() {
            return new WaypointConfigStore(this);
        }
    }
}
