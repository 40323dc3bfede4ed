package dev.ambit.agent.inpod;

import static java.util.Objects.requireNonNull;

import dev.ambit.agent.proxy.PodNetwork;
import dev.ambit.agent.redirect.PodRedirection;
import dev.ambit.common.backoff.Backoff;
import dev.ambit.common.identity.SpiffeId;
import dev.ambit.common.metrics.Counter;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiFunction;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Enrolls the pods of this node that are in the mesh, and unenrolls those that leave
 * (ztunnel's workload manager). Two ways in:
 * <ul>
 *   <li>the CNI path ({@link #add}, {@link CniServer}): a pod reported as its sandbox is
 *       created, before its containers start, is captured at once, whether or not xDS has
 *       sent its workload yet; its listeners hold connections until the workload and its
 *       certificate are known ({@link PodGate}), so it is never outside the mesh;
 *   <li>the xDS path: a workload on this node that uses HBONE (the control plane's mark of an
 *       ambient pod), is not host-networked, has an IPv4 address, and whose sandbox is known
 *       from the {@link SandboxSource}.
 * </ul>
 * Enrolling opens the pod's listeners inside its namespace ({@link PodProxy}) and points
 * capture at them; binding it to its workload (when xDS has it) starts fetching the identity's
 * certificate. Unenrolling stops capture first (new connections go plain, as the pod asked),
 * then drains the listeners. A pod reported over CNI that xDS says is not ambient is
 * unenrolled.
 *
 * <p>Before {@code ready} holds (the first xDS sync) only CNI-reported pods are enrolled, and
 * nobody is unenrolled: an empty state at start-up must not unenroll anybody. Pods captured by
 * an earlier agent process stay captured, failing closed, until this process re-enrolls them
 * (an update in place: no BPF reload), or unenrolls them if they left the mesh meanwhile. A
 * captured pod whose sandbox is unknown is left captured unless its pinned links are defunct
 * (its namespace or cgroup is gone): it may be not resolved yet, and unenrolling it would let
 * it out of the mesh unprotected.
 *
 * <p>All work runs on one platform thread, {@code ambit-enrollment} (entering network
 * namespaces needs a platform thread); changes are coalesced into one reconciliation.
 */
public final class InPodManager implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(InPodManager.class);
    static final String ENROLLED = "ambit_agent_enrolled_pods";
    static final String FAILURES = "ambit_agent_enrollment_failures_total";
    static final String CONNECTIONS = "ambit_agent_pod_connections";
    static final String DRAINING = "ambit_agent_draining_pods";
    static final Duration RETRY_MIN = Duration.ofMillis(500);
    static final Duration RETRY_MAX = Duration.ofSeconds(30);
    /** Without jitter: one agent retries its own pods; nothing to spread out. */
    private static final Backoff RETRY = Backoff.of(RETRY_MIN, RETRY_MAX).withJitter(0);
    /** Default of {@link InPodManagerBuilder#connectionWait}. */
    public static final Duration DEFAULT_CONNECTION_WAIT = Duration.ofSeconds(10);

    /** A pod as one agent hands it over to another ({@code dev.ambit.agent.handover}). */
    public record Held(PodSandbox sandbox, List<InetAddress> addresses, boolean announced) {}

    /** One enrolled pod, as {@link #enrolled()} reports it. */
    public record Enrolled(String pod, String uid, String workloadUid, SpiffeId identity, List<InetAddress> addresses,
                           String netns) {}

    private final String node;
    private final PodProxy.Shared shared;
    private final SandboxSource sandboxes;
    private final Capture capture;
    private final BiFunction<String, PodSandbox, PodNetwork> networks;
    private final BooleanSupplier ready;
    private final Duration drainDeadline;
    private final Duration connectionWait;
    private final ScheduledExecutorService executor;
    private final Counter.Family failures;
    private final AtomicBoolean scheduled = new AtomicBoolean();
    private final Runnable onChange = this::schedule;

    // Owned by the executor thread.
    private final Map<String, PodProxy> pods = new LinkedHashMap<>();
    private final Map<String, Integer> failuresInRow = new HashMap<>();
    private final AnnouncedPods announced = new AnnouncedPods();
    private final DesiredPods desired;
    private final Map<String, String> lastFailure = new HashMap<>();
    private ScheduledFuture<?> retry;
    private volatile ScheduledFuture<?> readyWatch;
    private volatile boolean readySeen;
    private boolean closed;
    /** For readers on other threads. */
    private volatile List<Enrolled> snapshot = List.of();
    private volatile List<PodProxy> snapshotProxies = List.of();
    private final Map<String, CompletableFuture<Integer>> draining = new ConcurrentHashMap<>();
    /** Hand-over: this process gives its pods to a new agent and enrolls nothing more. */
    private volatile boolean handingOver;
    private boolean migrateWarned;
    /** Hand-over: pods an earlier agent serves until this one adopts them: never unenrolled meanwhile. */
    private final Set<String> adopting = ConcurrentHashMap.newKeySet();

    InPodManager(InPodManagerBuilder b) {
        node = b.node;
        shared = b.shared;
        sandboxes = b.sandboxes;
        desired = new DesiredPods(b.node, b.shared.state(), b.sandboxes, announced);
        capture = b.capture;
        networks = b.networks;
        ready = b.ready;
        drainDeadline = b.drainDeadline;
        connectionWait = b.connectionWait;
        executor = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform()
                .name("ambit-enrollment").daemon(true).factory());
        b.shared.metrics().gauge(ENROLLED, "Pods enrolled by this agent.", () -> snapshot.size());
        b.shared.metrics().gauge(CONNECTIONS, "Connections open on the in-pod listeners of enrolled pods.",
                () -> activeConnections());
        b.shared.metrics().gauge(DRAINING, "Unenrolled pods whose connections are still draining.",
                () -> draining.size());
        failures = b.shared.metrics().counter(FAILURES, "Pod enrollments that failed (retried with backoff).",
                "reason");
    }

    public static InPodManagerBuilder builder(String node, PodProxy.Shared shared, SandboxSource sandboxes,
            Capture capture) {
        return new InPodManagerBuilder(node, shared, sandboxes, capture);
    }

    /** Starts watching xDS state and sandboxes; enrollment begins once {@code ready} holds. */
    public InPodManager start() {
        shared.state().addListener(onChange);
        sandboxes.start(onChange);
        // The first sync may complete after the update that triggered the last
        // reconciliation: look again until it has been seen.
        readyWatch = executor.scheduleWithFixedDelay(() -> {
            ScheduledFuture<?> w = readyWatch;
            if (readySeen && w != null) {
                w.cancel(false);
            } else {
                schedule();
            }
        }, 100, 100, TimeUnit.MILLISECONDS);
        schedule();
        return this;
    }

    /** Asks for a reconciliation soon (coalesced); e.g. when readiness may have changed. */
    public void schedule() {
        if (scheduled.compareAndSet(false, true)) {
            try {
                executor.execute(() -> {
                    scheduled.set(false);
                    reconcile();
                });
            } catch (java.util.concurrent.RejectedExecutionException e) {
                scheduled.set(false); // closed
            }
        }
    }

    /**
     * The CNI ADD: captures the pod now, before its containers start, whether or not its
     * workload is known yet (its connections wait for it, {@link PodGate}). Idempotent: a pod
     * already enrolled with this sandbox and these addresses completes at once.
     *
     * @return completes once the pod is captured, or exceptionally with the reason it is not
     *     (the caller keeps the pod from starting and asks again)
     */
    public CompletableFuture<Void> add(PodSandbox sandbox, List<InetAddress> addresses) {
        requireNonNull(sandbox, "sandbox");
        requireNonNull(addresses, "addresses");
        List<InetAddress> v4 = addresses.stream().filter(a -> a instanceof Inet4Address).toList();
        if (v4.isEmpty()) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("pod " + sandbox.key()
                    + ": no IPv4 address in " + addresses + " (expected: the pod's addresses; IPv6 is not captured)"));
        }
        if (!java.nio.file.Files.exists(sandbox.netns())) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("pod " + sandbox.key() + ": netns "
                    + sandbox.netns() + " does not exist (expected: the pod sandbox's network namespace, created first)"));
        }
        return CompletableFuture.runAsync(() -> {
            if (closed || handingOver) {
                throw new IllegalStateException(closed ? "the agent is shutting down"
                        : "the agent is handing its pods over to a new agent (ask again: the new one answers)");
            }
            announced.put(sandbox, v4);
            reconcile();
            if (!pods.containsKey(sandbox.uid())) {
                throw new IllegalStateException(lastFailure.getOrDefault(sandbox.uid(), "not enrolled")
                        + (announced.contains(sandbox.uid()) ? "" : " (xDS says the pod is not in the ambient mesh)"));
            }
        }, executor);
    }

    /**
     * The CNI DEL: forgets the pod's report, stops capturing it and drains its listeners,
     * unless xDS still marks it ambient and its netns exists: then it stays captured (letting
     * a live pod go would leave it outside the mesh until an unrelated change) and leaves
     * like any pod, when xDS or the sandbox source says so. Idempotent.
     */
    public CompletableFuture<Void> remove(String uid) {
        requireNonNull(uid, "uid");
        return CompletableFuture.runAsync(() -> {
            announced.remove(uid);
            DesiredPods.Want w = desired.wanted().get(uid);
            if (w != null && java.nio.file.Files.exists(w.sandbox().netns())) {
                log.info("pod {}: CNI DEL, but xDS still marks it ambient and its netns {} exists: it stays"
                        + " captured", w.sandbox().key(), w.sandbox().netns());
            } else {
                PodProxy p = pods.get(uid);
                if (p != null) {
                    unenroll(uid, p, "deleted (CNI DEL)");
                } else if (capture.enrolledPods().contains(uid)) {
                    capture.unenroll(uid);
                    log.info("pod {}: unenrolled (deleted, CNI DEL)", uid);
                }
            }
            // Enrolls what is still wanted (also a pod captured by an earlier process), publishes.
            reconcile();
            publish(); // reconcile returns early before the first sync
        }, executor);
    }

    /** The pods enrolled by this process now. */
    public List<Enrolled> enrolled() {
        return snapshot;
    }

    /** Connections open on enrolled pods' listeners now (for metrics and tests). */
    public int activeConnections() {
        return snapshotProxies.stream().mapToInt(PodProxy::activeConnections).sum();
    }

    /** Pods whose listeners are draining after unenrollment. */
    public int drainingPods() {
        return draining.size();
    }

    /**
     * Drains every pod's listeners, for shutdown: stops accepting, lets open connections
     * finish until {@code deadline}, then closes them. Capture stays attached: the pods
     * fail closed until the next agent process re-enrolls them.
     *
     * @return completes when all are drained, with the number of connections closed by force
     */
    public CompletableFuture<Integer> drainAll(Duration deadline) {
        requireNonNull(deadline, "deadline");
        CompletableFuture<List<PodProxy>> taken = CompletableFuture.supplyAsync(() -> {
            closed = true;
            if (retry != null) {
                retry.cancel(false);
            }
            List<PodProxy> all = new ArrayList<>(pods.values());
            pods.clear();
            publish();
            return all;
        }, executor);
        return taken.thenCompose(all -> {
            List<CompletableFuture<Integer>> drains = new ArrayList<>(draining.values());
            all.forEach(p -> drains.add(p.drain(deadline)));
            return CompletableFuture.allOf(drains.toArray(CompletableFuture[]::new))
                    .thenApply(v -> drains.stream().mapToInt(CompletableFuture::join).sum());
        });
    }

    @Override
    public void close() {
        shared.state().removeListener(onChange);
        sandboxes.close();
        try {
            drainAll(Duration.ZERO).get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            log.warn("closing pod listeners: {}", e.toString());
        }
        executor.shutdownNow();
    }

    // ---------------------------------------------------------------- hand-over

    /** Hand-over, giving side: the pods this process serves now. */
    public CompletableFuture<List<Held>> held() {
        return CompletableFuture.supplyAsync(() -> pods.values().stream()
                .map(p -> new Held(p.sandbox(), p.addresses(), announced.contains(p.sandbox().uid()))).toList(), executor);
    }

    /**
     * Hand-over, giving side: lets pod {@code uid} go to the agent that captured it since
     * (capture is left alone): its listeners close now, their queued connections moving to the
     * new agent's listeners of the same {@code SO_REUSEPORT} groups; open connections drain. From
     * the first call on, this process enrolls and unenrolls nothing.
     *
     * @return completes with false if this process does not serve the pod
     */
    public CompletableFuture<Boolean> release(String uid) {
        requireNonNull(uid, "uid");
        return CompletableFuture.supplyAsync(() -> {
            handingOver = true;
            PodProxy p = pods.remove(uid);
            if (p != null) {
                startDrain(uid, p); // returns once the listening sockets are closed
                publish();
                log.info("pod {}: handed over; draining its connections for up to {}", p.sandbox().key(),
                        drainDeadline);
            }
            return p != null;
        }, executor);
    }

    /** Hand-over, taking side: pods an earlier agent serves; none is unenrolled until {@link #adopt}ed. */
    public void expectAdoption(java.util.Collection<String> uids) {
        adopting.addAll(uids);
    }

    /**
     * Hand-over, taking side: enrolls pod {@code h} in this process (its listeners beside the old
     * agent's, then capture pointed at them), as xDS wants it, else as if reported over CNI.
     *
     * @return completes with whether this process serves the pod now
     */
    public CompletableFuture<Boolean> adopt(Held h) {
        requireNonNull(h, "h");
        String uid = h.sandbox().uid();
        return CompletableFuture.supplyAsync(() -> {
            if (h.announced()) {
                announced.put(h.sandbox(), h.addresses());
            }
            reconcile();
            if (!pods.containsKey(uid)) { // not (yet) in xDS: kept as the old agent kept it
                announced.put(h.sandbox(), h.addresses());
                reconcile();
            }
            adopting.remove(uid);
            return pods.containsKey(uid);
        }, executor);
    }

    /** Hand-over, taking side: what is still expected is left to reconciliation. */
    public void adoptionOver() {
        adopting.clear();
        schedule();
    }

    /** Whether pod {@code uid}'s listeners have all they need to serve a connection at once. */
    public boolean serving(String uid) {
        return snapshotProxies.stream().filter(p -> p.sandbox().uid().equals(uid)).anyMatch(p ->
                p.gate().outboundReady() && p.gate().inboundReady() && p.gate().hboneReady());
    }

    // ---------------------------------------------------------------- reconciliation

    private void reconcile() {
        if (closed || handingOver) {
            return;
        }
        // A pod whose DEL never came (its caller crashed): its sandbox is gone, so is the report.
        announced.forgetGone();
        boolean synced = ready.getAsBoolean();
        if (synced) {
            readySeen = true;
        } else if (announced.isEmpty()) {
            log.debug("enrollment waits for the first xDS sync");
            return;
        }
        Map<String, DesiredPods.Want> wanted = synced ? desired.wanted() : new LinkedHashMap<>();
        Set<String> notAmbient = synced ? desired.notAmbient() : Set.of();
        for (AnnouncedPods.Announced a : announced.all()) {
            String uid = a.sandbox().uid();
            if (notAmbient.contains(a.sandbox().key())) {
                continue; // xDS says it is not in the mesh: it goes like any other leaver
            }
            // Known to xDS already (with its addresses), or not yet: captured all the same.
            wanted.putIfAbsent(uid, new DesiredPods.Want(null, a.sandbox(), null, a.addresses()));
        }
        boolean failed = false;
        // Leavers first: their addresses may be taken over by a new pod in the same pass. Before
        // the first sync nothing leaves: only what CNI reported is added.
        for (String uid : new ArrayList<>(pods.keySet())) {
            DesiredPods.Want w = wanted.get(uid);
            PodProxy p = pods.get(uid);
            if (w == null) {
                if (synced) {
                    unenroll(uid, p, "left the mesh");
                }
            } else if (!w.sameAs(p)) {
                // Same pod, new address or sandbox: listeners are redone, capture is updated in
                // place by enroll below (it never lets the pod out).
                pods.remove(uid);
                startDrain(uid, p);
            }
        }
        announced.forgetNotAmbient(notAmbient, pods::containsKey);
        // Pods captured by an earlier process that are no longer wanted, whose sandbox is known.
        for (String uid : synced ? capture.enrolledPods() : List.<String>of()) {
            if (wanted.containsKey(uid) || pods.containsKey(uid) || adopting.contains(uid)) {
                continue;
            }
            try {
                if (desired.knownSandbox(uid)) {
                    capture.unenroll(uid);
                    log.info("pod {}: unenrolled (captured by an earlier agent, no longer in the mesh)", uid);
                } else if (capture.unenrollIfGone(uid)) {
                    // Deleted while no agent ran (its CNI DEL was lost): its address may be a new pod's now.
                    log.info("pod {}: unenrolled (captured by an earlier agent, its sandbox is gone)", uid);
                }
            } catch (RuntimeException e) {
                failed = true;
                fail(uid, "unenroll", e);
            }
        }
        for (DesiredPods.Want w : wanted.values()) {
            if (!pods.containsKey(w.sandbox().uid())) {
                failed |= !enroll(w);
            }
            PodProxy p = pods.get(w.sandbox().uid());
            if (p != null && w.workload() != null) {
                bind(p, w);
            }
        }
        publish();
        if (failed) {
            scheduleRetry();
        }
    }

    /** Binds an enrolled pod to its workload (first time, or a new identity): its connections may go. */
    private void bind(PodProxy p, DesiredPods.Want w) {
        PodGate.Binding b = p.gate().binding();
        if (b != null && b.workloadUid().equals(w.workload().getUid()) && b.identity().equals(w.identity())) {
            return;
        }
        p.gate().bind(w.workload().getUid(), w.identity());
        log.info("pod {}: bound to workload {} (identity {})", p.sandbox().key(), w.workload().getUid(),
                w.identity());
        // The certificate is fetched (and retried) in the background; the gate waits for it.
        shared.certificates().fetch(w.identity()).whenComplete((c, e) -> {
            if (e != null) {
                log.warn("pod {}: no certificate for {} yet ({}); its connections wait for it",
                        p.sandbox().key(), w.identity(), e.getMessage());
            }
        });
        if (b != null && !b.identity().equals(w.identity())
                && pods.values().stream().noneMatch(o -> b.identity().equals(o.identity()))) {
            shared.certificates().forget(b.identity());
        }
    }

    private boolean enroll(DesiredPods.Want w) {
        PodSandbox s = w.sandbox();
        PodProxy proxy = null;
        // No wait for the certificate (or the workload): the listeners hold connections until
        // both are there. Capturing without them fails closed, not capturing would fail open.
        try {
            migrateRequests(s);
            PodGate gate = new PodGate(s.key(), shared.state(), shared.certificates(), shared.ports(), connectionWait,
                    ready, shared.metrics());
            proxy = PodProxy.start(shared, networks.apply(s.uid(), s), s, gate, w.addresses());
            List<Inet4Address> v4 = w.addresses().stream().map(a -> (Inet4Address) a).toList();
            capture.enroll(new PodRedirection(s.uid(), s.cgroup(), s.netns(), v4, proxy.inboundListenerFd()));
            pods.put(s.uid(), proxy);
            failuresInRow.remove(s.uid());
            lastFailure.remove(s.uid());
            log.info("pod {}: enrolled (uid {}, {}, addresses {})", s.key(), s.uid(),
                    w.workload() == null ? "workload not known yet: its connections wait for it"
                            : "identity " + w.identity(), w.addresses());
            return true;
        } catch (RuntimeException e) {
            if (proxy != null) {
                proxy.drain(Duration.ZERO);
            }
            lastFailure.put(s.uid(), e.getMessage());
            fail(s.key(), "enroll", e);
            return false;
        }
    }

    /** A later agent's hand-over must not reset what queues on these listeners ({@code handover.MigrateRequests}). */
    private void migrateRequests(PodSandbox s) {
        try {
            dev.ambit.agent.handover.MigrateRequests.enable(s.netns());
        } catch (RuntimeException e) {
            if (!migrateWarned) {
                migrateWarned = true;
                log.warn("pod {}: {}", s.key(), e.getMessage());
            }
        }
    }

    private void unenroll(String uid, PodProxy p, String why) {
        pods.remove(uid);
        try {
            capture.unenroll(uid);
        } catch (RuntimeException e) {
            fail(uid, "unenroll", e);
        }
        log.info("pod {}: unenrolled ({}); draining its connections for up to {}", p.sandbox().key(), why,
                drainDeadline);
        startDrain(uid, p);
        SpiffeId identity = p.identity();
        if (identity != null && pods.values().stream().noneMatch(o -> identity.equals(o.identity()))) {
            shared.certificates().forget(identity);
        }
    }

    private void startDrain(String uid, PodProxy p) {
        CompletableFuture<Integer> f = p.drain(drainDeadline);
        String key = uid + "#" + System.identityHashCode(p);
        draining.put(key, f);
        f.whenComplete((forced, err) -> {
            draining.remove(key);
            if (forced != null && forced > 0) {
                log.info("pod {}: drain deadline passed, {} connections closed", p.sandbox().key(), forced);
            }
        });
    }

    private void fail(String pod, String what, RuntimeException e) {
        int n = failuresInRow.merge(pod, 1, Integer::sum);
        failures.labels(what).inc();
        if (n == 1 || Integer.bitCount(n) == 1) { // 1st, 2nd, 4th, 8th... failure: not every retry
            log.warn("pod {}: {} failed (attempt {}): {}", pod, what, n, e.getMessage(), n == 1 ? e : null);
        }
    }

    private void scheduleRetry() {
        if (retry != null && !retry.isDone()) {
            return;
        }
        int n = failuresInRow.values().stream().mapToInt(Integer::intValue).max().orElse(1);
        long delay = RETRY.delay(n - 1).toMillis();
        retry = executor.schedule(this::reconcile, delay, TimeUnit.MILLISECONDS);
    }

    private void publish() {
        List<Enrolled> out = new ArrayList<>();
        pods.forEach((uid, p) -> out.add(new Enrolled(p.sandbox().key(), uid, p.gate().binding() == null ? ""
                : p.workloadUid(), p.identity(),
                p.addresses(), p.sandbox().netns().toString())));
        snapshot = List.copyOf(out);
        snapshotProxies = List.copyOf(pods.values());
    }

    @Override
    public String toString() {
        return "InPodManager{node=" + node + ", pods=" + snapshot.size() + "}";
    }
}
