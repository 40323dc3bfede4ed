package dev.ambit.waypoint.upstream;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.testing.LeakCheck;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@link BodyStream}'s flow control and {@link RequestBody}'s retry buffer, on one event loop. */
class BodyStreamTest {

    private final EmbeddedChannel loop = new EmbeddedChannel();

    @BeforeEach
    void setUp() {
        LeakCheck.reset();
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        loop.finishAndReleaseAll();
        LeakCheck.assertNoLeaks();
    }

    /** Records what a body delivered (as text), releasing each chunk. */
    static final class Recorder implements BodyStream.Subscriber {
        final List<String> events = new ArrayList<>();

        @Override
        public void onData(ByteBuf data) {
            events.add(data.toString(UTF_8));
            data.release();
        }

        @Override
        public void onEnd(HttpHeaders trailers) {
            events.add("end" + (trailers.isEmpty() ? "" : " " + trailers.get("grpc-status")));
        }

        @Override
        public void onError(Throwable cause) {
            events.add("error " + cause.getClass().getSimpleName());
        }
    }

    static ByteBuf text(String s) {
        return Unpooled.copiedBuffer(s, UTF_8);
    }

    @Test
    void theProducerStopsAtTheHighWaterMarkAndIsCalledBackOnceDrained() {
        BodyStream body = new BodyStream(8);
        AtomicInteger demanded = new AtomicInteger();
        body.onDemand(demanded::incrementAndGet);
        assertThat(body.push(text("abcd"))).isTrue();
        assertThat(body.push(text("efgh"))).as("8 bytes queued: stop reading").isFalse();
        assertThat(body.maxQueued()).isEqualTo(8);
        Recorder r = new Recorder();
        body.pause();
        body.subscribe(r, loop.eventLoop());
        loop.runPendingTasks();
        assertThat(r.events).as("paused: nothing delivered").isEmpty();
        body.resume();
        loop.runPendingTasks();
        assertThat(r.events).containsExactly("abcd", "efgh");
        assertThat(demanded).as("drained to half: the producer reads again").hasValue(1);
        body.end(new DefaultHttpHeaders().set("grpc-status", "0"));
        loop.runPendingTasks();
        assertThat(r.events).containsExactly("abcd", "efgh", "end 0");
        assertThat(body.bytes()).isEqualTo(8);
    }

    @Test
    void aCancelReleasesWhatIsQueuedAbortsTheProducerAndTellsTheSubscriber() {
        BodyStream body = new BodyStream();
        AtomicInteger aborted = new AtomicInteger();
        body.onCancel(aborted::incrementAndGet);
        body.push(text("x"));
        Recorder r = new Recorder();
        body.pause();
        body.subscribe(r, loop.eventLoop());
        body.cancel();
        body.resume();
        loop.runPendingTasks();
        assertThat(aborted).hasValue(1);
        assertThat(r.events).containsExactly("error CancellationException");
        assertThat(body.push(text("late"))).as("chunks after the cancel are dropped").isFalse();
        assertThat(body.terminated().toCompletableFuture()).isDone();
    }

    @Test
    void anUnclaimedResponseReleasedCancelsItsBody() {
        BodyStream body = new BodyStream();
        AtomicInteger aborted = new AtomicInteger();
        body.onCancel(aborted::incrementAndGet);
        body.push(text("unread"));
        new StreamingResponse(io.netty.handler.codec.http.HttpResponseStatus.OK, new DefaultHttpHeaders(), body)
                .release();
        assertThat(aborted).hasValue(1);
    }

    @Test
    void eachAttemptReplaysTheKeptBodyThenFollowsTheLiveOne() {
        RequestBody body = new RequestBody(16);
        body.push(text("early;")); // read ahead before the first attempt
        BodyStream first = body.open();
        Recorder a = new Recorder();
        first.subscribe(a, loop.eventLoop());
        body.push(text("more;"));
        loop.runPendingTasks();
        assertThat(a.events).containsExactly("early;", "more;");
        assertThat(body.replayable()).isTrue();
        BodyStream second = body.open(); // a retry: the first reader is let go
        Recorder b = new Recorder();
        second.subscribe(b, loop.eventLoop());
        body.end(EmptyHttpHeaders.INSTANCE);
        loop.runPendingTasks();
        assertThat(a.events).containsExactly("early;", "more;", "error CancellationException");
        assertThat(b.events).containsExactly("early;", "more;", "end");
        body.release();
    }

    @Test
    void pastTheBufferLimitNothingIsKeptAndNoFurtherAttemptOpens() {
        RequestBody body = new RequestBody(8);
        BodyStream first = body.open();
        Recorder a = new Recorder();
        first.subscribe(a, loop.eventLoop());
        body.push(text("12345"));
        body.push(text("67890")); // 10 > 8 bytes
        loop.runPendingTasks();
        assertThat(a.events).containsExactly("12345", "67890");
        assertThat(body.replayable()).isFalse();
        assertThat(body.open()).as("no retry once the buffer overflowed, as Envoy").isNull();
        assertThat(body.whole().toCompletableFuture().join()).as("a mirror is skipped").isNull();
        body.end(EmptyHttpHeaders.INSTANCE);
        loop.runPendingTasks();
        assertThat(a.events).endsWith("end");
        body.release();
    }

    @Test
    void aSmallBodyIsGivenWholeToAMirror() {
        RequestBody body = new RequestBody(64);
        var whole = body.whole().toCompletableFuture();
        body.push(text("ab"));
        body.push(text("cd"));
        assertThat(whole).isNotDone();
        body.end(EmptyHttpHeaders.INSTANCE);
        ByteBuf w = whole.join();
        assertThat(w.toString(UTF_8)).isEqualTo("abcd");
        w.release();
        body.release();
    }
}
