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

/** {@link PooledConnection} over {@link io.netty.channel.embedded.EmbeddedChannel}s: its states and stream limit. */
class PooledConnectionTest {

    static final HbonePool.Key KEY = new HbonePool.Key("pod-a", TestCa.FRONTEND, BigInteger.ONE, TestCa.BACKEND,
            new InetSocketAddress("10.0.0.2", 15008), "");

    final EmbeddedPeers peers = new EmbeddedPeers(Duration.ofSeconds(60));

    @AfterEach
    void tearDown() {
        peers.close();
    }

    @Test
    void tunnelsWaitForTheServersSettingsThenGetStreams() {
        Promise<Http2StreamChannel> first = acquire();
        Promise<Http2StreamChannel> second = acquire();
        PooledConnection c = peers.link(0).connection();
        assertThat(peers.links).as("both wait on the connecting connection").hasSize(1);
        assertThat(c.state()).isEqualTo(PooledConnection.State.CONNECTING);
        assertThat(first).isNotDone();

        peers.pump();

        assertThat(c.state()).isEqualTo(PooledConnection.State.READY);
        assertThat(first.getNow()).isNotNull();
        assertThat(second.getNow().parent()).isSameAs(first.getNow().parent());
        assertThat(c.activeStreams()).isEqualTo(2);
        assertThat(peers.link(0).accepted()).containsExactly("10.0.0.2:9080", "10.0.0.2:9080");
        assertThat(peers.metrics.value(HbonePool.OPENED)).isEqualTo(1.0);
        assertThat(peers.metrics.value(HbonePool.OPEN)).isEqualTo(1.0);
        assertThat(peers.metrics.value(HbonePool.STREAMS)).isEqualTo(2.0);
    }

    @Test
    void tunnelsBeyondTheServersStreamLimitGoToAnotherConnection() {
        peers.maxStreams = 1;
        Promise<Http2StreamChannel> first = acquire();
        Promise<Http2StreamChannel> second = acquire();
        peers.pump();

        assertThat(peers.links).hasSize(2);
        assertThat(peers.link(0).connection().maxStreams()).isEqualTo(1);
        assertThat(second.getNow().parent()).isNotSameAs(first.getNow().parent());
        assertThat(peers.link(0).connection().offer(waiter())).as("full").isFalse();

        first.getNow().close();
        peers.pump();
        assertThat(peers.link(0).connection().activeStreams()).isZero();
        Promise<Http2StreamChannel> third = acquire();
        peers.pump();
        assertThat(third.getNow().parent()).as("a freed stream is reused").isSameAs(first.getNow().parent());
        assertThat(peers.links).hasSize(2);
    }

    @Test
    void aGoAwayStopsNewTunnelsAndClosesAfterTheLastStream() {
        Promise<Http2StreamChannel> busy = acquire();
        peers.pump();
        EmbeddedPeers.Link link = peers.link(0);

        link.goAway();
        peers.pump();

        assertThat(link.connection().state()).isEqualTo(PooledConnection.State.DRAINING);
        assertThat(peers.pool.connections(KEY)).isEmpty();
        assertThat(busy.getNow().isActive()).as("its stream goes on").isTrue();
        Promise<Http2StreamChannel> next = acquire();
        peers.pump();
        assertThat(next.getNow().parent()).isSameAs(peers.link(1).client());

        busy.getNow().close();
        peers.pump();
        assertThat(link.client().isOpen()).as("closed after its last stream").isFalse();
        assertThat(link.connection().state()).isEqualTo(PooledConnection.State.CLOSED);
        assertThat(peers.pool.liveCount()).isEqualTo(1);
        assertThat(peers.metrics.value(HbonePool.OPEN)).isEqualTo(1.0);
    }

    @Test
    void anIdleConnectionClosesAfterTheIdleTimeoutAndABusyOneStays() {
        Promise<Http2StreamChannel> stream = acquire();
        peers.pump();
        PooledConnection c = peers.link(0).connection();

        peers.advance(Duration.ofMinutes(2));
        assertThat(c.state()).as("busy").isEqualTo(PooledConnection.State.READY);

        stream.getNow().close();
        peers.pump();
        peers.advance(Duration.ofSeconds(59));
        assertThat(c.state()).isEqualTo(PooledConnection.State.READY);
        peers.advance(Duration.ofSeconds(1));
        assertThat(c.state()).isEqualTo(PooledConnection.State.CLOSED);
        assertThat(peers.link(0).client().isOpen()).isFalse();
        assertThat(peers.metrics.value(HbonePool.OPEN)).isZero();
        assertThat(peers.pool.liveCount()).isZero();
    }

    @Test
    void aCloseBeforeTheServersSettingsFailsTheWaitingTunnels() {
        Promise<Http2StreamChannel> waiting = acquire();
        PooledConnection c = peers.link(0).connection();

        c.close();
        peers.pump();

        assertThat(waiting.cause()).isInstanceOf(HbonePool.ConnectionFailedException.class)
                .hasMessageContaining("10.0.0.2:15008").hasMessageContaining("closed");
        assertThat(((HbonePool.ConnectionFailedException) waiting.cause()).reason()).isEqualTo("closed");
        assertThat(peers.metrics.value(HbonePool.FAILURES, "closed")).isEqualTo(1.0);
        assertThat(peers.metrics.value(HbonePool.OPENED)).isZero();
        assertThat(c.state()).isEqualTo(PooledConnection.State.CLOSED);
        assertThat(peers.pool.liveCount()).isZero();
    }

    @Test
    void aCancelledTunnelClosesItsStream() {
        Promise<Http2StreamChannel> cancelled = acquire();
        Promise<Http2StreamChannel> kept = acquire();
        cancelled.cancel(false);
        peers.pump();

        assertThat(kept.getNow()).isNotNull();
        assertThat(peers.link(0).connection().activeStreams()).as("the cancelled one got no stream").isEqualTo(1);
    }

    @Test
    void forceResetsTheConnectionWithItsStreams() {
        Promise<Http2StreamChannel> stream = acquire();
        peers.pump();
        PooledConnection c = peers.link(0).connection();

        c.force();
        peers.pump();

        assertThat(c.channel().isOpen()).isFalse();
        assertThat(stream.getNow().isActive()).isFalse();
        assertThat(c.state()).isEqualTo(PooledConnection.State.CLOSED);
        assertThat(peers.context.forced).hasValue(1);
    }

    private Promise<Http2StreamChannel> acquire() {
        Waiter w = waiter();
        peers.pool.acquire(KEY, w);
        return w.promise();
    }

    private Waiter waiter() {
        return new Waiter(null, null, HboneRequest.of(new InetSocketAddress("10.0.0.2", 9080)),
                peers.anchor.eventLoop().newPromise());
    }
}
