package dev.ambit.ffi;

import static java.util.Objects.requireNonNull;

import dev.ambit.ffi.linux.linux_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * Runs code inside another network namespace on the calling thread. Sockets created
 * there belong to that namespace for their whole life, which is how the node agent
 * opens listeners inside a pod. The thread always returns to the namespace it came
 * from; if it cannot, the thread is unusable and an {@link Error} says so.
 *
 * <p>Call only from platform threads: a virtual thread may move between carrier
 * threads, and the namespace belongs to the carrier.
 */
public final class NetNs {

    private static final Path SELF = Path.of("/proc/thread-self/ns/net");

    private NetNs() {
    }

    /** Runs {@code task} with the calling thread inside the network namespace at {@code netns}. */
    public static <T> T callIn(Path netns, Callable<T> task) throws Exception {
        requireNonNull(netns, "netns");
        requireNonNull(task, "task");
        try (NativeFd target = openNetns(netns)) {
            return callIn(target, task);
        }
    }

    /** As {@link #callIn(Path, Callable)}, for a namespace already opened with {@link #openNetns}. */
    public static <T> T callIn(NativeFd netns, Callable<T> task) throws Exception {
        requireNonNull(netns, "netns");
        requireNonNull(task, "task");
        if (Thread.currentThread().isVirtual()) {
            throw new IllegalStateException("entering " + netns.description()
                    + " from a virtual thread: use a platform thread");
        }
        try (NativeFd home = Linux.open(SELF, false)) {
            setns(netns, netns.description());
            try {
                return task.call();
            } finally {
                try {
                    setns(home, "the thread's original network namespace");
                } catch (NativeException e) {
                    throw new Error("thread " + Thread.currentThread().getName()
                            + " is stuck in network namespace " + netns.description() + ": " + e.getMessage(), e);
                }
            }
        }
    }

    /** Runs {@code task} inside {@code netns}; see {@link #callIn}. */
    public static void runIn(Path netns, Runnable task) {
        try {
            callIn(netns, () -> {
                task.run();
                return null;
            });
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Opens a network namespace file, checking that it is one. Errors name the path:
     * a missing file, a file that is not a namespace, a namespace of another type.
     */
    public static NativeFd openNetns(Path netns) {
        NativeFd fd = Linux.open(netns, false);
        try {
            long fsType = Linux.fileSystemType(fd);
            if (fsType != Linux.NSFS_MAGIC) {
                throw new NativeException("use as network namespace", netns.toString(), linux_h.EINVAL,
                        "not a namespace file (expected /proc/PID/ns/net or /run/netns/NAME)");
            }
            if (Linux.namespaceType(fd) != linux_h.CLONE_NEWNET) {
                throw new NativeException("use as network namespace", netns.toString(), linux_h.EINVAL,
                        "a namespace of another type (expected a network namespace, ns/net)");
            }
            return fd;
        } catch (RuntimeException e) {
            fd.close();
            throw e;
        }
    }

    /**
     * The namespace's cookie: the same 64-bit value BPF programs get from
     * {@code bpf_get_netns_cookie}, so it keys per-pod BPF map entries.
     */
    public static long cookie(Path netns) {
        try (NativeFd fd = openNetns(netns)) {
            return cookie(fd);
        }
    }

    /** As {@link #cookie(Path)}, for a namespace already opened with {@link #openNetns}. */
    public static long cookie(NativeFd netns) {
        try {
            return callIn(netns, () -> {
                try (NativeFd socket = Sockets.tcpSocket()) {
                    return Sockets.netnsCookie(socket.intValue());
                }
            });
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static void setns(NativeFd fd, String what) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(linux_h.CALL_STATE);
            if (linux_h.setns(state, fd.intValue(), linux_h.CLONE_NEWNET) < 0) {
                throw new NativeException("enter network namespace", what, linux_h.errno(state),
                        "entering another namespace needs CAP_SYS_ADMIN");
            }
        }
    }
}
