package dev.ambit.proxy.hbone;

import static java.util.Objects.requireNonNull;

import dev.ambit.proxy.net.RelayListener;
import io.netty.handler.codec.http2.Http2StreamChannel;

/**
 * What {@link HboneDecider} decided for one {@code CONNECT}: relay it to an upstream, hand
 * the accepted stream to the application, or refuse it with a status.
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
     * Accepts the tunnel and hands its stream over: the server answers {@code 200}, removes
     * its own handler and calls {@link StreamHandoff#accepted} with the stream channel (on its
     * event loop, {@code AUTO_READ} off, nothing after the request HEADERS read yet), which
     * from then on belongs to the callee (an L7 proxy terminating the tunnel, e.g. with
     * {@link StreamBytes} and an HTTP codec). If the stream is gone before (the client reset
     * it, the 200 could not be written) {@link StreamHandoff#abandoned} is called instead, so
     * whatever the decider prepared for it (an upstream connection) can be released.
     */
    static HboneTarget handOff(StreamHandoff handoff) {
        return new Handoff(handoff);
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

    /** Accepted and handed over; see {@link #handOff(StreamHandoff)}. */
    record Handoff(StreamHandoff handoff) implements HboneTarget {
        public Handoff {
            requireNonNull(handoff, "handoff");
        }
    }

    /** Who takes an accepted tunnel's stream; see {@link #handOff(StreamHandoff)}. */
    @FunctionalInterface
    interface StreamHandoff {
        /** The {@code 200} is written: {@code stream} is the callee's now. */
        void accepted(Http2StreamChannel stream);

        /** The stream ended before it could be handed over; {@code cause} says why. */
        default void abandoned(Throwable cause) {
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
