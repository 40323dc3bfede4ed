package dev.ambit.agent.proxy;

import static java.util.Objects.requireNonNull;

import dev.ambit.agent.redirect.EbpfRedirector;
import io.netty.channel.Channel;
import java.net.InetSocketAddress;
import java.util.Optional;

/**
 * Where a connection accepted on the outbound listener was going before capture rewrote it
 * to {@code 127.0.0.1:15001}. Behind an interface so the proxy can be tested without eBPF.
 */
@FunctionalInterface
public interface OriginalDestinations {

    /**
     * The original destination of {@code accepted}, or empty when it was not redirected (a
     * direct connection to 15001). Called once per connection, on its event loop; the eBPF
     * lookup consumes its answer, so a second call may return empty.
     */
    Optional<InetSocketAddress> lookup(Channel accepted);

    /** The real lookup: the redirector's {@code ambit_orig_dst} map. */
    static OriginalDestinations of(EbpfRedirector redirector) {
        requireNonNull(redirector, "redirector");
        return redirector::originalDestination;
    }
}
