package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.json.JsonWriter;
import dev.ambit.waypoint.ResponseFlag;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.netty.util.NetUtil;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * The one place where the waypoint picks an endpoint of a cluster (issue 15 adds RANDOM,
 * consistent hashing and outlier detection here). Per cluster it keeps a round-robin cursor
 * and the requests outstanding on each endpoint.
 *
 * <p><b>Health and panic</b> (Envoy's semantics): endpoints EDS reports {@code HEALTHY} or
 * {@code UNKNOWN} take traffic. When fewer than the cluster's healthy panic threshold (50% by
 * default, {@code common_lb_config.healthy_panic_threshold}) of its endpoints are healthy, the
 * cluster is in panic and every endpoint, healthy or not, is a candidate (counted and shown in
 * {@link #dump}). With a threshold of 0 panic is off: no healthy endpoint means
 * {@link ResponseFlag#UH}.
 *
 * <p><b>Excluded hosts</b> (retries' {@code previous_hosts} predicate with
 * {@code host_selection_retry_max_attempts}): candidates in the excluded set are dropped when
 * at least one other remains. This is deterministic where Envoy re-draws up to N times.
 *
 * <p><b>Policies</b>: ROUND_ROBIN walks the candidates in EDS order with a per-cluster cursor;
 * LEAST_REQUEST (Istio's default) is Envoy's power of two choices: two distinct random
 * candidates, the one with fewer outstanding requests ({@link #started}/{@link #finished}),
 * the first on a tie. Endpoint weights are not used. Thread-safe.
 */
public final class EndpointPicker {

    private final Map<String, ClusterState> clusters = new ConcurrentHashMap<>();

    /** An endpoint picked for one attempt; {@code panic} when health was disregarded. */
    public record Pick(UpstreamEndpoint endpoint, boolean panic) {
        public Pick {
            requireNonNull(endpoint, "endpoint");
        }
    }

    /**
     * Picks an endpoint of {@code cluster} among {@code endpoints} (its EDS endpoints, in order),
     * avoiding {@code excluded} when another candidate exists.
     *
     * @throws UpstreamException {@link ResponseFlag#UH} when there is no candidate
     */
    public Pick pick(ClusterInfo cluster, List<UpstreamEndpoint> endpoints, Set<InetSocketAddress> excluded) {
        requireNonNull(cluster, "cluster");
        requireNonNull(endpoints, "endpoints");
        requireNonNull(excluded, "excluded");
        ClusterState state = state(cluster.name());
        int healthy = 0;
        for (UpstreamEndpoint e : endpoints) {
            if (e.healthy()) {
                healthy++;
            }
        }
        boolean panic = !endpoints.isEmpty() && 100.0 * healthy / endpoints.size() < cluster.panicThreshold();
        List<UpstreamEndpoint> candidates = new ArrayList<>(endpoints.size());
        for (UpstreamEndpoint e : endpoints) {
            if (panic || e.healthy()) {
                candidates.add(e);
            }
        }
        if (candidates.isEmpty()) {
            state.noHealthy.incrementAndGet();
            throw new UpstreamException(ResponseFlag.UH, null, "no healthy upstream (cluster " + cluster.name() + ": "
                    + endpoints.size() + " endpoints, " + healthy + " healthy)", false, null);
        }
        if (!excluded.isEmpty() && candidates.size() > 1) {
            List<UpstreamEndpoint> fresh = new ArrayList<>(candidates.size());
            for (UpstreamEndpoint e : candidates) {
                if (!excluded.contains(e.address())) {
                    fresh.add(e);
                }
            }
            if (!fresh.isEmpty()) {
                candidates = fresh;
            }
        }
        if (panic) {
            state.panics.incrementAndGet();
        }
        UpstreamEndpoint chosen = cluster.lbPolicy() == Cluster.LbPolicy.LEAST_REQUEST
                ? leastRequest(state, candidates)
                : candidates.get((int) Math.floorMod(state.cursor.getAndIncrement(), (long) candidates.size()));
        return new Pick(chosen, panic);
    }

    private static UpstreamEndpoint leastRequest(ClusterState state, List<UpstreamEndpoint> candidates) {
        int n = candidates.size();
        if (n == 1) {
            return candidates.get(0);
        }
        ThreadLocalRandom random = ThreadLocalRandom.current();
        int i = random.nextInt(n);
        int j = random.nextInt(n - 1);
        if (j >= i) {
            j++; // two distinct candidates
        }
        UpstreamEndpoint a = candidates.get(i);
        UpstreamEndpoint b = candidates.get(j);
        return state.active(b.address()) < state.active(a.address()) ? b : a;
    }

    /** A request to {@code endpoint} of {@code cluster} started (LEAST_REQUEST's count). */
    public void started(String cluster, InetSocketAddress endpoint) {
        state(cluster).outstanding.computeIfAbsent(endpoint, k -> new AtomicInteger()).incrementAndGet();
    }

    /** A request {@link #started} earlier ended, whatever its outcome. */
    public void finished(String cluster, InetSocketAddress endpoint) {
        ClusterState s = clusters.get(cluster);
        AtomicInteger n = s == null ? null : s.outstanding.get(endpoint);
        if (n != null) {
            n.decrementAndGet();
        }
    }

    /** Outstanding requests on {@code endpoint} of {@code cluster} (for tests and the dump). */
    public int outstanding(String cluster, InetSocketAddress endpoint) {
        ClusterState s = clusters.get(cluster);
        return s == null ? 0 : s.active(endpoint);
    }

    /**
     * Forgets clusters for which {@code present} is false and, in those kept, idle counters
     * of endpoints no longer listed by {@code endpoints}; called when the configuration changes.
     */
    public void retain(Predicate<String> present, Function<String, Set<InetSocketAddress>> endpoints) {
        clusters.keySet().removeIf(name -> !present.test(name));
        clusters.forEach((name, s) -> {
            Set<InetSocketAddress> listed = endpoints.apply(name);
            s.outstanding.entrySet().removeIf(e -> e.getValue().get() <= 0 && !listed.contains(e.getKey()));
        });
    }

    /** The picker's state per cluster: cursor, panics, UH count, outstanding requests per endpoint. */
    public void dump(JsonWriter json) {
        json.open('{');
        for (Map.Entry<String, ClusterState> c : new TreeMap<>(clusters).entrySet()) {
            ClusterState s = c.getValue();
            json.key(c.getKey()).open('{');
            json.key("round_robin_cursor").value(s.cursor.get());
            json.key("panics").value(s.panics.get());
            json.key("no_healthy_upstream").value(s.noHealthy.get());
            json.key("outstanding_requests").open('{');
            s.outstanding.forEach((ep, n) -> json.key(NetUtil.toSocketAddressString(ep)).value(n.get()));
            json.close('}');
            json.close('}');
        }
        json.close('}');
    }

    private ClusterState state(String cluster) {
        return clusters.computeIfAbsent(cluster, k -> new ClusterState());
    }

    private static final class ClusterState {
        final AtomicLong cursor = new AtomicLong();
        final AtomicLong panics = new AtomicLong();
        final AtomicLong noHealthy = new AtomicLong();
        final Map<InetSocketAddress, AtomicInteger> outstanding = new ConcurrentHashMap<>();

        int active(InetSocketAddress endpoint) {
            AtomicInteger n = outstanding.get(endpoint);
            return n == null ? 0 : n.get();
        }
    }
}
