package dev.ambit.ffi;

import static java.util.Objects.requireNonNull;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * An owned file descriptor, closed exactly once. The description (usually the path it
 * was opened from) is what errors name.
 */
public final class NativeFd implements AutoCloseable {

    private final AtomicInteger fd;
    private final String description;

    NativeFd(int fd, String description) {
        if (fd < 0) {
            throw new IllegalArgumentException("fd: " + fd + " (expected: >= 0)");
        }
        this.fd = new AtomicInteger(fd);
        this.description = requireNonNull(description, "description");
    }

    /** The descriptor; throws once closed, so a stale number is never passed to the kernel. */
    public int intValue() {
        int v = fd.get();
        if (v < 0) {
            throw new IllegalStateException(description + " is closed");
        }
        return v;
    }

    public String description() {
        return description;
    }

    @Override
    public void close() {
        int v = fd.getAndSet(-1);
        if (v >= 0) {
            Linux.close(v, description);
        }
    }

    @Override
    public String toString() {
        int v = fd.get();
        return description + (v >= 0 ? " (fd " + v + ')' : " (closed)");
    }
}
