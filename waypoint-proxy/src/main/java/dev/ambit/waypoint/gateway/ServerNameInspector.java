package dev.ambit.waypoint.gateway;

import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.ssl.AbstractSniHandler;
import io.netty.util.concurrent.Future;
import java.util.function.BiConsumer;

/**
 * Envoy's {@code tls_inspector}: peeks at a connection's first bytes for a TLS ClientHello and
 * its SNI without consuming them, then hands the connection on with the server name (null when
 * the bytes are not TLS or name no server) and removes itself; the bytes read so far go on to
 * whatever {@code chosen} installed after it (a TLS handler, or the relay of a passthrough).
 * A connection that sends no complete ClientHello within the timeout is closed.
 */
final class ServerNameInspector extends AbstractSniHandler<String> {

    static final String NAME = "tls-inspector";

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ServerNameInspector.class);

    private final BiConsumer<ChannelHandlerContext, String> chosen;

    /**
     * @param chosen called once on the event loop with the server name; installs the next
     *        handlers after {@link #NAME} (this handler is removed right after it returns)
     */
    ServerNameInspector(long timeoutMillis, BiConsumer<ChannelHandlerContext, String> chosen) {
        super(timeoutMillis);
        this.chosen = chosen;
    }

    @Override
    protected Future<String> lookup(ChannelHandlerContext ctx, String hostname) {
        return ctx.executor().newSucceededFuture(hostname);
    }

    /**
     * Until the ClientHello is read this is the pipeline's only handler: a client that resets
     * meanwhile (a port probe, a client giving up) ends here, quietly, not at the pipeline's tail.
     */
    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.debug("{} failed before its ClientHello: {}", ctx.channel(), cause.toString());
        ctx.close();
    }

    @Override
    protected void onLookupComplete(ChannelHandlerContext ctx, String hostname, Future<String> future) {
        if (!ctx.channel().isActive()) {
            return;
        }
        chosen.accept(ctx, hostname);
        if (ctx.pipeline().context(this) != null) {
            ctx.pipeline().remove(this); // hands the peeked bytes to the handler after it
        }
    }
}
