package dev.ambit.ctl.local;

import static java.util.Objects.requireNonNull;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs short host commands ({@code ip}, {@code nsenter}) with a deadline: every call ends
 * by itself, output is read while the command runs so a full pipe never blocks it.
 */
public final class Sh {

    /** The default deadline of one command: {@code ip} answers in milliseconds. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);

    /** What a finished command printed and returned; exit code -1 when it was killed at the deadline. */
    public record Result(List<String> command, int exitCode, String stdout, String stderr) {
        public boolean ok() {
            return exitCode == 0;
        }

        /** Throws naming the command and its error output unless it exited 0; returns stdout. */
        public String check() {
            if (!ok()) {
                throw new LocalException(String.join(" ", command) + " exited " + exitCode + ": "
                        + (stderr.isBlank() ? stdout.strip() : stderr.strip()));
            }
            return stdout;
        }
    }

    private Sh() {
    }

    /** Runs {@code command}; throws {@link LocalException} unless it exits 0 within the default deadline. */
    public static String run(String... command) {
        return exec(DEFAULT_TIMEOUT, List.of(command)).check();
    }

    /** Runs {@code command}; throws {@link LocalException} unless it exits 0 within the default deadline. */
    public static String run(List<String> command) {
        return exec(DEFAULT_TIMEOUT, command).check();
    }

    /** Runs {@code command}, killing it at {@code timeout}; never throws for its exit code. */
    public static Result exec(Duration timeout, List<String> command) {
        requireNonNull(timeout, "timeout");
        requireNonNull(command, "command");
        try {
            Process p = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .start();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            Thread t1 = Thread.ofPlatform().daemon().start(() -> copy(p.getInputStream(), out));
            Thread t2 = Thread.ofPlatform().daemon().start(() -> copy(p.getErrorStream(), err));
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
            }
            t1.join(5000);
            t2.join(5000);
            return new Result(List.copyOf(command), p.isAlive() ? -1 : p.exitValue(),
                    out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + String.join(" ", command) + ": " + e.getMessage()
                    + " (is it installed? make deps installs iproute2, util-linux and socat)", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LocalException("interrupted running " + String.join(" ", command));
        }
    }

    private static void copy(InputStream in, ByteArrayOutputStream out) {
        try {
            in.transferTo(out);
        } catch (IOException ignored) {
            // The process is gone: what was read is what there is.
        }
    }
}
