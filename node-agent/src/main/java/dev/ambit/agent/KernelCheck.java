package dev.ambit.agent;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.Flags;
import dev.ambit.ffi.Bpf;
import dev.ambit.ffi.Linux;
import dev.ambit.ffi.NativeFd;
import dev.ambit.ffi.libbpf.libbpf_h;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Set;

/**
 * What the node agent needs from the node's kernel, checked without changing anything:
 * {@code node-agent --check-kernel} (the image's precheck, {@code ambitctl precheck}).
 *
 * <p>The checks are those the agent's start-up would otherwise fail on, one line each with
 * the fix: kernel BTF (the CO-RE programs are relocated against it), the cgroup v2
 * hierarchy at the cgroup root (the capture programs attach to pods' cgroups), a bpffs
 * under the pin root (pins survive an agent restart), and the program and map types the
 * capture uses ({@code cgroup/connect4}, {@code sockops}, {@code sk_lookup}, socket local
 * storage, sockhash). Probing program and map types needs {@code CAP_BPF} (or root).
 */
public final class KernelCheck {

    /** One check's outcome; {@code detail} says what was found or how to fix it. */
    public record Result(String name, boolean ok, String detail) {}

    private final Path btf;
    private final Path cgroupRoot;
    private final Path bpffsRoot;

    public KernelCheck(Path btf, Path cgroupRoot, Path bpffsRoot) {
        this(btf, requireNonNull(cgroupRoot, "cgroupRoot"), bpffsRoot, true);
    }

    private KernelCheck(Path btf, Path cgroupRoot, Path bpffsRoot, boolean unused) {
        this.btf = requireNonNull(btf, "btf");
        this.cgroupRoot = cgroupRoot; // null: not checked
        this.bpffsRoot = requireNonNull(bpffsRoot, "bpffsRoot");
    }

    /**
     * The checks a starting agent depends on ({@code kernel} readiness condition): all of them in
     * Kubernetes mode; in local mode the pods' cgroups are named by {@code ambitctl local}, not
     * found under {@code --cgroup-root}, so that root is not checked.
     */
    static KernelCheck forAgent(NodeAgentConfig config) {
        return new KernelCheck(Path.of("/sys/kernel/btf/vmlinux"), config.kubernetes() ? config.cgroupRoot() : null,
                config.bpffsRoot(), true);
    }

    /** Null when every check passed, else each failed one as {@code "<name>: <detail>"}, joined by "; ". */
    static String problems(List<Result> results) {
        List<String> failed = results.stream().filter(r -> !r.ok()).map(r -> r.name() + ": " + r.detail()).toList();
        return failed.isEmpty() ? null : String.join("; ", failed);
    }

    /** Every check, in order; never throws for a missing feature. */
    public List<Result> run() {
        List<Result> results = new ArrayList<>();
        results.add(Files.isReadable(btf)
                ? new Result("btf", true, btf.toString())
                : new Result("btf", false, btf + " is missing: build the kernel with CONFIG_DEBUG_INFO_BTF=y (5.4 or newer)"));
        if (cgroupRoot != null) {
            results.add(fileSystem("cgroup-v2", cgroupRoot, Linux.CGROUP2_MAGIC,
                    "mount the cgroup v2 hierarchy there (systemd.unified_cgroup_hierarchy=1) or pass --cgroup-root"));
        }
        // The pin root itself is created by the agent: its nearest existing ancestor must be a bpffs.
        Path bpffs = bpffsRoot;
        while (bpffs.getParent() != null && !Files.exists(bpffs)) {
            bpffs = bpffs.getParent();
        }
        results.add(fileSystem("bpffs", bpffs, Linux.BPF_FS_MAGIC,
                "mount -t bpf bpf /sys/fs/bpf (the chart's init container does) or pass --bpffs-root"));
        if (!Bpf.isAvailable()) {
            results.add(new Result("libbpf", false, "libbpf.so.1 cannot be loaded: " + Bpf.unavailabilityCause()));
            return results;
        }
        results.add(new Result("libbpf", true, Bpf.libbpfVersion()));
        results.add(program("cgroup-sock-addr", libbpf_h.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "4.17"));
        results.add(program("sock-ops", libbpf_h.BPF_PROG_TYPE_SOCK_OPS, "4.13"));
        results.add(program("sk-lookup", libbpf_h.BPF_PROG_TYPE_SK_LOOKUP, "5.9"));
        results.add(map("sk-storage", libbpf_h.BPF_MAP_TYPE_SK_STORAGE, "5.2"));
        results.add(map("sockhash", libbpf_h.BPF_MAP_TYPE_SOCKHASH, "4.18"));
        return results;
    }

