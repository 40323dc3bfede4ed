package dev.ambit.ctl.local;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The flags every command on a local cluster takes: where its state is, and where cgroup v2 is. */
public final class ClusterOptions {

    @Option(names = "--state-dir", paramLabel = "DIR", defaultValue = StateDir.DEFAULT,
            description = "The local cluster's state folder (default: ${DEFAULT-VALUE}).")
    Path stateDir;

    @Option(names = "--cgroup-root", paramLabel = "DIR",
            description = "The cgroup v2 mount (default: detected, /sys/fs/cgroup or /sys/fs/cgroup/unified).")
    Path cgroupRoot;

    public StateDir state() {
        return new StateDir(stateDir);
    }

    /** {@code --cgroup-root}, checked, or the detected one. */
    public Path cgroupRoot() {
        return cgroupRoot != null ? Cgroups.checkRoot(cgroupRoot) : Cgroups.detectRoot();
    }
}
