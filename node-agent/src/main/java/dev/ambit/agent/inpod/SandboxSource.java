package dev.ambit.agent.inpod;

import java.util.Collection;
import java.util.Optional;

/**
 * Finds the sandboxes (cgroup and network namespace) of the pods running on this node.
 * The workloads to enroll come from xDS; this tells where each one runs. Two
 * implementations: {@link LocalSandboxes} reads what {@code ambitctl local} reports, and
 * {@link KubernetesSandboxes} finds Kubernetes pods from their UID under the cgroup root.
 *
 * <p>Thread-safe.
 */
public interface SandboxSource extends AutoCloseable {

    /**
     * Starts watching; {@code onChange} is called (on a thread of the source's) whenever a
     * sandbox appears, disappears or changes. Must be quick: it should only schedule work.
     */
    void start(Runnable onChange);

    /** The sandbox of pod {@code namespace/name} if it is running on this node now. */
    Optional<PodSandbox> find(String namespace, String name);

    /** Every sandbox known now. */
    Collection<PodSandbox> all();

    @Override
    void close();
}
