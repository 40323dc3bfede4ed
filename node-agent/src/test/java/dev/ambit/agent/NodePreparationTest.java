package dev.ambit.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambit.ffi.Linux;
import dev.ambit.ffi.NativeFd;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Root: mount(2). The mounts are made on throw-away folders and detached again. */
class NodePreparationTest {

    @TempDir
    Path tmp;

    @Test
    void mountsBpffsAndCgroup2WhereMissingAndLeavesThemOtherwise() {
        Path bpf = tmp.resolve("bpf");
        Path cgroup = tmp.resolve("cgroup");
        try {
            assertThat(NodePreparation.ensureBpffs(bpf)).isTrue();
            assertThat(type(bpf)).isEqualTo(Linux.BPF_FS_MAGIC);
            assertThat(NodePreparation.ensureBpffs(bpf)).isFalse();

            assertThat(NodePreparation.ensureCgroup2(cgroup)).isTrue();
            assertThat(type(cgroup)).isEqualTo(Linux.CGROUP2_MAGIC);
            assertThat(NodePreparation.ensureCgroup2(cgroup)).isFalse();

            ByteArrayOutputStream out = new ByteArrayOutputStream();
            int status = NodePreparation.prepareFromFlags(new PrintStream(out, true, StandardCharsets.UTF_8),
                    "--prepare-node", "--cgroup-root", cgroup.toString(), "--bpffs-root", bpf.resolve("ambit").toString());
            assertThat(out.toString(StandardCharsets.UTF_8))
                    .contains("bpffs already at " + bpf, "cgroup v2 already at " + cgroup, "kernel: ready");
            assertThat(status).isZero();
        } finally {
            detach(cgroup);
            detach(bpf);
        }
    }

    @Test
    void refusesToCoverAFolderThatHoldsSomething() throws Exception {
        Path full = Files.createDirectories(tmp.resolve("v1"));
        Files.writeString(full.resolve("cgroup.procs"), "");
        assertThatThrownBy(() -> NodePreparation.ensureCgroup2(full))
                .hasMessageContaining(full.toString()).hasMessageContaining("neither a cgroup2 file system nor empty");
    }

    private static long type(Path dir) {
        try (NativeFd fd = Linux.open(dir, true)) {
            return Linux.fileSystemType(fd);
        }
    }

    private static void detach(Path dir) {
        if (Files.isDirectory(dir) && type(dir) != type(dir.getParent())) {
            NodePreparation.unmount(dir);
        }
    }
}
