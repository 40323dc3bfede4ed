package dev.ambit.istiod.deploy;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.backoff.Backoff;
import dev.ambit.common.config.Checks;
import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.Kind;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Kubernetes mode: the ConfigMap {@code istio-ca-root-cert} (key {@code root-cert.pem}, label
 * {@code istio.io/config: "true"}) in every namespace, as istiod's namespace controller writes it,
 * so any pod can mount the mesh root (waypoints, gateways, proxyless gRPC clients, sidecar-less
 * tools). Namespaces Istio leaves out are left out ({@code kube-public}, {@code kube-node-lease},
 * {@code local-path-storage}; {@code kube-system} is kept, where node agents may run).
 *
 * Terminating namespaces (deletion timestamp set or phase {@code Terminating}) are skipped: the
 * API server refuses creations there.
 *
 * <p>When: on every {@linkplain #onSnapshot config snapshot} (a namespace created), when the root
 * changes (the supplier is compared every {@linkplain Builder#rootCheck root check}: a new root
 * reaches every namespace without waiting for a resync), when a ConfigMap of that name is deleted
 * or changed to something else (with {@linkplain Builder#watch a client to watch}, as istiod's
 * informer on the name: only that namespace is written again), and every {@linkplain
 * Builder#resync resync period} (a repair of what a missed event left). Each run applies
 * through {@link ClusterWriter}, which writes only what differs, so an unchanged cluster costs
 * reads only. A refused write (RBAC, a namespace being deleted) is counted, logged once while it
 * lasts, and tried again after a backoff. Runs are serialized on one thread.
 *
 * <p>Metric: {@code ambit_root_cert_configmaps_total{result}} (created, updated, unchanged, error).
 */
public final class RootCertPublisher implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(RootCertPublisher.class);

    /** Istio's {@code inject.IgnoredNamespaces} without kube-system (namespacecontroller.go). */
    static final Set<String> IGNORED = Set.of("kube-public", "kube-node-lease", "local-path-storage");

    private final ClusterWriter writer;
    private final Supplier<String> rootCertPem;
    private final Duration resync;
    private final Duration rootCheck;
    private final Backoff retry;
    private final Counter.Family results;
    private final KubernetesClient watchClient;

    private final AtomicReference<ConfigSnapshot> latest = new AtomicReference<>();
    // A full pass is due (snapshot, root change; the loop's timed passes: resync, retry); else
    // only the namespaces queued.
    private final AtomicBoolean fullRunDue = new AtomicBoolean();
    private final Set<String> namespacesDue = ConcurrentHashMap.newKeySet();
    private SharedIndexInformer<ConfigMap> watch;
    private ReconcileLoop loop;

    // Confined to the publisher's thread (or the test calling reconcile directly).
    private final Map<String, String> lastProblem = new HashMap<>();
    private volatile String publishedRoot;

    private RootCertPublisher(Builder b) {
        this.writer = b.writer;
        this.rootCertPem = b.rootCertPem;
        this.resync = b.resync;
        this.rootCheck = b.rootCheck;
        this.retry = b.retry;
        this.watchClient = b.watchClient;
        this.results = b.metrics.counter("ambit_root_cert_configmaps_total",
                "istio-ca-root-cert ConfigMap applies, by result (created, updated, unchanged, error).", "result");
    }

    /** A builder writing through {@code writer} the PEM {@code rootCertPem} returns (read on every run). */
    public static Builder builder(ClusterWriter writer, Supplier<String> rootCertPem, MetricsRegistry metrics) {
        return new Builder(requireNonNull(writer, "writer"), requireNonNull(rootCertPem, "rootCertPem"),
                requireNonNull(metrics, "metrics"));
    }

    /** Starts the publisher's thread, the root check and the resync. */
    public synchronized void start() {
        if (loop != null) {
            throw new IllegalStateException("start: already started");
        }
        loop = ReconcileLoop.start("ambit-root-cert-publisher", resync, retry, this::run);
        loop.every(rootCheck, () -> {
            String published = publishedRoot;
            if (published != null && !published.equals(rootCertPem.get())) {
                log.info("mesh root changed: updating istio-ca-root-cert in every namespace");
                scheduleFullRun();
            }
        });
        if (watchClient != null) {
            watch = watchClient.configMaps().inAnyNamespace()
                    .withField("metadata.name", WaypointObjects.ROOT_CERT_CONFIG_MAP).runnableInformer(0);
            watch.addEventHandler(new ResourceEventHandler<ConfigMap>() {
                @Override
                public void onAdd(ConfigMap cm) {
                    onChanged(cm, false);
                }

                @Override
                public void onUpdate(ConfigMap before, ConfigMap cm) {
                    onChanged(cm, false);
                }

                @Override
                public void onDelete(ConfigMap cm, boolean finalStateUnknown) {
                    onChanged(cm, true);
                }
            });
            watch.start(); // failures: the informer retries; the resync repairs meanwhile
        }
        scheduleFullRun();
    }

    // Our own writes come back as events too: only a deletion or a foreign root queues a write.
    private void onChanged(ConfigMap cm, boolean deleted) {
        String published = publishedRoot;
        String ns = cm.getMetadata().getNamespace();
        if (deleted || (published != null && !Objects.equals(published,
                cm.getData() == null ? null : cm.getData().get(WaypointObjects.ROOT_CERT_KEY)))) {
            if (deleted) {
                log.info("istio-ca-root-cert in namespace {} deleted: writing it again", ns);
            }
            namespacesDue.add(ns);
            scheduleRun();
        }
    }

    /** The latest configuration (its Namespaces); published soon on the publisher's thread. */
    public void onSnapshot(ConfigSnapshot snapshot) {
        latest.set(requireNonNull(snapshot, "snapshot"));
        scheduleFullRun();
    }

    private void scheduleFullRun() {
        fullRunDue.set(true);
        scheduleRun();
    }

    private void scheduleRun() {
        ReconcileLoop l;
        synchronized (this) {
            l = loop;
        }
        if (l != null) {
            l.request();
        }
    }

    /** One pass on the loop's thread: every namespace when due, else those the watch queued. */
    private boolean run(boolean timed) {
        ConfigSnapshot snapshot = latest.get();
        if (snapshot == null) {
            return true;
        }
        Set<String> only = null;
        if (!fullRunDue.getAndSet(false) && !timed) {
            only = Set.copyOf(namespacesDue);
            namespacesDue.removeAll(only);
            if (only.isEmpty()) {
                return true;
            }
        } else {
            namespacesDue.clear();
        }
        return reconcile(snapshot, only);
    }

    /**
     * Applies the ConfigMap in every namespace of {@code snapshot} on the calling thread; returns
     * false when a namespace's write was refused. Not to be run twice at once.
     */
    boolean reconcile(ConfigSnapshot snapshot) {
        return reconcile(snapshot, null);
    }

    /** As {@link #reconcile(ConfigSnapshot)}, limited to the namespaces {@code only} names (null: all). */
    boolean reconcile(ConfigSnapshot snapshot, Set<String> only) {
        String pem = requireNonNull(rootCertPem.get(), "root certificate");
        boolean ok = true;
        List<String> namespaces = snapshot.all(Kind.NAMESPACE).stream()
                .filter(RootCertPublisher::active).map(n -> n.getMetadata().getName())
                .filter(n -> !IGNORED.contains(n)).toList();
        for (String ns : namespaces) {
            if (only != null && !only.contains(ns)) {
                continue;
            }
            try {
                ClusterWriter.Outcome outcome = writer.apply(WaypointObjects.rootCert(ns, pem)).outcome();
                results.labels(outcome.name().toLowerCase(Locale.ROOT)).inc();
                if (lastProblem.remove(ns) != null) {
                    log.info("istio-ca-root-cert in namespace {}: written", ns);
                }
            } catch (RuntimeException e) {
                results.labels("error").inc();
                ok = false;
                String problem = String.valueOf(e.getMessage());
                if (!problem.equals(lastProblem.put(ns, problem))) {
                    log.warn("istio-ca-root-cert in namespace {}: cannot write it ({}); retrying", ns, problem);
                }
            }
        }
        lastProblem.keySet().retainAll(namespaces);
        if (ok && only == null) {
            publishedRoot = pem;
        }
        return ok;
    }

    private static boolean active(HasMetadata ns) {
        return ns.getMetadata().getDeletionTimestamp() == null && !(ns instanceof Namespace n
                && n.getStatus() != null && "Terminating".equals(n.getStatus().getPhase()));
    }

    @Override
    public synchronized void close() {
        if (watch != null) {
            watch.stop();
            try {
                // Its watch connection is closed only once stopped: wait, so the client (and an API
                // server that drains its connections) can close right after this.
                watch.stopped().toCompletableFuture().get(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                log.debug("root-cert watch: not stopped within 5 s: {}", e.toString());
            }
        }
        if (loop != null) {
            loop.close();
        }
    }

    public static final class Builder {
        private final ClusterWriter writer;
        private final Supplier<String> rootCertPem;
        private final MetricsRegistry metrics;
        private Duration resync = Duration.ofMinutes(5);
        private Duration rootCheck = Duration.ofSeconds(10);
        private Backoff retry = Backoff.of(Duration.ofSeconds(1), Duration.ofSeconds(30));
        private KubernetesClient watchClient;

        private Builder(ClusterWriter writer, Supplier<String> rootCertPem, MetricsRegistry metrics) {
            this.writer = writer;
            this.rootCertPem = rootCertPem;
            this.metrics = metrics;
        }

        /** How often every namespace's ConfigMap is checked and repaired. Default 5 minutes. */
        public Builder resync(Duration resync) {
            Checks.positive(resync, "resync");
            this.resync = resync;
            return this;
        }

        /** How often the root is compared with the one last published. Default 10 seconds. */
        public Builder rootCheck(Duration rootCheck) {
            Checks.positive(rootCheck, "rootCheck");
            this.rootCheck = rootCheck;
            return this;
        }

        /** The delay before retrying after a refused write. Default 1 s doubling to 30 s. */
        public Builder retry(Backoff retry) {
            this.retry = requireNonNull(retry, "retry");
            return this;
        }

        /**
         * Watches the ConfigMaps named {@code istio-ca-root-cert} through {@code client} (list and
         * watch with a {@code metadata.name} field selector, which RBAC's resourceNames allows), so
         * a deleted or altered one is written again at once rather than at the next resync.
         */
        public Builder watch(KubernetesClient client) {
            this.watchClient = requireNonNull(client, "client");
            return this;
        }

        public RootCertPublisher build() {
            return new RootCertPublisher(this);
        }
    }
}
