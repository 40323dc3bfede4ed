package dev.ambit.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * For root tests: requires root (see {@link RootOnly}), sweeps what a killed earlier run
 * left, and after every test (after its own {@code @AfterEach} cleanup) asserts that no
 * test namespace, cgroup or bpffs folder remains and this JVM holds no more BPF objects
 * than before.
 */
public final class NoLeftovers implements BeforeAllCallback, AfterEachCallback {

    private static final ExtensionContext.Namespace STORE = ExtensionContext.Namespace.create(NoLeftovers.class);

    @Override
    public void beforeAll(ExtensionContext context) {
        RootOnly.require();
        TestNetwork.sweep();
        context.getStore(STORE).put("bpf", ownBpfObjects());
    }

    @Override
    public void afterEach(ExtensionContext context) {
        long before = context.getStore(STORE).get("bpf", Long.class);
        assertThat(TestNetwork.leftoverNamespaces()).as("network namespaces left").isEmpty();
        assertThat(TestNetwork.leftoverFiles()).as("cgroups or bpffs folders left").isEmpty();
        assertThat(ownBpfObjects()).as("BPF programs, maps or links this JVM still holds").isEqualTo(before);
    }


    /**
     * BPF programs, maps and links this JVM holds descriptors of. Counted per process, not
     * machine-wide: other runs (a local cluster, another module's tests) load their own.
     */
    static long ownBpfObjects() {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(fd -> {
                try {
                    return Files.readSymbolicLink(fd).toString().startsWith("anon_inode:bpf");
                } catch (IOException e) {
                    return false; // closed while listing
                }
            }).count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
