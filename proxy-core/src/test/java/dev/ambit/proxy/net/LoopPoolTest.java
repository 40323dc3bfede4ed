package dev.ambit.proxy.net;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambit.proxy.hbone.HboneRequest;
import dev.ambit.proxy.identity.TestCa;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.concurrent.Promise;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** {@link LoopPool} over {@link io.netty.channel.embedded.EmbeddedChannel}s: reuse by key, drain, release, close. */
class LoopPoolTest {

    static final InetSocketAddress SERVER = new InetSocketAddress("10.0.0.2", 15008);

    final EmbeddedPeers peers = new EmbeddedPeers(Duration.ofSeconds(60));

    @AfterEach
    void tearDown() {
        peers.close();
    }

    @Test
    void tunnelsOfOneKeyShareAConnectionAndOtherKeysGetTheirOwn() {
        Promise<Http2StreamChannel> a = acquire(key("pod-a", 1, ""));
        peers.pump();
        Promise<Http2StreamChannel> b = acquire(key("pod-a", 1, ""));
        Promise<Http2StreamChannel> renewed = acquire(key("pod-a", 2, ""));
        Promise<Http2StreamChannel> otherPod = acquire(key("pod-b", 1, ""));
        peers.pump();

        assertThat(b.getNow().parent()).isSameAs(a.getNow().parent());
        assertThat(renewed.getNow().parent()).isNotSameAs(a.getNow().parent());
        assertThat(otherPod.getNow().parent()).isNotSameAs(a.getNow().parent())
                .isNotSameAs(renewed.getNow().parent());
        assertThat(peers.links).hasSize(3);
        assertThat(peers.pool.liveCount()).isEqualTo(3);
    }

    @Test
    void drainClosesIdleConnectionsAtOnceAndBusyOnesAfterTheirLastTunnel() {
        Promise<Http2StreamChannel> busy = acquire(key("pod-a", 1, ""));
        Promise<Http2StreamChannel> idle = acquire(key("pod-a", 2, ""));
        peers.pump();
        idle.getNow().close();
        peers.pump();
        Promise<Http2StreamChannel> connecting = acquire(key("pod-a", 3, ""));

        peers.context.closed = true; // as HbonePool.drain does before it drains each loop
        peers.pool.drainAll();
        peers.pump();

        assertThat(idle.getNow().parent().isOpen()).as("idle: closed at once").isFalse();
        assertThat(connecting.cause()).as("connecting: its tunnels fail")
                .isInstanceOf(HbonePool.ConnectionFailedException.class);
        assertThat(busy.getNow().isActive()).as("busy: its tunnel goes on").isTrue();
        assertThat(peers.pool.drained()).isNotDone();
        assertThat(acquire(key("pod-a", 1, "")).cause()).isInstanceOf(IllegalStateException.class)
                .hasMessage("HBONE pool closed");

        busy.getNow().close();
        peers.pump();
        assertThat(busy.getNow().parent().isOpen()).isFalse();
        assertThat(peers.pool.drained()).isCompleted();
        assertThat(peers.pool.liveCount()).isZero();
    }

    @Test
    void forceAllResetsWhatTheDrainStillWaitsFor() {
        Promise<Http2StreamChannel> busy = acquire(key("pod-a", 1, ""));
        peers.pump();
        peers.pool.drainAll();
        peers.pump();
        assertThat(peers.pool.drained()).isNotDone();

        peers.pool.forceAll();
        peers.pump();

        assertThat(busy.getNow().parent().isOpen()).isFalse();
        assertThat(peers.pool.drained()).isCompleted();
        assertThat(peers.context.forced).hasValue(1);
    }

    @Test
    void releasingAPodShutsItsConnectionsAndKeepsOthers() {
        Promise<Http2StreamChannel> released = acquire(key("pod-a", 1, ""));
        Promise<Http2StreamChannel> idleReleased = acquire(key("pod-a", 2, ""));
        Promise<Http2StreamChannel> other = acquire(key("pod-b", 1, ""));
        peers.pump();
        idleReleased.getNow().close();
        peers.pump();

        peers.pool.release("pod-a");
        peers.pump();

        assertThat(idleReleased.getNow().parent().isOpen()).as("idle: closed at once").isFalse();
        assertThat(released.getNow().isActive()).as("an open tunnel goes on").isTrue();
        assertThat(other.getNow().parent().isOpen()).isTrue();
        Promise<Http2StreamChannel> again = acquire(key("pod-a", 1, ""));
        peers.pump();
        assertThat(again.getNow().parent()).as("a new connection for the pod").isNotSameAs(released.getNow().parent());

        released.getNow().close();
        peers.pump();
        assertThat(released.getNow().parent().isOpen()).as("closed after its last tunnel").isFalse();
    }

    @Test
    void connectionsToAWorkloadThatLeftAreShutAndUnknownDestinationsKept() {
        Promise<Http2StreamChannel> gone = acquire(key("pod-a", 1, "backend-1"));
        Promise<Http2StreamChannel> staying = acquire(key("pod-a", 1, "backend-2"));
        Promise<Http2StreamChannel> unknown = acquire(key("pod-a", 1, ""));
        peers.pump();
        gone.getNow().close();
        peers.pump();

        peers.pool.retainDestinations(uid -> !uid.equals("backend-1"));
        peers.pump();

        assertThat(gone.getNow().parent().isOpen()).isFalse();
        assertThat(staying.getNow().parent().isOpen()).isTrue();
        assertThat(unknown.getNow().parent().isOpen()).isTrue();
        assertThat(peers.pool.liveCount()).isEqualTo(2);
    }

    @Test
    void closeAllClosesEveryConnection() {
        Promise<Http2StreamChannel> busy = acquire(key("pod-a", 1, ""));
        Promise<Http2StreamChannel> idle = acquire(key("pod-b", 1, ""));
        peers.pump();
        idle.getNow().close();
        peers.pump();

        peers.pool.closeAll();
        peers.pump();

        assertThat(idle.getNow().parent().isOpen()).isFalse();
        assertThat(busy.getNow().parent().isOpen()).isFalse();
        assertThat(peers.pool.connections(key("pod-a", 1, ""))).isEmpty();
        assertThat(peers.pool.liveCount()).isZero();
        assertThat(peers.metrics.value(HbonePool.OPEN)).isZero();
    }

    @Test
    void aTunnelCancelledWhileQueuedOpensNothing() {
        Waiter w = waiter();
        w.promise().cancel(false);
        peers.pool.acquire(key("pod-a", 1, ""), w);
        assertThat(peers.links).isEmpty();
    }

    private static HbonePool.Key key(String pod, int serial, String destinationUid) {
        return new HbonePool.Key(pod, TestCa.FRONTEND, BigInteger.valueOf(serial), TestCa.BACKEND, SERVER,
                destinationUid);
    }

    private Promise<Http2StreamChannel> acquire(HbonePool.Key key) {
        Waiter w = waiter();
        peers.pool.acquire(key, w);
        return w.promise();
    }

    private Waiter waiter() {
        return new Waiter(null, null, HboneRequest.of(new InetSocketAddress("10.0.0.2", 9080)),
                peers.anchor.eventLoop().newPromise());
    }
}
