package dev.ambit.agent.inpod;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.backoff.Backoff;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.fabric8.kubernetes.client.informers.cache.Cache;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sandboxes of the Kubernetes pods running on this node, as Istio's CNI node agent
 * finds them: an informer lists the node's pods ({@code spec.nodeName=<node>}) for their
 * UIDs, and each pod's cgroup is found from its UID under the cgroup root (see
 * {@link CgroupPods}: both kubelet cgroup drivers), its network namespace from a process in
 * that cgroup ({@code /proc/PID/ns/net}).
 *
 * <p>Only pods that are Running with a pod IP count; host-network pods (no namespace of
 * their own) and finished pods are left out. A pod can be listed before its containers
 * have processes, so pods not resolved yet are tried again, every
 * {@linkplain Builder#retryInterval retry interval} at first, then backing off to 16 times
 * that. Resolved pods are checked again every 10 retry intervals: when the process whose
 * namespace path was reported exits, another process of the pod is used (same namespace:
 * no change reported); when the pod has a new namespace (a new sandbox) or none, that is
 * a change.
 *
 * <p>{@code onChange} is called (on the source's thread, {@code ambit-sandboxes}) when a
 * sandbox is resolved, disappears (pod deleted, finished, or without processes) or changes
 * (a new UID under the same name, another cgroup, a new network namespace). A pod still
 * unresolved {@value #WARN_AFTER_SECONDS} s after it was first seen is logged once, at WARN,
 * with the reason and a hint.
 *
 * <p>The client is the caller's: {@link #close()} stops the informer and the thread, not
 * the client.
 */
public final class KubernetesSandboxes implements SandboxSource {

    private static final Logger log = LoggerFactory.getLogger(KubernetesSandboxes.class);

    static final int WARN_AFTER_SECONDS = 5;
    private static final long WARN_AFTER_NANOS = TimeUnit.SECONDS.toNanos(WARN_AFTER_SECONDS);
    /** Retries of an unresolved pod back off up to this many retry intervals. */
    private static final int MAX_BACKOFF = 16;
    /** Resolved pods are checked again every this many retry intervals. */
    private static final int RECHECK = 10;
    /** A node name as Kubernetes allows it (a DNS subdomain); also safe in a field selector. */
    private static final Pattern NODE_NAME = Pattern.compile("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?");

    private final KubernetesClient client;
    private final String nodeName;
    private final CgroupPods cgroups;
    private final long retryNanos;
    /** Without jitter: one informer's own retries, and the warning names the exact interval. */
    private final Backoff backoff;

    private final Object lock = new Object();
    // Guarded by lock.
    private boolean started;
    private SharedIndexInformer<Pod> informer;
    private ScheduledExecutorService executor;
    private volatile boolean closed;
    private volatile Thread schedulerThread;
    private volatile String lastInformerError;

    /** What find() and all() read: resolved sandboxes by namespace/name. */
    private final Map<String, PodSandbox> resolved = new ConcurrentHashMap<>();
    /** Why pods known but not resolved are not, by namespace/name. */
    private final Map<String, String> problems = new ConcurrentHashMap<>();

    // Confined to the scheduler thread.
    private final Map<String, Tracked> tracked = new HashMap<>();
    private Runnable onChange;

    /** A pod of this node that should have a sandbox. Confined to the scheduler thread. */
    private static final class Tracked {
        final String namespace;
        final String name;
        final String uid;
        long unresolvedSinceNanos;
        boolean isResolved;
        Path cgroup;
        long pid = -1;
        long netnsInode = -1;
        int failures;
        long nextAttemptNanos;
        boolean warned;

        Tracked(String namespace, String name, String uid, long now) {
            this.namespace = namespace;
            this.name = name;
            this.uid = uid;
            this.unresolvedSinceNanos = now;
            this.nextAttemptNanos = now;
        }

        String key() {
            return namespace + "/" + name;
        }
    }

    private KubernetesSandboxes(Builder b) {
        this.client = b.client;
        this.nodeName = b.nodeName;
        this.cgroups = new CgroupPods(b.cgroupRoot);
        this.retryNanos = b.retryInterval.toNanos();
        this.backoff = Backoff.of(b.retryInterval, b.retryInterval.multipliedBy(MAX_BACKOFF)).withJitter(0);
    }

    /**
     * A builder for the pods of node {@code nodeName} (as in their {@code spec.nodeName};
     * usually given to the agent through the downward API), read with {@code client}.
     */
    public static Builder builder(KubernetesClient client, String nodeName) {
        requireNonNull(client, "client");
        requireNonNull(nodeName, "nodeName");
        if (!NODE_NAME.matcher(nodeName).matches()) {
            throw new IllegalArgumentException("nodeName: \"" + nodeName + "\" (expected: this node's name as in"
                    + " its pods' spec.nodeName, a DNS subdomain like ip-10-0-1-7.ec2.internal; in a pod, from"
                    + " the downward API: fieldRef spec.nodeName)");
        }
        return new Builder(client, nodeName);
    }

    @Override
    public void start(Runnable onChange) {
        requireNonNull(onChange, "onChange");
        SharedIndexInformer<Pod> inf;
        synchronized (lock) {
            if (closed) {
                throw new IllegalStateException("start: source is closed (expected: a new KubernetesSandboxes)");
            }
            if (started) {
                throw new IllegalStateException("start: already started");
            }
            inf = client.pods().inAnyNamespace().withField("spec.nodeName", nodeName).runnableInformer(0);
            inf.exceptionHandler(this::onInformerError);
            inf.addEventHandler(new Handler());
            informer = inf;
            started = true;
            this.onChange = onChange;
            executor = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = Thread.ofPlatform().name("ambit-sandboxes").daemon().unstarted(r);
                schedulerThread = t;
                return t;
            });
        }
        Path root = cgroups.root();
        if (!Files.isRegularFile(root.resolve("cgroup.controllers"))) {
            log.warn("cgroup root {} is not a cgroup v2 hierarchy (no cgroup.controllers): pods will not be found"
                    + " there (pass the cgroup v2 mount the kubelet uses: usually /sys/fs/cgroup, on hybrid"
                    + " hosts /sys/fs/cgroup/unified)", root);
        }
        log.info("finding the sandboxes of the pods on node {} ({}) under cgroup root {}", nodeName,
                client.getMasterUrl(), root);
        try {
            executor.scheduleWithFixedDelay(this::tick, retryNanos, retryNanos, TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            return; // closed meanwhile
        }
        inf.start().whenComplete((ignored, t) -> {
            if (t == null) {
                lastInformerError = null;
                submit(this::reconcileAll); // the store is the truth; its events may lag
            }
        });
    }

    @Override
    public Optional<PodSandbox> find(String namespace, String name) {
        requireNonNull(namespace, "namespace");
        requireNonNull(name, "name");
        return Optional.ofNullable(resolved.get(namespace + "/" + name));
    }

    @Override
    public Collection<PodSandbox> all() {
        return List.copyOf(resolved.values());
    }

    /**
     * Why pod {@code namespace/name} has no sandbox although it runs on this node (it was
     * looked for and not found); empty once resolved, and for pods not known here.
     */
    Optional<String> problem(String namespace, String name) {
        return Optional.ofNullable(problems.get(namespace + "/" + name));
    }

    /** Stops the informer and the thread; no {@code onChange} follows. The client stays open. */
    @Override
    public void close() {
        SharedIndexInformer<Pod> inf;
        ScheduledExecutorService ex;
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            inf = informer;
            ex = executor;
            informer = null;
        }
        if (inf != null) {
            inf.stop();
        }
        if (ex != null) {
            ex.shutdown();
            if (Thread.currentThread() != schedulerThread) {
                try {
                    if (!ex.awaitTermination(5, TimeUnit.SECONDS)) {
                        ex.shutdownNow();
                    }
                } catch (InterruptedException e) {
                    ex.shutdownNow();
                    Thread.currentThread().interrupt();
                }
            }
        }
        resolved.clear();
        problems.clear();
    }

    /** Informer errors: logged when they change, always retried (RBAC or the network may be fixed). */
    private boolean onInformerError(boolean isStarted, Throwable t) {
        if (closed) {
            return false;
        }
        String message = describe(t);
        if (!message.equals(lastInformerError)) {
            lastInformerError = message;
            log.warn("listing pods on node {} from {} failed: {}; retrying (check that the agent's service account"
                    + " may list and watch pods, and that the API server is reachable)", nodeName,
                    client.getMasterUrl(), message);
        }
        return true;
    }

    private static String describe(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof KubernetesClientException k && k.getCode() > 0) {
                String message = k.getStatus() != null && k.getStatus().getMessage() != null
                        ? k.getStatus().getMessage() : k.getMessage();
                return "HTTP " + k.getCode() + ": " + message;
            }
        }
        return t.getMessage() != null ? t.getMessage() : t.toString();
    }

    /** Any event: re-read the pod's present version from the store, on the scheduler thread. */
    private final class Handler implements ResourceEventHandler<Pod> {
        @Override
        public void onAdd(Pod pod) {
            changed(pod);
        }

        @Override
        public void onUpdate(Pod oldPod, Pod newPod) {
            changed(newPod);
        }

        @Override
        public void onDelete(Pod pod, boolean finalStateUnknown) {
            changed(pod);
        }

        private void changed(Pod pod) {
            String key = Cache.metaNamespaceKeyFunc(pod);
            submit(() -> notifyIf(reconcile(key)));
        }
    }

    private void submit(Runnable task) {
        ScheduledExecutorService ex;
        synchronized (lock) {
            ex = executor;
        }
        if (ex == null || closed) {
            return;
        }
        try {
            ex.execute(() -> {
                if (closed) {
                    return;
                }
                try {
                    task.run();
                } catch (RuntimeException e) {
                    // The executor would keep it to itself.
                    log.warn("updating pod sandboxes failed; the next event or retry tries again", e);
                }
            });
        } catch (RejectedExecutionException e) {
            // closed meanwhile
        }
    }

    // ---- Everything below runs on the scheduler thread. ----

    private void reconcileAll() {
        SharedIndexInformer<Pod> inf = currentInformer();
        if (inf == null) {
            return;
        }
        Set<String> keys = new LinkedHashSet<>(inf.getStore().listKeys());
        keys.addAll(tracked.keySet());
        boolean changed = false;
        for (String key : keys) {
            changed |= reconcile(key);
        }
        notifyIf(changed);
    }

    private SharedIndexInformer<Pod> currentInformer() {
        synchronized (lock) {
            return informer;
        }
    }

    /** Brings one pod up to date with the store; true if a sandbox appeared, went or changed. */
    private boolean reconcile(String key) {
        SharedIndexInformer<Pod> inf = currentInformer();
        if (inf == null) {
            return false;
        }
        Pod pod = inf.getStore().getByKey(key);
        Tracked t = tracked.get(key);
        String skip = pod == null ? "deleted" : skipReason(pod);
        if (skip != null) {
            if (t != null) {
                log.debug("pod {} (uid {}): {}: forgetting it", key, t.uid, skip);
                return forget(t);
            }
            if (pod != null) {
                log.debug("pod {}: {}: not looked for", key, skip);
            }
            return false;
        }
        String uid = pod.getMetadata().getUid();
        if (t != null && t.uid.equals(uid)) {
            return false; // a status or label update: nothing new for the sandbox
        }
        boolean changed = false;
        if (t != null) {
            log.info("pod {}: new uid {} (was {}): a new pod under the same name", key, uid, t.uid);
            changed = forget(t);
        }
        t = new Tracked(pod.getMetadata().getNamespace(), pod.getMetadata().getName(), uid, System.nanoTime());
        tracked.put(key, t);
        return attempt(List.of(t)) | changed;
    }

    /** Why a pod of the store has no sandbox to find, or null if it should have one. */
    private String skipReason(Pod pod) {
        PodSpec spec = pod.getSpec();
        PodStatus status = pod.getStatus();
        if (spec == null || !nodeName.equals(spec.getNodeName())) {
            return "on node " + (spec == null ? null : spec.getNodeName());
        }
        if (Boolean.TRUE.equals(spec.getHostNetwork())) {
            return "host network";
        }
        String phase = status == null ? null : status.getPhase();
        if (!"Running".equals(phase)) {
            return "phase " + phase;
        }
        if (status.getPodIP() == null || status.getPodIP().isEmpty()) {
            return "no pod IP yet";
        }
        String uid = pod.getMetadata().getUid();
        if (uid == null || uid.isEmpty()) {
            return "no uid";
        }
        return null;
    }

    private boolean forget(Tracked t) {
        tracked.remove(t.key());
        problems.remove(t.key());
        return resolved.remove(t.key()) != null;
    }

    /** Tries the pods due now. */
    private void tick() {
        try {
            long now = System.nanoTime();
            List<Tracked> due = new ArrayList<>();
            for (Tracked t : tracked.values()) {
                if (now - t.nextAttemptNanos >= 0) {
                    due.add(t);
                }
            }
            if (!due.isEmpty() && !closed) {
                notifyIf(attempt(due));
            }
        } catch (RuntimeException e) {
            // A periodic task that throws is never run again.
            log.warn("looking for pod sandboxes failed; trying again in {} ms", retryNanos / 1_000_000, e);
        }
    }

    /** Resolves (or re-checks) these pods; true if any sandbox appeared, went or changed. */
    private boolean attempt(List<Tracked> due) {
        // A pod's folder stays for as long as the pod: reuse it while it is there, and look
        // for all the others in one walk of the tree.
        List<String> search = new ArrayList<>();
        for (Tracked t : due) {
            if (t.cgroup == null || !Files.isDirectory(t.cgroup)) {
                search.add(t.uid);
            }
        }
        Map<String, Path> found = search.isEmpty() ? Map.of() : cgroups.findCgroups(search);
        boolean changed = false;
        for (Tracked t : due) {
            Path cgroup = t.cgroup != null && Files.isDirectory(t.cgroup) ? t.cgroup : found.get(t.uid);
            if (cgroup == null) {
                changed |= failed(t, CgroupPods.validUid(t.uid)
                        ? "no cgroup under " + cgroups.root() + " matching " + String.join(" or ",
                                CgroupPods.markers(t.uid)) + " (looked in the kubelet's usual places and "
                                + cgroups.maxDepth() + " levels deep; is the cgroup root (--cgroup-root) the"
                                + " cgroup v2 mount used by the kubelet?)"
                        : "uid \"" + t.uid + "\" cannot name a cgroup folder (expected: a UUID)");
                continue;
            }
            Optional<CgroupPods.PodProcess> process = cgroups.findProcess(cgroup, t.pid);
            if (process.isEmpty()) {
                t.cgroup = cgroup;
                changed |= failed(t, "cgroup " + cgroup + " holds no process (its containers have not"
                        + " started yet, or have all exited)");
                continue;
            }
            changed |= resolved(t, cgroup, process.get());
        }
        return changed;
    }

    private boolean resolved(Tracked t, Path cgroup, CgroupPods.PodProcess process) {
        long now = System.nanoTime();
        boolean same = t.isResolved && cgroup.equals(t.cgroup) && process.netnsInode() == t.netnsInode;
        PodSandbox sandbox = new PodSandbox(t.namespace, t.name, t.uid, cgroup, process.netns());
        if (!t.isResolved) {
            if (t.warned) {
                log.info("pod {} (uid {}): found after all: cgroup {}, netns {}", t.key(), t.uid, cgroup,
                        process.netns());
            } else {
                log.debug("pod {} (uid {}): cgroup {}, netns {} (inode {})", t.key(), t.uid, cgroup,
                        process.netns(), process.netnsInode());
            }
        } else if (!same) {
            log.info("pod {} (uid {}): new sandbox: cgroup {}, netns {} (inode {}, was {} in {})", t.key(), t.uid,
                    cgroup, process.netns(), process.netnsInode(), t.netnsInode, t.cgroup);
        }
        t.isResolved = true;
        t.cgroup = cgroup;
        t.pid = process.pid();
        t.netnsInode = process.netnsInode();
        t.failures = 0;
        t.warned = false;
        t.nextAttemptNanos = now + RECHECK * retryNanos;
        problems.remove(t.key());
        resolved.put(t.key(), sandbox);
        return !same;
    }

    private boolean failed(Tracked t, String reason) {
        long now = System.nanoTime();
        boolean changed = false;
        if (t.isResolved) {
            log.info("pod {} (uid {}): sandbox gone: {}; looking for it again", t.key(), t.uid, reason);
            t.isResolved = false;
            t.failures = 0;
            t.unresolvedSinceNanos = now;
            resolved.remove(t.key());
            changed = true;
        }
        String problem = "pod " + t.key() + " (uid " + t.uid + "): " + reason;
        problems.put(t.key(), problem);
        long delay = backoff.delay(t.failures).toNanos();
        t.failures++;
        t.nextAttemptNanos = now + delay;
        if (!t.warned && now - t.unresolvedSinceNanos >= WARN_AFTER_NANOS) {
            t.warned = true;
            log.warn("{}; still looking, every {} ms", problem, delay / 1_000_000);
        } else {
            log.debug("{}; looking again in {} ms", problem, delay / 1_000_000);
        }
        return changed;
    }

    private void notifyIf(boolean changed) {
        if (!changed || closed) {
            return;
        }
        try {
            onChange.run();
        } catch (RuntimeException e) {
            log.warn("sandbox change listener failed", e);
        }
    }

    /** Builds a {@link KubernetesSandboxes}. */
    public static final class Builder {
        private final KubernetesClient client;
        private final String nodeName;
        private Path cgroupRoot = Path.of("/sys/fs/cgroup");
        private Duration retryInterval = Duration.ofMillis(500);

        private Builder(KubernetesClient client, String nodeName) {
            this.client = client;
            this.nodeName = nodeName;
        }

        /**
         * Where the cgroup v2 hierarchy the kubelet uses is mounted, as the agent sees it.
         * Default {@code /sys/fs/cgroup}; {@code /sys/fs/cgroup/unified} on hybrid hosts.
         */
        public Builder cgroupRoot(Path cgroupRoot) {
            this.cgroupRoot = requireNonNull(cgroupRoot, "cgroupRoot");
            return this;
        }

        /** How soon a pod not resolved yet is looked for again (backing off to 16 times that). Default 500 ms. */
        public Builder retryInterval(Duration retryInterval) {
            requireNonNull(retryInterval, "retryInterval");
            if (retryInterval.toMillis() < 1 || retryInterval.compareTo(Duration.ofHours(1)) > 0) {
                throw new IllegalArgumentException("retryInterval: " + retryInterval
                        + " (expected: between 1 ms and 1 hour)");
            }
            this.retryInterval = retryInterval;
            return this;
        }

        /** The source; it reads nothing until {@link KubernetesSandboxes#start}. */
        public KubernetesSandboxes build() {
            if (!Files.isDirectory(cgroupRoot)) {
                throw new IllegalArgumentException("cgroupRoot: " + cgroupRoot + " is not a folder (expected: the"
                        + " cgroup v2 mount the kubelet uses, usually /sys/fs/cgroup; on hybrid hosts"
                        + " /sys/fs/cgroup/unified)");
            }
            return new KubernetesSandboxes(this);
        }
    }
}
