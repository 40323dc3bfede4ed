package dev.ambit.waypoint.http;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.waypoint.upstream.BodyStream;
import dev.ambit.waypoint.upstream.StreamingResponse;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * How {@link StreamedReply} flushes: a small response whose body is already here leaves as
 * one flush (headers and body: one TLS record, one send, as nginx answers) instead of the
 * headers alone first (ambit-ingress sent 181 + 122 bytes per response); headers whose body
 * has not come yet still leave in the same event-loop pass, without waiting for it.
 */
class StreamedReplyTest {

    /** Records what is written and where the flushes fall: "head", "data", "last", "flush". */
    static final class Recorder extends ChannelOutboundHandlerAdapter {
        final List<String> events = new ArrayList<>();

        @Override
        public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
            events.add(msg instanceof HttpResponse ? "head" : msg instanceof LastHttpContent ? "last"
                    : msg instanceof HttpContent ? "data" : msg.getClass().getSimpleName());
            ReferenceCountUtil.release(msg);
            promise.setSuccess();
        }

        @Override
        public void flush(ChannelHandlerContext ctx) {
            events.add("flush");
        }
    }

    private static List<String> reply(BodyStream body, boolean endNow) {
        Recorder recorder = new Recorder();
        AtomicReference<ChannelHandlerContext> last = new AtomicReference<>();
        EmbeddedChannel ch = new EmbeddedChannel(recorder, new ChannelInboundHandlerAdapter() {
            @Override
            public void handlerAdded(ChannelHandlerContext ctx) {
                last.set(ctx);
            }
        });
        StreamingResponse response = new StreamingResponse(HttpResponseStatus.OK, new DefaultHttpHeaders()
                .set("content-length", 5), body);
        StreamedReply.start(last.get(), response, HttpVersion.HTTP_1_1, false, (bytes, failure) -> { });
        ch.runPendingTasks();
        if (!endNow) {
            List<String> before = List.copyOf(recorder.events);
            body.push(Unpooled.copiedBuffer("hello", StandardCharsets.US_ASCII));
            body.end(EmptyHttpHeaders.INSTANCE);
            ch.runPendingTasks();
            List<String> all = new ArrayList<>(before);
            all.add("|");
            all.addAll(recorder.events.subList(before.size(), recorder.events.size()));
            ch.finishAndReleaseAll();
            return all;
        }
        ch.finishAndReleaseAll();
        return recorder.events;
    }

    @Test
    void aBodyAlreadyHereLeavesWithItsHeadersInOneFlush() {
        BodyStream body = new BodyStream();
        body.push(Unpooled.copiedBuffer("hello", StandardCharsets.US_ASCII));
        body.end(EmptyHttpHeaders.INSTANCE);

        List<String> events = reply(body, true);

        assertThat(events.subList(0, events.indexOf("flush") + 1)).as("everything up to the first flush")
                .containsExactly("head", "data", "flush");
        assertThat(events).containsSubsequence("head", "data", "last", "flush");
    }

    @Test
    void headersWhoseBodyIsNotHereYetAreFlushedInTheSamePass() {
        List<String> events = reply(new BodyStream(), false);

        assertThat(events.subList(0, events.indexOf("|"))).as("before the body came")
                .containsExactly("head", "flush");
        assertThat(events.subList(events.indexOf("|"), events.size())).containsSubsequence("data", "last", "flush");
    }
}