    private static Result fileSystem(String name, Path path, long magic, String fix) {
        if (!Linux.isAvailable()) {
            return new Result(name, false, "cannot call statfs: " + Linux.unavailabilityCause());
        }
        try (NativeFd fd = Linux.open(path, true)) {
            long type = Linux.fileSystemType(fd);
            return type == magic
                    ? new Result(name, true, path.toString())
                    : new Result(name, false, path + " is not one (file system 0x" + Long.toHexString(type) + "): " + fix);
        } catch (RuntimeException e) {
            return new Result(name, false, path + ": " + e.getMessage() + ": " + fix);
        }
    }

    private static Result program(String name, int type, String since) {
        return probe(name, () -> Bpf.probeProgramType(type), "program type", since);
    }

    private static Result map(String name, int type, String since) {
        return probe(name, () -> Bpf.probeMapType(type), "map type", since);
    }

    private interface Probe {
        boolean run();
    }

    private static Result probe(String name, Probe probe, String what, String since) {
        try {
            return probe.run()
                    ? new Result(name, true, what + " loads")
                    : new Result(name, false, "the kernel refuses this " + what
                            + " (needs Linux " + since + " or newer, and CAP_BPF or root to probe)");
        } catch (RuntimeException e) {
            return new Result(name, false, e.getMessage());
        }
    }

    /** Prints one line per check; true when all passed. */
    public static boolean print(List<Result> results, PrintStream out) {
        boolean ok = true;
        for (Result r : results) {
            out.printf("%-17s %-4s %s%n", r.name(), r.ok() ? "ok" : "FAIL", r.detail());
            ok &= r.ok();
        }
        out.println(ok ? "kernel: ready for the node agent" : "kernel: NOT ready for the node agent");
        return ok;
    }

    /** The one-shot modes, printed after the agent's usage. */
    static final String USAGE = """
            other modes (print and exit):
              --version                the agent's version
              --check-kernel           check this node's kernel (BTF, cgroup v2, bpffs, program types);
                                       takes --cgroup-root and --bpffs-root; exit status 1 if not ready
              --prepare-node           the DaemonSet's init container: mount bpffs and cgroup v2 where
                                       missing (needs CAP_SYS_ADMIN), then --check-kernel
            """;

    /**
     * {@code --check-kernel [--cgroup-root DIR] [--bpffs-root DIR]}: prints the version and
     * every check to standard output; the exit status: 0 when the kernel has all the agent
     * needs, 1 when not, 2 for a bad flag.
     */
    static int checkFromFlags(String... args) {
        Flags f;
        try {
            f = Flags.parse(args, Set.of("check-kernel", "cgroup-root", "bpffs-root"), Set.of("check-kernel"));
        } catch (IllegalArgumentException e) {
            System.err.println("node-agent --check-kernel: " + e.getMessage());
            return 2;
        }
        KernelCheck check = new KernelCheck(Path.of("/sys/kernel/btf/vmlinux"),
                f.path("cgroup-root", Path.of("/sys/fs/cgroup")), f.path("bpffs-root", Path.of("/sys/fs/bpf/ambit")));
        System.out.println("node-agent " + version() + ", kernel " + System.getProperty("os.version"));
        return print(check.run(), System.out) ? 0 : 1;
    }

    /** The agent's version from its jar's Maven metadata, or {@code "dev"} when run from classes. */
    public static String version() {
        try (InputStream in = KernelCheck.class.getResourceAsStream(
                "/META-INF/maven/dev.ambit/node-agent/pom.properties")) {
            if (in == null) {
                return "dev";
            }
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("version", "dev");
        } catch (java.io.IOException e) {
            return "dev";
        }
    }
}
