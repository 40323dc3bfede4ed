package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.json.JsonWriter;
import dev.ambit.waypoint.ResponseFlag;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * Each cluster's {@link CircuitBreakers} and, when it sets {@code outlier_detection}, its
 * {@link OutlierDetector}, kept across configuration versions and following each version's
 * settings. Thread-safe.
 */
final class ClusterResilience implements AutoCloseable {

    private final UpstreamMetrics metrics;
    private final EventLoopGroup group;
    private final Map<String, CircuitBreakers> breakers = new ConcurrentHashMap<>();
    private final Map<String, OutlierDetector> detectors = new ConcurrentHashMap<>();

    /** Detectors' sweep timers run on {@code group}'s loops. */
    ClusterResilience(UpstreamMetrics metrics, EventLoopGroup group) {
        this.metrics = requireNonNull(metrics, "metrics");
        this.group = requireNonNull(group, "group");
    }

    /** The cluster's circuit breakers, following its current thresholds. */
    CircuitBreakers breakers(ClusterInfo info) {
        Resilience.Thresholds t = info.resilience().thresholds();
        CircuitBreakers cb = breakers.computeIfAbsent(info.name(), n -> new CircuitBreakers(n, t, metrics));
        if (!cb.limits().equals(t)) {
            cb.limits(t);
        }
        return cb;
    }

    /** The cluster's outlier detector with its current settings, or null when it sets none. */
    OutlierDetector detector(ClusterInfo info) {
        Resilience.Outlier o = info.resilience().outlier();
        if (o == null) {
            OutlierDetector gone = detectors.isEmpty() ? null : detectors.remove(info.name());
            if (gone != null) {
                gone.close();
            }
            return null;
        }
        OutlierDetector d = detectors.computeIfAbsent(info.name(),
                n -> new OutlierDetector(n, o, metrics, group.next(), System::nanoTime));
        d.settings(o);
        return d;
    }

    /** An attempt's outcome as outlier detection counts it: a response, or a locally originated failure. */
    static void outcome(OutlierDetector detector, InetSocketAddress endpoint, UpstreamResponse response,
                        ResponseFlag flag) {
        if (response != null) {
            detector.response(endpoint, response.response().status().code());
        } else if (flag == ResponseFlag.UF || flag == ResponseFlag.UT || flag == ResponseFlag.UR
                || flag == ResponseFlag.UC) {
            detector.failure(endpoint, flag);
        }
    }

    /** See {@link Upstreams#tryRetry}: an unknown cluster has no limit here (its attempt fails NC). */
    boolean tryRetry(String cluster) {
        CircuitBreakers cb = breakers.get(cluster);
        return cb == null || cb.tryAcquire(CircuitBreakers.Resource.RETRIES);
    }

    void retryDone(String cluster) {
        CircuitBreakers cb = breakers.get(cluster);
        if (cb != null) {
            cb.release(CircuitBreakers.Resource.RETRIES);
        }
    }

    /** Whether outlier detection has {@code endpoint} of {@code cluster} ejected now. */
    boolean ejected(String cluster, InetSocketAddress endpoint) {
        OutlierDetector d = detectors.get(cluster);
        return d != null && d.ejected(endpoint);
    }

    /** The admin's {@code circuit_breakers} and {@code outlier_detection} members, clusters in name order. */
    void dump(JsonWriter json) {
        json.key("circuit_breakers").open('{');
        for (Map.Entry<String, CircuitBreakers> c : new TreeMap<>(breakers).entrySet()) {
            json.key(c.getKey());
            c.getValue().dump(json);
        }
        json.close('}');
        json.key("outlier_detection").open('{');
        for (Map.Entry<String, OutlierDetector> c : new TreeMap<>(detectors).entrySet()) {
            json.key(c.getKey());
            c.getValue().dump(json);
        }
        json.close('}');
    }

    /** Drops the state of {@code cluster}, gone from the configuration. */
    void forget(String cluster) {
        breakers.remove(cluster);
        OutlierDetector d = detectors.remove(cluster);
        if (d != null) {
            d.close();
        }
    }

    /** Each detector keeps only the endpoints its cluster still lists ({@code null}: the cluster is gone). */
    void retain(Function<String, Set<InetSocketAddress>> endpoints) {
        detectors.forEach((name, d) -> {
            Set<InetSocketAddress> listed = endpoints.apply(name);
            if (listed != null) {
                d.retain(listed);
            }
        });
    }

    /** Stops the detectors' timers. */
    @Override
    public void close() {
        detectors.values().forEach(OutlierDetector::close);
        detectors.clear();
    }
}
