package dev.ambit.proxy.health;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.json.JsonWriter;
import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.MetricsRegistry;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Passive health of the endpoints the outbound proxy connects to: Envoy's outlier detection
 * for connect failures ({@code consecutive_local_origin_failure}), one tracker per node agent
 * shared by every pod's outbound listener.
 *
 * <p><b>Ejection.</b> {@link Builder#consecutiveFailures} failed connects in a row (TCP connect
 * refused or timed out, TLS handshake failure, no answer to the HBONE {@code CONNECT}; 1 by
 * default: such a failure is local and definitive, and the connection that met it was failed
 * over already) eject the endpoint for {@code baseEjectionTime × n}, where {@code n} is how
 * many times it was ejected, capped at {@link Builder#maxEjectionTime} (Envoy's
 * {@code base_ejection_time} and {@code max_ejection_time}; 5 s and 60 s by default, shorter
 * than Envoy's 30 s and 300 s because a node agent usually comes back within seconds). The
 * endpoint returns on time, by itself (no probe); a failure after its return ejects it again,
 * for longer. {@code n} goes down by one for each {@code baseEjectionTime} the endpoint spent
 * back without being ejected, as Envoy's multiplier decays while a host is healthy. A
 * successful connect resets the run of failures, not {@code n}.
 *
 * <p><b>Panic.</b> The tracker only answers {@link #isEjected}; the caller decides what to do
 * when every endpoint is ejected. The outbound proxy then tries them anyway (Envoy's panic
 * mode) rather than failing with no healthy upstream.
 *
 * <p>Time is a {@link LongSupplier} of nanoseconds ({@link System#nanoTime} by default), so
 * tests move it. Thread-safe: called from every event loop; the state of one endpoint is
 * updated under its own lock.
 *
 * <p>Metrics: {@value #EJECTIONS}{@code {reason}} and {@value #EJECTED} (endpoints ejected
 * now). The admin {@code /config_dump} shows each tracked endpoint ({@link #writeJson}).
 */
public final class EndpointHealth {

    public static final String EJECTIONS = "ambit_agent_endpoint_ejections_total";
    public static final String EJECTED = "ambit_agent_endpoints_ejected";

    private static final Logger log = LoggerFactory.getLogger(EndpointHealth.class);

    /**
     * One endpoint: a workload at the address (ip and target port) connections are sent to.
     * The uid keeps a new pod that reuses a gone one's address apart from it.
     *
     * @param workloadUid the workload's uid, or "" when not known
     * @param address the endpoint's {@code ip:target port}
     */
    public record Key(String workloadUid, InetSocketAddress address) {
        public Key {
            requireNonNull(workloadUid, "workloadUid");
            requireNonNull(address, "address");
        }

        @Override
        public String toString() {
            return address.getAddress().getHostAddress() + ":" + address.getPort()
                    + (workloadUid.isEmpty() ? "" : " (" + workloadUid + ")");
        }
    }

    /** What the tracker knows of one endpoint, at one instant. */
    public record Status(Key key, boolean ejected, long ejectedForMillis, int consecutiveFailures, int ejections,
                         long totalFailures, String lastFailure) {}

    private final Duration baseEjectionTime;
    private final Duration maxEjectionTime;
    private final int consecutiveFailures;
    private final LongSupplier nanoTime;
    private final Counter.Family ejections;
    private final Map<Key, Entry> entries = new ConcurrentHashMap<>();

    private EndpointHealth(Builder b) {
        baseEjectionTime = b.baseEjectionTime;
        maxEjectionTime = b.maxEjectionTime;
        consecutiveFailures = b.consecutiveFailures;
        nanoTime = b.nanoTime;
        ejections = b.metrics.counter(EJECTIONS,
                "Endpoints ejected by passive health checking (connect failures), by reason.", "reason");
        b.metrics.gauge(EJECTED, "Endpoints ejected by passive health checking now.", this::ejectedCount);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Whether {@code key} is ejected now: the outbound proxy avoids it while others are not. */
    public boolean isEjected(Key key) {
        Entry e = entries.get(key);
        return e != null && e.ejected(nanoTime.getAsLong());
    }

    /**
     * A connect to {@code key} failed ({@code reason}: {@code connect}, {@code handshake},
     * {@code no_answer}, ...): counts towards its ejection. Returns whether this failure ejected it.
     */
    public boolean failed(Key key, String reason) {
        requireNonNull(key, "key");
        requireNonNull(reason, "reason");
        long now = nanoTime.getAsLong();
        Entry e = entries.computeIfAbsent(key, k -> new Entry());
        long ejectedFor;
        synchronized (e) {
            e.totalFailures++;
            e.lastFailure = reason;
            if (e.ejected(now)) {
                return false; // a connection that was already on its way, or a panic attempt
            }
            if (++e.consecutive < consecutiveFailures) {
                return false;
            }
            if (e.ejections > 0 && e.until != 0) {
                // Envoy's decay: one step less per base time spent back without an ejection.
                long back = Math.max(0, now - e.until);
                e.ejections = (int) Math.max(0, e.ejections - back / baseEjectionTime.toNanos());
            }
            e.ejections++;
            e.consecutive = 0;
            long base = baseEjectionTime.toNanos();
            long max = maxEjectionTime.toNanos();
            ejectedFor = e.ejections > max / base ? max : base * e.ejections; // never overflows
            e.until = now + ejectedFor;
        }
        ejections.labels(reason).inc();
        log.info("endpoint {} ejected for {} ms after a failed connect ({})", key,
                TimeUnit.NANOSECONDS.toMillis(ejectedFor), reason);
        return true;
    }

    /** A connect to {@code key} succeeded: its run of failures ends. */
    public void succeeded(Key key) {
        Entry e = entries.get(key);
        if (e != null) {
            synchronized (e) {
                e.consecutive = 0;
            }
        }
    }

    /**
     * Forgets the endpoints whose workload uid {@code present} no longer accepts (the workload
     * left the mesh's view), so the tracker holds only endpoints that may still be picked.
     * Endpoints without a uid are kept while ejected and dropped once back.
     */
    public void retainWorkloads(Predicate<String> present) {
        requireNonNull(present, "present");
        long now = nanoTime.getAsLong();
        entries.entrySet().removeIf(en -> en.getKey().workloadUid().isEmpty()
                ? !en.getValue().ejected(now) && en.getValue().consecutive == 0
                : !present.test(en.getKey().workloadUid()));
    }

    /** Every tracked endpoint, ordered by address. */
    public List<Status> statuses() {
        long now = nanoTime.getAsLong();
        List<Status> out = new ArrayList<>();
        entries.forEach((k, e) -> {
            synchronized (e) {
                boolean ejected = e.ejected(now);
                out.add(new Status(k, ejected, ejected ? TimeUnit.NANOSECONDS.toMillis(e.until - now) : 0,
                        e.consecutive, e.ejections, e.totalFailures, e.lastFailure));
            }
        });
        out.sort(Comparator.comparing((Status s) -> s.key().address().getAddress().getHostAddress())
                .thenComparingInt(s -> s.key().address().getPort())
                .thenComparing(s -> s.key().workloadUid()));
        return out;
    }

    /** Endpoints ejected now. */
    public int ejectedCount() {
        long now = nanoTime.getAsLong();
        int n = 0;
        for (Entry e : entries.values()) {
            if (e.ejected(now)) {
                n++;
            }
        }
        return n;
    }

    /**
     * The admin config dump's {@code endpoints} section: one object per tracked endpoint,
     * {@code address}, {@code workload}, {@code state} ({@code ejected} or {@code healthy}),
     * {@code ejected_for_ms} (time left), {@code consecutive_failures}, {@code ejections},
     * {@code failures} and {@code last_failure}.
     */
    public void writeJson(JsonWriter json) {
        json.open('[');
        for (Status s : statuses()) {
            json.open('{')
                    .key("address").value(s.key().address().getAddress().getHostAddress() + ":"
                            + s.key().address().getPort())
                    .key("workload").value(s.key().workloadUid())
                    .key("state").value(s.ejected() ? "ejected" : "healthy")
                    .key("ejected_for_ms").value(s.ejectedForMillis())
                    .key("consecutive_failures").value(s.consecutiveFailures())
                    .key("ejections").value(s.ejections())
                    .key("failures").value(s.totalFailures())
                    .key("last_failure").value(s.lastFailure())
                    .close('}');
        }
        json.close(']');
    }

    /** One endpoint's record; fields guarded by the entry itself, except reads of {@code until}. */
    private static final class Entry {
        private int consecutive;
        private int ejections;
        private long totalFailures;
        private String lastFailure = "";
        /** End of the current or last ejection (nanoTime); 0 if never ejected. */
        private volatile long until;

        boolean ejected(long now) {
            long u = until;
            return u != 0 && now - u < 0;
        }
    }

    /** Configures an {@link EndpointHealth}. */
    public static final class Builder {
        private Duration baseEjectionTime = Duration.ofSeconds(5);
        private Duration maxEjectionTime = Duration.ofSeconds(60);
        private int consecutiveFailures = 1;
        private LongSupplier nanoTime = System::nanoTime;
        private MetricsRegistry metrics = MetricsRegistry.create();

        private Builder() {
        }

        /** The first ejection's length, and the step it grows by per ejection; 5 s by default. */
        public Builder baseEjectionTime(Duration baseEjectionTime) {
            this.baseEjectionTime = positive(baseEjectionTime, "baseEjectionTime");
            return this;
        }

        /** The longest ejection; 60 s by default. */
        public Builder maxEjectionTime(Duration maxEjectionTime) {
            this.maxEjectionTime = positive(maxEjectionTime, "maxEjectionTime");
            return this;
        }

        /** Failed connects in a row that eject an endpoint; 1 by default. */
        public Builder consecutiveFailures(int consecutiveFailures) {
            if (consecutiveFailures < 1) {
                throw new IllegalArgumentException("consecutiveFailures: " + consecutiveFailures + " (expected: >= 1)");
            }
            this.consecutiveFailures = consecutiveFailures;
            return this;
        }

        /** The clock, in nanoseconds as {@link System#nanoTime} (the default); for tests. */
        public Builder nanoTime(LongSupplier nanoTime) {
            this.nanoTime = requireNonNull(nanoTime, "nanoTime");
            return this;
        }

        /** Where the tracker's metrics go; a private registry by default. */
        public Builder metrics(MetricsRegistry metrics) {
            this.metrics = requireNonNull(metrics, "metrics");
            return this;
        }

        /** @throws IllegalArgumentException if the maximum ejection time is below the base */
        public EndpointHealth build() {
            if (maxEjectionTime.compareTo(baseEjectionTime) < 0) {
                throw new IllegalArgumentException("maxEjectionTime: " + maxEjectionTime + " (expected: >= "
                        + "baseEjectionTime " + baseEjectionTime + ")");
            }
            return new EndpointHealth(this);
        }

        private static Duration positive(Duration d, String name) {
            requireNonNull(d, name);
            if (d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(name + ": " + d + " (expected: > 0)");
            }
            return d;
        }
    }
}
