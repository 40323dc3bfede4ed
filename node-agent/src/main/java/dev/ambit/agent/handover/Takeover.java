package dev.ambit.agent.handover;

import static java.util.Objects.requireNonNull;

import dev.ambit.agent.inpod.InPodManager;
import dev.ambit.common.metrics.Counter;
import dev.ambit.common.metrics.Histogram;
import dev.ambit.common.metrics.MetricsRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The taking side of a hand-over: a new agent takes every pod of the agent it replaces, one at a
 * time, on its own platform thread ({@code ambit-takeover}). Per pod: this agent binds its
 * listeners in the pod's namespace beside the old agent's ({@code SO_REUSEPORT}) and points
 * capture at them ({@link InPodManager#adopt}: the {@code ambit_in_lsnr} entries are replaced
 * in place, so inbound steering never lacks a listener); it waits until they can serve at once
 * (workload, policies and certificate known, at most {@link #SERVING_WAIT}); then the old agent
 * closes its listeners of the pod, whose queued connections the kernel moves to this agent's
 * ({@code tcp_migrate_req}), and drains its open connections. When all are taken the old agent
 * is told so and leaves.
 *
 * <p>Each pod's takeover time (from the start of its adoption to the old agent's release) is
 * logged and observed in {@value #SECONDS}.
 */
public final class Takeover {

    private static final Logger log = LoggerFactory.getLogger(Takeover.class);
    static final String SECONDS = "ambit_agent_handover_pod_seconds";
    static final String PODS = "ambit_agent_handover_pods_total";
    /** How long a pod's new listeners may take to be able to serve before the old ones close anyway. */
    static final Duration SERVING_WAIT = Duration.ofSeconds(5);
    private static final double[] BUCKETS = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10};

    /** One pod's takeover: {@code took} from its adoption's start to the old agent's release. */
    public record PodTakeover(String pod, String uid, boolean taken, Duration took, Duration adopted,
                              Duration serving) {}

    private final HandoverClient previous;
    private final InPodManager pods;
    private final BooleanSupplier synced;
    private final Duration syncWait;
    private final Runnable then;
    private final Histogram seconds;
    private final Counter.Family results;
    private final CompletableFuture<List<PodTakeover>> completion = new CompletableFuture<>();

    private Takeover(HandoverClient previous, InPodManager pods, BooleanSupplier synced, Duration syncWait,
                     MetricsRegistry metrics, Runnable then) {
        this.previous = previous;
        this.pods = pods;
        this.synced = synced;
        this.syncWait = syncWait;
        this.then = then;
        seconds = metrics.histogram(SECONDS, "Pods' hand-over from the previous agent, from adoption to release.",
                BUCKETS).labels();
        results = metrics.counter(PODS, "Pods offered by the previous agent, by result.", "result");
    }

    /**
     * Starts taking the pods of {@code previous}: after this agent's first xDS sync ({@code synced},
     * waited for at most {@code syncWait}; after it, pods are adopted as CNI-reported ones), then
     * runs {@code then} (this agent's own hand-over socket) whatever the outcome. A pod that
     * cannot be adopted stays with the old agent until it leaves; this agent's reconciliation
     * enrolls it afterwards, as after a restart.
     */
    public static Takeover start(HandoverClient previous, InPodManager pods, BooleanSupplier synced,
                                 Duration syncWait, MetricsRegistry metrics, Runnable then) {
        Takeover t = new Takeover(requireNonNull(previous, "previous"), requireNonNull(pods, "pods"),
                requireNonNull(synced, "synced"), requireNonNull(syncWait, "syncWait"),
                requireNonNull(metrics, "metrics"), requireNonNull(then, "then"));
        Thread.ofPlatform().name("ambit-takeover").daemon(true).start(t::run);
        return t;
    }

    /** Whether the hand-over has ended (completed or given up). */
    public boolean done() {
        return completion.isDone();
    }

    /** Completes with each pod's takeover when the hand-over has ended. */
    public CompletableFuture<List<PodTakeover>> completion() {
        return completion;
    }

    private void run() {
        List<PodTakeover> report = new ArrayList<>();
        long start = System.nanoTime();
        try {
            long deadline = start + syncWait.toNanos();
            while (!synced.getAsBoolean() && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            if (!synced.getAsBoolean()) {
                log.warn("hand-over: no xDS sync after {}; taking the pods over as CNI-reported ones", syncWait);
            }
            Set<String> tried = new HashSet<>();
            while (true) {
                List<InPodManager.Held> held = previous.pods();
                held.removeIf(h -> tried.contains(h.sandbox().uid()));
                if (held.isEmpty()) {
                    break;
                }
                for (InPodManager.Held h : held) {
                    tried.add(h.sandbox().uid());
                    report.add(take(h));
                }
            }
            previous.done();
            log.info("hand-over from agent pid {} complete: {} pods in {} ms", previous.peerPid(),
                    report.stream().filter(PodTakeover::taken).count(),
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            log.warn("hand-over from agent pid {} stopped: {}; pods left are enrolled as after a restart",
                    previous.peerPid(), e.getMessage(), e);
        } finally {
            previous.close();
            pods.adoptionOver();
            try {
                then.run();
            } finally {
                completion.complete(List.copyOf(report));
            }
        }
    }

    private PodTakeover take(InPodManager.Held h) throws Exception {
        String uid = h.sandbox().uid();
        long t0 = System.nanoTime();
        boolean adopted = pods.adopt(h).get(30, TimeUnit.SECONDS);
        long t1 = System.nanoTime();
        if (!adopted) {
            results.labels("not_adopted").inc();
            log.warn("pod {}: cannot take it over (its enrollment failed, see above); the previous agent keeps it"
                    + " until it leaves", h.sandbox().key());
            return new PodTakeover(h.sandbox().key(), uid, false, Duration.ZERO, Duration.ofNanos(t1 - t0),
                    Duration.ZERO);
        }
        long servingBy = t1 + SERVING_WAIT.toNanos();
        while (!pods.serving(uid) && System.nanoTime() < servingBy) {
            Thread.sleep(2);
        }
        long t2 = System.nanoTime();
        boolean released = previous.release(uid);
        long t3 = System.nanoTime();
        Duration took = Duration.ofNanos(t3 - t0);
        seconds.observe(took.toNanos() / 1e9);
        results.labels(released ? "taken" : "not_held").inc();
        log.info("pod {}: taken over from agent pid {} in {} ms (listeners bound and capture moved {} ms, ready to"
                        + " serve {} ms{}, old listeners closed {} ms)", h.sandbox().key(), previous.peerPid(),
                String.format("%.1f", took.toNanos() / 1e6), ms(t1 - t0), ms(t2 - t1),
                pods.serving(uid) ? "" : " (not ready: its connections wait for it)", ms(t3 - t2));
        return new PodTakeover(h.sandbox().key(), uid, true, took, Duration.ofNanos(t1 - t0),
                Duration.ofNanos(t2 - t1));
    }

    private static String ms(long nanos) {
        return String.format("%.1f", nanos / 1e6);
    }
}
