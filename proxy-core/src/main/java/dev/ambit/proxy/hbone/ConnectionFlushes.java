package dev.ambit.proxy.hbone;

import io.netty.channel.ChannelHandler;
import io.netty.handler.flush.FlushConsolidationHandler;

/**
 * Flushes of an HBONE connection, consolidated per event-loop pass. Each tunnel's relay
 * flushes after every chunk it forwards; when one pass of the event loop handles many
 * tunnels (sixteen client sockets readable at once, or sixteen upstream answers), their
 * DATA frames would leave as sixteen TLS records and sixteen {@code sendto} calls. With this
 * handler between TLS and the HTTP/2 codec they leave together at the end of the pass:
 * one record (up to 16 KiB), one system call. A lone write is flushed at the end of the same
 * pass, so latency does not grow; during a read of the connection itself, flushes wait for
 * its read-complete, as Netty's codec would.
 *
 * <p>Measured with {@code perf/run-l4-bench.sh} under {@code wrk -c16}: the agents' send calls
 * per request fell from two to about one.
 */
final class ConnectionFlushes {

    private ConnectionFlushes() {}

    /** A new handler for one connection's pipeline, to go right before the HTTP/2 codec. */
    static ChannelHandler newHandler() {
        return new FlushConsolidationHandler(FlushConsolidationHandler.DEFAULT_EXPLICIT_FLUSH_AFTER_FLUSHES, true);
    }
}
