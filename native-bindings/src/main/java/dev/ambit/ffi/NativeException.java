package dev.ambit.ffi;

import static java.util.Objects.requireNonNull;

/**
 * A failed native call: what was attempted, on which object, and the errno it failed
 * with. The message reads as a sentence a user can act on, for example
 * {@code "open /sys/fs/cgroup/pod1: No such file or directory (errno 2 ENOENT)"}.
 */
public class NativeException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final String operation;
    private final String object;
    private final int errno;

    public NativeException(String operation, String object, int errno) {
        this(operation, object, errno, null);
    }

    /** {@code hint}, when not null, is appended after the errno: what to check or do. */
    public NativeException(String operation, String object, int errno, String hint) {
        super(format(operation, object, errno, hint));
        this.operation = requireNonNull(operation, "operation");
        this.object = requireNonNull(object, "object");
        this.errno = errno;
    }

    private static String format(String operation, String object, int errno, String hint) {
        String base = operation + ' ' + object + ": " + Errno.describe(errno);
        return hint == null ? base : base + ": " + hint;
    }

    /** The call or step that failed, e.g. {@code "attach cgroup/connect4 to"}. */
    public String operation() {
        return operation;
    }

    /** The path, file descriptor or BPF object the call was made on. */
    public String object() {
        return object;
    }

    /** The positive errno value. */
    public int errno() {
        return errno;
    }
}
