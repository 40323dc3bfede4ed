package dev.ambit.perf.l4;

import static java.util.Objects.requireNonNull;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A long-running process of the bench (a proxy, the backend, istiod-lite, a node agent),
 * started in a network namespace and optionally in a cgroup and on a CPU set, with its
 * output in a log file. The command is exec'ed in place ({@code sh -c 'exec ...'},
 * {@code nsenter} and {@code taskset} both exec), so {@link #pid()} is the program's own
 * pid, and {@link ProcStats} reads its CPU time and memory from {@code /proc}.
 */
final class Proc implements AutoCloseable {

    private final String name;
    private final Path log;
    private final Process process;

    private Proc(String name, Path log, Process process) {
        this.name = name;
        this.log = log;
        this.process = process;
    }

    /**
     * Starts {@code command} in {@code netns}; in {@code cgroup} when not null (a pod's
     * process); on {@code cpus} ({@code taskset -c}) when not null.
     */
    static Proc start(String name, Path netns, Path cgroup, String cpus, Path log, List<String> command) {
        requireNonNull(netns, "netns");
        List<String> cmd = new ArrayList<>();
        cmd.addAll(List.of("sh", "-c",
                (cgroup != null ? "echo $$ > \"$0/cgroup.procs\" && " : "") + "net=\"$1\" && shift && exec nsenter"
                        + " --net=\"$net\" -- \"$@\"",
                cgroup != null ? cgroup.toString() : "-", netns.toString()));
        if (cpus != null) {
            cmd.addAll(List.of("taskset", "-c", cpus));
        }
        cmd.addAll(command);
        try {
            Files.createDirectories(log.getParent());
            Files.writeString(log, "=== " + name + ": " + String.join(" ", cmd) + "\n", StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            Process p = new ProcessBuilder(cmd)
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .start();
            return new Proc(name, log, p);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + name, e);
        }
    }

    String name() {
        return name;
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    Path log() {
        return log;
    }

    /** The last {@code lines} lines of the log, for error messages. */
    String tail(int lines) {
        try {
            List<String> all = Files.readAllLines(log, StandardCharsets.UTF_8);
            return name + " log (" + log + "):\n"
                    + String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e.getMessage() + ")";
        }
    }

    /** SIGTERM, a few seconds' grace, then SIGKILL; also kills what it forked (nginx workers). */
    @Override
    public void close() {
        List<ProcessHandle> children = process.descendants().toList();
        process.destroy();
        try {
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
        children.forEach(ProcessHandle::destroyForcibly);
    }
}
