package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The kubelet's probes. Each running container's {@code startupProbe}, {@code readinessProbe}
 * and {@code livenessProbe} ({@code httpGet}, {@code tcpSocket} or {@code exec}) run every
 * {@code periodSeconds}, the first {@code initialDelaySeconds} after the process was first
 * seen; each verdict counts towards {@code successThreshold} passes or {@code failureThreshold}
 * failures in a row, as the kubelet counts them:
 *
 * <ul>
 *   <li>startup: until it passed, readiness and liveness are not run (the container is neither
 *       started nor ready); failing {@code failureThreshold} times kills the container.</li>
 *   <li>readiness: a process starts not ready; ready after {@code successThreshold} passes,
 *       not ready after {@code failureThreshold} failures. Ready gates the pod's {@code Ready}
 *       condition, hence Service endpoints and the workload health istiod-lite serves.</li>
 *   <li>liveness: {@code failureThreshold} failures kill the container ({@link Killer}); the
 *       supervisor restarts it per {@code restartPolicy}, and the new process is probed anew.</li>
 * </ul>
 *
 * <p>Probes run on their own threads (a probe may wait up to its timeout, and the loop must
 * not), platform threads because a socket is created inside the pod's namespace
 * ({@link NetnsHttp}), which virtual threads may not do. Verdicts are handed back through
 * volatile fields and applied to the pods only by {@link #probe}, on the controller's thread,
 * which owns them.
 */
final class Probes implements AutoCloseable {

    /** The three probes of a container. */
    enum Kind {
        STARTUP("startup"), READINESS("readiness"), LIVENESS("liveness");

        final String label;

        Kind(String label) {
            this.label = label;
        }
    }

    /**
     * What a probe of one container runs against.
     *
     * @param cgroup the container's cgroup (an exec probe runs in it, as inside the container)
     * @param env the container's environment (an exec probe gets it)
     */
    record Target(String netns, String ip, Path cgroup, Map<String, String> env, String workingDir,
                  List<PodTemplate.Port> ports) {}

    /** A probe's verdict; {@code detail} says why it failed, as the kubelet's event does. */
    record Result(boolean ok, String detail) {
        static final Result PASS = new Result(true, "");

        static Result fail(String detail) {
            return new Result(false, detail);
        }
    }

    /** Runs one probe: its verdict within about {@code timeout}. */
    @FunctionalInterface
    interface Checker {
        Result check(Target target, PodTemplate.Handler handler, Duration timeout);
    }

    /** Kills a container whose liveness or startup probe failed ({@link PodSupervisor#kill}). */
    @FunctionalInterface
    interface Killer {
        void kill(RunningPod pod, RunningPod.ContainerRun container, String reason);
    }

    /** One probe of one process; the verdict fields are written by a probe thread. */
    private static final class ProbeState {
        final Kind kind;
        final PodTemplate.Probe probe;
        Instant nextProbe;
        volatile boolean inFlight;
        volatile Result lastResult; // null: no result since the loop last looked
        int successes;
        int failures;

        ProbeState(Kind kind, PodTemplate.Probe probe, Instant firstSeen) {
            this.kind = kind;
            this.probe = probe;
            this.nextProbe = firstSeen.plusSeconds(probe.initialDelaySeconds());
        }
    }

    /** The probes of one process of a container; a new process gets new ones. */
    private static final class ContainerState {
        final Process process;
        final ProbeState startup;
        final ProbeState readiness;
        final ProbeState liveness;
        boolean killed; // a probe killed this process: nothing more to probe

        ContainerState(Process process, PodTemplate.Container spec, Instant now) {
            this.process = process;
            this.startup = spec.startupProbe() == null ? null : new ProbeState(Kind.STARTUP, spec.startupProbe(), now);
            this.readiness = spec.readinessProbe() == null ? null
                    : new ProbeState(Kind.READINESS, spec.readinessProbe(), now);
            this.liveness = spec.livenessProbe() == null ? null
                    : new ProbeState(Kind.LIVENESS, spec.livenessProbe(), now);
        }
    }

    private final Checker checker;
    private final Killer killer;
    private final Supplier<Instant> clock;
    private final ExecutorService executor;
    private final Consumer<String> log;
    private final Map<RunningPod.ContainerRun, ContainerState> states = new ConcurrentHashMap<>();

    /** Real probes ({@link #realCheck}) on their own threads; failed liveness and startup probes go to {@code killer}. */
    Probes(Killer killer, Consumer<String> log) {
        this(Probes::realCheck, killer, Instant::now, newExecutor(), log);
    }

    Probes(Checker checker, Killer killer, Supplier<Instant> clock, ExecutorService executor, Consumer<String> log) {
        this.checker = requireNonNull(checker, "checker");
        this.killer = requireNonNull(killer, "killer");
        this.clock = requireNonNull(clock, "clock");
        this.executor = requireNonNull(executor, "executor");
        this.log = requireNonNull(log, "log");
    }

    /**
     * Applies the verdicts that came in since the last call to {@code pods}' containers
     * (their {@code startupDone} and {@code probeReady}; kills), then starts the probes that
     * are due. Containers without probes, or without a process, are left alone (a container
     * without a process is never ready).
     */
    void probe(Collection<RunningPod> pods) {
        Instant now = clock.get();
        Set<RunningPod.ContainerRun> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        for (RunningPod p : pods) {
            for (RunningPod.ContainerRun c : p.containers) {
                PodTemplate.Container spec = c.spec;
                if (spec.startupProbe() == null && spec.readinessProbe() == null && spec.livenessProbe() == null) {
                    continue;
                }
                if (c.process == null) {
                    c.probeReady = false;
                    c.startupDone = false;
                    continue;
                }
                seen.add(c);
                ContainerState s = states.get(c);
                if (s == null || s.process != c.process) {
                    s = new ContainerState(c.process, spec, now); // a new process: judged afresh
                    states.put(c, s);
                    c.probeReady = false;
                    c.startupDone = s.startup == null;
                }
                if (s.killed) {
                    continue;
                }
                if (!c.startupDone) {
                    step(p, c, s, s.startup, now);
                    if (!c.startupDone) {
                        continue; // readiness and liveness wait for the startup probe
                    }
                }
                if (s.readiness != null) {
                    step(p, c, s, s.readiness, now);
                }
                if (s.liveness != null && !s.killed) {
                    step(p, c, s, s.liveness, now);
                }
            }
        }
        states.keySet().removeIf(c -> !seen.contains(c));
    }

    /** Applies {@code ps}'s last verdict, then starts it again if it is due. */
    private void step(RunningPod p, RunningPod.ContainerRun c, ContainerState s, ProbeState ps, Instant now) {
        Result result = ps.lastResult;
        if (result != null) {
            ps.lastResult = null;
            apply(p, c, s, ps, result);
        }
        if (!s.killed && !ps.inFlight && !now.isBefore(ps.nextProbe)
                && (ps.kind != Kind.STARTUP || !c.startupDone)) {
            start(p, c, ps, now);
        }
    }

    private void apply(RunningPod p, RunningPod.ContainerRun c, ContainerState s, ProbeState ps, Result result) {
        String who = "pod " + p.key() + ": container " + c.spec.name();
        if (result.ok()) {
            ps.failures = 0;
            if (++ps.successes < ps.probe.successThreshold()) {
                return;
            }
            switch (ps.kind) {
                case STARTUP -> {
                    c.startupDone = true;
                    log.accept(who + " started (startup probe passed)");
                }
                case READINESS -> {
                    if (!c.probeReady) {
                        log.accept(who + " is ready (readiness probe passed)");
                    }
                    c.probeReady = true;
                }
                case LIVENESS -> { }
            }
            return;
        }
        ps.successes = 0;
        if (++ps.failures < ps.probe.failureThreshold()) {
            return;
        }
        switch (ps.kind) {
            case READINESS -> {
                if (c.probeReady) {
                    log.accept(who + " is not ready: readiness probe failed " + ps.failures + " times: "
                            + result.detail());
                }
                c.probeReady = false;
            }
            case STARTUP, LIVENESS -> {
                s.killed = true;
                c.probeReady = false;
                killer.kill(p, c, "failed its " + ps.kind.label + " probe " + ps.failures + " times ("
                        + result.detail() + ")");
            }
        }
    }

    private void start(RunningPod p, RunningPod.ContainerRun c, ProbeState ps, Instant now) {
        ps.nextProbe = now.plusSeconds(ps.probe.periodSeconds());
        ps.inFlight = true;
        Target target = new Target(p.netns, p.ip, p.cgroup.resolve(c.spec.name()), c.env, c.spec.workingDir(),
                c.spec.ports());
        PodTemplate.Handler handler = ps.probe.handler();
        Duration timeout = Duration.ofSeconds(ps.probe.timeoutSeconds());
        executor.execute(() -> {
            Result r;
            try {
                r = checker.check(target, handler, timeout);
            } catch (RuntimeException e) {
                r = Result.fail(String.valueOf(e.getMessage()));
            }
            ps.lastResult = r;
            ps.inFlight = false;
        });
    }

    /**
     * The kubelet's checks: {@code httpGet} answered 200-399, {@code tcpSocket} accepted
     * (both from inside the pod's network namespace, to the pod's IP unless {@code host} is
     * given), {@code exec} exiting 0 within the timeout (run as the container's processes are,
     * {@link PodSupervisor#podProcess}, killed when the timeout passes).
     */
    static Result realCheck(Target t, PodTemplate.Handler handler, Duration timeout) {
        return switch (handler) {
            case PodTemplate.HttpGet h -> {
                int port = PodTemplate.portNumber(h.port(), t.ports());
                if (port < 1) {
                    yield Result.fail("port " + h.port() + " is not a port of the container");
                }
                String host = h.host().isEmpty() ? t.ip() : h.host();
                try {
                    int status = NetnsHttp.get(t.netns(), host, port, h.path(), h.headers(), timeout).status();
                    yield status >= 200 && status < 400 ? Result.PASS
                            : Result.fail("HTTP probe failed with statuscode: " + status);
                } catch (IOException | RuntimeException e) {
                    yield Result.fail("GET http://" + host + ":" + port + h.path() + ": " + e.getMessage());
                }
            }
            case PodTemplate.TcpSocket s -> {
                int port = PodTemplate.portNumber(s.port(), t.ports());
                if (port < 1) {
                    yield Result.fail("port " + s.port() + " is not a port of the container");
                }
                String host = s.host().isEmpty() ? t.ip() : s.host();
                try (var ch = NetnsHttp.connect(t.netns(), host, port, timeout)) {
                    yield ch.isConnected() ? Result.PASS : Result.fail("dial tcp " + host + ":" + port + ": not connected");
                } catch (IOException | RuntimeException e) {
                    yield Result.fail("dial tcp " + host + ":" + port + ": " + e.getMessage());
                }
            }
            case PodTemplate.Exec x -> exec(t, x.command(), timeout);
        };
    }

    private static Result exec(Target t, List<String> command, Duration timeout) {
        Process p;
        try {
            p = PodSupervisor.podProcess(t.cgroup(), t.netns(), command, t.env(), t.workingDir())
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        } catch (IOException e) {
            return Result.fail("exec " + command + ": " + e.getMessage());
        }
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                return Result.fail("command " + command + " timed out after " + timeout.toSeconds() + " s");
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            return Result.fail("interrupted");
        }
        int code = p.exitValue();
        return code == 0 ? Result.PASS : Result.fail("command " + command + " exited with " + code);
    }

    private static ExecutorService newExecutor() {
        AtomicInteger n = new AtomicInteger();
        // Several: an exec probe forks, and a hanging one holds its thread up to its timeout.
        return Executors.newFixedThreadPool(4, r -> {
            Thread t = new Thread(r, "ambit-probe-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    @Override
    public void close() {
        executor.shutdownNow();
    }
}
