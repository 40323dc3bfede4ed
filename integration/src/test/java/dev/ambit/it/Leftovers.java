package dev.ambit.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * What a local cluster may leave on the machine, looked for by name the way
 * {@code ambitctl local} names it: network namespaces {@code ambit-l-*}, their
 * {@code /etc/netns} folders, pods' UTS namespaces under {@code /run/ambit-local-uts}, the
 * machine's end of the veth into the node network ({@code ambit-l-host}, with its address
 * and route), BPF pins under {@code /sys/fs/bpf/ambit-local}, the
 * {@code ambit-local} cgroup tree, the tests' state folder, and processes still running
 * from it.
 */
final class Leftovers {

    static final Path BPFFS = Path.of("/sys/fs/bpf/ambit-local");
    /** Pods' UTS namespaces (their hostnames), bind-mounted one file per pod. */
    static final Path UTS = Path.of("/run/ambit-local-uts");
    /** {@code local up}'s veth in the machine's own namespace (LoadBalancer addresses, node ports). */
    static final Path HOST_LINK = Path.of("/sys/class/net/ambit-l-host");
    static final List<Path> CGROUPS = List.of(Path.of("/sys/fs/cgroup/ambit-local"),
            Path.of("/sys/fs/cgroup/unified/ambit-local"));

    private Leftovers() {
    }

    /** Everything found, one description each; empty when the machine is clean. */
    static List<String> find() {
        return find(Ambitctl.STATE);
    }

    /** Everything found of a cluster whose state folder was {@code state}. */
    static List<String> find(Path state) {
        List<String> out = new ArrayList<>();
        List<String> ns = namespaces();
        if (!ns.isEmpty()) {
            out.add("network namespaces " + ns);
        }
        List<String> etc = list(Path.of("/etc/netns")).stream().filter(n -> n.startsWith("ambit-l-")).toList();
        if (!etc.isEmpty()) {
            out.add("/etc/netns entries " + etc);
        }
        if (Files.exists(UTS)) {
            out.add("pod UTS namespaces " + UTS + " " + list(UTS));
        }
        if (Files.exists(HOST_LINK)) {
            out.add("host interface " + HOST_LINK.getFileName() + " (the veth into the node network)");
        }
        if (Files.exists(BPFFS)) {
            out.add("BPF pins " + BPFFS + " " + list(BPFFS));
        }
        for (Path c : CGROUPS) {
            if (Files.exists(c)) {
                out.add("cgroup " + c);
            }
        }
        if (Files.exists(state)) {
            out.add("state folder " + state + " " + list(state));
        }
        List<String> procs = processes(state);
        if (!procs.isEmpty()) {
            out.add("processes " + procs);
        }
        return out;
    }

    /** {@code ambit-l-*} network namespaces (what {@code ip netns list} shows). */
    static List<String> namespaces() {
        return list(Path.of("/run/netns")).stream().filter(n -> n.startsWith("ambit-l-")).sorted().toList();
    }

    /**
     * Processes of the tests' cluster, found by their command line naming its state folder
     * (daemons and the controller do; pod processes are found by their namespaces above).
     */
    static List<String> processes(Path state) {
        String marker = state.toString() + "/";
        String flag = "--state-dir=" + state;
        long self = ProcessHandle.current().pid();
        List<String> out = new ArrayList<>();
        for (String pid : list(Path.of("/proc"))) {
            if (!pid.chars().allMatch(Character::isDigit) || Long.parseLong(pid) == self) {
                continue;
            }
            try {
                String cmd = new String(Files.readAllBytes(Path.of("/proc", pid, "cmdline")), StandardCharsets.UTF_8)
                        .replace('\0', ' ');
                // Not the ambitctl commands the tests run themselves (local down, status): only daemons.
                if ((cmd.contains(marker) || cmd.contains(flag + " ")) && !cmd.contains(" local down")
                        && (cmd.contains("istiod-lite.jar") || cmd.contains("node-agent.jar")
                        || cmd.contains(" local controller"))) {
                    out.add(pid + " " + (cmd.length() > 120 ? cmd.substring(0, 120) + "..." : cmd));
                }
            } catch (IOException e) {
                // Exited meanwhile.
            }
        }
        return out;
    }

    static List<String> list(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
