package dev.ambit.proxy.hbone;

import dev.ambit.proxy.net.Relay;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.CompletionStage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Handles one inbound HBONE stream until its tunnel is relayed or refused. The stream's
 * {@code AUTO_READ} is off: the handler reads exactly the request HEADERS and nothing
 * after, so early DATA stays queued in the stream until the {@link Relay} reads it (or is
 * released when the stream closes on refusal).
 */
final class HboneServerStreamHandler extends ChannelInboundHandlerAdapter {

    private static final Logger log = LoggerFactory.getLogger(HboneServerStreamHandler.class);

    private static final int MAX_REASON_LENGTH = 200;

    private enum State { AWAITING_REQUEST, DECIDING, CONNECTING, DONE }

    private final HboneDecider decider;
    private State state = State.AWAITING_REQUEST;
    private ChannelFuture upstreamConnect;

    HboneServerStreamHandler(HboneDecider decider) {
        this.decider = decider;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        ctx.read(); // the request HEADERS
        ctx.fireChannelActive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (state != State.AWAITING_REQUEST) {
            // Not asked for; cannot normally happen with AUTO_READ off.
            ReferenceCountUtil.release(msg);
            return;
        }
        if (!(msg instanceof Http2HeadersFrame frame)) {
            ReferenceCountUtil.release(msg);
            state = State.DONE;
            ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.PROTOCOL_ERROR))
                    .addListener(ChannelFutureListener.CLOSE);
            return;
        }
        onRequest(ctx, frame);
    }

    private void onRequest(ChannelHandlerContext ctx, Http2HeadersFrame frame) {
        Http2Headers headers = frame.headers();
        CharSequence method = headers.method();
        if (method == null || !"CONNECT".contentEquals(method)) {
            respond(ctx, 400, "method " + method + " not allowed (expected: CONNECT)");
            return;
        }
        if (headers.scheme() != null || headers.path() != null || headers.get(":protocol") != null) {
            respond(ctx, 400, "CONNECT must not carry :scheme, :path or :protocol");
            return;
        }
        CharSequence authority = headers.authority();
        if (authority == null) {
            respond(ctx, 400, "missing :authority");
            return;
        }
        var destination = HboneRequest.parseAuthority(authority);
        if (destination == null) {
            respond(ctx, 400, "invalid :authority " + authority + " (expected: ip:port)");
            return;
        }
        if (frame.isEndStream()) {
            respond(ctx, 400, "CONNECT request must not end the stream");
            return;
        }
        HboneRequest request = new HboneRequest(destination, string(headers.get("forwarded")),
                string(headers.get("baggage")), string(headers.get("traceparent")));

        state = State.DECIDING;
        Channel stream = ctx.channel();
        CompletionStage<HboneTarget> decision;
        try {
            decision = decider.decide(request, stream);
            if (decision == null) {
                throw new NullPointerException("decider returned null");
            }
        } catch (Throwable t) {
            log.warn("{} HBONE decider failed for {}", stream, request.authority(), t);
            respond(ctx, 500, "internal error");
            return;
        }
        decision.whenComplete((target, cause) -> {
            if (stream.eventLoop().inEventLoop()) {
                onDecision(ctx, request, target, cause);
            } else {
                stream.eventLoop().execute(() -> onDecision(ctx, request, target, cause));
            }
        });
    }

    private void onDecision(ChannelHandlerContext ctx, HboneRequest request, HboneTarget target, Throwable cause) {
        if (state != State.DECIDING || !ctx.channel().isActive()) {
            // The client reset the stream meanwhile.
            if (target instanceof HboneTarget.Handoff handoff) {
                abandon(handoff, new java.nio.channels.ClosedChannelException());
            }
            return;
        }
        if (cause != null || target == null) {
            log.warn("{} HBONE decision failed for {}", ctx.channel(), request.authority(), cause);
            respond(ctx, 500, "internal error");
            return;
        }
        switch (target) {
            case HboneTarget.Reject reject -> respond(ctx, reject.status(), reject.reason());
            case HboneTarget.Accept accept -> connect(ctx, request, accept);
            case HboneTarget.Handoff handoff -> handOff(ctx, handoff);
        }
    }

    private void handOff(ChannelHandlerContext ctx, HboneTarget.Handoff handoff) {
        state = State.DONE;
        Http2StreamChannel stream = (Http2StreamChannel) ctx.channel();
        ctx.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")))
                .addListener((ChannelFuture w) -> {
                    if (!w.isSuccess() || !stream.isActive()) {
                        stream.close();
                        abandon(handoff, w.cause() != null ? w.cause() : new java.nio.channels.ClosedChannelException());
                        return;
                    }
                    ctx.pipeline().remove(this);
                    try {
                        handoff.handoff().accepted(stream);
                    } catch (Throwable t) {
                        log.warn("{} HBONE stream handoff failed", stream, t);
                        stream.close();
                    }
                });
    }

    private static void abandon(HboneTarget.Handoff handoff, Throwable cause) {
        try {
            handoff.handoff().abandoned(cause);
        } catch (Throwable t) {
            log.warn("HBONE stream handoff's abandoned() failed", t);
        }
    }

    private void connect(ChannelHandlerContext ctx, HboneRequest request, HboneTarget.Accept accept) {
        state = State.CONNECTING;
        ChannelFuture connect;
        try {
            connect = accept.connector().connect(request, ctx.channel().eventLoop());
        } catch (Throwable t) {
            log.warn("{} HBONE upstream connector failed for {}", ctx.channel(), request.authority(), t);
            respond(ctx, 503, "upstream connect failed: " + t);
            return;
        }
        upstreamConnect = connect;
        connect.addListener((ChannelFuture f) -> onConnected(ctx, request, accept, f));
    }

    private void onConnected(ChannelHandlerContext ctx, HboneRequest request, HboneTarget.Accept accept,
                             ChannelFuture f) {
        upstreamConnect = null;
        Channel upstream = f.channel();
        if (!ctx.channel().isActive()) {
            upstream.close();
            return;
        }
        if (!f.isSuccess()) {
            respond(ctx, 503, "upstream connect to " + request.authority() + " failed: " + f.cause().getMessage());
            return;
        }
        if (!(upstream instanceof DuplexChannel tcp)) {
            upstream.close();
            log.warn("{} HBONE upstream {} is not a DuplexChannel", ctx.channel(), upstream);
            respond(ctx, 500, "internal error");
            return;
        }
        state = State.DONE;
        Channel stream = ctx.channel();
        ctx.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")))
                .addListener((ChannelFuture w) -> {
                    if (!w.isSuccess()) {
                        upstream.close();
                        stream.close();
                        return;
                    }
                    ctx.pipeline().remove(this);
                    try {
                        Relay.start(tcp, stream, accept.listener());
                    } catch (IllegalStateException e) {
                        // Connector broke its contract (another event loop): fail loudly, leak nothing.
                        log.error("{} cannot relay to {}", stream, upstream, e);
                        upstream.close();
                        stream.close();
                    }
                });
    }

    /** Answers the request with {@code status} and END_STREAM, then closes the stream. */
    private void respond(ChannelHandlerContext ctx, int status, String reason) {
        state = State.DONE;
        Http2Headers headers = new DefaultHttp2Headers().status(Integer.toString(status))
                .set(HboneServer.ERROR_HEADER, sanitize(reason));
        // Closing after the response resets the stream (CANCEL) only if the client has not
        // ended it; queued early DATA is released with the stream.
        ctx.writeAndFlush(new DefaultHttp2HeadersFrame(headers, true)).addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        state = State.DONE;
        ChannelFuture connect = upstreamConnect;
        if (connect != null) {
            connect.channel().close(); // nobody to relay for
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.debug("{} HBONE stream failed", ctx.channel(), cause);
        state = State.DONE;
        ctx.close();
    }

    private static String string(CharSequence value) {
        return value == null ? null : value.toString();
    }

    /** Header-safe: visible ASCII and spaces only, bounded. */
    static String sanitize(String reason) {
        StringBuilder sb = new StringBuilder(Math.min(reason.length(), MAX_REASON_LENGTH));
        for (int i = 0; i < reason.length() && sb.length() < MAX_REASON_LENGTH; i++) {
            char c = reason.charAt(i);
            sb.append(c >= 0x20 && c < 0x7f ? c : '?');
        }
        return sb.toString().strip();
    }
}
