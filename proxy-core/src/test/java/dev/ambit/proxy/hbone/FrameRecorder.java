package dev.ambit.proxy.hbone;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Records what a test stream receives, as text; releases every frame. */
final class FrameRecorder extends ChannelInboundHandlerAdapter {

    final List<String> events = new ArrayList<>();
    Http2HeadersFrame headers;

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            if (msg instanceof Http2HeadersFrame h) {
                if (headers == null) {
                    headers = h;
                }
                events.add("HEADERS " + h.headers().status() + (h.isEndStream() ? " END" : ""));
            } else if (msg instanceof Http2DataFrame d) {
                events.add("DATA " + d.content().toString(StandardCharsets.UTF_8) + (d.isEndStream() ? " END" : ""));
            } else {
                events.add(msg.toString());
            }
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof Http2ResetFrame r) {
            events.add("RST " + r.errorCode());
        }
        ReferenceCountUtil.release(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        events.add("CLOSED");
    }

    String status() {
        return headers == null ? null : String.valueOf(headers.headers().status());
    }

    String error() {
        CharSequence e = headers == null ? null : headers.headers().get(HboneServer.ERROR_HEADER);
        return e == null ? null : e.toString();
    }
}
