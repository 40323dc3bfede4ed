package dev.ambit.ctl.local;

import dev.ambit.agent.redirect.EbpfRedirector;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * {@code ambitctl local down}: tears a local cluster down, and whatever a crashed {@code up} or
 * controller left, found by name as well as from the cluster's state ({@link LocalCluster} builds
 * and runs it; this class only removes it).
 */
final class LocalTeardown {

    private LocalTeardown() {
    }

    /**
     * Removes the cluster and everything a crashed {@code up} or controller may have left:
     * processes (by pid, then by namespace), pod cgroups, BPF pins, namespaces,
     * /etc/netns entries, the state folder. Idempotent.
     *
     * @return what was removed, one line each; empty when there was nothing
     */
    public static List<String> down(StateDir state, Path cgroupRootFlag, PrintWriter out) {
        LocalCluster.requireRoot();
        List<String> removed = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        ClusterInfo info = null;
        try {
            info = ClusterInfo.read(state).orElse(null);
        } catch (LocalException e) {
            // Unreadable (an edit, a full disk): not a failure of down, which finds everything
            // below by name too; the file goes with the state folder.
            out.println("warning: " + e.getMessage() + "; removing what is found by name");
            out.flush();
        }

        // 1. The controller first, so it does not recreate what is being removed.
        int controllers = 0;
        if (info != null && Daemons.stop(info.controller(), 3000)) {
            controllers++;
        }
        for (ProcessHandle h : Daemons.controllers(state)) {
            Daemons.stop(h, 3000);
            controllers++;
        }
        if (controllers > 0) {
            removed.add("controller");
        }

        // 2. Agents and istiod: politely (agents drain), then whatever still runs in our namespaces.
        if (info != null) {
            List<ProcessHandle> polite = new ArrayList<>();
            for (ClusterInfo.Node n : info.nodes()) {
                if (n.agent() != null) {
                    n.agent().handle().ifPresent(polite::add);
                }
            }
            if (info.istiod() != null) {
                info.istiod().handle().ifPresent(polite::add);
            }
            polite.forEach(ProcessHandle::destroy);
            long deadline = System.nanoTime() + 8_000_000_000L;
            for (ProcessHandle h : polite) {
                while (h.isAlive() && System.nanoTime() < deadline) {
                    Cgroups.sleep(50);
                }
                if (h.isAlive()) {
                    h.destroyForcibly();
                }
            }
            if (!polite.isEmpty()) {
                removed.add(polite.size() + " daemons (istiod-lite, node agents)");
            }
        }
        List<String> namespaces = Topology.existingNamespaces();
        List<ProcessHandle> leftovers = Daemons.inNamespaces(namespaces);
        for (ProcessHandle h : leftovers) {
            h.destroyForcibly();
        }
        for (ProcessHandle h : leftovers) {
            try {
                h.onExit().get(5, java.util.concurrent.TimeUnit.SECONDS);
            } catch (Exception e) {
                problems.add("process " + h.pid() + " in a local cluster namespace did not exit after SIGKILL");
            }
        }
        if (!leftovers.isEmpty()) {
            removed.add(leftovers.size() + " processes in " + Topology.PREFIX + "* namespaces");
        }

        // 3. Pod processes (cgroup.kill), BPF pins (they hold the cgroups), then the cgroups.
        List<Path> cgroupDirs = new ArrayList<>();
        if (info != null) {
            cgroupDirs.add(Path.of(info.cgroupRoot()).resolve(Topology.CGROUP_DIR));
        }
        if (cgroupRootFlag != null) {
            cgroupDirs.add(cgroupRootFlag.resolve(Topology.CGROUP_DIR));
        }
        for (Path root : List.of(Path.of("/sys/fs/cgroup"), Path.of("/sys/fs/cgroup/unified"))) {
            cgroupDirs.add(root.resolve(Topology.CGROUP_DIR));
        }
        for (Path dir : cgroupDirs.stream().distinct().toList()) {
            if (Files.isDirectory(dir) && !Cgroups.kill(dir, 5000)) {
                problems.add("processes still in " + dir + " after cgroup.kill");
            }
        }
        if (Files.isDirectory(Topology.BPFFS_ROOT)) {
            for (Path pins : list(Topology.BPFFS_ROOT)) {
                try {
                    if (pins.getFileName().toString().equals(Topology.BALANCER_PINS)) {
                        ServiceBalancer.uninstall(pins);
                    } else {
                        EbpfRedirector.uninstall(pins);
                    }
                } catch (RuntimeException e) {
                    problems.add("BPF pins " + pins + ": " + e.getMessage());
                }
            }
            try {
                Topology.deleteTree(Topology.BPFFS_ROOT);
                removed.add("BPF pins " + Topology.BPFFS_ROOT);
            } catch (RuntimeException e) {
                problems.add(e.getMessage());
            }
        }
        for (Path dir : cgroupDirs.stream().distinct().toList()) {
            if (Files.isDirectory(dir)) {
                try {
                    Cgroups.removeTree(dir);
                    removed.add("cgroups " + dir);
                } catch (RuntimeException e) {
                    problems.add(e.getMessage());
                }
            }
        }

        // 4. Namespaces (pods' first: their veths end in the nodes'), their /etc/netns folders.
        int nsRemoved = 0;
        List<String> ordered = new ArrayList<>(namespaces);
        ordered.sort(java.util.Comparator.comparing((String n) -> n.equals(Topology.NET_NS) || n.equals(Topology.CP_NS)
                || n.startsWith(Topology.PREFIX + "node")));
        for (String ns : ordered) {
            try {
                Topology.deleteNamespace(ns);
                nsRemoved++;
            } catch (RuntimeException e) {
                problems.add(e.getMessage());
            }
        }
        // Gone with ambit-l-net's end of the pair, unless that namespace was lost first.
        try {
            if (Topology.deleteHostLink()) {
                removed.add("interface " + Topology.HOST_LINK);
            }
        } catch (RuntimeException e) {
            problems.add(e.getMessage());
        }
        if (nsRemoved > 0) {
            removed.add(nsRemoved + " network namespaces " + Topology.PREFIX + "*");
        }
        problems.addAll(Topology.deleteUtsLeftovers()); // pods' UTS namespaces (hostnames), then their folder
        for (Path etc : list(Path.of("/etc/netns"))) {
            if (etc.getFileName().toString().startsWith(Topology.PREFIX)) {
                Topology.deleteTree(etc);
            }
        }

        // 5. The state folder: only what ambitctl writes there, in case --state-dir points somewhere shared.
        if (Files.isDirectory(state.root())) {
            for (String entry : List.of("cluster.json", "status.json", "manifests", "istiod", "credentials", "nodes",
                    "logs", "addons", ".cluster.json.tmp", ".status.json.tmp")) {
                Topology.deleteTree(state.root().resolve(entry));
            }
            try {
                Files.deleteIfExists(state.root());
                removed.add("state " + state.root());
            } catch (IOException e) {
                removed.add("state files in " + state.root() + " (the folder holds other files: kept)");
            }
        }
        if (!problems.isEmpty()) {
            throw new LocalException("local down did not remove everything:\n  " + String.join("\n  ", problems)
                    + "\n(run ambitctl local down again; if it persists, the items above name what is stuck)");
        }
        return removed;
    }

    private static List<Path> list(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
