package dev.ambit.ffi;

import dev.ambit.ffi.libbpf.libbpf_h;
import dev.ambit.ffi.linux.linux_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.Deque;

/** Receives libbpf's messages (see {@code Bpf.installLogger}). */
final class LibbpfLog {

    private static final System.Logger LOG = System.getLogger("dev.ambit.ffi.libbpf");
    private static final int KEPT = 12;
    // The verifier log arrives as one message; its last lines say what was rejected.
    private static final int BUFFER = 256 * 1024;
    private static final int KEPT_CHARS = 4000;
    private static final ThreadLocal<Deque<String>> RECENT = ThreadLocal.withInitial(ArrayDeque::new);

    private LibbpfLog() {
    }

    // Upcall target: int print(enum libbpf_print_level, const char *fmt, va_list args).
    static int print(int level, MemorySegment format, MemorySegment args) {
        if (level == libbpf_h.LIBBPF_DEBUG && !LOG.isLoggable(System.Logger.Level.DEBUG)) {
            return 0; // libbpf is chatty at debug level: do not even format it
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(BUFFER);
            linux_h.vsnprintf(buf, buf.byteSize(), format, args);
            String line = buf.getString(0).stripTrailing();
            if (level == libbpf_h.LIBBPF_DEBUG) {
                LOG.log(System.Logger.Level.DEBUG, line);
                return 0;
            }
            LOG.log(level == libbpf_h.LIBBPF_WARN ? System.Logger.Level.WARNING : System.Logger.Level.INFO, line);
            Deque<String> recent = RECENT.get();
            if (recent.size() == KEPT) {
                recent.removeFirst();
            }
            recent.addLast(line.length() > KEPT_CHARS ? "..." + line.substring(line.length() - KEPT_CHARS) : line);
        } catch (Throwable t) {
            // An exception must not unwind into C.
        }
        return 0;
    }

    /** Forgets what libbpf said on this thread. */
    static void clear() {
        Deque<String> recent = RECENT.get();
        if (!recent.isEmpty()) {
            recent.clear();
        }
    }

    /** What libbpf said on this thread since the last call, or null; clears it. */
    static String recentWarnings() {
        Deque<String> recent = RECENT.get();
        if (recent.isEmpty()) {
            return null;
        }
        String s = "libbpf: " + String.join(" | ", recent);
        recent.clear();
        return s;
    }
}
