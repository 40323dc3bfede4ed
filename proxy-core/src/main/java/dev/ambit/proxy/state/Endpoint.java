package dev.ambit.proxy.state;

import static java.util.Objects.requireNonNull;

import dev.ambit.api.workload.Workload;
import dev.ambit.api.workload.WorkloadStatus;
import dev.ambit.common.config.Checks;

/**
 * A workload backing a service port, with the port the workload listens on for it.
 *
 * @param workload the backing workload
 * @param targetPort the workload's port for the service port asked for, resolved from the
 *        workload's {@code PortList} (or the service's numeric target port)
 */
public record Endpoint(Workload workload, int targetPort) {

    public Endpoint {
        requireNonNull(workload, "workload");
        Checks.port(targetPort, "targetPort");
    }

    /** Whether the control plane reports the workload ready to serve. */
    public boolean healthy() {
        return workload.getStatus() == WorkloadStatus.HEALTHY;
    }
}
