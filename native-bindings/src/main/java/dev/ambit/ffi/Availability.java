package dev.ambit.ffi;

/**
 * Whether a native facility can be used here and, if not, why: computed once, like
 * Netty's {@code Epoll.isAvailable()} / {@code unavailabilityCause()}.
 */
final class Availability {

    private final Throwable cause;

    private Availability(Throwable cause) {
        this.cause = cause;
    }

    static Availability check(String what, Runnable probe) {
        String os = System.getProperty("os.name", "");
        if (!os.toLowerCase(java.util.Locale.ROOT).startsWith("linux")) {
            return new Availability(new UnsupportedOperationException(what + " needs Linux (running on " + os + ")"));
        }
        try {
            probe.run();
            return new Availability(null);
        } catch (Throwable t) {
            return new Availability(new UnsupportedOperationException(what + " is unavailable: " + t.getMessage(), t));
        }
    }

    boolean isAvailable() {
        return cause == null;
    }

    Throwable cause() {
        return cause;
    }

    void ensure() {
        if (cause != null) {
            throw (UnsupportedOperationException) new UnsupportedOperationException(cause.getMessage()).initCause(cause);
        }
    }
}
