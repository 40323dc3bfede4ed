package dev.ambit.agent.redirect;

/**
 * Redirection could not be set up or torn down. The message names the pod, the path
 * or kernel feature involved, and what to check; the cause carries the errno.
 */
public final class RedirectException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public RedirectException(String message) {
        super(message);
    }

    public RedirectException(String message, Throwable cause) {
        super(message + (cause != null && cause.getMessage() != null ? ": " + cause.getMessage() : ""), cause);
    }
}
