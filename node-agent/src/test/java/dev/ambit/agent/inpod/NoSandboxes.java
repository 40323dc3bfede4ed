package dev.ambit.agent.inpod;

import java.util.Collection;
import java.util.List;
import java.util.Optional;

/** A {@link SandboxSource} that knows no pod: only what the CNI reports is enrolled. For tests. */
public final class NoSandboxes implements SandboxSource {

    @Override
    public void start(Runnable onChange) {
        // Nothing to watch.
    }

    @Override
    public Optional<PodSandbox> find(String namespace, String name) {
        return Optional.empty();
    }

    @Override
    public Collection<PodSandbox> all() {
        return List.of();
    }

    @Override
    public void close() {
        // Nothing held.
    }
}
