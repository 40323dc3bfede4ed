package dev.ambit.ffi;

import static java.util.Objects.requireNonNull;

import dev.ambit.ffi.linux.linux_h;
import dev.ambit.ffi.linux.statfs;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * The Linux file calls Ambit needs beyond the JDK: raw descriptors for paths that the
 * kernel takes by fd (cgroups, namespaces, bpffs pins) and the file system they live on.
 */
public final class Linux {

    /** {@code statfs.f_type} of the cgroup v2 (unified) hierarchy. */
    public static final long CGROUP2_MAGIC = linux_h.CGROUP2_SUPER_MAGIC;
    /** {@code statfs.f_type} of a cgroup v1 controller hierarchy. */
    public static final long CGROUP1_MAGIC = linux_h.CGROUP_SUPER_MAGIC;
    /** {@code statfs.f_type} of namespace files ({@code /proc/PID/ns/*}, {@code /run/netns/*}). */
    public static final long NSFS_MAGIC = linux_h.NSFS_MAGIC;
    /** {@code statfs.f_type} of bpffs. */
    public static final long BPF_FS_MAGIC = linux_h.BPF_FS_MAGIC;

    private static final Availability AVAILABILITY = Availability.check("Linux native calls (glibc)",
            linux_h::ensureLinked);

    private Linux() {
    }

    /** True when the C library calls can be made. */
    public static boolean isAvailable() {
        return AVAILABILITY.isAvailable();
    }

    /** Why {@link #isAvailable()} is false, or null. */
    public static Throwable unavailabilityCause() {
        return AVAILABILITY.cause();
    }

    /** Throws {@link UnsupportedOperationException} with the reason when not available. */
    public static void ensureAvailability() {
        AVAILABILITY.ensure();
    }

    /** Opens {@code path} read-only, close-on-exec; {@code directory} adds O_DIRECTORY. */
    public static NativeFd open(Path path, boolean directory) {
        requireNonNull(path, "path");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(linux_h.CALL_STATE);
            int flags = linux_h.O_RDONLY | linux_h.O_CLOEXEC | (directory ? linux_h.O_DIRECTORY : 0);
            int fd = linux_h.open(state, arena.allocateFrom(path.toString()), flags, 0);
            if (fd < 0) {
                throw new NativeException("open", path.toString(), linux_h.errno(state));
            }
            return new NativeFd(fd, path.toString());
        }
    }

    /** The {@code statfs.f_type} of the file system {@code fd} is on. */
    public static long fileSystemType(NativeFd fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(linux_h.CALL_STATE);
            MemorySegment buf = statfs.allocate(arena);
            if (linux_h.fstatfs(state, fd.intValue(), buf) < 0) {
                throw new NativeException("statfs", fd.description(), linux_h.errno(state));
            }
            return statfs.f_type(buf);
        }
    }

    /** The namespace type of a namespace file, as a {@code CLONE_NEW*} constant. */
    public static int namespaceType(NativeFd fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(linux_h.CALL_STATE);
            int type = linux_h.ioctl(state, fd.intValue(), linux_h.NS_GET_NSTYPE);
            if (type < 0) {
                throw new NativeException("query namespace type of", fd.description(), linux_h.errno(state));
            }
            return type;
        }
    }

    /** Closes a raw descriptor this process owns; failures other than EINTR are reported. */
    static void close(int fd, String description) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(linux_h.CALL_STATE);
            if (linux_h.close(state, fd) < 0) {
                int errno = linux_h.errno(state);
                if (errno != 4) { // EINTR: on Linux the descriptor is released anyway
                    throw new NativeException("close", description, errno);
                }
            }
        }
    }
}
