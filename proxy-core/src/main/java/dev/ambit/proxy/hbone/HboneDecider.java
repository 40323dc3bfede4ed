package dev.ambit.proxy.hbone;

import io.netty.channel.Channel;
import java.util.concurrent.CompletionStage;

/**
 * The application's decision for each valid HBONE {@code CONNECT} (a request that is not a
 * well-formed CONNECT never gets here: the server answers {@code 400} itself).
 *
 * <p>Called on the connection's event loop, so it must not block: policy lookups that
 * take time return an incomplete stage and complete it from anywhere. The server carries
 * on on the event loop. A stage that fails, or a decider that throws, answers {@code 500}.
 */
@FunctionalInterface
public interface HboneDecider {

    /**
     * Decides {@code request}.
     *
     * @param stream the HTTP/2 stream channel of the tunnel; {@code stream.parent()} is the
     *        connection, whose pipeline holds the TLS handler with the peer's identity. Do not
     *        read from or write to it: the server owns it until the relay starts.
     */
    CompletionStage<HboneTarget> decide(HboneRequest request, Channel stream);
}
