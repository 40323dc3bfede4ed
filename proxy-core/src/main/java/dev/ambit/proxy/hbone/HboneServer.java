package dev.ambit.proxy.hbone;

import static java.util.Objects.requireNonNull;

import dev.ambit.common.config.Checks;
import dev.ambit.proxy.net.BulkReads;
import dev.ambit.proxy.net.Relay;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;

/**
 * The receiving end of HBONE (port 15008): HTTP/2 where every stream is a {@code CONNECT}
 * tunnel. {@link #newConnectionHandler()} goes into the pipeline of each accepted
 * connection, after TLS (which is the caller's: HBONE is mutual TLS 1.3 with ALPN {@code h2}).
 *
 * <p>Per stream: a request that is not a well-formed {@code CONNECT} to {@code ip:port}
 * is answered {@code 400}; header lists above {@link Builder#maxHeaderListSize} are
 * answered {@code 431} by the codec and streams above {@link Builder#maxConcurrentStreams}
 * are refused ({@code REFUSED_STREAM}). A valid request goes to the {@link HboneDecider};
 * it may reject (its status, reason in {@value #ERROR_HEADER}) or accept with an
 * {@link UpstreamConnector}, in which case the server connects ({@code 503} if that fails),
 * answers {@code 200} and hands both channels to a {@link Relay}; or accept with a
 * {@link HboneTarget.StreamHandoff} (a waypoint terminating the tunnel), which gets the
 * stream channel after the {@code 200}. Nothing the client sends
 * after its request is read before the {@code 200}: it waits in the stream (and its flow
 * control window), and is discarded if the tunnel is refused.
 *
 * <pre>{@code
 * HboneServer hbone = HboneServer.builder((request, stream) -> decide(request)).build();
 * pipeline.addLast(sslHandler, hbone.newConnectionHandler());
 * }</pre>
 */
public final class HboneServer {

    /** Response header carrying the reason a tunnel was refused. */
    public static final String ERROR_HEADER = "ambit-hbone-error";

    /** Default limit of one request's header list: 16 KiB. */
    public static final int DEFAULT_MAX_HEADER_LIST_SIZE = 16 * 1024;

    /** Default limit of concurrent tunnels on one connection. */
    public static final int DEFAULT_MAX_CONCURRENT_STREAMS = 1000;

    private final HboneDecider decider;
    private final int maxHeaderListSize;
    private final int maxConcurrentStreams;

    private HboneServer(Builder b) {
        decider = b.decider;
        maxHeaderListSize = b.maxHeaderListSize;
        maxConcurrentStreams = b.maxConcurrentStreams;
    }

    /** Starts a server configuration that asks {@code decider} about every tunnel. */
    public static Builder builder(HboneDecider decider) {
        return new Builder(decider);
    }

    /**
     * A new handler for one connection's pipeline; it replaces itself with the connection's
     * flush consolidation ({@link ConnectionFlushes}), an
     * {@link Http2FrameCodec} (server mode, this server's limits, HBONE's flow-control
     * windows: {@link FlowControl}) and an
     * {@link Http2MultiplexHandler} that gives each stream its CONNECT handler.
     */
    public ChannelHandler newConnectionHandler() {
        return new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                BulkReads.apply(ch);
                ch.pipeline().addLast(ConnectionFlushes.newHandler(), newFrameCodec(), new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
                    @Override
                    protected void initChannel(Http2StreamChannel stream) {
                        // Before channelActive, so nothing is read beyond what the handler asks for.
                        stream.config().setAutoRead(false);
                        stream.pipeline().addLast(new HboneServerStreamHandler(decider));
                    }
                }));
            }
        };
    }

    private Http2FrameCodec newFrameCodec() {
        Http2Settings settings = FlowControl.withStreamWindow(new Http2Settings())
                .maxHeaderListSize(maxHeaderListSize)
                .maxConcurrentStreams(maxConcurrentStreams);
        return FrameCumulation.withoutCopies(Http2FrameCodecBuilder.forServer()
                .initialSettings(settings)
                // A CONNECT without :authority is answered 400 by the stream handler,
                // rather than reset by the codec with PROTOCOL_ERROR: clearer to clients.
                .validateRequiredPseudoHeaders(false)
                .decoderEnforceMaxRstFramesPerWindow(ResetLimit.MAX_PER_WINDOW, ResetLimit.WINDOW_SECONDS)
                .encoderEnforceMaxRstFramesPerWindow(ResetLimit.MAX_PER_WINDOW, ResetLimit.WINDOW_SECONDS)
                .build());
    }

    /** Configures an {@link HboneServer}. */
    public static final class Builder {
        private final HboneDecider decider;
        private int maxHeaderListSize = DEFAULT_MAX_HEADER_LIST_SIZE;
        private int maxConcurrentStreams = DEFAULT_MAX_CONCURRENT_STREAMS;

        private Builder(HboneDecider decider) {
            this.decider = requireNonNull(decider, "decider");
        }

        /** Largest accepted request header list (HPACK-decoded size, RFC 9113 §6.5.2). */
        public Builder maxHeaderListSize(int maxHeaderListSize) {
            Checks.positive(maxHeaderListSize, "maxHeaderListSize");
            this.maxHeaderListSize = maxHeaderListSize;
            return this;
        }

        /** Most tunnels open at once on one connection; more are refused with REFUSED_STREAM. */
        public Builder maxConcurrentStreams(int maxConcurrentStreams) {
            if (maxConcurrentStreams <= 0) {
                throw new IllegalArgumentException(
                        "maxConcurrentStreams: " + maxConcurrentStreams + " (expected: > 0)");
            }
            this.maxConcurrentStreams = maxConcurrentStreams;
            return this;
        }

        public HboneServer build() {
            return new HboneServer(this);
        }
    }
}
