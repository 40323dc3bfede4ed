package dev.ambit.ctl.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A pod's UTS namespace: made with its hostname, joined by path, gone without a trace when removed (root). */
class PodUtsTest {

    @TempDir
    Path dir;

    @Test
    void aBindMountedUtsNamespaceCarriesTheHostnameAndIsRemovedWhole() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "needs root: unshare, nsenter, mount");
        Path file = dir.resolve("ambit-l-0123abcd");
        Topology.createUts(file, "web-5c8d7-x2x9q");
        try {
            Sh.Result in = Sh.exec(Duration.ofSeconds(10), List.of("nsenter", "--uts=" + file, "--", "hostname"));
            assertThat(in.stdout().strip()).as("%s", in).isEqualTo("web-5c8d7-x2x9q");
            Sh.Result uname = Sh.exec(Duration.ofSeconds(10), List.of("nsenter", "--uts=" + file, "--", "uname", "-n"));
            assertThat(uname.stdout().strip()).isEqualTo("web-5c8d7-x2x9q");
            assertThat(Files.readString(Path.of("/proc/sys/kernel/hostname")).strip())
                    .as("the machine keeps its own").isNotEqualTo("web-5c8d7-x2x9q");
            assertThat(Files.readString(Path.of("/proc/self/mountinfo"))).contains(file.toString());
        } finally {
            Topology.deleteUts(file);
        }
        assertThat(file).doesNotExist();
        assertThat(Files.readString(Path.of("/proc/self/mountinfo"))).doesNotContain(file.toString());
        Topology.deleteUts(file); // absent: quiet
    }
}
