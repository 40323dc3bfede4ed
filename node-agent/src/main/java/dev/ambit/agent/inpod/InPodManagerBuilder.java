package dev.ambit.agent.inpod;

import static java.util.Objects.requireNonNull;

import dev.ambit.agent.proxy.PodNetwork;
import dev.ambit.common.config.Checks;
import java.time.Duration;
import java.util.function.BiFunction;
import java.util.function.BooleanSupplier;

/** Configures an {@link InPodManager}. */
public final class InPodManagerBuilder {
    final String node;
    final PodProxy.Shared shared;
    final SandboxSource sandboxes;
    final Capture capture;
    BiFunction<String, PodSandbox, PodNetwork> networks =
            (workloadUid, s) -> PodNetwork.namespace(workloadUid, s.netns());
    BooleanSupplier ready = () -> true;
    Duration drainDeadline = Duration.ofSeconds(5);
    Duration connectionWait = InPodManager.DEFAULT_CONNECTION_WAIT;

    InPodManagerBuilder(String node, PodProxy.Shared shared, SandboxSource sandboxes, Capture capture) {
        this.node = requireNonNull(node, "node");
        this.shared = requireNonNull(shared, "shared");
        this.sandboxes = requireNonNull(sandboxes, "sandboxes");
        this.capture = requireNonNull(capture, "capture");
    }

    /**
     * How a pod's sockets are made, given its pod UID and sandbox; default: inside its
     * network namespace. (The listeners report the workload uid the pod is bound to, not
     * this network's {@link PodNetwork#podUid()}.)
     */
    public InPodManagerBuilder networks(BiFunction<String, PodSandbox, PodNetwork> networks) {
        this.networks = requireNonNull(networks, "networks");
        return this;
    }

    /** What must hold before anything is enrolled or unenrolled (the first xDS sync). */
    public InPodManagerBuilder ready(BooleanSupplier ready) {
        this.ready = requireNonNull(ready, "ready");
        return this;
    }

    /** How long an unenrolled pod's connections may take to finish. */
    public InPodManagerBuilder drainDeadline(Duration drainDeadline) {
        Checks.notNegative(drainDeadline, "drainDeadline");
        this.drainDeadline = drainDeadline;
        return this;
    }

    /**
     * How long a connection of an enrolled pod whose workload or certificate is not known
     * yet is held before it is reset ({@link PodGate}).
     */
    public InPodManagerBuilder connectionWait(Duration connectionWait) {
        Checks.notNegative(connectionWait, "connectionWait");
        this.connectionWait = connectionWait;
        return this;
    }

    public InPodManager build() {
        return new InPodManager(this);
    }
}
