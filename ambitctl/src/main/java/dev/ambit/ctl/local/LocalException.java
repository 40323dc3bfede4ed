package dev.ambit.ctl.local;

/**
 * A user-facing failure of {@code ambitctl local}: the message names the object and
 * suggests the fix; the command line prints it without a stack trace.
 */
public final class LocalException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public LocalException(String message) {
        super(message);
    }

    public LocalException(String message, Throwable cause) {
        super(message, cause);
    }
}
