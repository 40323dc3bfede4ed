package dev.ambit.ctl.local;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code local up --mesh-config FILE}: istiod-lite gets {@code --mesh-config} once the state holds the file. */
class MeshConfigFlagTest {

    @Test
    void istiodReadsTheStatesMeshConfigOnlyWhenThereIsOne(@TempDir Path dir) throws Exception {
        StateDir state = new StateDir(dir);
        List<String> without = LocalCluster.istiodCommand(state, Path.of("/r/istiod-lite.jar"), null);
        assertThat(without).doesNotContain("--mesh-config");
        Files.createDirectories(state.meshConfig().getParent());
        Files.writeString(state.meshConfig(), "pathNormalization: {normalization: DECODE_AND_MERGE_SLASHES}\n");
        List<String> with = LocalCluster.istiodCommand(state, Path.of("/r/istiod-lite.jar"), null);
        assertThat(with).endsWith("--mesh-config", state.meshConfig().toString());
    }
}
