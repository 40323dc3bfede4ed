package dev.ambit.proxy.hbone;

import static java.util.Objects.requireNonNull;

import dev.ambit.proxy.net.RelayListener;

/**
 * What {@link HboneDecider} decided for one {@code CONNECT}: relay it to an upstream, or
 * refuse it with a status.
 */
public sealed interface HboneTarget {

    /**
     * Accepts the tunnel: {@code connector} opens the upstream connection, the server
     * answers {@code 200} once it is connected ({@code 503} if it fails), and
     * {@code listener} is told how the relay ended.
     */
    static HboneTarget accept(UpstreamConnector connector, RelayListener listener) {
        return new Accept(connector, listener);
    }

    /** Accepts the tunnel without telemetry. */
    static HboneTarget accept(UpstreamConnector connector) {
        return new Accept(connector, RelayListener.NOOP);
    }

    /**
     * Refuses the tunnel with {@code status} (400 to 599; usually 403 for a policy denial
     * and 503 for a destination that is not here) and a short reason sent back to the
     * client in the {@value HboneServer#ERROR_HEADER} header.
     */
    static HboneTarget reject(int status, String reason) {
        return new Reject(status, reason);
    }

    /** Accepted; see {@link #accept(UpstreamConnector, RelayListener)}. */
    record Accept(UpstreamConnector connector, RelayListener listener) implements HboneTarget {
        public Accept {
            requireNonNull(connector, "connector");
            requireNonNull(listener, "listener");
        }
    }

    /** Refused; see {@link #reject(int, String)}. */
    record Reject(int status, String reason) implements HboneTarget {
        public Reject {
            if (status < 400 || status > 599) {
                throw new IllegalArgumentException("status: " + status + " (expected: 400-599)");
            }
            requireNonNull(reason, "reason");
        }
    }
}
