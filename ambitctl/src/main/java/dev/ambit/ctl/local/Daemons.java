package dev.ambit.ctl.local;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The cluster's long-running processes: started detached ({@code setsid}, stdin from
 * /dev/null, output appended to a log) so they outlive the {@code ambitctl} that started
 * them, and stopped by pid or, after a crash, found by their network namespace.
 */
public final class Daemons {

    private Daemons() {
    }

    /** The JVM running ambitctl (JDK 25), which runs the daemons too. */
    public static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /**
     * Starts {@code command} in network namespace {@code netns} (null: this one) as a new
     * session. {@code nsenter --net} rather than {@code ip netns exec}: the latter remounts
     * /sys for the process, hiding the bpffs and cgroup mounts the node agent needs.
     */
    public static ClusterInfo.Daemon start(String name, String netns, List<String> command, Path log) {
        List<String> cmd = new ArrayList<>(List.of("setsid"));
        if (netns != null) {
            cmd.addAll(List.of("nsenter", "--net=" + Topology.netnsPath(netns), "--"));
        }
        cmd.addAll(command);
        try {
            Files.createDirectories(log.getParent());
            Files.writeString(log, "=== " + Instant.now() + " ambitctl starts " + name + ": " + String.join(" ", cmd) + "\n",
                    StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            Process p = new ProcessBuilder(cmd)
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .start();
            return ClusterInfo.Daemon.of(p, log);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + name + " (" + String.join(" ", cmd) + "): " + e.getMessage(), e);
        }
    }

    /**
     * SIGTERM, up to {@code millis} for it to exit, then SIGKILL; true if it was running.
     * A pid reused by another process (different start time) is left alone.
     */
    public static boolean stop(ClusterInfo.Daemon d, long millis) {
        if (d == null) {
            return false;
        }
        Optional<ProcessHandle> h = d.handle();
        if (h.isEmpty()) {
            return false;
        }
        stop(h.get(), millis);
        return true;
    }

    static void stop(ProcessHandle h, long millis) {
        h.destroy();
        try {
            h.onExit().get(millis, TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            h.destroyForcibly();
            try {
                h.onExit().get(5, TimeUnit.SECONDS);
            } catch (Exception ignored) {
                // Reported by the caller's later checks (the namespace will not go away).
            }
        }
    }

    /** The last {@code lines} lines of {@code log}, for error messages. */
    public static String tail(Path log, int lines) {
        try {
            List<String> all = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    /**
     * Processes whose network namespace is one of {@code namespaces} (by namespace inode),
     * e.g. what a crashed {@code up} left in {@code ambit-l-*}.
     */
    public static List<ProcessHandle> inNamespaces(List<String> namespaces) {
        List<String> inodes = new ArrayList<>();
        for (String ns : namespaces) {
            try {
                inodes.add("net:[" + Files.getAttribute(Topology.netnsPath(ns), "unix:ino") + "]");
            } catch (IOException | UnsupportedOperationException e) {
                // Gone meanwhile.
            }
        }
        List<ProcessHandle> out = new ArrayList<>();
        if (inodes.isEmpty()) {
            return out;
        }
        long self = ProcessHandle.current().pid();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.toList()) {
                String n = p.getFileName().toString();
                if (!n.chars().allMatch(Character::isDigit) || Long.parseLong(n) == self) {
                    continue;
                }
                try {
                    String link = Files.readSymbolicLink(p.resolve("ns").resolve("net")).toString();
                    if (inodes.contains(link)) {
                        ProcessHandle.of(Long.parseLong(n)).ifPresent(out::add);
                    }
                } catch (IOException e) {
                    // Exited, or a kernel thread.
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    /** Controllers of the cluster in {@code state}, found by their command line (they run in this namespace). */
    public static List<ProcessHandle> controllers(StateDir state) {
        List<ProcessHandle> out = new ArrayList<>();
        String stateFlag = "--state-dir=" + state.root();
        long self = ProcessHandle.current().pid();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.toList()) {
                String n = p.getFileName().toString();
                if (!n.chars().allMatch(Character::isDigit) || Long.parseLong(n) == self) {
                    continue;
                }
                try {
                    List<String> args = List.of(new String(Files.readAllBytes(p.resolve("cmdline")),
                            StandardCharsets.UTF_8).split("\0"));
                    if (args.contains("dev.ambit.ctl.Ambitctl") && args.contains("controller") && args.contains(stateFlag)) {
                        ProcessHandle.of(Long.parseLong(n)).ifPresent(out::add);
                    }
                } catch (IOException e) {
                    // Exited meanwhile.
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }
}
