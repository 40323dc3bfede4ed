package dev.ambit.ffi;

import dev.ambit.ffi.linux.linux_h;

import java.lang.foreign.MemorySegment;
import java.util.Map;

/** Names and messages for errno values. */
public final class Errno {

    // The symbolic names users search for; strerror gives the sentence.
    private static final Map<Integer, String> NAMES = Map.ofEntries(
            Map.entry(1, "EPERM"), Map.entry(2, "ENOENT"), Map.entry(3, "ESRCH"),
            Map.entry(4, "EINTR"), Map.entry(5, "EIO"), Map.entry(7, "E2BIG"),
            Map.entry(9, "EBADF"), Map.entry(11, "EAGAIN"), Map.entry(12, "ENOMEM"),
            Map.entry(13, "EACCES"), Map.entry(14, "EFAULT"), Map.entry(16, "EBUSY"),
            Map.entry(17, "EEXIST"), Map.entry(18, "EXDEV"), Map.entry(19, "ENODEV"),
            Map.entry(20, "ENOTDIR"), Map.entry(21, "EISDIR"), Map.entry(22, "EINVAL"),
            Map.entry(24, "EMFILE"), Map.entry(28, "ENOSPC"), Map.entry(38, "ENOSYS"),
            Map.entry(39, "ENOTEMPTY"), Map.entry(40, "ELOOP"), Map.entry(88, "ENOTSOCK"),
            Map.entry(92, "ENOPROTOOPT"), Map.entry(93, "EPROTONOSUPPORT"),
            Map.entry(95, "EOPNOTSUPP"), Map.entry(97, "EAFNOSUPPORT"), Map.entry(98, "EADDRINUSE"),
            Map.entry(99, "EADDRNOTAVAIL"), Map.entry(101, "ENETUNREACH"), Map.entry(104, "ECONNRESET"),
            Map.entry(110, "ETIMEDOUT"), Map.entry(111, "ECONNREFUSED"), Map.entry(113, "EHOSTUNREACH"),
            Map.entry(524, "ENOTSUPP"));

    private Errno() {
    }

    /** {@code "ENOENT"}, or {@code "errno 1234"} for a value without a known name. */
    public static String name(int errno) {
        String n = NAMES.get(errno);
        return n != null ? n : "errno " + errno;
    }

    /** {@code "No such file or directory (errno 2 ENOENT)"}. */
    public static String describe(int errno) {
        return message(errno) + " (errno " + errno + (NAMES.containsKey(errno) ? " " + NAMES.get(errno) : "") + ')';
    }

    /** The C library's message for {@code errno}. */
    public static String message(int errno) {
        if (errno == 524) {
            return "Operation not supported by this kernel"; // kernel-internal ENOTSUPP, unknown to libc
        }
        try {
            MemorySegment s = linux_h.strerror(errno);
            return s.equals(MemorySegment.NULL) ? "unknown error" : s.getString(0);
        } catch (LinkageError e) {
            return "error";
        }
    }
}
