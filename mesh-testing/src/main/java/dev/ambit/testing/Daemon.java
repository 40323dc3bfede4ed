package dev.ambit.testing;

import static java.util.Objects.requireNonNull;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A JVM started from this test's classpath as a separate process, optionally inside a
 * network namespace: the agent and the control plane as they run in production, so that
 * killing one is a real crash (sockets closed by the kernel, nothing shut down politely).
 * Output goes to a log file, included in failure messages.
 */
public final class Daemon implements AutoCloseable {

    private final String name;
    private final Path log;
    private final Process process;

    private Daemon(String name, Path log, Process process) {
        this.name = name;
        this.log = log;
        this.process = process;
    }

    /**
     * Starts {@code mainClass} with {@code args} in {@code netns} (null: the test's own).
     * The log is appended to, so a restarted daemon keeps its predecessor's lines.
     */
    public static Daemon java(String name, Path netns, Path log, String mainClass, List<String> args) {
        requireNonNull(name, "name");
        requireNonNull(log, "log");
        List<String> cmd = new ArrayList<>();
        if (netns != null) {
            cmd.addAll(List.of("nsenter", "--net=" + netns, "--"));
        }
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of("--enable-native-access=ALL-UNNAMED", "-Xmx256m", "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1", "-Dio.netty.leakDetection.level=simple",
                "-cp", System.getProperty("java.class.path"), mainClass));
        cmd.addAll(args);
        try {
            Files.createDirectories(log.getParent());
            Files.writeString(log, "=== start " + name + ": " + String.join(" ", args) + "\n", StandardCharsets.UTF_8,
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
            Process p = new ProcessBuilder(cmd)
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .start();
            return new Daemon(name, log, p);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + name, e);
        }
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public long pid() {
        return process.pid();
    }

    /** SIGKILL: a crash. Waits until the process is gone. */
    public void kill() {
        process.destroyForcibly();
        waitFor(10);
    }

    /** SIGTERM, then waits up to {@code seconds} for a clean exit; returns the exit code (or -1). */
    public int terminate(int seconds) {
        process.destroy();
        if (!waitFor(seconds)) {
            process.destroyForcibly();
            waitFor(5);
            return -1;
        }
        return process.exitValue();
    }

    private boolean waitFor(int seconds) {
        try {
            return process.waitFor(seconds, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Everything logged so far (all starts of this log file). */
    public String log() {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e.getMessage() + ")";
        }
    }

    /** The last {@code lines} lines of the log, for assertion messages. */
    public String tail(int lines) {
        List<String> all = log().lines().toList();
        return name + " log:\n" + String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            kill();
        }
    }
}
