package dev.ambit.proxy.hbone;

import static java.util.Objects.requireNonNull;

import java.io.IOException;

/**
 * An HBONE {@code CONNECT} that did not open a tunnel: the server answered a status other
 * than 200, or reset or closed the stream first.
 */
public final class HboneConnectException extends IOException {

    private final String authority;
    private final int status;

    HboneConnectException(String authority, int status, String detail) {
        super(message(authority, status, detail));
        this.authority = requireNonNull(authority, "authority");
        this.status = status;
    }

    HboneConnectException(String authority, String detail, Throwable cause) {
        super(message(authority, 0, detail), cause);
        this.authority = requireNonNull(authority, "authority");
        this.status = 0;
    }

    private static String message(String authority, int status, String detail) {
        if (status > 0) {
            return "HBONE CONNECT to " + authority + " refused with " + status
                    + (detail == null || detail.isEmpty() ? "" : ": " + detail);
        }
        return "HBONE CONNECT to " + authority + " failed: " + detail;
    }

    /** The {@code :authority} that was requested. */
    public String authority() {
        return authority;
    }

    /** The server's status, or 0 if there was no response (reset, closed, local failure). */
    public int status() {
        return status;
    }
}
