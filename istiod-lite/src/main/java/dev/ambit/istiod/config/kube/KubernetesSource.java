package dev.ambit.istiod.config.kube;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.Checks;
import dev.ambit.common.metrics.MetricsRegistry;
import dev.ambit.istiod.config.ConfigError;
import dev.ambit.istiod.config.FailClosed;
import dev.ambit.istiod.config.ConfigException;
import dev.ambit.istiod.config.ConfigMetrics;
import dev.ambit.istiod.config.ConfigSnapshot;
import dev.ambit.istiod.config.ConfigSource;
import dev.ambit.istiod.config.Kind;
import dev.ambit.istiod.config.TlsSecrets;
import dev.ambit.istiod.config.ObjectDecoder;
import dev.ambit.istiod.config.ObjectRef;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ListOptionsBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.dsl.FilterWatchListDeletable;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.fabric8.kubernetes.client.informers.cache.Cache;
import io.fabric8.kubernetes.client.jdkhttp.JdkHttpClientFactory;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads the mesh's configuration from a Kubernetes cluster: one informer per {@link Kind},
 * in all namespaces.
 *
 * <p>Built-in kinds (Namespaces, Pods, Services, ServiceAccounts, EndpointSlices) are read
 * typed. Istio and Gateway API kinds are read as generic objects and decoded by
 * {@link ObjectDecoder}, so an object the API server stored but Ambit cannot use (an
 * unknown {@code action}, a malformed CIDR) is rejected exactly as in folder mode, with
 * origin {@value #ORIGIN}, the object, the field path and the reason. Built-in objects
 * are checked by the same rules.
 *
 * <p>The object is the unit of acceptance. An invalid security object (AuthorizationPolicy,
 * PeerAuthentication, e.g. written while the validating webhook was down) fails closed in
 * its scope ({@link FailClosed}), whether it arrives at start or as an update; an invalid
 * update of any other kind keeps the object's last accepted version in force. Either is reported through {@link Listener#onRejected} and counted
 * in {@code ambit_istiod_config_rejected_total{source="kubernetes",kind}} (once per object
 * each time its errors change); fixing or deleting the object clears the report.
 *
 * <p>{@link #start} returns once every kind has been listed and the first snapshot has been
 * delivered. Later changes are coalesced for {@linkplain Builder#debounce a short window}
 * and delivered as complete snapshots from one thread. A kind whose resource the cluster
 * does not serve (a CRD that is not installed) is logged once and treated as empty; it is
 * looked for again {@linkplain Builder#crdRecheckInterval periodically} and read as soon
 * as it appears.
 */
public final class KubernetesSource implements ConfigSource {

    private static final Logger log = LoggerFactory.getLogger(KubernetesSource.class);

    /** The origin of every {@link ConfigError} this source reports. */
    public static final String ORIGIN = "kubernetes";

    /**
     * Kinds whose schema the API server enforces itself: read through typed informers.
     * Every other kind is read generically and decoded by {@link ObjectDecoder}; a kind
     * added to {@link Kind} later takes that path unless it is listed here.
     */
    static final Set<Kind> BUILT_IN =
            EnumSet.of(Kind.NAMESPACE, Kind.POD, Kind.SERVICE, Kind.SERVICE_ACCOUNT, Kind.ENDPOINT_SLICE,
                    Kind.SECRET, Kind.CONFIG_MAP, Kind.INGRESS);

    private final KubernetesClient client;
    private final Map<String, String> groupVersions;
    private final Duration syncTimeout;
    private final Duration debounce;
    private final Duration crdRecheckInterval;

    private final Object lock = new Object();
    // Everything below is guarded by lock, except where noted.
    private final Map<Kind, KindWatch> watches = new EnumMap<>(Kind.class);
    private final ObjectBook book;
    private long generation;
    private boolean synced;
    private boolean deliveryScheduled;
    private boolean closed;
    private Listener listener;
    private ScheduledExecutorService executor;
    private volatile Thread deliveryThread;

    // Confined to the delivery thread.
    private long deliveredGeneration = -1;
    private List<ConfigError> deliveredErrors;

    private KubernetesSource(Builder b) {
        this.groupVersions = Map.copyOf(b.groupVersions);
        this.client = newClient(b.config, groupVersions);
        this.syncTimeout = b.syncTimeout;
        this.debounce = b.debounce;
        this.crdRecheckInterval = b.crdRecheckInterval;
        this.book = new ObjectBook(client.getKubernetesSerialization(), kind -> watches.get(kind).apiVersion(),
                ConfigMetrics.rejected(b.metrics));
    }

    /**
     * A source for the cluster the usual configuration points at (kubeconfig, or the pod's
     * service account inside a cluster), with default settings.
     */
    public static KubernetesSource of(MetricsRegistry metrics) {
        return builder(metrics).build();
    }

    /** A builder; {@code metrics} receives the rejection counter. */
    public static Builder builder(MetricsRegistry metrics) {
        return new Builder(requireNonNull(metrics, "metrics"));
    }

    /**
     * The source's own client: on the JDK HTTP client, and decoding watch events of the CRD
     * kinds generically. By default the client decodes every watch event to the model class
     * registered for its apiVersion and kind before handing it to a generic informer, and
     * fabric8's Istio enums turn unknown values into null on the way: {@code action: PERMIT}
     * would arrive as no action at all, which means ALLOW, instead of being rejected.
     */
    private static KubernetesClient newClient(Config config, Map<String, String> groupVersions) {
        KubernetesSerialization serialization = new KubernetesSerialization();
        for (Kind kind : Kind.values()) {
            if (!BUILT_IN.contains(kind)) {
                String version = versionOf(kind, groupVersions);
                serialization.registerKubernetesResource(kind.group() + "/" + version, kind.kind(),
                        GenericKubernetesResource.class);
            }
        }
        KubernetesClientBuilder builder = new KubernetesClientBuilder()
                .withHttpClientFactory(new JdkHttpClientFactory())
                .withKubernetesSerialization(serialization);
        if (config != null) {
            builder.withConfig(config);
        }
        return builder.build();
    }

    @Override
    public String describe() {
        return "kubernetes " + client.getMasterUrl();
    }

    @Override
    public void start(Listener listener) throws ConfigException {
        requireNonNull(listener, "listener");
        List<KindWatch> all;
        synchronized (lock) {
            if (closed) {
                throw new IllegalStateException("start: source is closed (expected: a new KubernetesSource)");
            }
            if (this.listener != null) {
                throw new IllegalStateException("start: already started");
            }
            this.listener = listener;
            executor = Executors.newSingleThreadScheduledExecutor(r -> {
                deliveryThread = Thread.ofPlatform().name("ambit-config-kube").daemon().unstarted(r);
                return deliveryThread;
            });
            for (Kind kind : Kind.values()) {
                KindWatch w = new KindWatch(kind, versionOf(kind, groupVersions));
                w.probing = true;
                watches.put(kind, w);
            }
            all = List.copyOf(watches.values());
        }
        String where = describe();
        log.info("reading config from {}: {}", where,
                all.stream().map(w -> w.kind.kind() + " " + w.apiVersion()).collect(Collectors.joining(", ")));
        for (KindWatch w : all) {
            // Concurrently: a slow or hanging API server costs one timeout, not one per kind.
            Thread.ofVirtual().name("ambit-config-kube-probe-" + w.kind.kind()).start(() -> probeAndWatch(w));
        }
        try {
            CompletableFuture.allOf(all.stream().map(w -> w.ready).toArray(CompletableFuture[]::new))
                    .get(syncTimeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            String pending = all.stream().filter(w -> !w.ready.isDone())
                    .map(w -> w.kind.qualifiedName() + " " + w.apiVersion() + " ("
                            + (w.lastError == null ? "no answer" : w.lastError) + ")")
                    .collect(Collectors.joining(", "));
            close();
            throw new ConfigException(where + ": not listed within " + syncTimeout + ": " + pending
                    + " (check that istiod-lite's service account may get, list and watch them (RBAC), "
                    + "that their CRDs are installed, and that the API server is reachable)");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            close();
            throw new ConfigException(where + ": interrupted while waiting for the initial lists", e);
        } catch (ExecutionException e) {
            close();
            throw new ConfigException(where + ": initial list failed: " + ApiErrors.describe(e), e.getCause());
        }
        synchronized (lock) {
            synced = true;
        }
        try {
            // On the delivery thread like every later snapshot, so deliveries never overlap.
            executor.submit(this::deliver).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            close();
            throw new ConfigException(where + ": interrupted while delivering the first snapshot", e);
        } catch (ExecutionException e) {
            close();
            throw new ConfigException(where + ": delivering the first snapshot failed", e.getCause());
        }
        long recheck = crdRecheckInterval.toMillis();
        executor.scheduleWithFixedDelay(this::recheckAbsent, recheck, recheck, TimeUnit.MILLISECONDS);
    }

    private static String versionOf(Kind kind, Map<String, String> groupVersions) {
        String modelVersion = kind.apiVersion().substring(kind.apiVersion().indexOf('/') + 1);
        // A group override is for kinds at v1 (Istio's groups before 1.22); kinds only served
        // below v1 (ReferenceGrant v1beta1, TLSRoute v1alpha2) keep their own version.
        return modelVersion.equals("v1") ? groupVersions.getOrDefault(kind.group(), modelVersion) : modelVersion;
    }

    /** Starts the kind's informer unless the cluster definitely does not serve the kind. */
    private void probeAndWatch(KindWatch w) {
        boolean served;
        try {
            // One item, same RBAC as the informer. Probing first keeps an absent CRD from
            // surfacing as a failed informer (logged by the client as an error with a trace).
            operation(w).list(new ListOptionsBuilder().withLimit(1L).build());
            served = true;
        } catch (RuntimeException e) {
            served = !ApiErrors.isNotFound(e);
            // Anything but 404 (403, timeouts) is left to the informer, which retries and
            // whose last error start() reports if the kind never syncs.
            w.lastError = ApiErrors.describe(e);
        }
        synchronized (lock) {
            w.probing = false;
            if (closed) {
                return;
            }
            if (!served) {
                markAbsent(w, "HTTP 404");
                return;
            }
        }
        watch(w);
    }

    private void watch(KindWatch w) {
        SharedIndexInformer<? extends HasMetadata> informer = operation(w).runnableInformer(0);
        informer.exceptionHandler((started, t) -> onInformerError(w, informer, t));
        informer.addEventHandler(new Handler(w, informer));
        synchronized (lock) {
            if (closed) {
                return;
            }
            w.informer = informer;
            w.absent = false;
        }
        try {
            informer.start().whenComplete((ignored, t) -> {
                if (t == null) {
                    onListed(w, informer);
                }
            });
        } catch (RuntimeException e) {
            synchronized (lock) {
                if (closed) {
                    return; // close() stopped it first
                }
            }
            w.lastError = ApiErrors.describe(e);
            log.warn("cannot start reading {} from {}", w.kind.qualifiedName(), client.getMasterUrl(), e);
        }
    }

    private FilterWatchListDeletable<? extends HasMetadata, ?, ?> operation(KindWatch w) {
        if (BUILT_IN.contains(w.kind)) {
            return client.resources(w.kind.type()).inAnyNamespace();
        }
        ResourceDefinitionContext context = new ResourceDefinitionContext.Builder()
                .withGroup(w.kind.group())
                .withVersion(w.version)
                .withKind(w.kind.kind())
                .withPlural(w.kind.plural())
                .withNamespaced(w.kind.namespaced())
                .build();
        return client.genericKubernetesResources(context).inAnyNamespace();
    }

    /** Decides whether the informer retries: always, except when the kind is no longer served. */
    private boolean onInformerError(KindWatch w, SharedIndexInformer<? extends HasMetadata> informer, Throwable t) {
        if (!ApiErrors.isNotFound(t)) {
            w.lastError = ApiErrors.describe(t);
            return true;
        }
        synchronized (lock) {
            if (w.informer != informer || closed) {
                return false;
            }
            // The CRD was removed (or vanished between probe and list): its objects are gone
            // with it. Rechecks pick the kind up again once it is reinstalled.
            markAbsent(w, "HTTP 404");
        }
        Thread.ofVirtual().start(informer::stop);
        return false;
    }

    /**
     * Reacts to any event by re-reading the object's present version from the informer's
     * store: events are queued behind the store, so a late event must not bring back an
     * older version, and a delete followed by a re-create must end with the new object.
     */
    private final class Handler implements ResourceEventHandler<HasMetadata> {
        private final KindWatch watch;
        private final SharedIndexInformer<? extends HasMetadata> informer;

        Handler(KindWatch watch, SharedIndexInformer<? extends HasMetadata> informer) {
            this.watch = watch;
            this.informer = informer;
        }

        @Override
        public void onAdd(HasMetadata object) {
            refresh(object);
        }

        @Override
        public void onUpdate(HasMetadata oldObject, HasMetadata newObject) {
            refresh(newObject);
        }

        @Override
        public void onDelete(HasMetadata object, boolean finalStateUnknown) {
            refresh(object);
        }

        private void refresh(HasMetadata object) {
            ObjectRef ref = ConfigSnapshot.refOf(watch.kind, object);
            String key = Cache.metaNamespaceKeyFunc(object);
            synchronized (lock) {
                if (watch.informer != informer || closed) {
                    return; // a stopped informer's queue draining
                }
                apply(watch.kind, ref, informer.getStore().getByKey(key));
            }
        }
    }

    /** Treats the kind as empty. Called with lock held. */
    private void markAbsent(KindWatch w, String reason) {
        boolean wasAbsent = w.absent;
        w.absent = true;
        w.informer = null;
        w.lastError = null;
        retainOnly(w.kind, Set.of());
        if (!wasAbsent) {
            log.warn("{} {} is not served by {} ({}): treating it as empty. Install its CRD to use it; "
                            + "it is looked for again every {}", w.kind.qualifiedName(), w.apiVersion(),
                    client.getMasterUrl(), reason, crdRecheckInterval);
        }
        w.ready.complete(null);
    }

    /** The informer's initial list is in its store: catch up on anything its events have not brought yet. */
    private void onListed(KindWatch w, SharedIndexInformer<? extends HasMetadata> informer) {
        synchronized (lock) {
            if (w.informer != informer || closed) {
                return;
            }
            // Handler events lag behind the store, so the store is the truth here.
            Set<ObjectRef> present = new HashSet<>();
            for (HasMetadata object : informer.getStore().list()) {
                ObjectRef ref = ConfigSnapshot.refOf(w.kind, object);
                present.add(ref);
                apply(w.kind, ref, object);
            }
            retainOnly(w.kind, present);
            w.lastError = null;
            if (w.ready.isDone()) {
                log.info("{} {} is now served by {}: reading it", w.kind.qualifiedName(), w.apiVersion(),
                        client.getMasterUrl());
            }
        }
        w.ready.complete(null);
    }

    /** Forgets objects of {@code kind} not in {@code keep}. Called with lock held. */
    private void retainOnly(Kind kind, Set<ObjectRef> keep) {
        if (book.retainOnly(kind, keep)) {
            changed();
        }
    }

    /** Brings one object up to date with {@code current} ({@code null} once deleted). Called with lock held. */
    private void apply(Kind kind, ObjectRef ref, HasMetadata current) {
        if (current != null && !TlsSecrets.kept(kind, current)) {
            current = null; // only TLS material is kept (a Secret or ConfigMap that stops holding it is forgotten)
        }
        if (book.apply(kind, ref, current)) {
            changed();
        }
    }

    /** Records a change and schedules a delivery at the end of the window. Called with lock held. */
    private void changed() {
        generation++;
        if (synced && !deliveryScheduled && !closed) {
            deliveryScheduled = true;
            // A fixed window from the first change, not reset by later ones: under constant
            // churn snapshots still go out every window.
            executor.schedule(this::deliver, debounce.toNanos(), TimeUnit.NANOSECONDS);
        }
    }

    /** Delivers the current state if it changed since the last delivery. Runs on the delivery thread only. */
    private void deliver() {
        ConfigSnapshot snapshot;
        List<ConfigError> errors;
        Listener target;
        synchronized (lock) {
            deliveryScheduled = false;
            if (closed || generation == deliveredGeneration) {
                return;
            }
            deliveredGeneration = generation;
            snapshot = book.snapshot();
            errors = book.errors();
            target = listener;
        }
        try {
            if (!errors.equals(deliveredErrors)) {
                target.onRejected(errors);
                deliveredErrors = errors;
            }
            target.onSnapshot(snapshot);
        } catch (RuntimeException e) {
            log.warn("config listener failed on {}; the next change delivers a new snapshot", snapshot, e);
        }
    }

    /** Looks again for kinds the cluster did not serve. Runs on the delivery thread. */
    private void recheckAbsent() {
        List<KindWatch> absent = new ArrayList<>();
        synchronized (lock) {
            if (closed) {
                return;
            }
            for (KindWatch w : watches.values()) {
                if (w.absent && !w.probing) {
                    w.probing = true;
                    absent.add(w);
                }
            }
        }
        for (KindWatch w : absent) {
            Thread.ofVirtual().name("ambit-config-kube-probe-" + w.kind.kind()).start(() -> probeAndWatch(w));
        }
    }

    /** Stops the informers and the delivery thread, and closes the source's client. No snapshot follows. */
    @Override
    public void close() {
        List<SharedIndexInformer<? extends HasMetadata>> informers = new ArrayList<>();
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            for (KindWatch w : watches.values()) {
                if (w.informer != null) {
                    informers.add(w.informer);
                    w.informer = null;
                }
            }
        }
        informers.forEach(SharedIndexInformer::stop);
        if (executor != null) {
            executor.shutdown();
            if (Thread.currentThread() == deliveryThread) {
                // Closed from a listener: this thread ends when the listener returns.
                client.close();
                return;
            }
            try {
                if (!executor.awaitTermination(5, TimeUnit.SECONDS)) {
                    executor.shutdownNow();
                }
            } catch (InterruptedException e) {
                executor.shutdownNow();
                Thread.currentThread().interrupt();
            }
        }
        client.close();
    }

    /** Builds a {@link KubernetesSource}. */
    public static final class Builder {
        private final MetricsRegistry metrics;
        private final Map<String, String> groupVersions = new HashMap<>();
        private Config config;
        private Duration syncTimeout = Duration.ofMinutes(1);
        private Duration debounce = Duration.ofMillis(100);
        private Duration crdRecheckInterval = Duration.ofMinutes(1);

        private Builder(MetricsRegistry metrics) {
            this.metrics = metrics;
        }

        /**
         * Where the cluster is and how to authenticate. Without it, the usual configuration
         * applies: kubeconfig, or the pod's service account inside a cluster. The source
         * builds its own client from it, and closes it on {@link KubernetesSource#close()}.
         */
        public Builder config(Config config) {
            this.config = requireNonNull(config, "config");
            return this;
        }

        /** How long {@link #start} waits for every kind's initial list. Default 1 minute. */
        public Builder syncTimeout(Duration syncTimeout) {
            Checks.positive(syncTimeout, "syncTimeout");
            this.syncTimeout = syncTimeout;
            return this;
        }

        /** How long changes after the first one are collected into one snapshot. Default 100 ms. */
        public Builder debounce(Duration debounce) {
            Checks.notNegative(debounce, "debounce");
            this.debounce = debounce;
            return this;
        }

        /** How often kinds the cluster did not serve are looked for again. Default 1 minute. */
        public Builder crdRecheckInterval(Duration crdRecheckInterval) {
            requireNonNull(crdRecheckInterval, "crdRecheckInterval");
            if (crdRecheckInterval.toMillis() <= 0) {
                throw new IllegalArgumentException("crdRecheckInterval: " + crdRecheckInterval
                        + " (expected: at least 1 ms)");
            }
            this.crdRecheckInterval = crdRecheckInterval;
            return this;
        }

        /**
         * The version to read a CRD group at, for clusters that do not serve the default
         * ({@code v1} for every group): for example {@code ("security.istio.io", "v1beta1")}
         * on Istio releases before 1.22. The objects are decoded to the same model either way.
         */
        public Builder groupVersion(String group, String version) {
            requireNonNull(group, "group");
            requireNonNull(version, "version");
            Set<String> crdGroups = new TreeSet<>();
            for (Kind kind : Kind.values()) {
                if (!BUILT_IN.contains(kind)) {
                    crdGroups.add(kind.group());
                }
            }
            if (!crdGroups.contains(group)) {
                throw new IllegalArgumentException("group: \"" + group + "\" (expected one of: "
                        + String.join(", ", crdGroups) + ")");
            }
            if (!version.matches("v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?")) {
                throw new IllegalArgumentException("version of " + group + ": \"" + version
                        + "\" (expected: a Kubernetes API version like v1 or v1beta1)");
            }
            groupVersions.put(group, version);
            return this;
        }

        public KubernetesSource build() {
            return new KubernetesSource(this);
        }
    }
}
