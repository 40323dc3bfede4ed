package dev.ambit.ctl.local;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.ctl.Ambitctl;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code local delete} against a state folder alone (no daemons needed: it edits the manifests). */
class DeleteCommandTest {

    @TempDir
    Path dir;

    @Test
    void ignoreNotFoundMakesAMissingObjectNotAnError() throws Exception {
        StateDir state = new StateDir(dir);
        Files.createDirectories(state.manifests());
        new ClusterInfo(1, dir.toString(), "/r", "/sys/fs/cgroup", "2026-01-01T00:00:00Z", null, null, List.of(), null)
                .write(state);

        // As kubectl: a test's clean-up deletes its namespace whether or not it got that far.
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Ambitctl.execute(new PrintWriter(out), new PrintWriter(err), "local", "delete", "ns", "gone",
                "--ignore-not-found", "--state-dir=" + dir);
        assertThat(code).as("stderr: %s", err).isZero();

        StringWriter err2 = new StringWriter();
        int strict = Ambitctl.execute(new PrintWriter(new StringWriter()), new PrintWriter(err2), "local", "delete", "ns",
                "gone", "--state-dir=" + dir);
        assertThat(strict).isEqualTo(1);
        assertThat(err2.toString()).contains("ns \"gone\" not found");
    }
}
