package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.json.JsonWriter;
import dev.ambit.waypoint.ResponseFlag;
import dev.ambit.waypoint.upstream.lb.ConsistentHash;
import dev.ambit.waypoint.upstream.lb.Maglev;
import dev.ambit.waypoint.upstream.lb.RingHash;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.netty.util.NetUtil;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.LongSupplier;
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
 * <p><b>Policies</b> ({@link LbSettings}):
 * <ul>
 * <li>ROUND_ROBIN walks the candidates in EDS order with a per-cluster cursor; with unequal
 *     weights or endpoints in slow start, smooth weighted round robin (the proportions of
 *     Envoy's EDF scheduler, deterministic).
 * <li>LEAST_REQUEST (Istio's default) is Envoy's power of {@code choice_count} choices: random
 *     candidates (two distinct ones for the default 2), the one with fewest outstanding requests
 *     ({@link #started}/{@link #finished}), the first on a tie. With unequal weights or slow start,
 *     as Envoy, a weighted draw with weight {@code w / (outstanding + 1)}.
 * <li>RANDOM: a uniform draw; weights are not used (as Envoy's random balancer).
 * <li>RING_HASH / MAGLEV: the request's hash ({@code OptionalLong}, from the route's hash
 *     policy) looked up in a {@link RingHash} / {@link Maglev} built over the candidates (rebuilt
 *     when they change); excluded hosts are passed over the way the structure offers; no hash →
 *     a random hash, as Envoy.
 * </ul>
 * <p><b>Slow start</b> ({@code slow_start_config}, round robin and least request): an endpoint
 * is in slow start for the window after the picker first saw it in the cluster, its weight
 * scaled by {@link LbSettings#slowStartFactor} (Envoy's formula; aggression 1.0 is linear).
 * Thread-safe.
 */
public final class EndpointPicker {

    private final Map<String, ClusterState> clusters = new ConcurrentHashMap<>();
    private final LongSupplier nanoClock;

    /** A picker on {@link System#nanoTime} (slow start's clock). */
    public EndpointPicker() {
        this(System::nanoTime);
    }

    /** A picker whose slow-start ages are read from {@code nanoClock} (tests). */
    public EndpointPicker(LongSupplier nanoClock) {
        this.nanoClock = requireNonNull(nanoClock, "nanoClock");
    }

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
        return pick(cluster, endpoints, excluded, OptionalLong.empty());
    }

    /**
     * {@link #pick(ClusterInfo, List, Set)} with the request's {@code hash} (from the route's
     * hash policy; empty when it has none or none applied), used by RING_HASH and MAGLEV.
     *
     * @throws UpstreamException {@link ResponseFlag#UH} when there is no candidate
     */
    public Pick pick(ClusterInfo cluster, List<UpstreamEndpoint> endpoints, Set<InetSocketAddress> excluded,
                     OptionalLong hash) {
        requireNonNull(cluster, "cluster");
        requireNonNull(endpoints, "endpoints");
        requireNonNull(excluded, "excluded");
        requireNonNull(hash, "hash");
        ClusterState state = state(cluster.name());
        LbSettings lb = cluster.lb();
        long now = nanoClock.getAsLong();
        if (!lb.slowStartWindow().isZero()) {
            for (UpstreamEndpoint e : endpoints) {
                state.firstSeen.putIfAbsent(e.address(), now);
            }
        }
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
        if (panic) {
            state.panics.incrementAndGet();
        }
        if (lb.consistentHashing()) {
            return new Pick(hashed(state, lb, candidates, excluded, hash), panic);
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
        UpstreamEndpoint chosen = switch (lb.policy()) {
            case LEAST_REQUEST -> weighted(state, lb, candidates, now)
                    ? weightedLeastRequest(state, lb, candidates, now) : leastRequest(state, lb, candidates);
            case RANDOM -> candidates.get(ThreadLocalRandom.current().nextInt(candidates.size()));
            default -> weighted(state, lb, candidates, now) ? smoothRoundRobin(state, lb, candidates, now)
                    : candidates.get((int) Math.floorMod(state.cursor.getAndIncrement(), (long) candidates.size()));
        };
        return new Pick(chosen, panic);
    }

    private static UpstreamEndpoint leastRequest(ClusterState state, LbSettings lb, List<UpstreamEndpoint> candidates) {
        int n = candidates.size();
        if (n == 1) {
            return candidates.get(0);
        }
        ThreadLocalRandom random = ThreadLocalRandom.current();
        if (lb.choiceCount() == 2) {
            int i = random.nextInt(n);
            int j = random.nextInt(n - 1);
            if (j >= i) {
                j++; // two distinct candidates
            }
            UpstreamEndpoint a = candidates.get(i);
            UpstreamEndpoint b = candidates.get(j);
            return state.active(b.address()) < state.active(a.address()) ? b : a;
        }
        UpstreamEndpoint best = null;
        for (int k = 0; k < lb.choiceCount(); k++) {
            UpstreamEndpoint c = candidates.get(random.nextInt(n)); // with replacement, as Envoy
            if (best == null || state.active(c.address()) < state.active(best.address())) {
                best = c;
            }
        }
        return best;
    }

    /** Whether weights matter for this pick: unequal EDS weights, or an endpoint in slow start. */
    private static boolean weighted(ClusterState state, LbSettings lb, List<UpstreamEndpoint> candidates, long now) {
        int w = candidates.get(0).weight();
        for (UpstreamEndpoint e : candidates) {
            if (e.weight() != w || slowStartFactor(state, lb, e, now) < 1.0) {
                return true;
            }
        }
        return false;
    }

    private static double slowStartFactor(ClusterState state, LbSettings lb, UpstreamEndpoint e, long now) {
        if (lb.slowStartWindow().isZero()) {
            return 1.0;
        }
        Long seen = state.firstSeen.get(e.address());
        return seen == null ? 1.0 : lb.slowStartFactor(now - seen);
    }

    /**
     * Smooth weighted round robin: every pick adds each candidate's effective weight to its
     * credit and takes the candidate with the most, which then pays the total. Over any window
     * each endpoint gets its weight's share, interleaved, as Envoy's EDF scheduler.
     */
    private static UpstreamEndpoint smoothRoundRobin(ClusterState state, LbSettings lb,
                                                     List<UpstreamEndpoint> candidates, long now) {
        synchronized (state.credit) {
            double total = 0;
            UpstreamEndpoint best = null;
            double bestCredit = 0;
            for (UpstreamEndpoint e : candidates) {
                double w = e.weight() * slowStartFactor(state, lb, e, now);
                total += w;
                double c = state.credit.merge(e.address(), w, Double::sum);
                if (best == null || c > bestCredit) {
                    best = e;
                    bestCredit = c;
                }
            }
            state.credit.merge(best.address(), -total, Double::sum);
            return best;
        }
    }

    /** Envoy's weighted least request: a draw with weight {@code w * slowStart / (outstanding + 1)}. */
    private static UpstreamEndpoint weightedLeastRequest(ClusterState state, LbSettings lb,
                                                        List<UpstreamEndpoint> candidates, long now) {
        double[] w = new double[candidates.size()];
        double total = 0;
        for (int i = 0; i < w.length; i++) {
            UpstreamEndpoint e = candidates.get(i);
            w[i] = e.weight() * slowStartFactor(state, lb, e, now) / (state.active(e.address()) + 1.0);
            total += w[i];
        }
        double r = ThreadLocalRandom.current().nextDouble(total);
        for (int i = 0; i < w.length; i++) {
            r -= w[i];
            if (r < 0) {
                return candidates.get(i);
            }
        }
        return candidates.get(w.length - 1);
    }

    private static UpstreamEndpoint hashed(ClusterState state, LbSettings lb, List<UpstreamEndpoint> candidates,
                                           Set<InetSocketAddress> excluded, OptionalLong hash) {
        ConsistentHash table = state.table;
        if (table == null || !table.hosts().equals(candidates) || !lb.equals(state.tableSettings)) {
            synchronized (state) {
                table = state.table;
                if (table == null || !table.hosts().equals(candidates) || !lb.equals(state.tableSettings)) {
                    table = lb.policy() == Cluster.LbPolicy.MAGLEV
                            ? Maglev.build(candidates, lb.maglevTableSize())
                            : RingHash.build(candidates, lb.minRingSize(), lb.maxRingSize());
                    state.tableSettings = lb;
                    state.table = table;
                    state.tableBuilds.incrementAndGet();
                }
            }
        }
        long h = hash.isPresent() ? hash.getAsLong() : ThreadLocalRandom.current().nextLong();
        List<UpstreamEndpoint> hosts = table.hosts();
        boolean avoidable = !excluded.isEmpty() && hosts.size() > 1;
        int i = table.pick(h, k -> avoidable && excluded.contains(hosts.get(k).address()));
        return hosts.get(i < 0 ? table.pick(h, k -> false) : i);
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
            // An endpoint that leaves and comes back starts slow again, as a new Envoy host.
            s.firstSeen.keySet().removeIf(a -> !listed.contains(a));
            synchronized (s.credit) {
                s.credit.keySet().removeIf(a -> !listed.contains(a));
            }
        });
    }

    /** The picker's state per cluster: cursor, panics, UH count, hash table, outstanding requests per endpoint. */
    public void dump(JsonWriter json) {
        json.open('{');
        for (Map.Entry<String, ClusterState> c : new TreeMap<>(clusters).entrySet()) {
            ClusterState s = c.getValue();
            json.key(c.getKey()).open('{');
            json.key("round_robin_cursor").value(s.cursor.get());
            json.key("panics").value(s.panics.get());
            json.key("no_healthy_upstream").value(s.noHealthy.get());
            ConsistentHash table = s.table;
            if (table != null) {
                json.key("hash_table").open('{');
                json.key("type").value(table instanceof Maglev ? "maglev" : "ring_hash");
                json.key("size").value(table instanceof Maglev m ? m.size() : ((RingHash) table).size());
                json.key("hosts").value(table.hosts().size());
                json.key("builds").value(s.tableBuilds.get());
                json.close('}');
            }
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
        /** When the picker first saw each endpoint (slow start). */
        final Map<InetSocketAddress, Long> firstSeen = new ConcurrentHashMap<>();
        /** Smooth weighted round robin's credit per endpoint; guarded by itself. */
        final Map<InetSocketAddress, Double> credit = new java.util.HashMap<>();
        volatile ConsistentHash table;
        volatile LbSettings tableSettings;
        final AtomicLong tableBuilds = new AtomicLong();

        int active(InetSocketAddress endpoint) {
            AtomicInteger n = outstanding.get(endpoint);
            return n == null ? 0 : n.get();
        }
    }
}
