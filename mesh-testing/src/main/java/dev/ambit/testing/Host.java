package dev.ambit.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs host commands (ip, nsenter, socat) with a deadline; every call ends by itself. */
public final class Host {

    /** What a finished command printed and returned. */
    public record Result(int exitCode, String stdout, String stderr) {
        public boolean ok() {
            return exitCode == 0;
        }
    }

    private Host() {
    }

    /** Runs {@code command}; throws unless it exits 0 within 30 s. */
    public static String run(String... command) {
        Result r = exec(30, command);
        if (!r.ok()) {
            throw new IllegalStateException(String.join(" ", command) + " exited " + r.exitCode() + ": "
                    + r.stderr().strip());
        }
        return r.stdout();
    }

    /** Runs {@code command}, killing it after {@code timeoutSeconds}; never throws for its exit code. */
    public static Result exec(int timeoutSeconds, String... command) {
        try {
            Process p = new ProcessBuilder(List.of(command)).redirectInput(ProcessBuilder.Redirect.from(
                    new java.io.File("/dev/null"))).start();
            // Small outputs only: read after exit would risk a full pipe, so read as it goes.
            var out = p.getInputStream();
            var err = p.getErrorStream();
            var outBuf = new java.io.ByteArrayOutputStream();
            var errBuf = new java.io.ByteArrayOutputStream();
            Thread t1 = Thread.ofPlatform().start(() -> copy(out, outBuf));
            Thread t2 = Thread.ofPlatform().start(() -> copy(err, errBuf));
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
            }
            t1.join(5000);
            t2.join(5000);
            return new Result(p.isAlive() ? -1 : p.exitValue(), outBuf.toString(StandardCharsets.UTF_8),
                    errBuf.toString(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + String.join(" ", command) + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted running " + String.join(" ", command), e);
        }
    }

    private static void copy(java.io.InputStream in, java.io.ByteArrayOutputStream out) {
        try {
            in.transferTo(out);
        } catch (IOException ignored) {
            // process gone
        }
    }
}
