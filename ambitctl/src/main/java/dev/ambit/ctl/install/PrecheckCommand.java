package dev.ambit.ctl.install;

import dev.ambit.agent.KernelCheck;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code ambitctl precheck}: whether this machine's kernel has what the node agent needs
 * (BTF, cgroup v2, bpffs, the capture's program and map types): the agent's own check, run
 * here. On a cluster, run it on each node with the agent image
 * ({@code node-agent --check-kernel}, which the DaemonSet's init container runs too).
 */
@Command(name = "precheck", description = "Check that this node's kernel has what the node agent needs.")
public final class PrecheckCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--cgroup-root", defaultValue = "/sys/fs/cgroup", description = "The cgroup v2 mount (default: ${DEFAULT-VALUE}).")
    Path cgroupRoot;

    @Option(names = "--bpffs-root", defaultValue = "/sys/fs/bpf/ambit", description = "The agent's pin folder (default: ${DEFAULT-VALUE}).")
    Path bpffsRoot;

    @Override
    public Integer call() {
        KernelCheck check = new KernelCheck(Path.of("/sys/kernel/btf/vmlinux"), cgroupRoot, bpffsRoot);
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        boolean ready = KernelCheck.print(check.run(), new PrintStream(text, true, StandardCharsets.UTF_8));
        spec.commandLine().getOut().print(text.toString(StandardCharsets.UTF_8));
        spec.commandLine().getOut().flush();
        return ready ? 0 : 1;
    }
}
