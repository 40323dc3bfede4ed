package dev.ambit.waypoint.upstream;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.json.JsonWriter;
import dev.ambit.waypoint.ResponseFlag;
import io.envoyproxy.envoy.config.core.v3.HealthStatus;
import io.netty.util.NetUtil;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Envoy's consecutive-failure outlier detection for one cluster ({@code outlier_detection}),
 * fed by the cluster manager with the outcome of every attempt to one of its endpoints.
 *
 * <p><b>Outcomes.</b> A response is externally originated: a 5xx counts toward
 * {@code consecutive_5xx}, and a 502/503/504 also toward {@code consecutive_gateway_failure};
 * any other status resets both. A connect failure, connect timeout, reset or close before a
 * whole response, and the attempt's timeout are locally originated: without
 * {@code split_external_local_origin_errors} they count as Envoy maps them (a failure as 503,
 * a timeout as 504) toward both counters above; with it they count only toward
 * {@code consecutive_local_origin_failure}, which any response resets.
 *
 * <p><b>Ejection.</b> A counter reaching its threshold is reset and, with the detector's
 * {@code enforcing_*} probability, ejects the endpoint unless that would take the ejected share
 * of the cluster's endpoints over {@code max_ejection_percent} (counting the one being
 * ejected, as Envoy since 1.31; {@code always_eject_one_host} allows the first regardless).
 * An ejected endpoint stays out for {@code base_ejection_time × n}, n the times it was
 * ejected in a row (capped so that it never exceeds {@code max_ejection_time}, at least the
 * base), and returns on the first {@code interval} sweep after that. An endpoint back in
 * service for a base ejection time has n decreased by one on each sweep after that.
 * Ejected endpoints are shown to the picker as UNHEALTHY ({@link #present}), so the cluster's
 * panic threshold applies as in Envoy. Thread-safe.
 */
final class OutlierDetector implements AutoCloseable {

    /** The detectors, by Envoy's ejection type names. */
    enum Type {
        CONSECUTIVE_5XX("consecutive_5xx"),
        CONSECUTIVE_GATEWAY_FAILURE("consecutive_gateway_failure"),
        CONSECUTIVE_LOCAL_ORIGIN_FAILURE("consecutive_local_origin_failure");

        final String label;

        Type(String label) {
            this.label = label;
        }
    }

    private final String cluster;
    private final UpstreamMetrics metrics;
    private final EventExecutor timerExecutor;
    private final LongSupplier nanoClock;
    private final Map<InetSocketAddress, Host> hosts = new HashMap<>();
    private volatile Resilience.Outlier settings;
    private ScheduledFuture<?> sweep;
    private Duration sweepInterval;
    private int hostCount;
    private int active;
    private boolean closed;

    OutlierDetector(String cluster, Resilience.Outlier settings, UpstreamMetrics metrics, EventExecutor timerExecutor,
                    LongSupplier nanoClock) {
        this.cluster = requireNonNull(cluster, "cluster");
        this.metrics = requireNonNull(metrics, "metrics");
        this.timerExecutor = requireNonNull(timerExecutor, "timerExecutor");
        this.nanoClock = requireNonNull(nanoClock, "nanoClock");
        settings(settings);
    }

    /** The cluster's current settings; a new interval restarts the sweep. */
    void settings(Resilience.Outlier settings) {
        if (this.settings == settings) {
            return; // the same configuration version: the per-request path takes no lock here
        }
        update(settings);
    }

    private synchronized void update(Resilience.Outlier settings) {
        this.settings = requireNonNull(settings, "settings");
        if (closed || settings.interval().equals(sweepInterval)) {
            return;
        }
        if (sweep != null) {
            sweep.cancel(false);
        }
        sweepInterval = settings.interval();
        long n = sweepInterval.toNanos();
        sweep = timerExecutor.scheduleAtFixedRate(this::sweep, n, n, TimeUnit.NANOSECONDS);
    }

    /**
     * {@code endpoints} as the picker must see them: ejected ones UNHEALTHY (the same list when
     * none is). Also learns the cluster's size, which {@code max_ejection_percent} is of.
     */
    List<UpstreamEndpoint> present(List<UpstreamEndpoint> endpoints) {
        synchronized (this) {
            hostCount = endpoints.size();
            if (active == 0) {
                return endpoints;
            }
        }
        List<UpstreamEndpoint> shown = new ArrayList<>(endpoints.size());
        for (UpstreamEndpoint e : endpoints) {
            shown.add(ejected(e.address()) && e.healthy()
                    ? e.withHealth(HealthStatus.UNHEALTHY) : e);
        }
        return shown;
    }

    synchronized boolean ejected(InetSocketAddress endpoint) {
        Host h = hosts.get(endpoint);
        return h != null && h.ejected;
    }

    /** Endpoints ejected now. */
    synchronized int activeEjections() {
        return active;
    }

    /** An attempt to {@code endpoint} got a response with {@code status}. */
    void response(InetSocketAddress endpoint, int status) {
        List<Type> reached = new ArrayList<>(2);
        synchronized (this) {
            Host h = host(endpoint);
            h.localOrigin = 0; // it connected: a local-origin success
            external(h, status, reached);
            for (Type t : reached) {
                charge(endpoint, h, t);
            }
        }
    }

    /** An attempt to {@code endpoint} failed locally (connect, reset, close, timeout), as {@code flag} says. */
    void failure(InetSocketAddress endpoint, ResponseFlag flag) {
        List<Type> reached = new ArrayList<>(2);
        synchronized (this) {
            Host h = host(endpoint);
            if (settings.splitExternalLocalOriginErrors()) {
                if (++h.localOrigin >= settings.consecutiveLocalOriginFailure()) {
                    h.localOrigin = 0;
                    reached.add(Type.CONSECUTIVE_LOCAL_ORIGIN_FAILURE);
                }
            } else {
                // Envoy maps a local-origin failure to 503 and a timeout to 504 when not split.
                external(h, flag == ResponseFlag.UT ? 504 : 503, reached);
            }
            for (Type t : reached) {
                charge(endpoint, h, t);
            }
        }
    }

    private void external(Host h, int status, List<Type> reached) {
        if (status >= 500 && status <= 599) {
            if (status == 502 || status == 503 || status == 504) {
                if (++h.gateway >= settings.consecutiveGatewayFailure()) {
                    h.gateway = 0;
                    reached.add(Type.CONSECUTIVE_GATEWAY_FAILURE);
                }
            } else {
                h.gateway = 0;
            }
            if (++h.consecutive5xx >= settings.consecutive5xx()) {
                h.consecutive5xx = 0;
                reached.add(Type.CONSECUTIVE_5XX);
            }
        } else {
            h.consecutive5xx = 0;
            h.gateway = 0;
        }
    }

    private void charge(InetSocketAddress endpoint, Host h, Type type) {
        if (h.ejected || closed) {
            return;
        }
        int enforcing = switch (type) {
            case CONSECUTIVE_5XX -> settings.enforcing5xx();
            case CONSECUTIVE_GATEWAY_FAILURE -> settings.enforcingGatewayFailure();
            case CONSECUTIVE_LOCAL_ORIGIN_FAILURE -> settings.enforcingLocalOriginFailure();
        };
        if (enforcing <= 0 || enforcing < 100 && ThreadLocalRandom.current().nextInt(100) >= enforcing) {
            return;
        }
        int size = Math.max(hostCount, hosts.size());
        boolean withinPercent = size > 0 && 100.0 * (active + 1) / size <= settings.maxEjectionPercent();
        if (!withinPercent && !(settings.alwaysEjectOneHost() && active == 0)) {
            metrics.ejectionOverflow(cluster);
            return;
        }
        long base = settings.baseEjectionTime().toNanos();
        long cap = Math.max(settings.maxEjectionTime().toNanos(), base);
        if ((h.multiplier + 1) * base <= cap) {
            h.multiplier++;
        }
        h.ejected = true;
        h.times++;
        h.ejectedAt = nanoClock.getAsLong();
        h.ejectedFor = Math.min(base * Math.max(1, h.multiplier), cap);
        h.type = type;
        active++;
        metrics.ejected(cluster, type.label);
        metrics.ejectionsActive(cluster, active);
    }

    /** The interval sweep: ejections that ran their time end; the back-off of healthy endpoints decays. */
    void sweep() {
        synchronized (this) {
            long now = nanoClock.getAsLong();
            long base = settings.baseEjectionTime().toNanos();
            for (Host h : hosts.values()) {
                if (h.ejected) {
                    if (now - h.ejectedAt >= h.ejectedFor) {
                        h.ejected = false;
                        h.unejectedAt = now;
                        h.consecutive5xx = 0;
                        h.gateway = 0;
                        h.localOrigin = 0;
                        active--;
                    }
                } else if (h.multiplier > 0 && h.unejectedAt != 0 && now - h.unejectedAt >= base) {
                    h.multiplier--;
                }
            }
            metrics.ejectionsActive(cluster, active);
        }
    }

    /** Forgets endpoints no longer in the cluster. */
    synchronized void retain(Set<InetSocketAddress> listed) {
        hosts.entrySet().removeIf(e -> {
            if (listed.contains(e.getKey())) {
                return false;
            }
            if (e.getValue().ejected) {
                active--;
            }
            return true;
        });
        metrics.ejectionsActive(cluster, active);
    }

    /** Stops the sweep (the cluster is gone). */
    @Override
    public synchronized void close() {
        closed = true;
        if (sweep != null) {
            sweep.cancel(false);
        }
    }

    /** Each endpoint's outlier state, as the admin shows it. */
    synchronized void dump(JsonWriter json) {
        long now = nanoClock.getAsLong();
        json.open('{');
        json.key("ejections_active").value(active);
        json.key("endpoints").open('{');
        for (Map.Entry<String, Host> e : sorted().entrySet()) {
            Host h = e.getValue();
            json.key(e.getKey()).open('{');
            json.key("ejected").value(h.ejected);
            if (h.ejected) {
                json.key("ejection_type").value(h.type.label);
                json.key("ejected_for_ms").value(TimeUnit.NANOSECONDS.toMillis(h.ejectedFor));
                json.key("remaining_ms").value(Math.max(0, TimeUnit.NANOSECONDS.toMillis(h.ejectedAt + h.ejectedFor - now)));
            }
            json.key("times_ejected").value(h.times);
            json.key("ejection_multiplier").value(h.multiplier);
            json.key("consecutive_5xx").value(h.consecutive5xx);
            json.key("consecutive_gateway_failure").value(h.gateway);
            json.key("consecutive_local_origin_failure").value(h.localOrigin);
            json.close('}');
        }
        json.close('}');
        json.close('}');
    }

    private Map<String, Host> sorted() {
        Map<String, Host> m = new TreeMap<>();
        hosts.forEach((a, h) -> m.put(NetUtil.toSocketAddressString(a), h));
        return m;
    }

    private Host host(InetSocketAddress endpoint) {
        return hosts.computeIfAbsent(endpoint, k -> new Host());
    }

    /** One endpoint's counters and ejection state. */
    private static final class Host {
        int consecutive5xx;
        int gateway;
        int localOrigin;
        boolean ejected;
        Type type;
        long ejectedAt;
        long ejectedFor;
        long unejectedAt;
        int multiplier;
        long times;
    }
}
