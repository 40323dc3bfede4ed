package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.backoff.Backoff;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * Holds a meshed pod's containers until its node's agent has captured it: the job Istio's
 * CNI plugin does in a kubelet, which does not start a pod's containers before the plugin
 * answered. The controller asks {@link #admit} before starting a meshed pod's containers;
 * this calls the node agent's enrollment socket ({@link CniClient}) and says yes only once
 * the agent answered that capture is in place. While the agent is down or refuses, the pod
 * waits ({@code ContainerCreating}, {@link #waiting}) and is asked about again with backoff
 * ({@value #RETRY_MIN_MILLIS} ms doubling up to {@value #RETRY_MAX_MILLIS} ms).
 *
 * <p>Which pods are meshed is Istio's rule ({@link #meshed}). Unmeshed pods never come here:
 * they start as soon as their sandbox exists. Single-threaded (the controller's loop).
 */
final class PodEnrollment {

    static final String DATAPLANE_MODE = "istio.io/dataplane-mode";
    static final long RETRY_MIN_MILLIS = 200;
    static final long RETRY_MAX_MILLIS = 3_000;
    /** Without jitter: one controller thread asks in turn, so retries cannot meet in lockstep. */
    private static final Backoff RETRY = Backoff.of(Duration.ofMillis(RETRY_MIN_MILLIS),
            Duration.ofMillis(RETRY_MAX_MILLIS)).withJitter(0);

    /** The agent's side, as the controller sees it: {@link CniClient} in production. */
    interface Agent {
        /** Asks the agent behind {@code socket} to capture the pod; throws with the agent's or the socket's reason. */
        void add(Path socket, CniClient.Pod pod) throws Exception;

        /** Tells the agent the pod is gone; best-effort. */
        void del(Path socket, String uid) throws Exception;
    }

    private record State(boolean admitted, int attempts, Instant next, String reason) {}

    private final Function<String, Path> socketOfNode;
    private final Agent agent;
    private final Supplier<Instant> clock;
    private final java.util.function.Consumer<String> log;
    private final Map<String, State> pods = new HashMap<>();

    PodEnrollment(Function<String, Path> socketOfNode, Agent agent, Supplier<Instant> clock,
                 java.util.function.Consumer<String> log) {
        this.socketOfNode = requireNonNull(socketOfNode, "socketOfNode");
        this.agent = requireNonNull(agent, "agent");
        this.clock = requireNonNull(clock, "clock");
        this.log = requireNonNull(log, "log");
    }

    /**
     * Istio's rule: the pod's {@code istio.io/dataplane-mode} label decides ({@code ambient}
     * in, {@code none} out), else its namespace's ({@code ambient} in).
     */
    static boolean meshed(Map<String, String> podLabels, Map<String, String> namespaceLabels) {
        String pod = podLabels.get(DATAPLANE_MODE);
        if ("none".equals(pod)) {
            return false;
        }
        if ("ambient".equals(pod)) {
            return true;
        }
        return "ambient".equals(namespaceLabels.get(DATAPLANE_MODE));
    }

    /**
     * Whether the pod's containers may start: true once the agent of {@code node} has
     * captured it (then always, for this uid). Asks the agent when a retry is due; blocks for
     * at most the client's timeout.
     */
    boolean admit(String node, CniClient.Pod pod) {
        State s = pods.get(pod.uid());
        if (s != null && s.admitted()) {
            return true;
        }
        Instant now = clock.get();
        if (s != null && now.isBefore(s.next())) {
            return false;
        }
        int attempts = s == null ? 1 : s.attempts() + 1;
        try {
            agent.add(socketOfNode.apply(node), pod);
            pods.put(pod.uid(), new State(true, attempts, now, ""));
            log.accept("pod " + pod.namespace() + "/" + pod.name() + ": captured by " + node + "'s agent"
                    + (attempts > 1 ? " (attempt " + attempts + ")" : "") + "; starting its containers");
            return true;
        } catch (Exception e) {
            String reason = "waiting for " + node + "'s node agent to capture the pod: " + e.getMessage();
            pods.put(pod.uid(), new State(false, attempts, now.plus(RETRY.delay(attempts - 1)), reason));
            if (attempts == 1 || Integer.bitCount(attempts) == 1) { // not every retry
                log.accept("pod " + pod.namespace() + "/" + pod.name() + ": " + reason + " (attempt " + attempts
                        + ", retrying)");
            }
            return false;
        }
    }

    /** Why the pod's containers have not started, or {@code null} if it is admitted or unknown here. */
    String waiting(String uid) {
        State s = pods.get(uid);
        return s == null || s.admitted() ? null : s.reason();
    }

    /** The pod is deleted: tells its agent (best-effort, quickly) and forgets it. */
    void forget(String node, String uid) {
        State s = pods.remove(uid);
        if (s == null) {
            return;
        }
        try {
            agent.del(socketOfNode.apply(node), uid);
        } catch (Exception e) {
            // The agent also sees the pod leave through its pods folder and xDS.
            log.accept("pod " + uid + ": CNI DEL to " + node + "'s agent failed: " + e.getMessage());
        }
    }

    /** Default timeout of a call to an agent. */
    static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);
}
