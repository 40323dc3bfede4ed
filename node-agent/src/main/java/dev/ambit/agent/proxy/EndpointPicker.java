package dev.ambit.agent.proxy;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.workload.Service;
import dev.ambit.api.workload.Workload;
import dev.ambit.api.workload.WorkloadStatus;
import dev.ambit.proxy.health.EndpointHealth;
import dev.ambit.proxy.state.Endpoint;
import dev.ambit.proxy.state.ProxyState;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Picks a Service's endpoint for one connection attempt of the outbound proxy: round robin
 * per service over the endpoints xDS says are healthy, leaving out those the connection
 * already tried and, while others remain, those {@link EndpointHealth} has ejected. When
 * every untried endpoint is ejected they are picked anyway (Envoy's panic mode: a guess
 * beats failing with no upstream), so ejection never turns into {@code UH} by itself.
 * Thread-safe; one per outbound listener.
 */
final class EndpointPicker {

    /**
     * One attempt's endpoint.
     *
     * @param endpoint the service's endpoint
     * @param target its address and target port (the VIP's address if the workload has none)
     * @param key its key in {@link EndpointHealth}
     * @param panic true if every candidate was ejected and this one was picked anyway
     */
    record Pick(Endpoint endpoint, InetSocketAddress target, EndpointHealth.Key key, boolean panic) {}

    private final ProxyState state;
    private final EndpointHealth health;
    /** Round-robin position per service key; monotonically increasing, modulo at use. */
    private final ConcurrentHashMap<String, AtomicInteger> roundRobin = new ConcurrentHashMap<>();

    EndpointPicker(ProxyState state, EndpointHealth health) {
        this.state = requireNonNull(state, "state");
        this.health = requireNonNull(health, "health");
    }

    /** Whether {@code service} has an endpoint on {@code port} that xDS reports healthy. */
    boolean hasHealthy(Service service, int port) {
        List<Endpoint> endpoints = state.endpoints(service, port);
        return !endpoints.isEmpty() && endpoints.getFirst().healthy(); // healthy ones come first
    }

    /**
     * The next endpoint of {@code service} on {@code vip}'s port not in {@code tried};
     * {@code null} if none is left.
     */
    Pick next(Service service, InetSocketAddress vip, Set<EndpointHealth.Key> tried) {
        List<Endpoint> endpoints = state.endpoints(service, vip.getPort());
        List<Pick> candidates = new ArrayList<>(endpoints.size());
        for (Endpoint e : endpoints) {
            if (!e.healthy()) {
                break; // healthy ones come first
            }
            InetAddress ip = address(e.workload());
            InetSocketAddress target = ip == null ? vip : new InetSocketAddress(ip, e.targetPort());
            candidates.add(new Pick(e, target, new EndpointHealth.Key(e.workload().getUid(), target), false));
        }
        return pick(ProxyState.serviceKey(service), candidates, tried);
    }

    /** Whether the waypoint's Service has a pod xDS reports healthy. */
    boolean hasHealthy(WaypointRoute.Resolved waypoint) {
        List<Workload> backends = state.backends(waypoint.service());
        return !backends.isEmpty() && backends.getFirst().getStatus() == WorkloadStatus.HEALTHY;
    }

    /**
     * The next pod of {@code waypoint} not in {@code tried}, dialled on the waypoint's HBONE
     * port; {@code null} if none is left. Replicas fail over and are ejected as a service's
     * endpoints are; a pod without an address cannot be dialled and is skipped.
     */
    Pick next(WaypointRoute.Resolved waypoint, Set<EndpointHealth.Key> tried) {
        List<Workload> backends = state.backends(waypoint.service());
        List<Pick> candidates = new ArrayList<>(backends.size());
        for (Workload w : backends) {
            if (w.getStatus() != WorkloadStatus.HEALTHY) {
                break; // healthy ones come first
            }
            InetSocketAddress target = waypoint.target(w);
            if (target != null) {
                candidates.add(new Pick(new Endpoint(w, target.getPort()), target,
                        new EndpointHealth.Key(w.getUid(), target), false));
            }
        }
        // Its own round-robin position: a waypoint's Service is not a destination's.
        return pick("waypoint " + ProxyState.serviceKey(waypoint.service()), candidates, tried);
    }

    /** Round robin over the untried candidates, those not ejected first (else panic). */
    private Pick pick(String roundRobinKey, List<Pick> all, Set<EndpointHealth.Key> tried) {
        List<Pick> candidates = new ArrayList<>(all.size());
        List<Pick> available = new ArrayList<>(all.size());
        for (Pick p : all) {
            if (tried.contains(p.key())) {
                continue;
            }
            candidates.add(p);
            if (!health.isEjected(p.key())) {
                available.add(p);
            }
        }
        if (candidates.isEmpty()) {
            return null;
        }
        boolean panic = available.isEmpty();
        List<Pick> from = panic ? candidates : available;
        AtomicInteger next = roundRobin.computeIfAbsent(roundRobinKey, k -> new AtomicInteger());
        Pick p = from.get(Math.floorMod(next.getAndIncrement(), from.size()));
        return panic ? new Pick(p.endpoint(), p.target(), p.key(), true) : p;
    }

    /** The workload's first address; {@code null} if it has none. */
    static InetAddress address(Workload w) {
        if (w == null || w.getAddressesCount() == 0) {
            return null;
        }
        try {
            return InetAddress.getByAddress(w.getAddresses(0).toByteArray()); // raw bytes: no DNS
        } catch (UnknownHostException e) {
            return null;
        }
    }
}
