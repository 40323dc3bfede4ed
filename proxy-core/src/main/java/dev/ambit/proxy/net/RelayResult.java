package dev.ambit.proxy.net;

import static java.util.Objects.requireNonNull;

import java.time.Duration;

/**
 * How one relay between a TCP connection and an HBONE stream ended.
 *
 * @param tcpToStream bytes read from the TCP connection and written to the stream
 * @param streamToTcp bytes read from the stream (DATA payload) and written to the TCP connection
 * @param duration from {@link Relay#start} to the end
 * @param termination how it ended
 * @param cause the error behind an abort, if there was one; {@code null} otherwise
 */
public record RelayResult(long tcpToStream, long streamToTcp, Duration duration, Termination termination,
                          Throwable cause) {

    public RelayResult {
        requireNonNull(duration, "duration");
        requireNonNull(termination, "termination");
    }

    /** How a relay ended. */
    public enum Termination {
        /** Both directions finished with a half-close (FIN and END_STREAM) and were closed. */
        COMPLETED,
        /** The TCP side reset, failed or closed before finishing; the stream was reset. */
        TCP_ABORTED,
        /** The stream was reset, failed or closed before finishing; the TCP connection was reset. */
        STREAM_ABORTED
    }
}
