package dev.ambit.ctl.dashboard;

import static java.util.Objects.requireNonNull;

import dev.ambit.ctl.config.ConfigCommand;
import dev.ambit.ctl.local.ClusterInfo;
import dev.ambit.ctl.local.ClusterStatus;
import dev.ambit.ctl.local.LocalException;
import dev.ambit.ctl.local.StateDir;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The mesh view's sources on a local cluster ({@code ambitctl local}): pods from the
 * controller's {@code status.json}, agents' dumps through their node's network namespace as
 * {@code ambitctl config} reads them.
 */
final class LocalMeshSources implements MeshSources {

    private final StateDir state;

    LocalMeshSources(StateDir state) {
        this.state = requireNonNull(state, "state");
    }

    @Override
    public List<MeshGraph.Pod> pods() throws IOException {
        ClusterStatus status;
        try {
            status = ClusterStatus.read(state).orElse(null);
        } catch (LocalException e) {
            throw new IOException(e.getMessage(), e); // being rewritten: the next refresh reads it
        }
        if (status == null) {
            return List.of();
        }
        List<MeshGraph.Pod> out = new ArrayList<>();
        for (ClusterStatus.Pod p : status.pods()) {
            // Istio's workload name is the Deployment's; a bare Pod is its own workload.
            String workload = p.owner().isEmpty() ? p.name() : p.owner();
            out.add(new MeshGraph.Pod(p.namespace(), p.name(), p.uid(), workload, p.node(), p.ip(), p.phase(),
                    p.labels() == null ? java.util.Map.of() : p.labels()));
        }
        return out;
    }

    @Override
    public List<AgentDump> agents() {
        List<AgentDump> out = new ArrayList<>();
        for (ClusterInfo.Node n : ClusterInfo.require(state).nodes()) {
            try {
                out.add(new AgentDump(n.name(), ConfigCommand.dump(n), null));
            } catch (LocalException e) {
                out.add(new AgentDump(n.name(), null, e.getMessage()));
            }
        }
        return out;
    }
}
