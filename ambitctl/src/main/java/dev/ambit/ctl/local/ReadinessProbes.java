package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * The kubelet's readiness probes: each running container with a {@code readinessProbe} is
 * probed every {@code periodSeconds} from inside its pod's network namespace, and is ready
 * after {@code successThreshold} passes in a row, not ready after {@code failureThreshold}
 * failures in a row. A restarted process starts not ready.
 *
 * <p>Probes run on their own threads (a probe may wait up to its timeout, and the loop must
 * not), platform threads because a socket is created inside the pod's namespace
 * ({@link NetnsHttp}), which virtual threads may not do. Verdicts are handed back through a
 * concurrent map and applied to the pods only by {@link #probe}, on the controller's thread,
 * which owns them.
 */
final class ReadinessProbes implements AutoCloseable {

    /** Probes one container: true when it passes. */
    @FunctionalInterface
    interface Checker {
        boolean check(String netns, String ip, int port, String path, Duration timeout);
    }

    /** One container's probe bookkeeping; the verdict fields are written by a probe thread. */
    private static final class State {
        final Process process;
        Instant nextProbe = Instant.EPOCH;
        volatile boolean inFlight;
        volatile Boolean lastResult; // null: no result since the loop last looked
        int successes;
        int failures;

        State(Process process) {
            this.process = process;
        }
    }

    private final Checker checker;
    private final Supplier<Instant> clock;
    private final ExecutorService executor;
    private final Map<RunningPod.ContainerRun, State> states = new ConcurrentHashMap<>();

    /** Real probes: HTTP GET or a TCP connect in the pod's namespace. */
    ReadinessProbes() {
        this(ReadinessProbes::realCheck, Instant::now, newExecutor());
    }

    ReadinessProbes(Checker checker, Supplier<Instant> clock, ExecutorService executor) {
        this.checker = requireNonNull(checker, "checker");
        this.clock = requireNonNull(clock, "clock");
        this.executor = requireNonNull(executor, "executor");
    }

    /**
     * Applies the verdicts that came in since the last call to {@code pods}' containers, then
     * starts the probes that are due. Containers without a probe, or without a process, are
     * left alone (a container without a process is never ready).
     */
    void probe(Collection<RunningPod> pods) {
        Instant now = clock.get();
        Set<RunningPod.ContainerRun> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        for (RunningPod p : pods) {
            for (RunningPod.ContainerRun c : p.containers) {
                PodTemplate.Probe probe = c.spec.readinessProbe();
                if (probe == null || c.process == null) {
                    c.probeReady = false;
                    continue;
                }
                seen.add(c);
                State s = states.get(c);
                if (s == null || s.process != c.process) {
                    s = new State(c.process); // a new process: not ready until it passes
                    states.put(c, s);
                    c.probeReady = false;
                }
                Boolean result = s.lastResult;
                if (result != null) {
                    s.lastResult = null;
                    if (result) {
                        s.failures = 0;
                        if (++s.successes >= probe.successThreshold()) {
                            c.probeReady = true;
                        }
                    } else {
                        s.successes = 0;
                        if (++s.failures >= probe.failureThreshold()) {
                            c.probeReady = false;
                        }
                    }
                }
                if (!s.inFlight && !now.isBefore(s.nextProbe)) {
                    start(p, c, probe, s, now);
                }
            }
        }
        states.keySet().removeIf(c -> !seen.contains(c));
    }

    private void start(RunningPod p, RunningPod.ContainerRun c, PodTemplate.Probe probe, State s, Instant now) {
        int port = probe.portNumber(c.spec.ports());
        s.nextProbe = now.plusSeconds(probe.periodSeconds());
        if (port < 1) {
            s.lastResult = false; // a named port the container does not declare never answers
            return;
        }
        s.inFlight = true;
        String netns = p.netns;
        String ip = p.ip;
        executor.execute(() -> {
            boolean ok;
            try {
                ok = checker.check(netns, ip, port, probe.path(), Duration.ofSeconds(probe.timeoutSeconds()));
            } catch (RuntimeException e) {
                ok = false;
            }
            s.lastResult = ok;
            s.inFlight = false;
        });
    }

    /** The kubelet's check: GET {@code path} answered 200-399, or (no path) a TCP connect accepted. */
    static boolean realCheck(String netns, String ip, int port, String path, Duration timeout) {
        if (path == null) {
            try (var ch = NetnsHttp.connect(netns, ip, port, timeout)) {
                return ch.isConnected();
            } catch (IOException e) {
                return false;
            }
        }
        try {
            int status = NetnsHttp.get(netns, ip, port, path, timeout).status();
            return status >= 200 && status < 400;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    private static ExecutorService newExecutor() {
        AtomicInteger n = new AtomicInteger();
        return Executors.newFixedThreadPool(2, r -> {
            Thread t = new Thread(r, "ambit-readiness-probe-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    @Override
    public void close() {
        executor.shutdownNow();
    }
}
