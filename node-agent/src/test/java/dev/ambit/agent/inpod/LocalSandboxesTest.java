package dev.ambit.agent.inpod;

import static dev.ambit.testing.Eventually.eventually;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LocalSandboxesTest {

    @TempDir
    Path dir;

    @Test
    void reportsWrittenPodsAndForgetsRemovedOnes() throws Exception {
        Path pods = dir.resolve("pods");
        PodSandbox fe = sandbox("fe");
        LocalSandboxes.write(pods, fe);
        AtomicInteger changes = new AtomicInteger();
        try (LocalSandboxes source = LocalSandboxes.of(pods, Duration.ofMillis(20))) {
            source.start(changes::incrementAndGet);
            assertThat(source.find("shop", "fe")).contains(fe);
            assertThat(changes).hasValue(1);

            PodSandbox be = sandbox("be");
            LocalSandboxes.write(pods, be);
            eventually(() -> assertThat(source.all()).containsExactlyInAnyOrder(fe, be));

            LocalSandboxes.remove(pods, "shop", "fe");
            eventually(() -> assertThat(source.find("shop", "fe")).isEmpty());
            assertThat(source.find("shop", "be")).contains(be);
            assertThat(changes.get()).isGreaterThanOrEqualTo(3);
        }
    }

    @Test
    void skipsFilesThatDoNotParseOrNameMissingPaths() throws Exception {
        Path pods = Files.createDirectories(dir.resolve("pods"));
        Files.writeString(pods.resolve("shop.broken.pod"), "namespace=shop\nname=broken\n");
        LocalSandboxes.write(pods, new PodSandbox("shop", "gone", "uid-gone", dir.resolve("no-cgroup"),
                dir.resolve("no-netns")));
        PodSandbox ok = sandbox("ok");
        LocalSandboxes.write(pods, ok);
        try (LocalSandboxes source = LocalSandboxes.of(pods, Duration.ofMillis(20))) {
            source.start(() -> { });
            assertThat(source.all()).containsExactly(ok);
        }
    }

    @Test
    void aMissingFolderIsEmptyUntilItAppears() throws Exception {
        Path pods = dir.resolve("later");
        try (LocalSandboxes source = LocalSandboxes.of(pods, Duration.ofMillis(20))) {
            source.start(() -> { });
            assertThat(source.all()).isEmpty();
            PodSandbox fe = sandbox("fe");
            LocalSandboxes.write(pods, fe);
            eventually(() -> assertThat(source.all()).containsExactly(fe));
        }
    }

    private PodSandbox sandbox(String name) throws Exception {
        Path cgroup = Files.createDirectories(dir.resolve("cgroups").resolve(name));
        Path netns = Files.writeString(dir.resolve("netns-" + name), "");
        return new PodSandbox("shop", name, "uid-" + name, cgroup, netns);
    }
}
