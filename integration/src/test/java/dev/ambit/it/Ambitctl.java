package dev.ambit.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs {@code bin/ambitctl} as a user would: a separate process (the real launcher, the
 * real jar), bounded by a timeout, its exit code and output captured. Every command gets
 * the tests' own {@code --state-dir}, so a user's {@code /run/ambit/local} is never read.
 */
final class Ambitctl {

    /** The repository the jars were built in: {@code -Dambit.repo}, set by the module's pom. */
    static final Path REPO = Path.of(System.getProperty("ambit.repo", "..")).toAbsolutePath().normalize();
    static final Path LAUNCHER = REPO.resolve("bin").resolve("ambitctl");
    /** The tests' cluster state; a separate folder from the default so a user's is never touched. */
    static final Path STATE = Path.of(System.getProperty("ambit.it.stateDir", "/run/ambit/it"));
    /** Most commands answer in about a second (a JVM start); this is the bound for those. */
    static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);

    private Ambitctl() {
    }

    /** One finished (or killed) command. {@code code} is -1 when it was killed for its timeout. */
    record Result(List<String> command, int code, String out, String err, long millis) {

        boolean ok() {
            return code == 0;
        }

        /** For assertion messages: the command, how it ended, and both outputs. */
        @Override
        public String toString() {
            return "`ambitctl " + String.join(" ", command) + "` " + (code == -1 ? "killed (timeout)" : "exit " + code)
                    + " after " + millis + " ms\n--- stdout:\n" + clip(out) + "\n--- stderr:\n" + clip(err);
        }

        private static String clip(String s) {
            return s.length() <= 4000 ? s : "...(" + (s.length() - 4000) + " chars cut)...\n" + s.substring(s.length() - 4000);
        }
    }

    /**
     * {@code ambitctl GROUP SUB --state-dir=... ARGS...} (GROUP is {@code local} or
     * {@code config}); the state flag goes right after the subcommand so it lands before any
     * {@code --} that starts a pod's command.
     */
    static Result run(Duration timeout, String group, String sub, String... args) {
        List<String> cmd = new ArrayList<>(List.of(group, sub, "--state-dir=" + STATE));
        cmd.addAll(List.of(args));
        return raw(timeout, cmd);
    }

    static Result local(String sub, String... args) {
        return run(DEFAULT_TIMEOUT, "local", sub, args);
    }

    /** Like {@link #local} but fails, with the command's output, unless it exits 0. */
    static Result localOk(String sub, String... args) {
        Result r = local(sub, args);
        if (!r.ok()) {
            throw new AssertionError("expected success: " + r);
        }
        return r;
    }

    /** {@code ambitctl ARGS...} exactly as given (no state flag): for commands like {@code --help}. */
    static Result raw(Duration timeout, List<String> args) {
        if (!Files.isRegularFile(REPO.resolve("ambitctl/target/ambitctl.jar"))) {
            throw new IllegalStateException(REPO.resolve("ambitctl/target/ambitctl.jar") + " is not built: run"
                    + " `mvn -o -q package -DskipTests` in " + REPO + " first (the integration tests run the jars)");
        }
        List<String> cmd = new ArrayList<>();
        cmd.add(LAUNCHER.toString());
        cmd.addAll(args);
        Path out = null;
        Path err = null;
        long start = System.nanoTime();
        try {
            // Files, not pipes: nothing to pump, and a chatty command cannot block on a full pipe.
            out = Files.createTempFile("ambitctl-it", ".out");
            err = Files.createTempFile("ambitctl-it", ".err");
            Process p = new ProcessBuilder(cmd)
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile())
                    .start();
            int code;
            if (p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                code = p.exitValue();
            } else {
                // What the command started inside a pod dies with it (local exec kills its child
                // on its own --timeout; this is the backstop).
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
                code = -1;
            }
            Result r = new Result(args, code, Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8), (System.nanoTime() - start) / 1_000_000);
            trace(r);
            return r;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + cmd + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted running " + cmd, e);
        } finally {
            deleteQuietly(out);
            deleteQuietly(err);
        }
    }

    /**
     * A command of the machine itself (bpftool, ip), not ambitctl: for what only the host
     * sees, such as BPF maps and pins. Bounded by {@code timeout} like the others.
     */
    static Result host(Duration timeout, String... cmd) {
        Path out = null;
        Path err = null;
        long start = System.nanoTime();
        try {
            out = Files.createTempFile("ambit-it-host", ".out");
            err = Files.createTempFile("ambit-it-host", ".err");
            Process p = new ProcessBuilder(cmd)
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile())
                    .start();
            int code = -1;
            if (p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                code = p.exitValue();
            } else {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
            return new Result(List.of(cmd), code, Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8), (System.nanoTime() - start) / 1_000_000);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + List.of(cmd) + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted running " + List.of(cmd), e);
        } finally {
            deleteQuietly(out);
            deleteQuietly(err);
        }
    }

    /**
     * The jars the tests run exist and hold what their module's classes hold now: after
     * {@code mvn test} (no package) with a changed source, the tests would otherwise run the
     * previous build without saying so. Contents, not times: a recompilation of unchanged
     * sources (Maven does that when a dependency module was rebuilt) is not a stale jar.
     */
    static void requireFreshJars() {
        for (String module : List.of("ambitctl", "istiod-lite", "node-agent", "waypoint-proxy")) {
            Path jar = REPO.resolve(module).resolve("target").resolve(module + ".jar");
            Path classes = REPO.resolve(module).resolve("target").resolve("classes");
            if (!Files.isRegularFile(jar)) {
                throw new IllegalStateException(jar + " is not built: run `mvn -o -q package -DskipTests` in " + REPO
                        + " first (the integration tests run the jars)");
            }
            try (java.util.zip.ZipFile zip = new java.util.zip.ZipFile(jar.toFile());
                 java.util.stream.Stream<Path> files = Files.walk(classes)) {
                for (Path f : files.filter(p -> p.toString().endsWith(".class")).toList()) {
                    java.util.zip.ZipEntry e = zip.getEntry(classes.relativize(f).toString().replace('\\', '/'));
                    boolean same = false;
                    if (e != null) {
                        try (var in = zip.getInputStream(e)) {
                            same = java.util.Arrays.equals(in.readAllBytes(), Files.readAllBytes(f));
                        }
                    }
                    if (!same) {
                        throw new IllegalStateException(jar + " does not hold the current " + f + ": run `mvn -o -q"
                                + " package -DskipTests` in " + REPO + " (the integration tests run the jars, not the classes)");
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(jar + ": " + e.getMessage(), e);
            }
        }
    }

    /** One line per command in the test output (target/surefire-reports/*-output.txt): what ran, how long it took. */
    static void trace(Result r) {
        String cmd = String.join(" ", r.command()).replace("--state-dir=" + STATE + " ", "").replace('\n', ' ');
        System.out.printf("%s [%5d ms] %s ambitctl %s%n", java.time.LocalTime.now().format(
                java.time.format.DateTimeFormatter.ofPattern("HH:mm:ss")), r.millis(),
                r.code() == 0 ? "ok  " : "exit " + r.code(), cmd.length() > 160 ? cmd.substring(0, 160) + "..." : cmd);
    }

    /**
     * Starts a command without waiting: for a client that must hold a connection while the
     * test does something else. Output goes to the returned files; {@link Background#await}
     * collects it.
     */
    static Background start(String group, String sub, String... args) {
        List<String> cmd = new ArrayList<>(List.of(LAUNCHER.toString(), group, sub, "--state-dir=" + STATE));
        cmd.addAll(List.of(args));
        try {
            Path out = Files.createTempFile("ambitctl-it-bg", ".out");
            Path err = Files.createTempFile("ambitctl-it-bg", ".err");
            Process p = new ProcessBuilder(cmd)
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile())
                    .start();
            return new Background(cmd.subList(1, cmd.size()), p, out, err, System.nanoTime());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + cmd + ": " + e.getMessage(), e);
        }
    }

    /** A command running in the background. */
    record Background(List<String> command, Process process, Path out, Path err, long startNanos) {

        /** What it has printed so far. */
        String outSoFar() {
            try {
                return Files.readString(out, StandardCharsets.UTF_8);
            } catch (IOException e) {
                return "";
            }
        }

        /** Waits up to {@code timeout} for it to end (then kills it) and returns how it ended. */
        Result await(Duration timeout) {
            try {
                int code;
                if (process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                    code = process.exitValue();
                } else {
                    kill();
                    code = -1;
                }
                Result r = new Result(command, code, Files.readString(out, StandardCharsets.UTF_8),
                        Files.readString(err, StandardCharsets.UTF_8), (System.nanoTime() - startNanos) / 1_000_000);
                trace(r);
                return r;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            } finally {
                deleteQuietly(out);
                deleteQuietly(err);
            }
        }

        /** Kills it and what it started; for finally blocks. */
        void kill() {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static void deleteQuietly(Path p) {
        if (p != null) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException ignored) {
                // A temp file: not worth failing a test over.
            }
        }
    }
}
