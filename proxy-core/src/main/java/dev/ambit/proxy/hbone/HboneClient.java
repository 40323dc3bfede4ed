package dev.ambit.proxy.hbone;

import static java.util.Objects.requireNonNull;

import dev.ambit.proxy.net.BulkReads;
import dev.ambit.proxy.net.Relay;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;

/**
 * The sending end of HBONE: opens tunnels as {@code CONNECT} streams on an HTTP/2
 * connection that already exists (pooling and TLS are the caller's).
 *
 * <pre>{@code
 * HboneClient.connect(connection, HboneRequest.builder(dst).forwardedFor(clientIp).build())
 *         .addListener(f -> { if (f.isSuccess()) Relay.start(tcp, (Http2StreamChannel) f.getNow(), listener); });
 * }</pre>
 */
public final class HboneClient {

    private HboneClient() {}

    /**
     * A handler for a new client connection's pipeline (after TLS): it replaces itself with
     * the connection's flush consolidation ({@link ConnectionFlushes}), an
     * {@link io.netty.handler.codec.http2.Http2FrameCodec} in client mode, server push
     * disabled, HBONE's flow-control windows ({@link FlowControl}), and the
     * {@link Http2MultiplexHandler} that {@link #connect} needs.
     */
    public static ChannelHandler newConnectionHandler() {
        return new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                BulkReads.apply(ch);
                ch.pipeline().addLast(
                        ConnectionFlushes.newHandler(),
                        FrameCumulation.withoutCopies(Http2FrameCodecBuilder.forClient()
                                .initialSettings(FlowControl.withStreamWindow(new Http2Settings().pushEnabled(false)))
                                .decoderEnforceMaxRstFramesPerWindow(ResetLimit.MAX_PER_WINDOW, ResetLimit.WINDOW_SECONDS)
                                .encoderEnforceMaxRstFramesPerWindow(ResetLimit.MAX_PER_WINDOW, ResetLimit.WINDOW_SECONDS)
                                .build()),
                        // Servers cannot open streams towards us (push is off), so no inbound stream handler.
                        new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
            }
        };
    }

    /**
     * Opens one tunnel: a new stream on {@code connection} (which must carry an
     * {@link Http2MultiplexHandler} in client mode) with {@code CONNECT}, {@code :authority}
     * and the request's {@code Forwarded}, {@code baggage} and {@code traceparent}.
     *
     * <p>The future succeeds with the stream once the server answers {@code 200}; the stream
     * then has {@code AUTO_READ} off and nothing read past the response, ready for
     * {@link Relay#start}. It fails with {@link HboneConnectException} on any other status
     * (its status and the server's reason), a reset or a close; the stream is closed then.
     * Completes on the connection's event loop. Cancelling it closes the stream.
     */
    public static Future<Http2StreamChannel> connect(Channel connection, HboneRequest request) {
        requireNonNull(connection, "connection");
        requireNonNull(request, "request");
        Promise<Http2StreamChannel> promise = connection.eventLoop().newPromise();
        String authority = request.authority();
        ConnectHandler handler = new ConnectHandler(promise, authority);
        new Http2StreamChannelBootstrap(connection)
                .option(ChannelOption.AUTO_READ, false)
                .handler(handler)
                .open()
                .addListener((Future<Http2StreamChannel> opened) -> {
                    if (!opened.isSuccess()) {
                        promise.tryFailure(new HboneConnectException(authority, "cannot open a stream", opened.cause()));
                        return;
                    }
                    Http2StreamChannel stream = opened.getNow();
                    promise.addListener(p -> {
                        if (p.isCancelled()) {
                            stream.close();
                        }
                    });
                    stream.writeAndFlush(new DefaultHttp2HeadersFrame(headers(request)))
                            .addListener((ChannelFuture w) -> {
                                if (w.isSuccess()) {
                                    stream.read(); // the response HEADERS
                                } else {
                                    handler.fail(stream, new HboneConnectException(authority,
                                            "cannot send the request", w.cause()));
                                }
                            });
                });
        return promise;
    }

    static Http2Headers headers(HboneRequest request) {
        // RFC 9113 §8.5: CONNECT carries :method and :authority only, no :scheme or :path.
        Http2Headers headers = new DefaultHttp2Headers().method("CONNECT").authority(request.authority());
        if (request.forwarded() != null) {
            headers.set("forwarded", request.forwarded());
        }
        if (request.baggage() != null) {
            headers.set("baggage", request.baggage());
        }
        if (request.traceparent() != null) {
            headers.set("traceparent", request.traceparent());
        }
        return headers;
    }

    /** Waits for the response of one CONNECT; removes itself on success. */
    private static final class ConnectHandler extends ChannelInboundHandlerAdapter {
        private final Promise<Http2StreamChannel> promise;
        private final String authority;

        ConnectHandler(Promise<Http2StreamChannel> promise, String authority) {
            this.promise = promise;
            this.authority = authority;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (promise.isDone()) {
                ReferenceCountUtil.release(msg);
                return;
            }
            if (!(msg instanceof Http2HeadersFrame frame)) {
                ReferenceCountUtil.release(msg);
                fail(ctx.channel(), new HboneConnectException(authority, "server sent " + msg.getClass().getSimpleName()
                        + " before the response headers", null));
                return;
            }
            CharSequence status = frame.headers().status();
            if (status != null && status.length() == 3 && status.charAt(0) == '1') {
                return; // informational; channelReadComplete asks for the next frame
            }
            if (status != null && "200".contentEquals(status)) {
                ctx.pipeline().remove(this);
                if (!promise.trySuccess((Http2StreamChannel) ctx.channel())) {
                    ctx.close(); // cancelled meanwhile
                }
                return;
            }
            CharSequence reason = frame.headers().get(HboneServer.ERROR_HEADER);
            int code = parseStatus(status);
            fail(ctx.channel(), code > 0
                    ? new HboneConnectException(authority, code, reason == null ? null : reason.toString())
                    : new HboneConnectException(authority, "invalid response status " + status, null));
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            if (!promise.isDone()) {
                ctx.read();
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof Http2ResetFrame reset) {
                promise.tryFailure(new HboneConnectException(authority, "stream reset by the server: "
                        + Http2Error.valueOf(reset.errorCode()) + " (" + reset.errorCode() + ")", null));
                // Not closed here: the codec has not closed the stream yet, so close() would answer
                // the reset with a reset (RFC 9113 §5.4.2). Once it has, close() only releases.
                Channel stream = ctx.channel();
                ctx.executor().execute(() -> stream.close());
            }
            ReferenceCountUtil.release(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            promise.tryFailure(new HboneConnectException(authority, "stream closed before a response", null));
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            fail(ctx.channel(), new HboneConnectException(authority, "stream failed", cause));
        }

        void fail(Channel stream, HboneConnectException e) {
            promise.tryFailure(e);
            stream.close();
        }

        private static int parseStatus(CharSequence status) {
            if (status == null || status.length() != 3) {
                return -1;
            }
            try {
                return Integer.parseInt(status.toString());
            } catch (NumberFormatException e) {
                return -1;
            }
        }
    }
}
