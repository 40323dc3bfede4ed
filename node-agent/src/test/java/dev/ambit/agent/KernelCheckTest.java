package dev.ambit.agent;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KernelCheckTest {

    @TempDir
    Path tmp;

    @Test
    void missingBtfAndWrongFileSystemsFailWithTheFix() {
        List<KernelCheck.Result> results = new KernelCheck(tmp.resolve("no-btf"), tmp, tmp.resolve("pins")).run();
        Map<String, KernelCheck.Result> byName =
                results.stream().collect(Collectors.toMap(KernelCheck.Result::name, r -> r));

        assertThat(byName.get("btf").ok()).isFalse();
        assertThat(byName.get("btf").detail()).contains("no-btf").contains("CONFIG_DEBUG_INFO_BTF");
        // A temporary folder is neither a cgroup v2 nor a bpffs: named, with the fix.
        assertThat(byName.get("cgroup-v2").ok()).isFalse();
        assertThat(byName.get("cgroup-v2").detail()).contains(tmp.toString()).contains("--cgroup-root");
        assertThat(byName.get("bpffs").ok()).isFalse();
        assertThat(byName.get("bpffs").detail()).contains(tmp.toString()).contains("mount -t bpf");

        ByteArrayOutputStream out = new ByteArrayOutputStream();
        boolean ready = KernelCheck.print(results, new PrintStream(out, true, StandardCharsets.UTF_8));
        assertThat(ready).isFalse();
        assertThat(out.toString(StandardCharsets.UTF_8)).contains("btf", "FAIL", "NOT ready");
    }

    @Test
    void thisMachinesKernelPasses() {
        // The test machine runs the eBPF suites: its kernel has every feature.
        List<KernelCheck.Result> results = new KernelCheck(Path.of("/sys/kernel/btf/vmlinux"),
                Path.of(System.getProperty("ambit.cgroupRoot", "/sys/fs/cgroup")), Path.of("/sys/fs/bpf/ambit")).run();
        assertThat(results).allSatisfy(r -> assertThat(r.ok()).as(r.toString()).isTrue());
        assertThat(results).extracting(KernelCheck.Result::name).contains("sk-lookup", "cgroup-v2", "bpffs", "btf");
    }
}
