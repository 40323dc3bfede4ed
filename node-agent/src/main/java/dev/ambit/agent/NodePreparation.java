package dev.ambit.agent;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.Flags;
import dev.ambit.ffi.Linux;
import dev.ambit.ffi.NativeException;
import dev.ambit.ffi.NativeFd;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.stream.Stream;

/**
 * {@code node-agent --prepare-node}: what the DaemonSet's privileged init container does
 * before the agent starts, as Cilium's {@code mount-bpf-fs} and {@code mount-cgroup} do.
 * Mounts a BPF file system where the pin root's parent is not one, and cgroup v2 at the
 * cgroup root when it is an empty folder (hosts whose {@code /sys/fs/cgroup} is cgroup v1
 * get cgroup v2 at e.g. {@code /run/ambit/cgroupv2}); with Bidirectional propagation the
 * mounts are the host's, so pins outlive the agent's pod. Then runs the {@link KernelCheck}.
 * Idempotent: what is mounted already is left as it is.
 */
public final class NodePreparation {

    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final long ERRNO_OFFSET =
            CALL_STATE.byteOffset(MemoryLayout.PathElement.groupElement("errno"));
    private static final int MNT_DETACH = 2;
    private static final MethodHandle MOUNT;
    private static final MethodHandle UMOUNT2;

    static {
        Linker linker = Linker.nativeLinker();
        Linker.Option errno = Linker.Option.captureCallState("errno");
        MOUNT = linker.downcallHandle(linker.defaultLookup().find("mount").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS), errno);
        UMOUNT2 = linker.downcallHandle(linker.defaultLookup().find("umount2").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), errno);
    }

    /** The flags {@code --prepare-node} takes (the DaemonSet's init container passes them). */
    public static final Set<String> FLAGS = Set.of("prepare-node", "cgroup-root", "bpffs-root");

    private NodePreparation() {}

    /**
     * Mounts a bpffs at {@code dir} unless it is one already; true when it mounted.
     *
     * @throws NativeException naming the folder when mount(2) fails (needs CAP_SYS_ADMIN)
     */
    public static boolean ensureBpffs(Path dir) {
        return ensure(dir, Linux.BPF_FS_MAGIC, "bpf", "bpf");
    }

    /**
     * Mounts cgroup v2 at {@code dir} unless it is one already; true when it mounted. A
     * non-empty folder on another file system (the cgroup v1 tree) is refused, not covered.
     */
    public static boolean ensureCgroup2(Path dir) {
        return ensure(dir, Linux.CGROUP2_MAGIC, "cgroup2", "cgroup2");
    }

    private static boolean ensure(Path dir, long magic, String source, String type) {
        requireNonNull(dir, "dir");
        try {
            Files.createDirectories(dir);
            if (fileSystem(dir) == magic) {
                return false;
            }
            try (Stream<Path> entries = Files.list(dir)) {
                if (entries.findAny().isPresent()) {
                    throw new IllegalStateException(dir + " is neither a " + type + " file system nor empty: mounting "
                            + type + " there would hide what it holds (give an empty folder, e.g. /run/ambit/cgroupv2,"
                            + " or the host's " + type + " mount)");
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": " + e.getMessage(), e);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            int rc = (int) MOUNT.invokeExact(state, arena.allocateFrom(source), arena.allocateFrom(dir.toString()),
                    arena.allocateFrom(type), 0L, MemorySegment.NULL);
            if (rc != 0) {
                throw new NativeException("mount -t " + type, dir.toString(), state.get(JAVA_INT, ERRNO_OFFSET));
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        return true;
    }

    /** Detaches the mount at {@code dir} (tests clean up with it). */
    static void unmount(Path dir) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            int rc = (int) UMOUNT2.invokeExact(state, arena.allocateFrom(dir.toString()), MNT_DETACH);
            if (rc != 0) {
                throw new NativeException("umount2", dir.toString(), state.get(JAVA_INT, ERRNO_OFFSET));
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static long fileSystem(Path dir) {
        try (NativeFd fd = Linux.open(dir, true)) {
            return Linux.fileSystemType(fd);
        }
    }

    /**
     * {@code --prepare-node [--cgroup-root DIR] [--bpffs-root DIR]}: mounts what is missing,
     * then checks the kernel; the exit status: 0 ready, 1 not, 2 a bad flag.
     */
    static int prepareFromFlags(PrintStream out, String... args) {
        Flags f;
        try {
            f = Flags.parse(args, FLAGS, Set.of("prepare-node"));
        } catch (IllegalArgumentException e) {
            System.err.println("node-agent --prepare-node: " + e.getMessage());
            return 2;
        }
        Path cgroupRoot = f.path("cgroup-root", Path.of("/sys/fs/cgroup"));
        Path bpffsRoot = f.path("bpffs-root", Path.of("/sys/fs/bpf/ambit"));
        // Pins live in a folder of the bpffs (the agent creates it): mount at its parent.
        Path bpffs = bpffsRoot.getParent() == null ? bpffsRoot : bpffsRoot.getParent();
        try {
            out.println((ensureBpffs(bpffs) ? "mounted bpffs at " : "bpffs already at ") + bpffs);
            out.println((ensureCgroup2(cgroupRoot) ? "mounted cgroup v2 at " : "cgroup v2 already at ") + cgroupRoot);
        } catch (RuntimeException e) {
            out.println("prepare-node: " + e.getMessage());
        }
        KernelCheck check = new KernelCheck(Path.of("/sys/kernel/btf/vmlinux"), cgroupRoot, bpffsRoot);
        return KernelCheck.print(check.run(), out) ? 0 : 1;
    }
}
