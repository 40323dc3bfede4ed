package dev.ambit.testing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.ffi.Bpf;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * For root tests: requires root (see {@link RootOnly}), sweeps what a killed earlier run
 * left, and after every test (after its own {@code @AfterEach} cleanup) asserts that no
 * test namespace, cgroup or bpffs folder remains and no Ambit program is still loaded.
 */
public final class NoLeftovers implements BeforeAllCallback, AfterEachCallback {

    private static final ExtensionContext.Namespace STORE = ExtensionContext.Namespace.create(NoLeftovers.class);

    @Override
    public void beforeAll(ExtensionContext context) {
        RootOnly.require();
        TestNetwork.sweep();
        context.getStore(STORE).put("programs", Bpf.loadedPrograms("ambit_").size());
    }

    @Override
    public void afterEach(ExtensionContext context) {
        int before = context.getStore(STORE).get("programs", Integer.class);
        assertThat(TestNetwork.leftoverNamespaces()).as("network namespaces left").isEmpty();
        assertThat(TestNetwork.leftoverFiles()).as("cgroups or bpffs folders left").isEmpty();
        assertThat(Bpf.loadedPrograms("ambit_")).as("BPF programs still loaded").hasSize(before);
    }

}
