package dev.ambit.waypoint.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.DefaultEventLoop;
import io.netty.channel.EventLoop;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Which request the next connection is opened for, as requests queue, leave and connections come. */
class PendingRequestsTest {

    private final EventLoop a = new DefaultEventLoop();
    private final EventLoop b = new DefaultEventLoop();
    private final PendingRequests pending = new PendingRequests();

    @AfterEach
    void shutDown() {
        a.shutdownGracefully();
        b.shutdownGracefully();
    }

    private static Exchange exchange(String path) {
        return new Exchange("c", Http1OverStreamTest.EP, Http1OverStreamTest.get(path));
    }

    @Test
    void eachLoopGetsAConnectionPerWaitingRequestOldestFirst() {
        Exchange a1 = exchange("/a1");
        Exchange a2 = exchange("/a2");
        Exchange b1 = exchange("/b1");
        pending.add(a1, a);
        pending.add(b1, b);
        pending.add(a2, a);
        assertThat(pending.needingConnection().exchange()).isSameAs(a1);
        pending.connecting(a);
        assertThat(pending.needingConnection().exchange()).as("a has one coming for two: still its oldest")
                .isSameAs(a1);
        pending.connecting(a);
        assertThat(pending.needingConnection().exchange()).isSameAs(b1);
        pending.connecting(b);
        assertThat(pending.needingConnection()).as("a connection is coming for every request").isNull();

        pending.connected(a);
        assertThat(pending.pollFor(a).exchange()).isSameAs(a1);
        assertThat(pending.needingConnection()).isNull();
        assertThat(pending.remove(a2)).isTrue();
        assertThat(pending.remove(a2)).as("only once").isFalse();
        assertThat(pending.size()).isEqualTo(1);

        pending.connected(a); // failed: nothing waits on a any more, so nothing more to open
        assertThat(pending.needingConnection()).isNull();
        pending.connected(b);
        assertThat(pending.needingConnection().exchange()).as("b's connection failed: b1 needs another")
                .isSameAs(b1);
    }

    @Test
    void aRequestTakenByAnotherLoopsConnectionNoLongerCounts() {
        Exchange a1 = exchange("/a1");
        pending.add(a1, a);
        assertThat(pending.pollFor(b).exchange()).as("nothing waits for b: the oldest of all").isSameAs(a1);
        assertThat(pending.needingConnection()).isNull();
        pending.add(exchange("/any"), null);
        assertThat(pending.needingConnection().loop()).as("any loop").isNull();
        assertThat(pending.drain()).hasSize(1);
        assertThat(pending.needingConnection()).isNull();
        assertThat(pending.size()).isZero();
    }

    @Test
    void aBurstGetsOneConnectionPerRequest() {
        // As the pool's maybeConnect does: each request queued, then a connection opened for it.
        int n = 2_000;
        for (int i = 0; i < n; i++) {
            pending.add(exchange("/" + i), a);
            assertThat(pending.needingConnection()).isNotNull();
            pending.connecting(a);
        }
        assertThat(pending.needingConnection()).isNull();
        assertThat(pending.connectingTotal()).isEqualTo(n);
    }
}
