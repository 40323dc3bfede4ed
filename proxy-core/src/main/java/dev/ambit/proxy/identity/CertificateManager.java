package dev.ambit.proxy.identity;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.backoff.Backoff;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.Gauge;
import dev.ambit.common.metrics.MetricsRegistry;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The certificates of the identities of this node's pods, as ztunnel's secret manager.
 *
 * <ul>
 *   <li>{@link #fetch} answers from the cache while the certificate is valid; otherwise it
 *       joins the request in flight for that identity, or starts one. One CA call per
 *       identity at a time, however many connections ask.</li>
 *   <li>A certificate is renewed at {@code renewAt} of its life (half by default, a little
 *       earlier by jitter so a node's identities do not renew in lockstep). Life counts from
 *       receipt, not {@code notBefore}: the CA back-dates that by a minute for clock skew,
 *       which would make a short-lived certificate due at once.</li>
 *   <li>A failed fetch or renewal is retried with exponential backoff (bounded by
 *       {@code maxBackoff}) until it succeeds or the identity is forgotten. The previous
 *       certificate stays in use until it expires.</li>
 *   <li>{@link #forget} drops an identity when its last pod leaves the node.</li>
 * </ul>
 *
 * <p>Metrics: {@code ambit_agent_certificate_expiry_seconds{identity}} (seconds until the
 * current leaf expires, negative once expired), {@code ambit_agent_certificate_fetch_failures_total},
 * {@code ambit_agent_certificate_renewals_total}.
 *
 * <p>Thread-safe; state changes happen under one lock, CA calls and listeners outside it.
 */
public final class CertificateManager implements AutoCloseable {

    static final String EXPIRY = "ambit_agent_certificate_expiry_seconds";
    static final String FAILURES = "ambit_agent_certificate_fetch_failures_total";
    static final String RENEWALS = "ambit_agent_certificate_renewals_total";

    private static final Logger logger = LoggerFactory.getLogger(CertificateManager.class);

    private final CertificateIssuer issuer;
    private final ScheduledExecutorService scheduler;
    private final boolean ownsScheduler;
    private final Clock clock;
    private final double renewAt;
    private final double jitter;
    private final Backoff backoff;
    private final Gauge.Family expiry;
    private final Counter failures;
    private final Counter renewals;
    private final List<CertificateListener> listeners = new CopyOnWriteArrayList<>();
    private final Map<SpiffeId, Entry> entries = new HashMap<>();
    private boolean closed;

    /** One identity's state; guarded by the manager's lock. */
    private static final class Entry {
        final SpiffeId identity;
        /** Written under the lock; volatile so the expiry gauge reads it at scrape time without the lock. */
        volatile WorkloadCertificate current;
        /** Completed by the next attempt's outcome; what fetch() waits on when nothing valid is cached. */
        CompletableFuture<WorkloadCertificate> next = new CompletableFuture<>();
        boolean inFlight;
        int consecutiveFailures;
        ScheduledFuture<?> timer;

        Entry(SpiffeId identity) {
            this.identity = identity;
        }
    }

    private CertificateManager(Builder b) {
        this.issuer = b.issuer;
        if (b.scheduler != null) {
            this.scheduler = b.scheduler;
            this.ownsScheduler = false;
        } else {
            this.scheduler = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform()
                    .name("ambit-certificates").daemon(true).factory());
            this.ownsScheduler = true;
        }
        this.clock = b.clock;
        this.renewAt = b.renewAt;
        this.jitter = b.jitter;
        this.backoff = Backoff.of(b.initialBackoff, b.maxBackoff).withJitter(0.2);
        this.expiry = b.metrics.gauge(EXPIRY, "Seconds until the current workload certificate expires.",
                "identity");
        this.failures = b.metrics.counter(FAILURES, "Failed workload certificate fetches and renewals.").labels();
        this.renewals = b.metrics.counter(RENEWALS, "Workload certificates renewed (not first fetches).").labels();
    }

    public static Builder builder(CertificateIssuer issuer) {
        return new Builder(issuer);
    }

    /** Registers a listener for certificate changes of any identity. */
    public void addListener(CertificateListener listener) {
        listeners.add(requireNonNull(listener, "listener"));
    }

    public void removeListener(CertificateListener listener) {
        listeners.remove(listener);
    }

    /**
     * The certificate of {@code identity}: at once when a valid one is cached, otherwise when
     * the current attempt (shared by all callers) completes. Fails with a {@link CaException}
     * when that attempt fails (retries continue in the background), or with kind
     * {@code FORGOTTEN} when the identity is forgotten first. Starts tracking the identity.
     *
     * @throws IllegalStateException when the manager is closed
     */
    public CompletableFuture<WorkloadCertificate> fetch(SpiffeId identity) {
        requireNonNull(identity, "identity");
        boolean start = false;
        CompletableFuture<WorkloadCertificate> waiting;
        Entry entry;
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("certificate manager closed");
            }
            entry = entries.get(identity);
            if (entry == null) {
                entry = new Entry(identity);
                entries.put(identity, entry);
                Entry e = entry;
                expiry.labels(identity.uri()).bind(() -> secondsLeft(e));
            }
            WorkloadCertificate current = entry.current;
            if (current != null && current.isValidAt(clock.instant())) {
                return CompletableFuture.completedFuture(current);
            }
            if (!entry.inFlight && entry.timer == null) {
                // Nothing running or scheduled: a first fetch (or after an expiry with no retry pending).
                entry.inFlight = true;
                start = true;
            }
            waiting = entry.next;
        }
        if (start) {
            attempt(entry);
        }
        // A copy, so a caller cancelling its future does not cancel everyone's.
        return waiting.copy();
    }

    /** The cached certificate, if one is valid now. Does not start a fetch. */
    public synchronized Optional<WorkloadCertificate> current(SpiffeId identity) {
        Entry e = entries.get(requireNonNull(identity, "identity"));
        if (e == null || e.current == null || !e.current.isValidAt(clock.instant())) {
            return Optional.empty();
        }
        return Optional.of(e.current);
    }

    /**
     * Stops tracking {@code identity} (its last pod left): cancels renewal and retries, drops
     * the certificate and its gauge; callers still waiting fail with kind {@code FORGOTTEN}.
     * Connections already established keep their certificate.
     */
    public void forget(SpiffeId identity) {
        requireNonNull(identity, "identity");
        Entry e;
        synchronized (this) {
            e = entries.remove(identity);
            if (e == null) {
                return;
            }
            cancelTimer(e);
            e.current = null;
            expiry.remove(identity.uri());
        }
        e.next.completeExceptionally(new CaException(CaException.Kind.FORGOTTEN, identity,
                "identity " + identity + " was forgotten (no pod left with it) before its certificate arrived",
                null));
    }

    /** The identities being tracked. */
    public synchronized java.util.Set<SpiffeId> identities() {
        return java.util.Set.copyOf(entries.keySet());
    }

    private void attempt(Entry entry) {
        CompletableFuture<WorkloadCertificate> f;
        try {
            f = issuer.issue(entry.identity);
        } catch (RuntimeException e) {
            // The contract says issuers do not throw; one that does still must not wedge the entry.
            f = CompletableFuture.failedFuture(e);
        }
        f.whenComplete((cert, error) -> completed(entry, cert, error));
    }

    private void completed(Entry entry, WorkloadCertificate cert, Throwable error) {
        if (error instanceof java.util.concurrent.CompletionException && error.getCause() != null) {
            error = error.getCause();
        }
        CompletableFuture<WorkloadCertificate> done;
        WorkloadCertificate previous;
        synchronized (this) {
            entry.inFlight = false;
            if (closed || entries.get(entry.identity) != entry) {
                // Forgotten (or closed) while the CA was working: the answer has no taker.
                return;
            }
            done = entry.next;
            entry.next = new CompletableFuture<>();
            previous = entry.current;
            if (error == null) {
                entry.current = cert;
                entry.consecutiveFailures = 0;
                schedule(entry, renewalDelay(cert));
                if (previous != null) {
                    renewals.inc();
                }
            } else {
                entry.consecutiveFailures++;
                failures.inc();
                schedule(entry, backoff(entry.consecutiveFailures));
            }
        }
        if (error == null) {
            logger.info("certificates: {} {} (serial {}, valid until {})", previous == null ? "fetched" : "renewed",
                    entry.identity, cert.serialNumber().toString(16), cert.notAfter());
            done.complete(cert);
            notifyListeners(entry.identity, previous, cert);
        } else {
            logger.warn("certificates: fetch for {} failed (attempt {}), retrying; current certificate {}: {}",
                    entry.identity, entry.consecutiveFailures, previous == null ? "none" : "valid until "
                            + previous.notAfter(), error.getMessage());
            done.completeExceptionally(error);
        }
    }

    private void notifyListeners(SpiffeId identity, WorkloadCertificate previous, WorkloadCertificate current) {
        for (CertificateListener l : listeners) {
            try {
                l.certificateChanged(identity, previous, current);
            } catch (RuntimeException e) {
                logger.error("certificates: listener {} failed for {}", l, identity, e);
            }
        }
    }

    /** Guarded by this. */
    private void schedule(Entry entry, Duration delay) {
        cancelTimer(entry);
        entry.timer = scheduler.schedule(() -> due(entry), Math.max(0, delay.toNanos()), TimeUnit.NANOSECONDS);
    }

    private void due(Entry entry) {
        synchronized (this) {
            entry.timer = null;
            if (closed || entries.get(entry.identity) != entry || entry.inFlight) {
                return;
            }
            entry.inFlight = true;
        }
        attempt(entry);
    }

    private static void cancelTimer(Entry entry) {
        if (entry.timer != null) {
            entry.timer.cancel(false);
            entry.timer = null;
        }
    }

    /** When to renew: {@code renewAt} of the effective life, minus up to {@code jitter} of it. */
    Duration renewalDelay(WorkloadCertificate cert) {
        Duration life = cert.effectiveLifetime();
        double fraction = renewAt - (jitter == 0 ? 0 : ThreadLocalRandom.current().nextDouble(jitter));
        Instant start = cert.issuedAt().isAfter(cert.notBefore()) ? cert.issuedAt() : cert.notBefore();
        Instant at = start.plusNanos((long) (life.toNanos() * fraction));
        Duration delay = Duration.between(clock.instant(), at);
        return delay.isNegative() ? Duration.ZERO : delay;
    }

    /**
     * initialBackoff * 2^(failures-1), capped at maxBackoff, with up to 20% taken off at random
     * (spreads the retries of many identities, e.g. after a CA outage, apart).
     */
    Duration backoff(int consecutiveFailures) {
        return backoff.delay(consecutiveFailures - 1);
    }

    private double secondsLeft(Entry e) {
        WorkloadCertificate c = e.current;
        return c == null ? 0 : Duration.between(clock.instant(), c.notAfter()).toMillis() / 1000.0;
    }

    /** Stops renewals; waiting callers fail with kind {@code FORGOTTEN}. Idempotent. */
    @Override
    public void close() {
        List<Entry> dropped;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            dropped = List.copyOf(entries.values());
            for (Entry e : dropped) {
                cancelTimer(e);
                expiry.remove(e.identity.uri());
            }
            entries.clear();
        }
        for (Entry e : dropped) {
            e.next.completeExceptionally(new CaException(CaException.Kind.FORGOTTEN, e.identity,
                    "certificate manager closed before a certificate for " + e.identity + " arrived", null));
        }
        if (ownsScheduler) {
            scheduler.shutdownNow();
        }
    }

    /** Configures a {@link CertificateManager}. */
    public static final class Builder {
        private final CertificateIssuer issuer;
        private ScheduledExecutorService scheduler;
        private MetricsRegistry metrics;
        private Clock clock = Clock.systemUTC();
        private double renewAt = 0.5;
        private double jitter = 0.05;
        private Duration initialBackoff = Duration.ofMillis(500);
        // Small: a pod waiting for its first certificate stays unserved until the CA answers.
        private Duration maxBackoff = Duration.ofSeconds(5);

        private Builder(CertificateIssuer issuer) {
            this.issuer = requireNonNull(issuer, "issuer");
        }

        /** Runs renewals and retries; by default a daemon thread the manager owns and stops on close. */
        public Builder scheduler(ScheduledExecutorService scheduler) {
            this.scheduler = requireNonNull(scheduler, "scheduler");
            return this;
        }

        /** Where the manager's metrics go; required. */
        public Builder metrics(MetricsRegistry metrics) {
            this.metrics = requireNonNull(metrics, "metrics");
            return this;
        }

        public Builder clock(Clock clock) {
            this.clock = requireNonNull(clock, "clock");
            return this;
        }

        /** The fraction of its life after which a certificate is renewed; 0.5 by default. */
        public Builder renewAt(double renewAt) {
            if (!(renewAt > 0 && renewAt < 1)) {
                throw new IllegalArgumentException("renewAt: " + renewAt + " (expected: between 0 and 1)");
            }
            this.renewAt = renewAt;
            return this;
        }

        /** Up to this fraction of the life is taken off the renewal time at random; 0.05 by default. */
        public Builder jitter(double jitter) {
            if (!(jitter >= 0 && jitter < 1)) {
                throw new IllegalArgumentException("jitter: " + jitter + " (expected: >= 0 and < 1)");
            }
            this.jitter = jitter;
            return this;
        }

        /** The first retry's delay and the cap of the doubling; 500 ms and 5 s by default. */
        public Builder backoff(Duration initial, Duration max) {
            requireNonNull(initial, "initial");
            requireNonNull(max, "max");
            if (initial.isNegative() || initial.isZero()) {
                throw new IllegalArgumentException("initial: " + initial + " (expected: positive)");
            }
            if (max.compareTo(initial) < 0) {
                throw new IllegalArgumentException("max: " + max + " (expected: >= initial " + initial + ")");
            }
            this.initialBackoff = initial;
            this.maxBackoff = max;
            return this;
        }

        /**
         * @throws IllegalStateException when {@code metrics} was not set, or {@code renewAt - jitter}
         *         is not positive
         */
        public CertificateManager build() {
            if (metrics == null) {
                throw new IllegalStateException("metrics: null (expected: a MetricsRegistry)");
            }
            if (renewAt - jitter <= 0) {
                throw new IllegalStateException("jitter: " + jitter + " (expected: < renewAt " + renewAt + ")");
            }
            return new CertificateManager(this);
        }
    }
}
